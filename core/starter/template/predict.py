"""Classify image files with the fine-tuned model; prints one JSON object per image.

Usage: python predict.py photo1.jpg photo2.png [--model-dir outputs] [--top-k 3]
Each line: {"file": ..., "label": ..., "score": ..., "top_k": [[label, probability], ...]}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import timm.data
import torch
from common import OUTPUT_DIR, BundleError, load_params, load_trained_model, read_image, resolve_device


@torch.inference_mode()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--model-dir", type=Path, default=OUTPUT_DIR, help="what train.py wrote")
    parser.add_argument("--top-k", type=int, default=3)
    args = parser.parse_args(argv)

    params = load_params()
    model, class_names = load_trained_model(args.model_dir)
    device = resolve_device(str(params["train"]["device"]))
    model.to(device)
    config = timm.data.resolve_data_config(model=model)
    transform = timm.data.create_transform(**config, is_training=False)
    mode = "RGB" if config["input_size"][0] == 3 else "L"
    k = max(1, min(args.top_k, len(class_names)))
    for path in args.images:
        if not path.is_file():
            raise BundleError(f"{path}: no such file")
        batch = transform(read_image(path, mode)).unsqueeze(0).to(device)
        probabilities = model(batch).float().softmax(dim=1)[0].cpu()
        scores, indices = probabilities.topk(k)
        top = [[class_names[i], round(s, 4)] for s, i in zip(scores.tolist(), indices.tolist(), strict=True)]
        print(json.dumps({"file": str(path), "label": top[0][0], "score": top[0][1], "top_k": top}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
