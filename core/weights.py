"""Where weights come from and how they are checked. Pure Python (no Django): callable from a notebook.

Depot stores and loads safetensors only. A pickle-based checkpoint (.bin, .pt, .pth, .ckpt) is refused unless a
curator asks for a one-time conversion, which loads it with `torch.load(weights_only=True)`: plain tensors
only, no arbitrary objects. A file is checked byte by byte (header, offsets, sizes) before anything trusts
it, and against the architecture it claims to fit before it is stored.
"""

import hashlib
import json
import math
import re
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import model_args as timm_model_args

PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle"})
SAFETENSORS_SUFFIX = ".safetensors"
MAX_HEADER_BYTES = 100_000_000  # the safetensors reference implementation's own limit
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


class WeightsError(ValueError):
    """A weights file Depot will not accept; the message says why and what to do."""


class PickleRefused(WeightsError):
    pass


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class SafetensorsInfo:
    sha256: str
    size_bytes: int
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]


@dataclass
class KeyReport:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "name: expected (a, b), got (c, d)"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)


class WeightsMismatch(WeightsError):
    def __init__(self, report: KeyReport, *, architecture: str, num_classes: int | None):
        self.report = report
        parts = []
        for label, keys in (
            ("missing", report.missing),
            ("unexpected", report.unexpected),
            ("mismatched", report.mismatched),
        ):
            if keys:
                shown = "; ".join(keys[:20]) + (f"; and {len(keys) - 20} more" if len(keys) > 20 else "")
                parts.append(f"{len(keys)} {label} key(s): {shown}")
        super().__init__(
            f"The tensors do not fit {architecture} with num_classes={num_classes}. " + ". ".join(parts) + "."
        )


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks (a file of any size)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def looks_like_pickle(path: Path) -> bool:
    """torch.save writes a zip (PK\\x03\\x04) or, in the legacy format, a pickle stream: PROTO (0x80) and a
    protocol number 2-5. A safetensors file starts with its header length, whose low byte may well be 0x80,
    so a file whose 8-byte length prefix describes a JSON header ({ right after it) is not a pickle.
    """
    with open(path, "rb") as handle:
        head = handle.read(9)
    if head.startswith(b"PK\x03\x04"):
        return True
    if len(head) == 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= MAX_HEADER_BYTES:
        return False
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def refuse_pickle(path: Path, *, original_name: str) -> None:
    suffix = Path(original_name).suffix.lower()
    if suffix in PICKLE_SUFFIXES or looks_like_pickle(path):
        raise PickleRefused(
            f"{original_name} is a pickle-based checkpoint; Depot stores and loads only safetensors, because "
            "unpickling can run arbitrary code. Convert it with safetensors.torch.save_file, or ask for a "
            "one-time conversion explicitly (`register_weights --convert-pickle`)."
        )


def _read_header(path: Path, size: int) -> tuple[dict[str, Any], int]:
    if size < 8:
        raise WeightsError(f"Not a safetensors file: {size} bytes is shorter than the 8-byte header length.")
    with open(path, "rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        if header_len > MAX_HEADER_BYTES or header_len > size - 8:
            raise WeightsError(
                f"Not a safetensors file, or truncated: the header claims {header_len} bytes but the file has {size}."
            )
        raw = handle.read(header_len)
    return _parse_header_json(raw), 8 + header_len


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; another reader may keep the first. Neither is acceptable.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise WeightsError(f"Corrupted safetensors header: the key {key!r} appears twice.")
        seen[key] = value
    return seen


def _parse_header_json(raw: bytes) -> dict[str, Any]:
    # Depth: json's C decoder raises RecursionError on hostile nesting (caught below); anything nested
    # deeper than a tensor entry ({"name": {"shape": [...]}}) is then refused by the entry checks.
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_refuse_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"Not a safetensors file: the header is not valid JSON ({exc}).") from None
    except RecursionError:
        raise WeightsError("Not a safetensors file: the header nests too deeply.") from None
    if not isinstance(header, dict):
        raise WeightsError("Not a safetensors file: the header is not a JSON object.")
    return header


def _metadata(header: dict[str, Any]) -> dict[str, str]:
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise WeightsError("Corrupted safetensors header: __metadata__ must be an object of strings.")
    bad = sorted(key for key, value in metadata.items() if not isinstance(value, str))
    if bad:
        raise WeightsError(
            f"Corrupted safetensors header: __metadata__ values must be strings; {', '.join(bad[:5])} are not."
        )
    return metadata


def _tensor_info(name: str, entry: Any) -> tuple[TensorInfo, int, int]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise WeightsError(f"Corrupted safetensors header: entry {name!r} is malformed.")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPE_SIZES:
        raise WeightsError(f"Corrupted safetensors header: tensor {name!r} has unknown dtype {dtype!r}.")
    if not (isinstance(shape, list) and all(isinstance(dim, int) and dim >= 0 for dim in shape)):
        raise WeightsError(f"Corrupted safetensors header: tensor {name!r} has a bad shape {shape!r}.")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
        raise WeightsError(f"Corrupted safetensors header: tensor {name!r} has bad data offsets {offsets!r}.")
    begin, end = offsets
    if end - begin != math.prod(shape) * DTYPE_SIZES[dtype]:
        raise WeightsError(
            f"Corrupted safetensors file: tensor {name!r} does not occupy the bytes its shape needs."
        )
    return TensorInfo(dtype=dtype, shape=tuple(shape)), begin, end


def inspect_safetensors(path: Path) -> SafetensorsInfo:
    """Validate the whole layout (header, every offset, total length) without loading tensors."""
    size = path.stat().st_size
    header, data_start = _read_header(path, size)
    metadata = _metadata(header)
    spans, tensors = [], {}
    for name, entry in header.items():
        info, begin, end = _tensor_info(name, entry)
        tensors[name] = info
        spans.append((begin, end, name))
    spans.sort()
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            raise WeightsError(
                f"Corrupted safetensors file: tensor {name!r} overlaps another or leaves a gap."
            )
        cursor = end
    if data_start + cursor != size:
        raise WeightsError(
            f"Truncated or padded safetensors file: the header describes {data_start + cursor} bytes, "
            f"the file has {size}."
        )
    if not tensors:
        raise WeightsError("The safetensors file holds no tensors.")
    check_loads_with_safetensors(path, tensors)
    return SafetensorsInfo(
        sha256=sha256_file(path), size_bytes=size, tensors=tensors, metadata=dict(metadata)
    )


FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64", "F8_E5M2", "F8_E4M3"})


def check_loads_with_safetensors(path: Path, tensors: Mapping[str, TensorInfo]) -> None:
    """Open the file with the safetensors library itself (what timm and huggingface_hub will use later),
    one tensor at a time, and refuse NaN or infinite values: such weights can only produce garbage."""
    import torch
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                if tensors[name].dtype not in FLOAT_DTYPES:
                    continue
                tensor = handle.get_tensor(name)
                if not bool(torch.isfinite(tensor.float() if tensor.dtype.itemsize == 1 else tensor).all()):
                    raise WeightsError(f"Tensor {name!r} holds NaN or infinite values.")
    except (SafetensorError, OSError, RuntimeError, KeyError) as exc:
        raise WeightsError(f"The safetensors library cannot load this file: {exc}") from None


def expected_tensors(
    *, architecture: str, num_classes: int | None, model_args: Mapping[str, Any]
) -> dict[str, tuple]:
    """The state dict a timm architecture has, computed on the meta device (no memory, no download)."""
    import timm
    import torch

    try:
        # Defensive: the catalog refuses these on write, but rows stored before that check may hold them.
        kwargs = timm_model_args.checked(model_args)
    except timm_model_args.ModelArgsError as exc:
        raise WeightsError(f"Refusing to build {architecture!r}: {exc}") from None
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    try:
        with torch.device("meta"):
            model = timm.create_model(architecture, pretrained=False, **kwargs)
    except Exception as exc:  # timm raises RuntimeError/TypeError/KeyError for unknown names or arguments
        raise WeightsError(f"Cannot build architecture {architecture!r} with {kwargs}: {exc}") from exc
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def compare_keys(expected: Mapping[str, tuple], given: Mapping[str, TensorInfo]) -> KeyReport:
    report = KeyReport(
        missing=sorted(set(expected) - set(given)),
        unexpected=sorted(set(given) - set(expected)),
    )
    for name in sorted(set(expected) & set(given)):
        if tuple(expected[name]) != given[name].shape:
            report.mismatched.append(f"{name}: expected {tuple(expected[name])}, got {given[name].shape}")
    return report


def check_fits_architecture(
    info: SafetensorsInfo, *, architecture: str, num_classes: int | None, model_args: Mapping[str, Any]
) -> None:
    report = compare_keys(
        expected_tensors(architecture=architecture, num_classes=num_classes, model_args=model_args),
        info.tensors,
    )
    if not report.ok:
        raise WeightsMismatch(report, architecture=architecture, num_classes=num_classes)


def convert_pickle_to_safetensors(source: Path, destination: Path) -> None:
    """One-time, explicit conversion. weights_only=True refuses anything but tensors and plain containers."""
    import torch
    from safetensors.torch import save_file

    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for hostile or broken files
        raise WeightsError(f"Cannot load {source.name} safely (weights_only=True): {exc}") from exc
    state = loaded
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(v, torch.Tensor) for v in state.values())
    ):
        raise WeightsError(f"{source.name} does not hold a flat state dict of tensors.")
    save_file(
        {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}, str(destination)
    )


class _ProgressReporter:
    """What hf_hub_download takes as tqdm_class: counts the bytes it reports and hands them to a callback. Not a
    tqdm subclass, so huggingface_hub never disables it (it silences its own bars outside a terminal)."""

    def __init__(self, on_progress: Callable[[int, int | None], None], *, total=None, initial=0, **_: Any):
        self.on_progress, self.total, self.done = on_progress, total, initial or 0
        self.on_progress(self.done, self.total)

    def __enter__(self) -> "_ProgressReporter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int | None = 1) -> None:
        self.done += n or 0
        self.on_progress(self.done, self.total)

    def close(self) -> None:
        pass


def _reporter_class(on_progress: Callable[[int, int | None], None]) -> Callable[..., _ProgressReporter]:
    return lambda **kwargs: _ProgressReporter(on_progress, **kwargs)


HUB_PROBE_SECONDS = 5.0


def _hub_unreachable(endpoint: str) -> str:
    """Why nothing answers at the Hub's address ("" when something does). huggingface_hub retries a refused
    connection for about half a minute before saying so; one probe says it at once."""
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=HUB_PROBE_SECONDS).close()
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return ""


def fetch_from_hugging_face(
    *,
    repo_id: str,
    revision: str,
    filename: str = "model.safetensors",
    endpoint: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    download_dir: Path | None = None,
) -> Path:
    """Download (or reuse from the local cache) one file at a pinned commit. Respects HF_HUB_OFFLINE.

    `endpoint` is the Hub's address (huggingface_hub's HF_ENDPOINT when None); `on_progress(bytes_done,
    bytes_total)` hears about the download as it goes (total None while unknown); `download_dir`, when given,
    receives a file the local cache does not hold, instead of the cache (so a caller that stores the file
    elsewhere can delete this copy).
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    if not COMMIT_SHA.match(revision):
        raise WeightsError(f"Revision {revision!r} is not pinned: give the full 40-character commit sha.")
    if not filename.endswith(SAFETENSORS_SUFFIX):
        raise PickleRefused(f"{filename} is not a safetensors file; Depot fetches safetensors only.")
    extra: dict[str, Any] = {"tqdm_class": _reporter_class(on_progress)} if on_progress else {}
    hub = endpoint or constants.ENDPOINT
    cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    if isinstance(cached, str):
        return Path(cached)
    if download_dir is not None:
        extra["cache_dir"] = str(download_dir)
    if not constants.HF_HUB_OFFLINE and (why := _hub_unreachable(hub)):
        raise WeightsError(
            f"{repo_id}@{revision[:12]}/{filename} is not in the local Hugging Face cache and the Hub ({hub}) "
            f"cannot be reached ({why}). Fetch it on a connected machine into HF_HOME, or upload the file instead."
        )
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint, **extra))
    except LocalEntryNotFoundError as exc:
        raise WeightsError(
            f"{repo_id}@{revision[:12]}/{filename} is not in the local Hugging Face cache and the Hub ({hub}) "
            "cannot be reached (no network, or HF_HUB_OFFLINE=1). Fetch it on a connected machine into HF_HOME, "
            "or upload the file instead."
        ) from exc
    except (RepositoryNotFoundError, EntryNotFoundError) as exc:
        raise WeightsError(f"{repo_id}@{revision[:12]} has no {filename}: {exc}") from exc
    except HfHubHTTPError as exc:  # the Hub answered, with an error of its own (a 5xx, a refused token)
        raise WeightsError(f"The Hub refused {repo_id}@{revision[:12]}/{filename}: {exc}") from exc
