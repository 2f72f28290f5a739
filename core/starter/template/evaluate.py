"""Measure the fine-tuned model on held-out images (the dvc `evaluate` stage).

By default on the test split listed by prepare.py (data/test, or val when there is no data/test); `--data DIR`
measures any ImageFolder directory (DIR/<class>/*) instead. Writes two files to <model dir>:
eval_metrics.json, the numbers dvc compares (top-1 and the image count, nothing else, so `dvc metrics show` and
`dvc exp show` lead with them), and eval_report.json, the details: per-class accuracy, the confusion matrix
(rows: true class, columns: predicted class), how the images were read and the data measured.
Usage: python evaluate.py [--model-dir outputs] [--data data/test] [--out outputs/eval_metrics.json]
                          [--report outputs/eval_report.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import timm.data
import torch
from common import (
    OUTPUT_DIR,
    BundleError,
    ImageList,
    load_params,
    load_trained_model,
    predict_logits,
    read_prepared,
    resolve_device,
    scan_folder,
    write_json,
)
from imagedecode import count_cases, describe_counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-dir", type=Path, default=OUTPUT_DIR, help="what train.py wrote")
    parser.add_argument(
        "--data", type=Path, help="an ImageFolder directory (default: the prepared test split)"
    )
    parser.add_argument("--out", type=Path, help="default: <model dir>/eval_metrics.json")
    parser.add_argument("--report", type=Path, help="default: <model dir>/eval_report.json")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--predictions", type=Path, help="also write every image's true and predicted class to this JSON file"
    )
    args = parser.parse_args(argv)

    params = load_params()
    model, class_names = load_trained_model(args.model_dir)
    if args.data is not None:
        samples, source = scan_folder(args.data, class_names), str(args.data)
    else:
        prepared_names, splits = read_prepared()
        if prepared_names != class_names:
            raise BundleError(
                "the model's classes differ from prepared/classes.json: train again after prepare.py"
            )
        split = "test" if splits["test"] else "val"
        samples, source = splits[split], f"prepared {split} split"
        if split == "val":
            print("no test images (data/test): measuring on the validation split, which chose the best epoch")
    if not samples:
        raise BundleError(f"no images to evaluate in {source}")

    device = resolve_device(str(params["train"]["device"]))
    model.to(device)
    config = timm.data.resolve_data_config(model=model)
    transform = timm.data.create_transform(**config, is_training=False)
    dataset = ImageList(samples, transform, channels=int(config["input_size"][0]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    logits, labels = predict_logits(model, loader, device)
    predicted = logits.argmax(dim=1)

    count = len(class_names)
    confusion = torch.zeros(count, count, dtype=torch.long)
    for true, guess in zip(labels.tolist(), predicted.tolist(), strict=True):
        confusion[true, guess] += 1
    per_class = {
        name: round(100.0 * confusion[i, i].item() / confusion[i].sum().item(), 2)
        for i, name in enumerate(class_names)
        if confusion[i].sum().item()
    }
    decode_counts = count_cases(dataset.decode_cases.values())
    top1 = round(100.0 * (predicted == labels).float().mean().item(), 2)
    metrics = {"top1": top1, "num_images": len(samples)}
    report = {
        **metrics,
        "data": source,
        "decode_counts": decode_counts,
        "per_class_top1": per_class,
        "class_names": class_names,
        "confusion_matrix": confusion.tolist(),
    }
    out = args.out or args.model_dir / "eval_metrics.json"
    report_path = args.report or args.model_dir / "eval_report.json"
    write_json(out, metrics)
    write_json(report_path, report)
    if args.predictions is not None:
        rows = [
            {"file": str(path), "label": class_names[true], "predicted": class_names[guess]}
            for (path, _), true, guess in zip(samples, labels.tolist(), predicted.tolist(), strict=True)
        ]
        write_json(args.predictions, rows)
        print(f"wrote the prediction for each image to {args.predictions}")
    for sentence in describe_counts(decode_counts):
        print(f"read: {sentence}")
    print(f"top-1 {top1:.2f}% on {len(samples)} images ({source})")
    print(f"metrics: {out} (dvc metrics show); per class and confusion matrix: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
