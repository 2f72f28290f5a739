"""The from-scratch baseline: what a small CNN trained on the target images alone reaches, under the same folds.

Negative transfer is a pretrained model that helps less than no pretraining at all. To see it, the ranking
job trains this small network from random weights on the same images, with the same stratified folds as the
linear probe, and reports its cross-validated accuracy next to the candidates' probe accuracies. It is quick
on purpose (a fixed, small budget at a small resolution): a floor that a useful source model must clear.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core import harness
from core.imagefolder import ImageFolderScan
from core.transfer.estimators import check_inputs, cv_folds

BASELINE_SIZE = 32  # px: small enough to train in seconds on a CPU, large enough for simple shapes
ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class BaselineConfig:
    epochs: int = 15
    batch_size: int = 32
    lr: float = 3e-3
    width: int = 16
    seed: int = 0


@dataclass(frozen=True)
class BaselineResult:
    accuracy: float  # top-1 % averaged over the folds
    fold_accuracies: list[float]
    seconds: float
    num_params: int
    config: dict


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks, each halving the resolution, global average pooling, a linear head.

    About 0.7 M multiply-adds per 32 px image: a few seconds per fold on one CPU core.
    """

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
            )

        self.features = nn.Sequential(
            block(3, width, 2), block(width, 2 * width, 2), block(2 * width, 4 * width, 2)
        )
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def load_small_images(scan: ImageFolderScan, size: int = BASELINE_SIZE) -> torch.Tensor:
    """Every image of the split as (n, 3, size, size) floats in [0, 1], read by the harness's decoder."""
    arrays = [
        np.asarray(harness.load_image(path).resize((size, size)), dtype=np.float32) / 255.0
        for path, _ in scan.samples
    ]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _standardise(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    batches = list(torch.randperm(count, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()  # a batch of one breaks BatchNorm's training statistics
    return batches


def _train_fold(
    images: torch.Tensor, labels: torch.Tensor, num_classes: int, config: BaselineConfig, seed: int
) -> nn.Module:
    torch.manual_seed(seed)
    model = SmallCNN(num_classes, config.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.05)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = len(_batches(len(images), config.batch_size, torch.Generator().manual_seed(0)))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * per_epoch, pct_start=0.2
    )
    model.train()
    for _ in range(config.epochs):
        for batch in _batches(len(images), config.batch_size, generator):
            loss = F.cross_entropy(model(images[batch]), labels[batch], label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return model.eval()


def from_scratch_baseline(
    scan: ImageFolderScan,
    *,
    config: BaselineConfig | None = None,
    images: torch.Tensor | None = None,
    on_progress: ProgressCallback | None = None,
) -> BaselineResult:
    """Cross-validated top-1 % of SmallCNN trained from random weights on the split (same folds as the probe)."""
    config = config or BaselineConfig()
    started = time.perf_counter()
    labels_np = np.array([label for _, label in scan.samples], dtype=np.int64)
    _, labels_np = check_inputs(np.zeros((len(labels_np), 1)), labels_np)
    images = load_small_images(scan) if images is None else images
    labels = torch.from_numpy(labels_np)
    num_classes = len(scan.class_names)
    folds = list(cv_folds(labels_np, seed=config.seed).split(np.zeros(len(labels_np)), labels_np))
    accuracies = []
    with torch.enable_grad():
        for index, (train_index, test_index) in enumerate(folds, start=1):
            train_x, test_x = _standardise(images[train_index], images[test_index])
            model = _train_fold(train_x, labels[train_index], num_classes, config, config.seed + index)
            with torch.inference_mode():
                predicted = model(test_x).argmax(dim=1)
            accuracies.append(100.0 * float((predicted == labels[test_index]).float().mean()))
            if on_progress is not None:
                on_progress(index / len(folds), f"from-scratch baseline: fold {index}/{len(folds)}")
    return BaselineResult(
        accuracy=float(np.mean(accuracies)),
        fold_accuracies=accuracies,
        seconds=time.perf_counter() - started,
        num_params=sum(p.numel() for p in SmallCNN(num_classes, config.width).parameters()),
        config={
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "width": config.width,
            "size": BASELINE_SIZE,
            "seed": config.seed,
        },
    )
