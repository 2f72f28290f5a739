"""Starter bundles for catalog models: the record handed to the pure-python builder, and a cache by ETag.

Bundles are deterministic (same inputs, same bytes), so the ETag is a hash of the inputs and a bundle once
built is served from the cache until its model's revision changes.
"""

from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from catalog import selectors
from catalog.models import ModelEntry
from core.starter import builder

CACHE_SECONDS = 3600


def hub_url(request: Any) -> str:
    """This server's base URL as the client sees it: the bundle's train.py downloads from there."""
    return request.build_absolute_uri("/").rstrip("/")


def model_record(*, model: ModelEntry, hub_url: str) -> builder.ModelRecord:
    verified = [
        {
            "dataset": verdict.claim.dataset, "split": verdict.claim.split, "top1": verdict.measured,
            "status": verdict.status, "delta": verdict.delta,
            "interval95": list(verdict.interval) if verdict.interval else None, "num_samples": verdict.num_samples,
            "weights_sha256": verdict.run.weights_sha256,
            "dataset_hash": verdict.run.dataset_hash, "run_url": f"{hub_url}{verdict.run.get_absolute_url()}",
            "torch": verdict.run.provenance.get("torch", ""), "timm": verdict.run.provenance.get("timm", ""),
            "device": verdict.run.provenance.get("device", ""),
            "threads": verdict.run.provenance.get("threads"),
            "throughput_ips": (verdict.run.metrics or {}).get("throughput_ips"),
        }
        for verdict in selectors.claim_verdicts(model=model)
        if verdict.run is not None
    ]  # fmt: skip
    claims = [
        {
            "dataset": claim.dataset, "split": claim.split, "metric": claim.metric, "value": claim.value,
            "source": claim.source, "source_url": claim.source_url,
        }
        for claim in model.claims.all()
    ]  # fmt: skip
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


def starter_bundle(*, model: ModelEntry, raw_target: dict[str, Any], hub_url: str) -> tuple[bytes, str, str]:
    """(zip bytes, file name, etag). Raises builder.BundleConfigError naming the bad field (unknown ones too)."""
    record = model_record(model=model, hub_url=hub_url)
    target = builder.validate_target(raw_target, record)
    etag = builder.bundle_cache_key(record, target)  # covers the inputs, the templates and pinned versions
    key = f"starter-bundle:{etag}"
    data = cache.get(key)
    if data is None:
        data = builder.build_bundle(record, target)
        cache.set(key, data, CACHE_SECONDS)
    return data, builder.bundle_filename(record, target), etag


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
