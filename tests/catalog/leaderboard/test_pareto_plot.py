"""The board's Pareto plot: the front of a hand-made set, marked by shape and colour, points as named links."""

import re

import pytest

from catalog.models import SpeedClaim

# name: (parameters, claimed top-1 on "toy", published GPU samples/s)
TOY = {
    "tiny": (1_000_000, 60.0, 9000.0),
    "small": (2_000_000, 70.0, 5000.0),
    "small-worse": (2_000_000, 65.0, 6000.0),
    "mid": (5_000_000, 70.0, 5500.0),
    "big": (10_000_000, 80.0, 1000.0),
    "huge": (20_000_000, 75.0, 500.0),
}


@pytest.fixture
def toy(make_model):
    for name, (params, top1, speed) in TOY.items():
        make_model(
            name=name, num_params=params, architecture=f"arch-{name}", input_size=[3, 224, 224],
            claims=[{"dataset": "toy", "metric": "top1", "value": top1}],
        )  # fmt: skip
        SpeedClaim.objects.create(
            architecture=f"arch-{name}", device="cuda", hardware="NVIDIA RTX 5090", precision="amp",
            torch_version="2.9.1", samples_per_sec=speed, batch_size=256, img_size=224,
        )  # fmt: skip


def expected_front(axis: int, *, higher_is_better: bool) -> set[str]:
    """Computed here from the definition: no other model at least as good on both, better on one."""

    def beats(other, point):
        x_ok = other[axis] >= point[axis] if higher_is_better else other[axis] <= point[axis]
        return x_ok and other[1] >= point[1] and (other[axis], other[1]) != (point[axis], point[1])

    return {name for name, point in TOY.items() if not any(beats(other, point) for other in TOY.values())}


def plotted(html: str) -> dict[str, tuple[str, str]]:
    svg = re.search(r'<div class="leaderboard-plot">(<svg.*?</svg>)</div>', html, re.S).group(1)
    links = re.findall(
        r'<a href="/models/demo/([^/]+)/" aria-label="([^"]+)"><title>([^<]+)</title><(\w+)', svg
    )
    assert all(label == title for _, label, title, _ in links)  # the accessible name is the tooltip too
    return {name: (label, shape) for name, label, _, shape in links}


def test_the_front_against_parameters_is_drawn_as_diamonds(client, toy):
    html = client.get("/leaderboard/toy/").content.decode()
    points = plotted(html)
    assert set(points) == set(TOY)
    front = expected_front(0, higher_is_better=False)
    assert front == {"tiny", "small", "big"}  # the hand-made set is what it says
    assert {name for name, (_, shape) in points.items() if shape == "path"} == front
    assert {name for name, (_, shape) in points.items() if shape == "circle"} == set(TOY) - front
    assert points["small"][0] == "demo/small: 70.000% top-1 on toy, 2.00M parameters, on the Pareto front"
    assert points["mid"][0] == "demo/mid: 70.000% top-1 on toy, 5.00M parameters"
    assert 'class="front"' in html and 'class="other"' in html  # colour as well as shape
    assert "Claimed top-1 on toy (%)" in html and "Parameters (millions, log scale)" in html


def test_the_front_against_speed_favours_the_fast(client, toy):
    html = client.get("/leaderboard/toy/?x=gpu_speed").content.decode()
    points = plotted(html)
    front = expected_front(2, higher_is_better=True)
    assert front == {"tiny", "small-worse", "mid", "big"}
    assert {name for name, (_, shape) in points.items() if shape == "path"} == front
    assert points["mid"][0] == "demo/mid: 70.000% top-1 on toy, 5500.0 samples/s, on the Pareto front"
    assert "Published inference samples/s on NVIDIA RTX 5090, amp (log scale)" in html
    assert '<option value="gpu_speed" selected>' in html


def test_filters_apply_to_the_plot_and_a_bad_axis_is_a_400(client, toy):
    points = plotted(client.get("/leaderboard/toy/?params_max=5M").content.decode())
    assert set(points) == {"tiny", "small", "small-worse", "mid"}
    assert points["mid"][1] == "circle" and points["small"][1] == "path"
    response = client.get("/leaderboard/toy/?x=latency")
    assert response.status_code == 400 and "<strong>x</strong>" in response.content.decode()
