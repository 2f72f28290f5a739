"""Check the data and write the example lists every later stage reads (the dvc `prepare` stage).

    data/train.tsv (or .csv, .jsonl)   required: columns text and label
    data/val.tsv                       optional: without it, a seeded share of train becomes val
    data/test.tsv                      optional: evaluate.py measures on it (on val when it is missing)

(One file with a `split` column holding train/val/test works too; see data/README.md.) The files are read by
textdata.py, the reader the hub's own text evaluation uses: a bad byte, a ragged row, a missing label or an
empty text stops it with the file and line named, never a row skipped in silence.
Writes prepared/classes.json (class names in label order, counts, where val and test came from, each split's
content hash) and prepared/splits.json (every example with its label index).
Usage: python prepare.py [--set data.val_fraction=0.1]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

from common import CLASSES_FILE, ROOT, SPLITS_FILE, BundleError, load_params, write_json
from textdata import TextDatasetError, TextExample, read_text_dataset


def shown(path: Path) -> str:
    """A path as the user wrote it in params.yaml: relative to this project when inside it."""
    path = Path(os.path.abspath(path))
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def _class_names(found: list[str], params: dict) -> list[str]:
    wanted = [str(name) for name in params["target"].get("class_names") or []]
    expected = int(params["target"]["num_classes"])
    if wanted:
        missing = [name for name in wanted if name not in found]
        extra = [name for name in found if name not in wanted]
        if extra:
            raise BundleError(
                f"the data has labels that are not in target.class_names: {', '.join(extra[:10])} "
                f"(target.class_names: {', '.join(wanted[:10])})"
            )
        if missing:
            raise BundleError(f"the train split has no example of: {', '.join(missing[:10])}")
        names = wanted
    else:
        names = found
    if len(names) != expected:
        raise BundleError(
            f"target.num_classes is {expected} but the data has {len(names)} labels ({', '.join(names[:10])}). "
            "The bundle ships a two-class sample (neg, pos) in data/: put your own train.tsv/test.tsv there, or "
            "set target.num_classes in params.yaml"
        )
    return names


def _split_train(examples: list[TextExample], fraction: float, seed: int) -> tuple[list, list]:
    """Per label, a seeded share of the train examples becomes val; at least one stays in train."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(index)
    val_indices: set[int] = set()
    for label in sorted(by_label):
        order = list(by_label[label])
        rng.shuffle(order)
        count = min(len(order) - 1, max(1, round(len(order) * fraction))) if len(order) > 1 else 0
        val_indices.update(order[:count])
    train = [example for i, example in enumerate(examples) if i not in val_indices]
    val = [example for i, example in enumerate(examples) if i in val_indices]
    return train, val


def _entries(examples: list[TextExample], index: dict[str, int], split: str) -> list[dict]:
    unknown = sorted({example.label for example in examples if example.label not in index})
    if unknown:
        raise BundleError(f"the {split} split has labels the train split lacks: {', '.join(unknown[:10])}")
    return [
        {"text": example.text, "label": index[example.label], "where": example.where} for example in examples
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    params = load_params(overrides=args.overrides)
    data_root = ROOT / params["data"]["root"]  # an absolute data.root stays as it is
    try:
        dataset = read_text_dataset(data_root)
    except TextDatasetError as error:
        details = "".join(f"\n  {line}" for line in error.details[:50])
        raise BundleError(f"{shown(data_root)}: {error}{details}") from None
    if "train" not in dataset.splits:
        raise BundleError(
            f"{shown(data_root)} has no train split (it has: {', '.join(dataset.splits) or 'none'}): put your "
            "examples in data/train.tsv (see data/README.md), or point data.root in params.yaml at your data"
        )
    train_labels = sorted({example.label for example in dataset.splits["train"].examples})
    names = _class_names([name for name in dataset.class_names if name in train_labels], params)
    index = {name: i for i, name in enumerate(names)}

    train = list(dataset.splits["train"].examples)
    if "val" in dataset.splits:
        val, val_source = list(dataset.splits["val"].examples), dataset.splits["val"].source
    else:
        fraction = float(params["data"]["val_fraction"])
        train, val = _split_train(train, fraction, int(params["data"]["split_seed"]))
        val_source = (
            f"{dataset.splits['train'].source} (a seeded {fraction:g} share per label; add val.tsv to choose)"
        )
    if not val:
        raise BundleError(
            "no validation examples: add data/val.tsv or more examples per label in data/train.tsv"
        )
    test = list(dataset.splits["test"].examples) if "test" in dataset.splits else []
    test_source = dataset.splits["test"].source if test else "none: evaluate.py falls back to val"
    other = sorted(set(dataset.splits) - {"train", "val", "test"})

    splits = {"train": train, "val": val, "test": test}
    entries = {split: _entries(examples, index, split) for split, examples in splits.items()}
    write_json(SPLITS_FILE, entries)
    counts = {split: {name: sum(e["label"] == i for e in entries[split]) for i, name in enumerate(names)}
              for split in splits}  # fmt: skip
    write_json(
        CLASSES_FILE,
        {
            "class_names": names,
            "counts": counts,
            "sources": {"val": val_source, "test": test_source},
            "content_hashes": dataset.split_hashes,
        },
    )
    unused = [f"{name} ({reason})" for name, reason in dataset.unused if name != "README.md"]
    unused += [f"split {name!r} (only train, val and test are read)" for name in other]
    if unused:
        print(f"not used under {shown(data_root)}:")
        for line in unused[:50]:
            print(f"  {line}")
    totals = ", ".join(f"{split} {len(items)}" for split, items in entries.items())
    print(f"{len(names)} classes; texts: {totals}; val from {val_source}; test from {test_source}")
    print(f"wrote {CLASSES_FILE.relative_to(ROOT)} and {SPLITS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
