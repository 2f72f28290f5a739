"""Starter bundles for catalog models: the record handed to the pure-python builder, and a cache by ETag.

Bundles are deterministic (same inputs, same bytes), so the ETag is a hash of the inputs and a bundle once
built is served from the cache until its model's revision changes. A text model (domain nlp) gets the text
bundle (core/starter/textbuilder.py), any other the image one; both answer through the same functions here.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from catalog import selectors
from catalog.models import Domain, ModelEntry, RepoFile
from core.starter import builder, textbuilder

CACHE_SECONDS = 3600


def hub_url(request: Any) -> str:
    """This server's base URL as the client sees it: the bundle's train.py downloads from there."""
    return request.build_absolute_uri("/").rstrip("/")


def is_text_model(model: ModelEntry) -> bool:
    """Text models get the text bundle: domain nlp, a task the text bundle fine-tunes from."""
    return model.domain == Domain.NLP and model.task in textbuilder.TEXT_TASKS


def _verified(model: ModelEntry, hub_url: str) -> list[dict]:
    return [
        {
            "dataset": verdict.claim.dataset, "split": verdict.claim.split, "top1": verdict.measured,
            "status": verdict.status, "delta": verdict.delta,
            "interval95": list(verdict.interval) if verdict.interval else None, "num_samples": verdict.num_samples,
            "weights_sha256": verdict.run.weights_sha256,
            "dataset_hash": verdict.run.dataset_hash, "run_url": f"{hub_url}{verdict.run.get_absolute_url()}",
            "torch": verdict.run.provenance.get("torch", ""), "timm": verdict.run.provenance.get("timm", ""),
            "transformers": verdict.run.provenance.get("transformers", ""),
            "device": verdict.run.provenance.get("device", ""),
            "threads": verdict.run.provenance.get("threads"),
            "throughput_ips": (verdict.run.metrics or {}).get("throughput_ips"),
        }
        for verdict in selectors.claim_verdicts(model=model)
        if verdict.run is not None
    ]  # fmt: skip


def _claims(model: ModelEntry) -> list[dict]:
    return [
        {
            "dataset": claim.dataset, "split": claim.split, "metric": claim.metric, "value": claim.value,
            "source": claim.source, "source_url": claim.source_url,
        }
        for claim in model.claims.all()
    ]  # fmt: skip


def model_record(*, model: ModelEntry, hub_url: str) -> builder.ModelRecord:
    verified, claims = _verified(model, hub_url), _claims(model)
    return builder.ModelRecord(
        model_id=model.model_id,
        architecture=model.architecture,
        model_args=dict(model.model_args),
        num_classes=model.num_classes or 0,
        label_names=model.output_label_names,
        input_size=tuple(model.input_size) if model.input_size else (3, 224, 224),
        mean=tuple(model.mean) or (0.485, 0.456, 0.406),
        std=tuple(model.std) or (0.229, 0.224, 0.225),
        interpolation=model.interpolation or "bilinear",
        crop_pct=model.crop_pct,
        crop_mode=model.crop_mode or "center",
        license=model.license,
        title=model.title or model.model_id,
        summary=model.summary,
        pretrained_on=model.pretrained_on,
        weights_sha256=model.weights.sha256 if model.weights_id else None,
        revision=model.revision,
        hub_url=hub_url,
        hf_repo_id=model.hf_repo_id,
        hf_revision=model.hf_revision,
        claims=claims,
        verified=verified,
    )


def text_model_record(*, model: ModelEntry, hub_url: str) -> textbuilder.TextModelRecord:
    """A text model as the text builder reads it: its repository files (sha256 each) and config.json."""
    repo_files = list(RepoFile.objects.filter(model=model).order_by("filename"))
    files = {repo_file.filename: repo_file.sha256 for repo_file in repo_files}
    if model.weights_id:
        files[textbuilder.WEIGHTS_FILENAME] = model.weights.sha256
    config_file = next((f for f in repo_files if f.filename == textbuilder.CONFIG_FILENAME), None)
    config = {}
    if config_file is not None:
        with config_file.file.open("rb") as handle:
            config = json.loads(handle.read().decode("utf-8"))
    details = getattr(model, "text_details", None)
    return textbuilder.TextModelRecord(
        model_id=model.model_id,
        task=model.task,
        architecture=model.architecture,
        model_type=details.model_type if details else str(config.get("model_type", "")),
        config=config,
        files=files,
        num_params=model.num_params,
        max_sequence_length=details.max_sequence_length if details else 0,
        vocab_size=details.vocab_size if details else None,
        label_names=model.output_label_names,
        license=model.license,
        title=model.title or model.model_id,
        summary=model.summary,
        pretrained_on=model.pretrained_on,
        base_model=details.base_model if details else "",
        revision=model.revision,
        hub_url=hub_url,
        hf_repo_id=model.hf_repo_id,
        hf_revision=model.hf_revision,
        claims=_claims(model),
        verified=_verified(model, hub_url),
    )


@dataclass(frozen=True)
class _Kind:
    """One kind of bundle: how its record is read and its target validated, built, keyed and named."""

    record: Any
    validate: Any
    build: Any
    cache_key: Any
    filename: Any


_IMAGE = _Kind(model_record, builder.validate_target, builder.build_bundle, builder.bundle_cache_key,
               builder.bundle_filename)  # fmt: skip
_TEXT = _Kind(text_model_record, textbuilder.validate_text_target, textbuilder.build_text_bundle,
              textbuilder.text_bundle_cache_key, textbuilder.text_bundle_filename)  # fmt: skip


def starter_bundle(*, model: ModelEntry, raw_target: dict[str, Any], hub_url: str) -> tuple[bytes, str, str]:
    """(zip bytes, file name, etag). Raises builder.BundleConfigError naming the bad field (unknown ones too)."""
    kind = _TEXT if is_text_model(model) else _IMAGE
    record = kind.record(model=model, hub_url=hub_url)
    target = kind.validate(raw_target, record)
    etag = kind.cache_key(record, target)  # covers the inputs, the templates and pinned versions
    key = f"starter-bundle:{etag}"
    data = cache.get(key)
    if data is None:
        data = kind.build(record, target)
        cache.set(key, data, CACHE_SECONDS)
    return data, kind.filename(record, target), etag


def bundle_response(request: HttpRequest, data: bytes, filename: str, etag: str) -> HttpResponse:
    """The zip as a download, or 304 when the client already holds these exact bytes (the ETag matches)."""
    quoted = f'"{etag}"'
    if request.headers.get("If-None-Match") == quoted:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["ETag"] = quoted
    response["Cache-Control"] = "private, max-age=0, must-revalidate"
    return response
