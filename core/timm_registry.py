"""timm's pretrained registry as plain records, plus weight-free size stats (params, GMACs).

Pure python + torch/timm: nothing here imports Django, so the `import_timm` command, a notebook and
the tests can all use it. Two halves:

- Records: one `TimmPretrainedRecord` per `timm.list_pretrained()` name, read from timm's
  `PretrainedCfg`. Malformed cfg values raise `MalformedPretrainedCfg` instead of being guessed.
- Stats: parameter count and GMACs, computed by building the model on the `meta` device (no weights,
  no download) and counting FLOPs of one forward with `torch.utils.flop_counter.FlopCounterMode`.
  Records that share architecture, num_classes and input size share one stats entry (`stats_key`).
  Computing ~1,400 keys takes minutes, so a cache per timm version is committed next to this file
  (`BUNDLED_STATS_PATH`) and rebuilt with `python -m core.timm_registry build-cache`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

BUNDLED_STATS_PATH = Path(__file__).parent / "data" / "timm_stats.json"
STATS_FORMAT = 1  # bump when the meaning of a cached value changes, so old files are ignored

TASK_CLASSIFICATION = "image-classification"
TASK_FEATURES = "feature-extraction"

# Worker processes are replaced after this many models: it bounds memory growth from module-level caches
# in timm/torch without paying timm's import (~3 s) too often. Done with a fresh pool per chunk because
# ProcessPoolExecutor(max_tasks_per_child=...) can deadlock on Python 3.11 (cpython gh-115634).
_KEYS_PER_POOL = 400


class MalformedPretrainedCfg(ValueError):
    """timm's pretrained_cfg for a name holds a value of an unexpected type or shape."""


class StatsError(RuntimeError):
    """The model could not even be created on the meta device, so there is no parameter count."""


class StatsCacheError(ValueError):
    """A stats cache file exists for this timm version but cannot be read."""


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimmPretrainedRecord:
    name: str  # full pretrained name, "resnet18.a1_in1k"
    architecture: str  # "resnet18"
    tag: str  # "a1_in1k", "" if none
    hf_hub_id: str  # "timm/resnet18.a1_in1k", "" if the weights are only at a URL
    num_classes: int  # 0 for feature extractors
    input_size: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str
    crop_pct: float | None
    license: str  # "" if unknown
    paper_ids: tuple[str, ...]
    paper_name: str
    origin_url: str
    notes: tuple[str, ...]
    # Readable names of the datasets the tag says the weights were trained on, in training order
    # ("in22k_ft_in1k" -> ("imagenet-22k", "imagenet-1k")); () if the tag names none.
    datasets: tuple[str, ...]
    pretrained_on: str  # the first of `datasets`, the pretraining data; "" if unknown
    fine_tuned_on: str  # the last of `datasets` when the weights were fine-tuned on another; else ""
    task: str  # TASK_CLASSIFICATION when num_classes > 0 else TASK_FEATURES
    # The full name of the registry entry these weights were fine-tuned from, when the tag says so and that
    # entry exists ("vit_base_patch16_224.augreg_in21k" for ".augreg_in21k_ft_in1k"); "" otherwise.
    fine_tuned_from: str = ""

    @property
    def head_dataset(self) -> str:
        """The dataset the classifier head (num_classes) and the published accuracies refer to."""
        return self.fine_tuned_on or self.pretrained_on


# Dataset tokens as they appear in timm tags (underscore separated), longest sequences first.
# Readable names follow the Hugging Face Hub's dataset naming where one exists.
_DATASET_TOKENS: dict[tuple[str, ...], str] = {
    ("metaclip", "2pt5b"): "metaclip-2.5b",
    ("metaclip", "400m"): "metaclip-400m",
    ("metaclip2", "worldwide"): "metaclip-2-worldwide",
    ("metaclip",): "metaclip",  # MetaCLIP data of a size the tag does not say ("metaclip_altogether")
    ("ns", "jft"): "jft-300m",
    ("in1k",): "imagenet-1k",
    ("in12k",): "imagenet-12k",
    ("in21k",): "imagenet-21k",
    ("in22k",): "imagenet-22k",
    ("inw21k",): "imagenet-21k-winter21",  # MViTv2's 19,168-class ImageNet-21k winter 2021 release
    ("laion2b",): "laion-2b",
    ("laion400m",): "laion-400m",
    ("laiona",): "laion-aesthetics",
    ("openai",): "openai-wit-400m",  # the (unreleased) WIT set OpenAI's CLIP was trained on
    ("webli",): "webli",
    ("lvd142m",): "lvd-142m",
    ("lvd1689m",): "lvd-1689m",
    ("sat493m",): "sat-493m",
    ("yfcc15m",): "yfcc-15m",
    ("yfcc100m",): "yfcc-100m",
    ("ig1b",): "instagram-1b",
    ("cc12m",): "cc-12m",
    ("datacomp1b",): "datacomp-1b",
    ("datacompxl",): "datacomp-xl",
    ("dfn2b",): "dfn-2b",
    ("dfn5b",): "dfn-5b",
    ("dfndr2b",): "dfndr-2b",
    ("merged2b",): "merged-2b",
    ("m30m",): "merged-30m",
    ("m38m",): "merged-38m",
    ("sa1b",): "sa-1b",
    ("docci",): "docci",
    ("ocrvqa",): "ocr-vqa",
    ("refcoco",): "refcoco",
    ("bamboo",): "bamboo",  # the 115,217-class Bamboo dataset, not a training recipe
    # Recipes whose name implies their pretraining data: SWAG is weakly supervised on 3.6B Instagram images
    # (arXiv:2201.08371), SEER self-supervised on 1B random Instagram images (arXiv:2103.01988).
    ("swag",): "instagram-3.6b",
    ("seer",): "instagram-1b",
}
_MAX_DATASET_TOKENS = max(len(k) for k in _DATASET_TOKENS)
# timm names datasets "<name><size><k|m|b>" (in1k, lvd1689m, laion2b). A token of that shape that is not in
# the table above is still a dataset, just one we have no readable name for. Two letters minimum keeps
# parameter counts ("27b") and MoE sizes ("a22b") out.
_DATASET_LIKE_TOKEN = re.compile(r"^[a-z]{2,}\d+(pt\d+)?[kmb]$")


def tag_datasets(tag: str) -> tuple[str, ...]:
    """Readable names of the datasets a tag mentions, in training order.

    "clip_laion2b_augreg_ft_in12k_in1k_384" -> ("laion-2b", "imagenet-12k", "imagenet-1k").
    """
    tokens = tag.split("_") if tag else []
    found: list[str] = []
    i = 0
    while i < len(tokens):
        for width in range(_MAX_DATASET_TOKENS, 0, -1):
            name = _DATASET_TOKENS.get(tuple(tokens[i : i + width]))
            if name:
                found.append(name)
                i += width
                break
        else:
            if _DATASET_LIKE_TOKEN.match(tokens[i]):
                found.append(tokens[i])
            i += 1
    return tuple(found)


def training_datasets(tag: str) -> tuple[str, ...]:
    """tag_datasets without repeats: "in22k_ft_in22k_in1k" (pretrained and then fine-tuned on 22k, then on 1k)
    trained on two datasets, not three."""
    chain: list[str] = []
    for name in tag_datasets(tag):
        if not chain or chain[-1] != name:
            chain.append(name)
    return tuple(chain)


def pretrained_on_from_tag(tag: str) -> str:
    """The dataset the weights were pretrained on: the first the tag names.

    "in22k_ft_in1k" -> "imagenet-22k"; "fb" -> "" (the tag names a source, not a dataset).
    """
    chain = training_datasets(tag)
    return chain[0] if chain else ""


def fine_tuned_on_from_tag(tag: str) -> str:
    """The dataset the weights were last fine-tuned on, when other than the pretraining one; else "".

    "in22k_ft_in1k" -> "imagenet-1k"; "a1_in1k" -> "".
    """
    chain = training_datasets(tag)
    return chain[-1] if len(chain) > 1 else ""


def _is_dataset_token(token: str) -> bool:
    return any(token in key for key in _DATASET_TOKENS) or bool(_DATASET_LIKE_TOKEN.match(token))


def parent_tag(tag: str) -> str:
    """The tag this one says it is a fine-tune of: its longest prefix that more training on a dataset follows and
    that ends in a dataset token or right before "ft". "laion2b_ft_in12k_in1k" -> "laion2b_ft_in12k";
    "clip_laion2b_augreg_ft_in1k" -> "clip_laion2b_augreg"; "in1k_384" -> "" (a resolution, not other data).
    """
    tokens = tag.split("_") if tag else []
    for end in range(len(tokens) - 1, 0, -1):
        prefix, rest = tokens[:end], tokens[end:]
        if prefix[-1] == "ft" or not training_datasets("_".join(rest)):
            continue
        if rest[0] == "ft" or _is_dataset_token(prefix[-1]):
            return "_".join(prefix)
    return ""


def fine_tuned_from(name: str, registry_names: Container[str]) -> str:
    """The registry entry `name` was fine-tuned from: the same architecture with the parent tag, if the registry
    holds it; else "". Only the direct parent: a grandparent or another resolution would be a guess."""
    architecture, _, tag = name.partition(".")
    parent = parent_tag(tag)
    candidate = f"{architecture}.{parent}"
    return candidate if parent and candidate in registry_names else ""


def _require(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise MalformedPretrainedCfg(f"{name}: {message}")


def _opt_str(name: str, field_name: str, value: Any) -> str:
    _require(value is None or isinstance(value, str), name, f"{field_name} must be a str, got {value!r}")
    return value or ""


def _str_tuple(name: str, field_name: str, value: Any) -> tuple[str, ...]:
    """timm declares paper_ids as `str | tuple[str]` and notes as a tuple; accept both, nothing else."""
    if value is None:
        return ()
    if isinstance(value, str):
        # a single id, or several written as one comma separated string
        return tuple(part.strip() for part in value.split(",") if part.strip())
    ok = isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value)
    _require(ok, name, f"{field_name} must be a str or a sequence of str, got {value!r}")
    return tuple(value)


def _input_size(name: str, value: Any) -> tuple[int, int, int]:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    )
    _require(ok, name, f"input_size must be three positive ints (C, H, W), got {value!r}")
    return (value[0], value[1], value[2])


def _channel_stats(name: str, field_name: str, value: Any, channels: int) -> tuple[float, ...]:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == channels
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )
    _require(ok, name, f"{field_name} must be {channels} numbers (one per channel), got {value!r}")
    return tuple(float(v) for v in value)


def _num_classes(name: str, value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    _require(ok, name, f"num_classes must be an int >= 0, got {value!r}")
    return value


def _crop_pct(name: str, value: Any) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    _require(ok, name, f"crop_pct must be a positive number or None, got {value!r}")
    return float(value)


def _hf_hub_id(name: str, value: Any) -> str:
    hub_id = _opt_str(name, "hf_hub_id", value)
    # timm expands a bare "timm/" at registration; anything else without "namespace/repo" is broken.
    ok = not hub_id or (hub_id.count("/") == 1 and not hub_id.startswith("/") and not hub_id.endswith("/"))
    _require(ok, name, f"hf_hub_id must look like 'namespace/repo', got {hub_id!r}")
    return hub_id


def _split_name(name: str, cfg: Any) -> tuple[str, str]:
    architecture, _, tag = name.partition(".")
    # the registry stamps architecture/tag onto each cfg; a disagreement means the name is not what we think
    _require(cfg.architecture in (None, architecture), name, f"cfg architecture is {cfg.architecture!r}")
    _require((cfg.tag or "") == tag, name, f"cfg tag is {cfg.tag!r}, name says {tag!r}")
    return architecture, tag


def record_from_cfg(name: str, cfg: Any) -> TimmPretrainedRecord:
    """Build a record from a timm `PretrainedCfg` (or anything with the same attributes)."""
    architecture, tag = _split_name(name, cfg)
    input_size = _input_size(name, cfg.input_size)
    interpolation = cfg.interpolation
    _require(isinstance(interpolation, str) and interpolation != "", name, "interpolation must be a str")
    num_classes = _num_classes(name, cfg.num_classes)
    return TimmPretrainedRecord(
        name=name,
        architecture=architecture,
        tag=tag,
        hf_hub_id=_hf_hub_id(name, cfg.hf_hub_id),
        num_classes=num_classes,
        input_size=input_size,
        mean=_channel_stats(name, "mean", cfg.mean, input_size[0]),
        std=_channel_stats(name, "std", cfg.std, input_size[0]),
        interpolation=interpolation,
        crop_pct=_crop_pct(name, cfg.crop_pct),
        license=_opt_str(name, "license", cfg.license),
        paper_ids=_str_tuple(name, "paper_ids", cfg.paper_ids),
        paper_name=_opt_str(name, "paper_name", cfg.paper_name),
        origin_url=_opt_str(name, "origin_url", cfg.origin_url),
        notes=_str_tuple(name, "notes", cfg.notes),
        datasets=training_datasets(tag),
        pretrained_on=pretrained_on_from_tag(tag),
        fine_tuned_on=fine_tuned_on_from_tag(tag),
        task=TASK_CLASSIFICATION if num_classes > 0 else TASK_FEATURES,
    )


def _record_in_registry(name: str, registry_names: frozenset[str]) -> TimmPretrainedRecord:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name, allow_unregistered=False)
    if cfg is None:  # timm returns None only for unregistered names, which allow_unregistered=False forbids
        raise RuntimeError(f"timm has no pretrained cfg for {name!r}")
    record = record_from_cfg(name, cfg)
    return dataclasses.replace(record, fine_tuned_from=fine_tuned_from(name, registry_names))


def get_pretrained_record(name: str) -> TimmPretrainedRecord:
    """The record for one pretrained name; raises RuntimeError for an unknown name (timm's own error)."""
    import timm

    return _record_in_registry(name, frozenset(timm.list_pretrained()))


def iter_pretrained_records(pattern: str = "*") -> Iterator[TimmPretrainedRecord]:
    """One record per name of `timm.list_pretrained(pattern)` (fnmatch wildcards), in timm's order. Parents
    (fine_tuned_from) are looked up in the whole registry, whatever the pattern."""
    import timm

    registry_names = frozenset(timm.list_pretrained())
    for name in timm.list_pretrained(pattern):
        yield _record_in_registry(name, registry_names)


# --------------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStats:
    num_params: int
    gmacs: float | None  # at the record's input size, batch 1; None if the forward fails on meta


class _HasStatsFields(Protocol):
    architecture: str
    num_classes: int
    input_size: tuple[int, int, int]


def make_stats_key(architecture: str, num_classes: int, input_size: Iterable[int]) -> str:
    c, h, w = input_size
    return f"{architecture}|{num_classes}|{c}x{h}x{w}"


def stats_key(record: _HasStatsFields) -> str:
    """Records with the same architecture, head size and input size build identical models."""
    return make_stats_key(record.architecture, record.num_classes, record.input_size)


def parse_stats_key(key: str) -> tuple[str, int, tuple[int, int, int]]:
    try:
        architecture, num_classes, size = key.split("|")
        c, h, w = (int(v) for v in size.split("x"))
        return architecture, int(num_classes), (c, h, w)
    except ValueError as e:
        raise ValueError(f"not a stats key: {key!r}") from e


def _create_on_meta(architecture: str, num_classes: int, input_size: tuple[int, int, int]) -> Any:
    import timm
    import torch

    # The input_size overlay is what timm itself does for "arch.tag": models with a fixed input size
    # (ViTs' position embeddings) get img_size from it, so the forward below matches the record.
    with torch.device("meta"):
        return timm.create_model(
            architecture,
            pretrained=False,
            num_classes=num_classes,
            pretrained_cfg_overlay={"input_size": tuple(input_size)},
        )


def _count_gmacs(model: Any, input_size: tuple[int, int, int]) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    # Without requires_grad_(False), models that feed a Parameter straight into a submodule (CaiT, PiT,
    # SigLIP's attention pool) trip FlopCounterMode's module tracker: "Expected gradient function to be set".
    model.eval().requires_grad_(False)
    x = torch.empty((1, *input_size), device="meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    # FlopCounterMode counts a multiply-add as 2 FLOPs (matmul/conv/attention only), so MACs = FLOPs / 2.
    return counter.get_total_flops() / 2 / 1e9


def _measure(architecture: str, num_classes: int, input_size: Iterable[int]) -> tuple[ModelStats, str | None]:
    """compute_stats, plus why the forward failed when gmacs is None (so a build can report it)."""
    size = tuple(int(v) for v in input_size)
    if len(size) != 3:
        raise ValueError(f"input_size must be (C, H, W), got {size!r}")
    try:
        model = _create_on_meta(architecture, num_classes, size)  # type: ignore[arg-type]
    except Exception as e:
        raise StatsError(f"cannot create {architecture!r} on meta: {type(e).__name__}: {e}") from e
    num_params = sum(p.numel() for p in model.parameters())
    try:
        return ModelStats(num_params, _count_gmacs(model, size)), None  # type: ignore[arg-type]
    except Exception as e:
        return ModelStats(num_params, None), f"{type(e).__name__}: {e}"


def compute_stats(architecture: str, num_classes: int, input_size: Iterable[int]) -> ModelStats:
    """Params and GMACs of a freshly built model on the meta device: no weights, no download.

    Raises StatsError if the model cannot be created. A forward that fails on meta (data dependent
    shapes, `.item()`, ...) only costs the GMACs: the result then has gmacs=None.
    """
    return _measure(architecture, num_classes, input_size)[0]


@dataclass
class StatsRun:
    """Result of `compute_missing_stats`.

    stats: the given cache plus every newly computed entry (the cache argument is not mutated).
    failures: stats key -> error message, for keys whose model could not be created.
    gmacs_errors: stats key -> why the forward failed on meta, for new entries with gmacs None.
    seconds: stats key -> wall time spent on that key inside its worker.
    """

    stats: dict[str, ModelStats]
    failures: dict[str, str] = field(default_factory=dict)
    gmacs_errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back for one stats key."""

    key: str
    seconds: float
    stats: ModelStats | None = None
    error: str | None = None  # the model could not be created
    gmacs_error: str | None = None  # created, but the forward failed on meta


def _stats_outcome(key: str) -> _Outcome:
    start = time.perf_counter()
    try:
        stats, gmacs_error = _measure(*parse_stats_key(key))
        return _Outcome(key, time.perf_counter() - start, stats=stats, gmacs_error=gmacs_error)
    except Exception as e:  # a failing model is reported, never allowed to stop the batch
        return _Outcome(key, time.perf_counter() - start, error=f"{type(e).__name__}: {e}")


def _init_worker() -> None:
    import torch

    # Two workers on two cores: intra-op threads would only oversubscribe the CPU.
    torch.set_num_threads(1)
    # Belt and braces: pretrained=False never downloads, but no model code may reach the network either.
    os.environ["HF_HUB_OFFLINE"] = "1"
    warnings.filterwarnings("ignore")
    import timm  # noqa: F401  (import once per worker, not per task)


def _worker_ready() -> bool:
    return True


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # spawn, not fork: the parent usually has torch loaded with its thread pools, which fork can deadlock.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
    )


def _run_pool(keys: list[str], workers: int, report: Callable[[_Outcome], None]) -> list[str]:
    """Run keys through one pool, at most `workers` in flight.

    Returns [] when all keys were reported, or the unfinished keys (those in flight first) if it broke.
    """
    pending = list(reversed(keys))
    in_flight: dict[Future[_Outcome], str] = {}
    with _new_pool(workers) as pool:
        try:
            while pending or in_flight:
                # bounded submission, so a crashed worker can only implicate the keys actually running
                while pending and len(in_flight) < workers:
                    key = pending.pop()
                    in_flight[pool.submit(_stats_outcome, key)] = key
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    del in_flight[future]
                    report(outcome)
        except BrokenProcessPool:
            pending.extend(in_flight.values())
            return list(reversed(pending))
    return []


def _run_isolated(key: str) -> _Outcome:
    """Retry a key that was running when a worker died, alone, so a crash is pinned on the right model."""
    start = time.perf_counter()
    with _new_pool(1) as pool:
        try:
            pool.submit(_worker_ready).result()
        except BrokenProcessPool as e:
            # no model involved yet: retrying key after key would only fail every one of them, slowly
            raise RuntimeError("stats worker processes die on startup; see their stderr") from e
        try:
            return pool.submit(_stats_outcome, key).result()
        except BrokenProcessPool:
            died = "worker process died while computing stats"
            return _Outcome(key, time.perf_counter() - start, error=died)


def _missing_keys(records: Iterable[_HasStatsFields], cache: dict[str, ModelStats]) -> list[str]:
    return sorted({stats_key(r) for r in records} - cache.keys())


def compute_missing_stats(
    records: Iterable[_HasStatsFields],
    cache: dict[str, ModelStats],
    *,
    workers: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> StatsRun:
    """Compute stats for every stats key of `records` that `cache` lacks.

    Failures are skipped and reported in `StatsRun.failures`, never raised. workers <= 1 runs in this
    process (handy in tests); otherwise a spawn process pool of `workers` processes is used, and a
    worker that dies (segfault, OOM) only fails the model it was running. Raises RuntimeError only
    when worker processes cannot start at all (e.g. the caller's main module lacks a __main__ guard).
    """
    keys = _missing_keys(records, cache)
    run = StatsRun(stats=dict(cache))

    def report(outcome: _Outcome) -> None:
        key = outcome.key
        run.seconds[key] = outcome.seconds
        if outcome.stats is not None:
            run.stats[key] = outcome.stats
        else:
            run.failures[key] = outcome.error or "unknown error"
        if outcome.gmacs_error:
            run.gmacs_errors[key] = outcome.gmacs_error
        if on_progress:
            on_progress(len(run.seconds), len(keys))

    if workers <= 1:
        for key in keys:
            report(_stats_outcome(key))
        return run
    remaining = keys
    while remaining:
        chunk, remaining = remaining[:_KEYS_PER_POOL], remaining[_KEYS_PER_POOL:]
        unfinished = _run_pool(chunk, workers, report)
        # keys in flight when the pool broke are retried one by one; the rest go on in a new pool
        in_flight, not_started = unfinished[:workers], unfinished[workers:]
        for key in in_flight:
            report(_run_isolated(key))
        remaining = not_started + remaining
    return run


# --------------------------------------------------------------------------------------------------
# Stats cache file
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatsCacheFile:
    timm_version: str
    stats: dict[str, ModelStats]
    failures: dict[str, str]  # stats key -> why the model could not be created


def _parse_stats_entry(key: str, value: Any) -> ModelStats:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and (value[1] is None or isinstance(value[1], (int, float)))
    )
    if not ok:
        raise StatsCacheError(f"stats entry {key!r} must be [num_params, gmacs|null], got {value!r}")
    return ModelStats(num_params=value[0], gmacs=None if value[1] is None else float(value[1]))


def _parse_stats_file(data: Any, path: Path) -> StatsCacheFile:
    if not isinstance(data, dict) or not isinstance(data.get("stats"), dict):
        raise StatsCacheError(f"{path}: expected an object with a 'stats' object")
    failures = data.get("failures", {})
    if not isinstance(failures, dict) or not all(isinstance(v, str) for v in failures.values()):
        raise StatsCacheError(f"{path}: 'failures' must map stats keys to messages")
    stats = {key: _parse_stats_entry(key, value) for key, value in data["stats"].items()}
    return StatsCacheFile(timm_version=str(data.get("timm_version")), stats=stats, failures=dict(failures))


def read_stats_file(path: Path, timm_version: str) -> StatsCacheFile | None:
    """The cache file's content, or None when it is missing or was written for another timm/format."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise StatsCacheError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise StatsCacheError(f"{path}: expected a JSON object")
    # A stale file is expected after upgrading timm: it is ignored and rebuilt, not an error.
    if data.get("format") != STATS_FORMAT or data.get("timm_version") != timm_version:
        return None
    return _parse_stats_file(data, path)


def load_stats_cache(path: Path, timm_version: str) -> dict[str, ModelStats]:
    """Cached stats by stats key; {} when the file is missing or for another timm version."""
    content = read_stats_file(path, timm_version)
    return content.stats if content else {}


def load_stats_failures(path: Path, timm_version: str) -> dict[str, str]:
    """Known failures (stats key -> message) recorded in the cache file; {} like load_stats_cache."""
    content = read_stats_file(path, timm_version)
    return content.failures if content else {}


def _round_gmacs(gmacs: float | None) -> float | None:
    if gmacs is None:
        return None
    if not math.isfinite(gmacs):
        raise ValueError(f"gmacs must be finite, got {gmacs!r}")
    return round(gmacs, 4)


def _dump_stats_file(timm_version: str, stats: dict[str, ModelStats], failures: dict[str, str]) -> str:
    """Deterministic JSON: one object, sorted keys, one entry per line so git diffs stay readable."""

    def entries(items: dict[str, Any]) -> str:
        lines = [f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in sorted(items.items())]
        return "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"

    stats_json = {k: [s.num_params, _round_gmacs(s.gmacs)] for k, s in stats.items()}
    header = json.dumps({"format": STATS_FORMAT, "timm_version": timm_version}, separators=(",", ":"))
    return (
        header[:-1]
        + ',\n"note":"key = architecture|num_classes|CxHxW; value = [num_params, GMACs at batch 1 or null]"'
        + ',\n"failures":'
        + entries(failures)
        + ',\n"stats":'
        + entries(stats_json)
        + "}\n"
    )


def save_stats_cache(
    path: Path,
    timm_version: str,
    stats: dict[str, ModelStats],
    failures: dict[str, str] | None = None,
) -> None:
    """Write the cache atomically (tmp file + os.replace): a reader never sees half a file."""
    path = Path(path)
    text = _dump_stats_file(timm_version, stats, failures or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# Command line: python -m core.timm_registry build-cache | show NAME
# --------------------------------------------------------------------------------------------------


def _progress_printer(start: float) -> Callable[[int, int], None]:
    def on_progress(done: int, total: int) -> None:
        # about 50 lines for a full build, plus the last one
        if done == total or done % max(1, total // 50) == 0:
            elapsed = time.perf_counter() - start
            print(f"  {done}/{total} keys  {elapsed:6.0f}s elapsed", flush=True)

    return on_progress


def _print_run_summary(run: StatsRun, elapsed: float, workers: int) -> None:
    if run.seconds:
        per_key = sum(run.seconds.values()) / len(run.seconds)
        print(
            f"computed {len(run.seconds)} keys in {elapsed:.0f}s wall on {workers} worker(s): "
            f"{per_key:.2f}s per key in a worker, {elapsed / len(run.seconds):.2f}s wall per key"
        )
        slowest = sorted(run.seconds.items(), key=lambda kv: -kv[1])[:5]
        print("slowest: " + ", ".join(f"{k} {s:.1f}s" for k, s in slowest))
    for key, error in sorted(run.gmacs_errors.items()):
        print(f"NO GMACS {key}: {error}")
    for key, error in sorted(run.failures.items()):
        print(f"FAILED {key}: {error}")


def _previous_cache(path: Path, timm_version: str, wanted: set[str], retry: bool) -> StatsCacheFile:
    """What a build can keep from the existing file: everything, minus what `retry` asks to redo."""
    previous = read_stats_file(path, timm_version) or StatsCacheFile(timm_version, {}, {})
    # entries of models timm no longer lists are dropped, so the file covers exactly the registry
    stats = {k: v for k, v in previous.stats.items() if k in wanted}
    failures = {k: v for k, v in previous.failures.items() if k in wanted}
    if retry:
        # failures and missing GMACs may be fixed by newer code; both are few, so retrying is cheap
        stats = {k: v for k, v in stats.items() if v.gmacs is not None}
        failures = {}
    return StatsCacheFile(timm_version, stats, failures)


def build_cache(path: Path, *, workers: int = 2, retry: bool = True) -> StatsRun:
    """Compute the stats missing for `timm.list_pretrained()` and (re)write the cache file at `path`.

    With retry (the default), known failures and entries without GMACs are computed again.
    """
    import timm

    start = time.perf_counter()
    records = list(iter_pretrained_records())
    wanted = {stats_key(r) for r in records}
    kept = _previous_cache(path, timm.__version__, wanted, retry)
    to_compute = [r for r in records if stats_key(r) not in kept.failures]
    missing = len(wanted - kept.stats.keys() - kept.failures.keys())
    print(f"timm {timm.__version__}: {len(records)} records, {len(wanted)} stats keys, {missing} to compute")
    run = compute_missing_stats(to_compute, kept.stats, workers=workers, on_progress=_progress_printer(start))
    failures = kept.failures | run.failures
    save_stats_cache(path, timm.__version__, run.stats, failures)
    elapsed = time.perf_counter() - start
    _print_run_summary(run, elapsed, workers)
    size_kb = Path(path).stat().st_size / 1024
    without_gmacs = sum(1 for v in run.stats.values() if v.gmacs is None)
    print(f"wrote {path} ({size_kb:.0f} KiB): {len(run.stats)} stats ({without_gmacs} without GMACs)")
    print(f"{len(failures)} failures, {elapsed:.0f}s total")
    return run


def _show(name: str) -> None:
    record = get_pretrained_record(name)
    for field_name, value in vars(record).items():
        print(f"{field_name:14} {value!r}")
    print(f"{'stats':14} {compute_stats(record.architecture, record.num_classes, record.input_size)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.timm_registry", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-cache", help="compute missing params/GMACs and write the stats cache")
    build.add_argument("--path", type=Path, default=BUNDLED_STATS_PATH)
    build.add_argument("--workers", type=int, default=2)
    build.add_argument(
        "--no-retry", action="store_true", help="keep known failures and entries without GMACs as they are"
    )
    show = commands.add_parser("show", help="print one pretrained record and its freshly computed stats")
    show.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "show":
        _show(args.name)
        return 0
    build_cache(args.path, workers=args.workers, retry=not args.no_retry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
