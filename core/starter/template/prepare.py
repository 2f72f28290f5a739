"""Check the data layout and write the file lists every later stage reads (the dvc `prepare` stage).

    data/train/<class>/*.png|jpg|...   required
    data/val/<class>/*                 optional: without it, a seeded share of train becomes val
    data/test/<class>/*                optional: evaluate.py measures on it (on val when it is missing)

Writes prepared/classes.json (class names in label order, counts, where val and test came from) and
prepared/splits.json (every image with its label and sha256, so a changed image re-runs dvc's later stages).
Usage: python prepare.py [--set data.val_fraction=0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from common import (
    CLASSES_FILE,
    ROOT,
    SPLITS_FILE,
    BundleError,
    class_folders,
    image_files,
    load_params,
    sha256_file,
    write_json,
)


def _class_names(train_dir: Path, params: dict) -> list[str]:
    folders = class_folders(train_dir)
    wanted = list(params["target"].get("class_names") or [])
    expected = int(params["target"]["num_classes"])
    if wanted:
        missing = [name for name in wanted if name not in folders]
        extra = [name for name in folders if name not in wanted]
        if missing or extra:
            raise BundleError(
                f"data/train must hold exactly the classes of target.class_names; missing: {missing or 'none'}, "
                f"unexpected: {extra or 'none'}"
            )
        names = wanted
    else:
        names = folders
    if len(names) != expected:
        raise BundleError(
            f"target.num_classes is {expected} but data/train has {len(names)} class folders ({', '.join(names[:10])})"
        )
    return names


def shown(path: Path) -> str:
    """A path as the user wrote it in params.yaml: relative to this project when inside it."""
    path = Path(os.path.abspath(path))
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _files(split_dir: Path, names: list[str], *, required: bool) -> dict[str, list[Path]]:
    unknown = [name for name in class_folders(split_dir) if name not in names]
    if unknown:
        raise BundleError(f"{shown(split_dir)} has classes not in the train split: {', '.join(unknown[:10])}")
    files = {name: image_files(split_dir / name) if (split_dir / name).is_dir() else [] for name in names}
    empty = [name for name, paths in files.items() if not paths]
    if required and empty:
        raise BundleError(f"{shown(split_dir)} has no images for: {', '.join(empty[:10])}")
    return files


def unused_files(data_root: Path, used: set[Path]) -> list[str]:
    """Everything under the data folder that no split reads (hidden files, non-images, stray files), by name."""
    found = []
    for path in sorted(data_root.rglob("*")):
        if path.is_file() and path.resolve() not in used and path.name != "README.md":
            found.append(shown(path))
    return found


def _split_train(files: dict[str, list[Path]], fraction: float, seed: int) -> tuple[dict, dict]:
    """Per class, a seeded share of the (sorted) train images becomes val; at least one image stays in each."""
    rng = random.Random(seed)
    train, val = {}, {}
    for name, paths in files.items():
        order = list(paths)
        rng.shuffle(order)
        count = min(len(order) - 1, max(1, round(len(order) * fraction))) if len(order) > 1 else 0
        val[name] = sorted(order[:count])
        train[name] = sorted(order[count:])
    return train, val


def _entries(files: dict[str, list[Path]], names: list[str]) -> list[dict]:
    return [
        {"path": shown(path), "label": label, "sha256": sha256_file(path)}
        for label, name in enumerate(names)
        for path in files[name]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    params = load_params(overrides=args.overrides)
    data_root = ROOT / params["data"]["root"]  # an absolute data.root stays as it is
    train_dir, val_dir, test_dir = data_root / "train", data_root / "val", data_root / "test"
    if not train_dir.is_dir():
        raise BundleError(
            f"no {shown(train_dir)}: put your images in {shown(data_root)}/train/<class>/ (see data/README.md), "
            "or point data.root in params.yaml at your image folder"
        )

    names = _class_names(train_dir, params)
    train = _files(train_dir, names, required=True)
    if val_dir.is_dir():
        val, val_source = _files(val_dir, names, required=False), "data/val"
    else:
        fraction = float(params["data"]["val_fraction"])
        train, val = _split_train(train, fraction, int(params["data"]["split_seed"]))
        val_source = f"data/train (a seeded {fraction:g} share per class; add data/val to choose it yourself)"
    if not any(val.values()):
        raise BundleError(
            "no validation images: add data/val/<class>/ or more images per class in data/train"
        )
    test = _files(test_dir, names, required=False) if test_dir.is_dir() else {name: [] for name in names}
    test_source = "data/test" if any(test.values()) else "none: evaluate.py falls back to val"

    splits = {"train": train, "val": val, "test": test}
    write_json(SPLITS_FILE, {split: _entries(files, names) for split, files in splits.items()})
    counts = {split: {name: len(files[name]) for name in names} for split, files in splits.items()}
    write_json(
        CLASSES_FILE,
        {"class_names": names, "counts": counts, "sources": {"val": val_source, "test": test_source}},
    )
    used = {path.resolve() for files in splits.values() for paths in files.values() for path in paths}
    unused = unused_files(data_root, used)
    if unused:
        print(
            f"{len(unused)} files under {shown(data_root)} are not used (hidden, not images, or not in a class folder):"
        )
        for name in unused[:50]:
            print(f"  {name}")
        if len(unused) > 50:
            print(f"  and {len(unused) - 50} more")
    totals = ", ".join(f"{split} {sum(c.values())}" for split, c in counts.items())
    print(f"{len(names)} classes; images: {totals}; val from {val_source}; test from {test_source}")
    print(f"wrote {CLASSES_FILE.relative_to(ROOT)} and {SPLITS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
