"""Read one ImageFolder split from disk: class subfolders, each holding that class's images.

Pure python (no Django import): the benchmark harness and notebooks use it directly.

Layout: root/<class name>/**/<image>. Class folders are sorted by name (class index = position), files in a
class folder are sorted by their path relative to root, so the sample order is the same on every machine.
Sub-folders of a class folder are read too (root/<class>/a/b.png is a sample of <class>), as torchvision's
ImageFolder does. Hidden entries (names starting with ".", such as .DS_Store or .ipynb_checkpoints), files
directly in root and files without an image extension are not samples; none is skipped silently: the scan lists
each in `unused` with the reason, and registration reports them by name.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.imagedecode import count_cases, decode_image

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
)


class DatasetError(ValueError):
    """The folder is not a usable ImageFolder split (missing, empty, escaping symlinks, ...)."""


@dataclass(frozen=True)
class ImageFolderScan:
    """What one split folder holds. samples are (absolute path, class index) in a deterministic order."""

    root: Path
    class_names: tuple[str, ...]
    samples: tuple[tuple[Path, int], ...]
    class_counts: dict[str, int] = field(default_factory=dict)
    # Files in class folders without an image extension: not samples, but reported by verify_images,
    # because a stray file in a class folder usually means the upload is not what its owner thinks.
    non_image_files: tuple[str, ...] = ()
    # Every file or folder under root that is not read, as (relative posix path, reason), sorted by path.
    unused: tuple[tuple[str, str], ...] = ()

    def relative(self, path: Path) -> str:
        """The path relative to the split root, as posix text (how problems are reported)."""
        return Path(path).relative_to(self.root).as_posix()


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _check_inside(path: Path, root: Path) -> None:
    """Refuse a path whose real location is outside root: a symlink must not smuggle in foreign files."""
    real = path.resolve()
    if real != root and not real.is_relative_to(root):
        raise DatasetError(
            f"{path.relative_to(root).as_posix()!r} is a symlink that points outside the dataset"
        )


HIDDEN_REASON = "hidden (name starts with '.')"
NOT_IMAGE_REASON = "not an image (extension not one of " + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")"
LOOSE_REASON = "beside the class folders, not inside one"


def _walk_class_folder(class_dir: Path, root: Path, unused: list[tuple[str, str]]) -> list[Path]:
    """Every non-hidden file under class_dir, following symlinks that stay inside root, each folder once.

    Hidden entries are appended to unused (relative path, reason)."""
    files: list[Path] = []
    seen: set[Path] = set()
    pending = [class_dir]
    while pending:
        folder = pending.pop()
        _check_inside(folder, root)
        real = folder.resolve()
        if real in seen:  # a symlink loop or two links to the same folder: read it once
            continue
        seen.add(real)
        with os.scandir(folder) as entries:
            listing = list(entries)
        for entry in listing:
            path = Path(entry.path)
            if _is_hidden(entry.name):
                unused.append((path.relative_to(root).as_posix(), HIDDEN_REASON))
                continue
            if entry.is_dir():
                pending.append(path)
            elif entry.is_file():
                _check_inside(path, root)
                files.append(path)
            elif entry.is_symlink():
                raise DatasetError(f"{path.relative_to(root).as_posix()!r} is a broken symlink")
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _class_folders(root: Path, unused: list[tuple[str, str]]) -> list[Path]:
    folders = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if _is_hidden(path.name):
            unused.append((path.name, HIDDEN_REASON))
        elif path.is_dir():
            folders.append(path)
        else:
            unused.append((path.name, LOOSE_REASON))
    if not folders:
        raise DatasetError(f"{root} holds no class folders (expected one sub-folder per class)")
    return folders


def scan_imagefolder(root: Path) -> ImageFolderScan:
    """List the classes and samples of one split folder. Raises DatasetError when it is not usable.

    Does not open any image: verify_images does that, separately, because it is the slow part.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Dataset path is not a directory: {root}")
    root = root.resolve()
    class_names: list[str] = []
    samples: list[tuple[Path, int]] = []
    counts: dict[str, int] = {}
    non_images: list[str] = []
    unused: list[tuple[str, str]] = []
    for index, class_dir in enumerate(_class_folders(root, unused)):
        class_names.append(class_dir.name)
        counts[class_dir.name] = 0
        for path in _walk_class_folder(class_dir, root, unused):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                samples.append((path, index))
                counts[class_dir.name] += 1
            else:
                non_images.append(path.relative_to(root).as_posix())
                unused.append((non_images[-1], NOT_IMAGE_REASON))
    if not samples:
        raise DatasetError(f"{root} holds {len(class_names)} class folders but no images")
    return ImageFolderScan(
        root=root,
        class_names=tuple(class_names),
        samples=tuple(samples),
        class_counts=counts,
        non_image_files=tuple(non_images),
        unused=tuple(sorted(unused)),
    )


# What Pillow raises for a malformed file. Deliberately not `Exception`: a job's soft time limit (Celery raises
# SoftTimeLimitExceeded, an Exception, wherever the job happens to be) or any other interruption during a decode
# must stop the job, not be recorded as "1 unreadable image file".
IMAGE_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and truncated streams
    SyntaxError,  # broken headers and chunks
    ValueError,
    TypeError,
    EOFError,
    LookupError,  # IndexError/KeyError from malformed tables (palettes, EXIF, TIFF tags)
    ArithmeticError,
    AttributeError,
    RuntimeError,
    AssertionError,
    struct.error,
    Image.DecompressionBombError,
)


def samples_of_classes(scan: ImageFolderScan, class_names: Sequence[str]) -> list[tuple[Path, int]]:
    """The scan's samples of these classes only, each labelled with its class's position in class_names.

    ("0", ..., "4") of a ten-digit split gives the 5-class task with labels 0..4, in class_names order, each
    class's files in scan order. A requested class the split has no folder for is an error, not an empty class.
    """
    missing = [name for name in class_names if name not in scan.class_names]
    if missing:
        raise DatasetError(f"{scan.root} has no class folder {', '.join(map(repr, missing))}")
    label_of = {scan.class_names.index(name): label for label, name in enumerate(class_names)}
    kept = [(path, label_of[index]) for path, index in scan.samples if index in label_of]
    return sorted(kept, key=lambda sample: sample[1])  # stable: files keep their scan order within a class


def decode_cases(path: Path) -> tuple[str, ...] | None:
    """The decoding cases of a file the decoder reads fully (see core.imagedecode), None if unreadable."""
    try:
        # verify() checks the container (chunks, CRCs) without decoding and leaves the image unusable, so
        # the decoder opens it again and decodes the pixels: a truncated stream can pass verify() and still
        # fail to load.
        with Image.open(path) as image:
            image.verify()
        return decode_image(path).cases
    except IMAGE_DECODE_ERRORS:
        return None


def image_is_readable(path: Path) -> bool:
    """True when Pillow can identify, verify and the decoder fully decode the file."""
    return decode_cases(path) is not None


@dataclass(frozen=True)
class ImageCheck:
    """Every sample decoded once: the unreadable ones (relative paths) and the decoding cases of the rest."""

    unreadable: list[str]
    decode_counts: dict[str, int]


def check_images(scan: ImageFolderScan) -> ImageCheck:
    unreadable, cases = [], []
    for path, _ in scan.samples:
        found = decode_cases(path)
        if found is None:
            unreadable.append(scan.relative(path))
        else:
            cases.append(found)
    return ImageCheck(unreadable=sorted(unreadable), decode_counts=count_cases(cases))


def unreadable_images(scan: ImageFolderScan) -> list[str]:
    """Relative paths (posix) of the samples the decoder cannot read, sorted."""
    return check_images(scan).unreadable


def verify_images(scan: ImageFolderScan) -> list[str]:
    """Relative paths (posix) of every file in a class folder that is not a decodable image, sorted.

    Non-image files found by the scan are included: the caller refuses the dataset either way.
    """
    bad = list(scan.non_image_files)
    bad.extend(scan.relative(path) for path, _ in scan.samples if not image_is_readable(path))
    return sorted(bad)
