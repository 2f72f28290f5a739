"""ImageFolder datasets on disk: the built-in digits demo dataset and content hashing.

Reading a split (its classes and samples) is core.imagefolder's job: scan_imagefolder(root / split).

Pure python: no Django import, so the harness and notebooks can use it directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

MANIFEST_NAME = "manifest.json"
SPLITS: tuple[str, ...] = ("train", "val", "test")
DIGIT_CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))

# Bump when the on-disk layout or the image rendering changes, so old builds are rebuilt, not trusted.
_DIGITS_FORMAT_VERSION = 1
_DIGITS_SOURCE = "sklearn.datasets.load_digits"
# Fractions of each class that go to val and test; train takes the rest (about 60/20/20).
_VAL_FRACTION = 0.2
_TEST_FRACTION = 0.2
# The 8x8 digits are coarse samples of smooth pen strokes: bilinear upscaling recovers a smooth stroke
# without the ringing/overshoot of bicubic or the blocky 4x4 tiles of nearest. Pillow's bilinear is
# integer fixed-point, so the output is bit-exact for a given Pillow version.
_RESAMPLE = Image.Resampling.BILINEAR
_RESAMPLE_NAME = "bilinear"
# A fixed zlib level: PNG bytes (and so the content hash) depend on it.
_PNG_COMPRESS_LEVEL = 6
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class DigitsSplits:
    """A built digits ImageFolder: where it is, its classes, its split sizes and what exactly it holds."""

    root: Path
    class_names: tuple[str, ...]
    split_sizes: dict[str, int] = field(default_factory=dict)
    content_hash: str = ""


# --------------------------------------------------------------------------------------------------
# Content hashing


def _iter_data_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield (relative posix path, path) of every data file under root, sorted, manifest excluded."""
    files = [p for p in root.rglob("*") if p.is_file()]
    for rel, path in sorted((p.relative_to(root).as_posix(), p) for p in files):
        if rel == MANIFEST_NAME:
            continue
        yield rel, path


def dataset_content_hash(root: Path) -> str:
    """sha256 over the sorted relative paths and bytes of every file under root (the manifest is ignored).

    Each entry is framed as path, NUL, byte length, NUL, bytes, so moving bytes between files or renaming
    a file always changes the hash. Files are streamed, so large datasets do not need to fit in memory.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Dataset root is not a directory: {root}")
    digest = hashlib.sha256()
    for rel, path in _iter_data_files(root):
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(str(path.stat().st_size).encode("ascii") + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Building the digits demo dataset


def _stratified_split(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Split sample indices per class with a fixed-seed permutation; each split keeps the class balance.

    Written out rather than sklearn's train_test_split so the split cannot shift with a scikit-learn upgrade.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    for label in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == label))
        n_val = round(len(indices) * _VAL_FRACTION)
        n_test = round(len(indices) * _TEST_FRACTION)
        parts["val"].append(indices[:n_val])
        parts["test"].append(indices[n_val : n_val + n_test])
        parts["train"].append(indices[n_val + n_test :])
    return {split: np.sort(np.concatenate(chunks)) for split, chunks in parts.items()}


def _render_digit(pixels: np.ndarray, image_size: int) -> Image.Image:
    """Render one 8x8 digit (values 0..16) as an RGB image of image_size x image_size."""
    gray = np.rint(pixels.reshape(8, 8) * (255.0 / 16.0)).astype(np.uint8)
    image = Image.fromarray(gray, mode="L").resize((image_size, image_size), resample=_RESAMPLE)
    # RGB because every pretrained timm model expects 3 channels; the channels are identical.
    return image.convert("RGB")


def _write_images(
    build_dir: Path, images: np.ndarray, labels: np.ndarray, seed: int, image_size: int
) -> dict:
    counts: dict[str, dict[str, int]] = {}
    for split, indices in _stratified_split(labels, seed).items():
        counts[split] = {name: 0 for name in DIGIT_CLASS_NAMES}
        for index in indices:
            name = DIGIT_CLASS_NAMES[int(labels[index])]
            class_dir = build_dir / split / name
            class_dir.mkdir(parents=True, exist_ok=True)
            image = _render_digit(images[index], image_size)
            image.save(class_dir / f"{int(index):04d}.png", format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
            counts[split][name] += 1
    return counts


def _expected_manifest_fields(seed: int, image_size: int) -> dict:
    return {
        "format_version": _DIGITS_FORMAT_VERSION,
        "source": _DIGITS_SOURCE,
        "seed": seed,
        "image_size": image_size,
        "resample": _RESAMPLE_NAME,
        "class_names": list(DIGIT_CLASS_NAMES),
    }


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def _splits_from_manifest(root: Path, manifest: dict) -> DigitsSplits:
    return DigitsSplits(
        root=root,
        class_names=tuple(manifest["class_names"]),
        split_sizes={split: sum(manifest["counts"][split].values()) for split in SPLITS},
        content_hash=manifest["content_hash"],
    )


def _existing_build_is_complete(root: Path, manifest: dict | None, seed: int, image_size: int) -> bool:
    """True when root holds exactly the build the manifest describes, for these parameters."""
    if manifest is None:
        return False
    expected = _expected_manifest_fields(seed, image_size)
    if any(manifest.get(key) != value for key, value in expected.items()):
        return False
    # Re-hash rather than trust the manifest: it is cheap (about 1 MB) and catches partial or edited copies.
    return manifest.get("content_hash") == dataset_content_hash(root)


def _replace_directory(build_dir: Path, root: Path) -> None:
    """Move build_dir to root. A rename is atomic; an older build is moved aside first, then deleted."""
    if not root.exists():
        os.replace(build_dir, root)
        return
    old_dir = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
    os.replace(root, old_dir / root.name)
    os.replace(build_dir, root)
    shutil.rmtree(old_dir, ignore_errors=True)


def _check_root_is_replaceable(root: Path, manifest: dict | None) -> None:
    """Refuse to replace a non-empty folder that is not a digits build: it may be someone's data."""
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory")
    is_ours = manifest is not None and manifest.get("source") == _DIGITS_SOURCE
    if not is_ours and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty and holds no digits manifest; refusing to overwrite it")


def build_digits_imagefolder(root: Path, *, seed: int = 0, image_size: int = 32) -> DigitsSplits:
    """Write scikit-learn's digits as an ImageFolder: root/{train,val,test}/{0..9}/{index:04d}.png.

    The split is stratified per class (about 60/20/20) with a fixed seed, so the same seed and size give
    byte-identical files. If root already holds a complete build with these parameters it is returned
    untouched. The build happens in a temporary folder beside root and is renamed into place, so a crash
    never leaves a half-written dataset at root.
    """
    from sklearn.datasets import load_digits  # imported here: sklearn is slow to import and only needed here

    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 (the source resolution), got {image_size}")
    root = Path(root)
    manifest = _read_manifest(root)
    if _existing_build_is_complete(root, manifest, seed, image_size):
        return _splits_from_manifest(root, manifest)
    _check_root_is_replaceable(root, manifest)

    digits = load_digits()
    root.parent.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    build_dir.chmod(0o755)  # mkdtemp makes it owner-only; the dataset is meant to be readable like any folder
    try:
        counts = _write_images(build_dir, digits.images, digits.target, seed, image_size)
        manifest = {
            **_expected_manifest_fields(seed, image_size),
            "split_fractions": {
                "train": round(1 - _VAL_FRACTION - _TEST_FRACTION, 4),
                "val": _VAL_FRACTION,
                "test": _TEST_FRACTION,
            },
            "counts": counts,
            "content_hash": dataset_content_hash(build_dir),
        }
        (build_dir / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        _replace_directory(build_dir, root)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return _splits_from_manifest(root, manifest)
