"""The subset of the Hugging Face Hub protocol that huggingface_hub and timm need to download from Depot.

- GET /api/models/<ns>/<name>[/revision/<rev>]: repository info (id, sha, siblings, tags, pipeline_tag, ...).
- HEAD|GET /<ns>/<name>/resolve/<rev>/<filename>: config.json, README.md and model.safetensors, with the
  headers huggingface_hub relies on (X-Repo-Commit, ETag, Content-Length) and single byte ranges. A model's
  stored repository files (a transformers model's config.json and tokenizer files, catalog.text_services) are
  served as stored, in place of the generated config, so transformers' from_pretrained loads them unchanged.
A revision is "main" or the model's current content revision; errors carry X-Error-Code like the Hub's,
so clients raise their usual RepositoryNotFound / RevisionNotFound / EntryNotFound errors.
"""

import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from catalog import services
from catalog.models import ModelEntry, RepoFile
from catalog.text_services import repo_file_content_type
from core import hfconfig
from hub import streaming

RANGE_PATTERN = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")
# Branch names, tags and commit shas: no control characters, no spaces, bounded.
REVISION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE_HEADER_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _header_safe(text: str) -> str:
    """Request text echoed into a header must not split it (CR/LF) or carry other control characters."""
    return _UNSAFE_HEADER_CHARS.sub("?", text)[:300].encode("latin-1", "replace").decode("latin-1")


def _error(status: int, code: str, message: str, *, commit: str | None = None) -> JsonResponse:
    response = JsonResponse({"error": message, "detail": code}, status=status)
    response["X-Error-Code"] = code
    response["X-Error-Message"] = _header_safe(message)
    if commit:
        response["X-Repo-Commit"] = commit
    return response


# Files a client asks for when it wants the weights: timm tries model.safetensors, then pytorch_model.bin, and
# shows the error of the last; each must say why, not merely "not found".
WEIGHTS_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".ckpt")


def weights_not_stored_message(model: ModelEntry) -> str:
    """Why a catalog entry serves no weights, and what would change that."""
    message = (
        f"The weights of {model.model_id} are not stored on this hub: it catalogs the model's metadata and claims "
        "only."
    )
    if model.hf_repo_id:
        message += (
            f" Their source is the Hugging Face Hub repository {model.hf_repo_id}; load them from there, or ask "
            f"this hub's staff to mirror them (manage.py mirror_weights {model.model_id})."
        )
    else:
        message += " Staff can upload a safetensors file on the model's page."
    return message


def _weights_not_stored(model: ModelEntry) -> JsonResponse:
    return _error(404, "EntryNotFound", weights_not_stored_message(model), commit=model.revision)


def _find(namespace: str, name: str) -> ModelEntry | None:
    # Every file download starts here: one query, without the claims the catalog pages prefetch.
    return ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()


def _revision_matches(model: ModelEntry, revision: str) -> bool:
    return revision in ("main", model.revision)


def _bad_revision(revision: str) -> JsonResponse | None:
    if REVISION_PATTERN.match(revision):
        return None
    return _error(
        400,
        "InvalidRevision",
        f"Revision {revision[:100]!r} is not a branch, tag or commit name "
        "(letters, digits, '.', '_' or '-', at most 100).",
    )


def _siblings(model: ModelEntry) -> list[dict]:
    stored = RepoFile.objects.filter(model=model).values_list("filename", flat=True)
    names = sorted({hfconfig.CARD_FILENAME, hfconfig.CONFIG_FILENAME, *stored})
    if model.weights_id:
        names.append(hfconfig.WEIGHTS_FILENAME)
    return [{"rfilename": name} for name in names]


def _model_info(model: ModelEntry) -> dict:
    tags = [model.library, model.task, *model.tag_list]
    if model.license:
        tags.append(f"license:{model.license}")
    return {
        "_id": f"depot-{model.pk}",
        "id": model.model_id,
        "modelId": model.model_id,
        "author": model.namespace,
        "sha": model.revision,
        "lastModified": model.updated.isoformat().replace("+00:00", "Z"),
        "createdAt": model.created.isoformat().replace("+00:00", "Z"),
        "private": False,
        "gated": False,
        "disabled": False,
        "downloads": model.downloads,
        "likes": 0,
        "library_name": model.library,
        "pipeline_tag": model.task,
        "tags": list(dict.fromkeys(tags)),
        "cardData": {
            "library_name": model.library,
            "pipeline_tag": model.task,
            "license": model.license or None,
            "tags": model.tag_list,
            "datasets": [name for name in (model.pretrained_on, model.fine_tuned_on) if name],
            **({"base_model": model.base_model} if model.base_model else {}),
        },
        "config": {"architectures": [model.architecture]} if model.architecture else {},
        "siblings": _siblings(model),
    }


@require_http_methods(["GET"])
def model_info(request: HttpRequest, namespace: str, name: str, revision: str = "main") -> HttpResponse:
    if bad := _bad_revision(revision):
        return bad
    model = _find(namespace, name)
    if model is None:
        return _error(404, "RepoNotFound", f"Repository {namespace}/{name} not found.")
    if not _revision_matches(model, revision):
        return _error(404, "RevisionNotFound", f"Revision {revision} not found; current is {model.revision}.")
    if not model.weights_id:
        # A repository without its weights would let snapshot_download "succeed" with a config and a card.
        return _weights_not_stored(model)
    return JsonResponse(_model_info(model))


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for one satisfiable byte range; None when unsatisfiable."""
    match = RANGE_PATTERN.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    start, end = match.group(1), match.group(2)
    if not start:  # suffix range: the last N bytes
        length = int(end)
        return (max(0, size - length), size - 1) if length > 0 and size > 0 else None
    first = int(start)
    last = min(int(end), size - 1) if end else size - 1
    return (first, last) if first <= last and first < size else None


def _file_headers(response: HttpResponse, *, model: ModelEntry, etag: str, size: int) -> HttpResponse:
    response["X-Repo-Commit"] = model.revision
    response["ETag"] = f'"{etag}"'
    response["Accept-Ranges"] = "bytes"
    response["Content-Length"] = str(size)
    return response


def _serve_small(request: HttpRequest, model: ModelEntry, content: bytes, content_type: str) -> HttpResponse:
    response = HttpResponse(b"" if request.method == "HEAD" else content, content_type=content_type)
    return _file_headers(response, model=model, etag=hfconfig.git_blob_sha1(content), size=len(content))


def _serve_weights(request: HttpRequest, model: ModelEntry) -> HttpResponse:
    weights_file = model.weights
    size = weights_file.size_bytes
    if request.method == "HEAD":
        response = _file_headers(
            HttpResponse(content_type="application/octet-stream"),
            model=model,
            etag=weights_file.sha256,
            size=size,
        )
        response["X-Linked-Size"] = str(size)
        response["X-Linked-Etag"] = f'"{weights_file.sha256}"'
        return response
    range_header = request.headers.get("Range")
    if range_header:
        span = _parse_range(range_header, size)
        if span is None:
            response = _error(
                416, "RangeNotSatisfiable", f"Range {range_header!r} does not fit {size} bytes."
            )
            response["Content-Range"] = f"bytes */{size}"
            return response
        first, last = span
        if first == 0 and last == size - 1:  # a whole-file range is a download; a probe or a resume is not
            services.model_record_download(model=model)
        response = streaming.file_range(
            request,
            weights_file.file.storage.open(weights_file.file.name, "rb"),
            first,
            last - first + 1,
            status=206,
            content_type="application/octet-stream",
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        return _file_headers(response, model=model, etag=weights_file.sha256, size=last - first + 1)
    services.model_record_download(model=model)
    response = streaming.whole_file(
        request,
        weights_file.file.storage.open(weights_file.file.name, "rb"),
        size,
        content_type="application/octet-stream",
    )
    return _file_headers(response, model=model, etag=weights_file.sha256, size=size)


@require_http_methods(["GET", "HEAD"])
def resolve(request: HttpRequest, namespace: str, name: str, revision: str, filename: str) -> HttpResponse:
    if bad := _bad_revision(revision):
        return bad
    model = _find(namespace, name)
    if model is None:
        return _error(404, "RepoNotFound", f"Repository {namespace}/{name} not found.")
    if not _revision_matches(model, revision):
        return _error(404, "RevisionNotFound", f"Revision {revision} not found; current is {model.revision}.")
    stored = RepoFile.objects.filter(model=model, filename=filename).first()
    if stored is not None:
        with stored.file.storage.open(stored.file.name, "rb") as handle:
            return _serve_small(request, model, handle.read(), repo_file_content_type(filename))
    if filename == hfconfig.CONFIG_FILENAME:
        return _serve_small(request, model, hfconfig.config_bytes(model), "application/json")
    if filename == hfconfig.CARD_FILENAME:
        return _serve_small(request, model, hfconfig.card_bytes(model), "text/markdown; charset=utf-8")
    if filename == hfconfig.WEIGHTS_FILENAME and model.weights_id:
        return _serve_weights(request, model)
    if not model.weights_id and filename.endswith(WEIGHTS_SUFFIXES):
        return _weights_not_stored(model)
    return _error(404, "EntryNotFound", f"{filename} not found in {model.model_id}.", commit=model.revision)
