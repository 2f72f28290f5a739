"""core.timm_registry: records from timm's registry, weight-free stats, the stats cache.

No Django and no network: everything runs on timm's in-process registry and the meta device.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import timm
from timm.models import get_pretrained_cfg

from core.timm_registry import (
    BUNDLED_STATS_PATH,
    TASK_CLASSIFICATION,
    TASK_FEATURES,
    MalformedPretrainedCfg,
    ModelStats,
    StatsCacheError,
    StatsError,
    compute_missing_stats,
    compute_stats,
    get_pretrained_record,
    iter_pretrained_records,
    load_stats_cache,
    load_stats_failures,
    make_stats_key,
    parse_stats_key,
    pretrained_on_from_tag,
    record_from_cfg,
    save_stats_cache,
    stats_key,
)

TIMM_VERSION = timm.__version__


@dataclasses.dataclass(frozen=True)
class FakeRecord:
    """Only the fields stats need; lets tests name architectures timm has no pretrained cfg for."""

    architecture: str
    num_classes: int
    input_size: tuple[int, int, int]


@pytest.fixture(scope="module")
def all_records():
    return list(iter_pretrained_records())


def test_it_reads_the_resnet18_a1_in1k_record():
    record = get_pretrained_record("resnet18.a1_in1k")

    assert record.name == "resnet18.a1_in1k"
    assert record.architecture == "resnet18"
    assert record.tag == "a1_in1k"
    assert record.hf_hub_id == "timm/resnet18.a1_in1k"
    assert record.num_classes == 1000
    assert record.input_size == (3, 224, 224)
    assert record.mean == pytest.approx((0.485, 0.456, 0.406))
    assert record.std == pytest.approx((0.229, 0.224, 0.225))
    assert record.interpolation == "bicubic"
    assert record.crop_pct == pytest.approx(0.95)
    assert record.license == "apache-2.0"
    assert record.pretrained_on == "imagenet-1k"
    assert record.task == TASK_CLASSIFICATION


def test_it_lists_records_for_a_pattern():
    records = list(iter_pretrained_records("resnet18.*"))

    assert {r.name for r in records} == set(timm.list_pretrained("resnet18.*"))
    assert all(r.architecture == "resnet18" for r in records)


def test_it_marks_headless_weights_as_feature_extraction():
    record = get_pretrained_record("vit_small_patch14_dinov2.lvd142m")

    assert record.num_classes == 0
    assert record.task == TASK_FEATURES
    assert record.pretrained_on == "lvd-142m"


def test_it_raises_for_an_unknown_tag():
    with pytest.raises(RuntimeError):
        get_pretrained_record("resnet18.no_such_tag")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("a1_in1k", "imagenet-1k"),
        ("in22k_ft_in1k", "imagenet-22k"),  # the pretraining, not the fine-tuning data
        ("fb_in22k", "imagenet-22k"),
        ("augreg_in21k", "imagenet-21k"),
        ("sw_in12k", "imagenet-12k"),
        ("clip_laion2b_augreg_ft_in12k_384", "laion-2b"),
        ("fb_swsl_ig1b_ft_in1k", "instagram-1b"),
        ("ns_jft_in1k", "jft-300m"),
        ("swag_ft_in1k", "instagram-3.6b"),  # the recipe names its data
        ("seer", "instagram-1b"),
        ("clip_laion2b_soup", "laion-2b"),
        ("openai", "openai-wit-400m"),
        ("metaclip_2pt5b", "metaclip-2.5b"),
        ("dinov3_lvd1689m", "lvd-1689m"),
        ("somelab_newset5m", "newset5m"),  # unknown but dataset-shaped: the raw suffix
        ("qwen3_vl_235b_a22b", ""),  # model sizes are not datasets
        ("fb", ""),
        ("", ""),
    ],
)
def test_it_derives_pretrained_on_from_the_tag(tag, expected):
    assert pretrained_on_from_tag(tag) == expected


def test_it_accepts_paper_ids_as_str_or_sequence():
    cfg = get_pretrained_cfg("resnet18.a1_in1k")

    as_str = record_from_cfg(cfg_name(cfg), dataclasses.replace(cfg, paper_ids="arXiv:1, arXiv:2"))
    as_tuple = record_from_cfg(cfg_name(cfg), dataclasses.replace(cfg, paper_ids=("arXiv:1", "arXiv:2")))
    absent = record_from_cfg(cfg_name(cfg), dataclasses.replace(cfg, paper_ids=None))

    assert as_str.paper_ids == as_tuple.paper_ids == ("arXiv:1", "arXiv:2")
    assert absent.paper_ids == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"mean": (0.5, 0.5)},  # one value short for 3 channels
        {"input_size": (224, 224)},
        {"num_classes": -1},
        {"paper_ids": 2110},
        {"hf_hub_id": "timm/"},  # timm normally expands this at registration
        {"tag": "other_tag"},  # cfg disagrees with the name
    ],
)
def test_it_refuses_a_malformed_cfg(bad):
    cfg = get_pretrained_cfg("resnet18.a1_in1k")

    with pytest.raises(MalformedPretrainedCfg):
        record_from_cfg("resnet18.a1_in1k", dataclasses.replace(cfg, **bad))


def cfg_name(cfg) -> str:
    return f"{cfg.architecture}.{cfg.tag}"


def test_it_keys_stats_by_architecture_head_and_input_size():
    record = get_pretrained_record("resnet18.a1_in1k")

    assert stats_key(record) == "resnet18|1000|3x224x224"
    assert parse_stats_key(stats_key(record)) == ("resnet18", 1000, (3, 224, 224))
    with pytest.raises(ValueError, match="not a stats key"):
        parse_stats_key("resnet18|1000")


def test_it_computes_resnet18_stats_on_meta():
    stats = compute_stats("resnet18", 1000, (3, 224, 224))

    assert stats.num_params == 11_689_512
    assert stats.gmacs == pytest.approx(1.82, abs=0.01)


def test_it_counts_the_same_params_on_meta_as_a_real_model():
    real = timm.create_model("test_vit", pretrained=False, num_classes=10)
    expected = sum(p.numel() for p in real.parameters())

    stats = compute_stats("test_vit", 10, (3, 160, 160))

    assert stats.num_params == expected
    assert stats.gmacs is not None
    assert 0 < stats.gmacs < 0.1


def test_it_raises_stats_error_when_the_model_cannot_be_created():
    with pytest.raises(StatsError, match="no_such_architecture"):
        compute_stats("no_such_architecture", 1000, (3, 224, 224))


def test_it_computes_missing_stats_and_reports_failures_in_process():
    cached = {make_stats_key("test_resnet", 10, (3, 160, 160)): ModelStats(1, 2.0)}
    records = [
        FakeRecord("test_resnet", 10, (3, 160, 160)),  # in the cache: not recomputed
        FakeRecord("test_efficientnet", 10, (3, 160, 160)),
        FakeRecord("test_efficientnet", 10, (3, 160, 160)),  # same key: computed once
        FakeRecord("no_such_architecture", 10, (3, 160, 160)),
    ]
    progress = []

    run = compute_missing_stats(records, cached, workers=1, on_progress=lambda d, t: progress.append((d, t)))

    assert run.stats["test_resnet|10|3x160x160"] == ModelStats(1, 2.0)
    assert run.stats["test_efficientnet|10|3x160x160"].num_params > 0
    assert "no_such_architecture|10|3x160x160" not in run.stats
    assert "no_such_architecture" in run.failures["no_such_architecture|10|3x160x160"]
    assert progress == [(1, 2), (2, 2)]
    assert len(cached) == 1  # the caller's cache is left alone


@pytest.mark.slow  # spawns two processes that each import torch and timm (~5 s of CPU apiece)
def test_it_computes_missing_stats_in_worker_processes():
    records = [FakeRecord("test_convnext", 10, (3, 160, 160)), FakeRecord("no_such_arch", 10, (3, 160, 160))]

    run = compute_missing_stats(records, {}, workers=2)

    assert run.stats["test_convnext|10|3x160x160"] == compute_stats("test_convnext", 10, (3, 160, 160))
    assert list(run.failures) == ["no_such_arch|10|3x160x160"]


def test_it_round_trips_the_stats_cache(tmp_path: Path):
    path = tmp_path / "stats.json"
    stats = {"b|10|3x8x8": ModelStats(5, 1.234567891), "a|0|3x8x8": ModelStats(7, None)}
    failures = {"c|1|3x8x8": "StatsError: boom"}

    save_stats_cache(path, "9.9.9", stats, failures)
    first_bytes = path.read_bytes()
    save_stats_cache(path, "9.9.9", dict(reversed(stats.items())), failures)

    assert load_stats_cache(path, "9.9.9") == {
        "a|0|3x8x8": ModelStats(7, None),
        "b|10|3x8x8": ModelStats(5, 1.2346),
    }
    assert load_stats_failures(path, "9.9.9") == failures
    assert path.read_bytes() == first_bytes  # deterministic, whatever the dict order
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]  # no temp file left behind


def test_it_ignores_a_cache_written_for_another_timm_version(tmp_path: Path):
    path = tmp_path / "stats.json"
    save_stats_cache(path, "0.9.0", {"a|0|3x8x8": ModelStats(7, 1.0)}, {"b|0|3x8x8": "x"})

    assert load_stats_cache(path, "1.0.0") == {}
    assert load_stats_failures(path, "1.0.0") == {}


def test_it_returns_an_empty_cache_when_the_file_is_missing(tmp_path: Path):
    assert load_stats_cache(tmp_path / "missing.json", TIMM_VERSION) == {}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"format": 1, "timm_version": "1.0.0", "stats": {"a|0|3x8x8": [1.5, 2.0]}}),
        json.dumps({"format": 1, "timm_version": "1.0.0", "stats": []}),
    ],
)
def test_it_raises_on_a_corrupt_cache_for_this_version(tmp_path: Path, content: str):
    path = tmp_path / "stats.json"
    path.write_text(content)

    with pytest.raises(StatsCacheError):
        load_stats_cache(path, "1.0.0")


def test_it_bundles_stats_for_every_pretrained_record(all_records):
    stats = load_stats_cache(BUNDLED_STATS_PATH, TIMM_VERSION)
    failures = load_stats_failures(BUNDLED_STATS_PATH, TIMM_VERSION)
    wanted = {stats_key(r) for r in all_records}

    assert stats, f"{BUNDLED_STATS_PATH} is missing or not for timm {TIMM_VERSION}: run build-cache"
    assert sorted(wanted - stats.keys() - failures.keys()) == []
    assert stats["resnet18|1000|3x224x224"] == ModelStats(11_689_512, pytest.approx(1.8141, abs=1e-4))
