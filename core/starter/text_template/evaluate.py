"""Measure the fine-tuned model on held-out texts (the dvc `evaluate` stage).

By default on the test split listed by prepare.py (data/test.tsv, or val when there is none); `--data PATH`
measures any file or folder in the data format (data/README.md), `--split` choosing which of its splits.
Writes two files to <model dir>: eval_metrics.json, the numbers dvc compares (accuracy first, macro-F1 and the
text count, nothing else, so `dvc metrics show` and `dvc exp show` lead with them), and eval_report.json, the
details: per-class precision, recall and F1, the confusion matrix (rows: true class, columns: predicted class),
how many texts were truncated at max_length, the data measured.
Usage: python evaluate.py [--model-dir outputs] [--data data/test.tsv --split test] [--predictions preds.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import (
    OUTPUT_DIR,
    BundleError,
    confusion_of,
    load_params,
    load_trained,
    predict_logits,
    read_prepared,
    resolve_device,
    scores,
    write_json,
)
from textdata import TextDatasetError, read_text_split


def _samples(args: argparse.Namespace, class_names: list[str]) -> tuple[list[tuple[str, int]], str]:
    if args.data is None:
        prepared_names, splits = read_prepared()
        if prepared_names != class_names:
            raise BundleError(
                "the model's classes differ from prepared/classes.json: train again after prepare.py"
            )
        split = "test" if splits["test"] else "val"
        if split == "val":
            print(
                "no test texts (data/test.tsv): measuring on the validation split, which chose the best epoch"
            )
        return splits[split], f"prepared {split} split"
    try:
        examples = read_text_split(args.data, args.split).examples
    except TextDatasetError as error:
        raise BundleError(
            f"{args.data}: {error}" + "".join(f"\n  {line}" for line in error.details[:50])
        ) from None
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({example.label for example in examples if example.label not in index})
    if unknown:
        raise BundleError(f"{args.data} has labels the model does not know: {', '.join(unknown[:10])}")
    return [(example.text, index[example.label]) for example in examples], f"{args.data} split {args.split}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=OUTPUT_DIR, help="what train.py wrote")
    parser.add_argument(
        "--data", type=Path, help="a file or folder of texts (default: the prepared test split)"
    )
    parser.add_argument("--split", default="test", help="which split of --data (default: test)")
    parser.add_argument("--out", type=Path, help="default: <model dir>/eval_metrics.json")
    parser.add_argument("--report", type=Path, help="default: <model dir>/eval_report.json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--predictions", type=Path, help="also write every text's true and predicted class here"
    )
    args = parser.parse_args(argv)

    params = load_params()
    model, tokenizer, class_names, max_length = load_trained(args.model_dir)
    samples, source = _samples(args, class_names)
    if not samples:
        raise BundleError(f"no texts to evaluate in {source}")
    device = resolve_device(str(params["train"]["device"]))
    model.to(device)
    texts, labels = [text for text, _ in samples], [label for _, label in samples]
    logits = predict_logits(model, tokenizer, texts, max_length, device, args.batch_size)
    predicted = logits.argmax(dim=1).tolist()
    confusion = confusion_of(labels, predicted, len(class_names))
    accuracy, macro_f1, per_class = scores(confusion, class_names)
    truncated = sum(
        len(ids) > max_length for ids in tokenizer(texts, truncation=False, verbose=False)["input_ids"]
    )
    metrics = {"accuracy": accuracy, "macro_f1": macro_f1, "num_texts": len(samples)}
    report = {
        **metrics,
        "data": source,
        "max_length": max_length,
        "truncated": truncated,
        "per_class": per_class,
        "class_names": class_names,
        "confusion_matrix": confusion,
    }
    out = args.out or args.model_dir / "eval_metrics.json"
    report_path = args.report or args.model_dir / "eval_report.json"
    write_json(out, metrics)
    write_json(report_path, report)
    if args.predictions is not None:
        rows = [
            {"text": text, "label": class_names[true], "predicted": class_names[guess]}
            for text, true, guess in zip(texts, labels, predicted, strict=True)
        ]
        write_json(args.predictions, rows)
        print(f"wrote the prediction for each text to {args.predictions}")
    if truncated:
        print(
            f"{truncated} of {len(samples)} texts are longer than max_length {max_length} tokens and were cut"
        )
    print(f"accuracy {accuracy:.2f}% macro-F1 {macro_f1:.2f}% on {len(samples)} texts ({source})")
    print(f"metrics: {out} (dvc metrics show); per class and confusion matrix: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
