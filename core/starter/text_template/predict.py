"""Classify texts with the fine-tuned model; prints one JSON object per text.

Usage: python predict.py "first text" "second text" [--file texts.txt] [--model-dir outputs] [--top-k 3]
--file reads one text per line (UTF-8; empty lines skipped). Each output line:
{"text": ..., "label": ..., "score": ..., "top_k": [[label, probability], ...]}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from common import OUTPUT_DIR, BundleError, load_params, load_trained, predict_logits, resolve_device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--file", type=Path, help="a UTF-8 file of texts, one per line")
    parser.add_argument("--model-dir", type=Path, default=OUTPUT_DIR, help="what train.py wrote")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)

    texts = list(args.texts)
    if args.file is not None:
        if not args.file.is_file():
            raise BundleError(f"{args.file}: no such file")
        texts += [line for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise BundleError('nothing to classify: give texts (python predict.py "some text") or --file')
    params = load_params()
    model, tokenizer, class_names, max_length = load_trained(args.model_dir)
    device = resolve_device(str(params["train"]["device"]))
    model.to(device)
    probabilities = torch.softmax(predict_logits(model, tokenizer, texts, max_length, device), dim=1)
    k = max(1, min(args.top_k, len(class_names)))
    for text, row in zip(texts, probabilities, strict=True):
        values, indices = row.topk(k)
        top = [[class_names[i], round(v, 4)] for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
        print(
            json.dumps(
                {"text": text, "label": top[0][0], "score": top[0][1], "top_k": top}, ensure_ascii=False
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
