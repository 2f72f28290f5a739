"""core.pareto: the front of accuracy against parameters (fewer win) or speed (more win)."""

import random

import pytest

from core.pareto import pareto_front


def dominated(point, other, *, x_higher_is_better: bool) -> bool:
    """`other` is at least as good as `point` on both axes and better on one: the definition, pairwise."""
    x_ok = other[0] >= point[0] if x_higher_is_better else other[0] <= point[0]
    return x_ok and other[1] >= point[1] and other != point


def brute_force(points, *, x_higher_is_better: bool) -> set[int]:
    return {
        i
        for i, point in enumerate(points)
        if not any(dominated(point, other, x_higher_is_better=x_higher_is_better) for other in points)
    }


def test_it_finds_the_front_of_a_hand_made_set_for_parameters():
    points = [(1, 60), (2, 70), (2, 65), (5, 70), (10, 80), (20, 75), (10, 80), (0.5, 40)]
    # smallest at each accuracy: 0.5M@40, 1M@60, 2M@70, 10M@80 twice (identical: neither dominates)
    assert pareto_front(points, x_higher_is_better=False) == {7, 0, 1, 4, 6}


def test_it_finds_the_front_of_a_hand_made_set_for_speed():
    points = [(1000, 60), (500, 70), (500, 65), (200, 70), (100, 80), (50, 75)]
    assert pareto_front(points, x_higher_is_better=True) == {0, 1, 4}


@pytest.mark.parametrize("x_higher_is_better", [False, True])
def test_it_agrees_with_the_pairwise_definition_on_random_sets(x_higher_is_better):
    rng = random.Random(18)
    for _ in range(200):
        # few distinct values, so ties on either axis and duplicates are common
        points = [(rng.randint(1, 6), rng.randint(1, 6)) for _ in range(rng.randint(0, 12))]
        assert pareto_front(points, x_higher_is_better=x_higher_is_better) == brute_force(
            points, x_higher_is_better=x_higher_is_better
        )
