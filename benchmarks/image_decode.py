"""What the image decoder costs: decode_image against a bare Image.open(...).convert("RGB"), in one run.

Builds the digits ImageFolder (32x32 grey PNGs, what the demo benchmarks read) in a temporary folder, plus the
same test images re-saved as 16-bit PNGs, and alternates the two readers `--repeats` times over each set.
Prints the median images/s of each and the ratio decoder / bare (1.0 = free). The bare reader is wrong for the
16-bit set (it clips); it is timed only as the floor.
Run: .venv/bin/python benchmarks/image_decode.py [--repeats 5]
"""

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from PIL import Image

from core.datasets import build_digits_imagefolder
from core.imagedecode import decode_image


def bare(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def decoder(path: Path) -> Image.Image:
    return decode_image(path).image


def images_per_second(reader: Callable[[Path], Image.Image], paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        reader(path)
    return len(paths) / (time.perf_counter() - started)


def sixteen_bit_copies(paths: list[Path], folder: Path) -> list[Path]:
    copies = []
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
        copy = folder / f"{index:04d}.png"
        Image.fromarray(grey).save(copy)
        copies.append(copy)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = build_digits_imagefolder(Path(tmp) / "digits").root
        plain = sorted((root / "test").rglob("*.png"))
        (Path(tmp) / "wide").mkdir()
        sets = {"8-bit RGB PNG": plain, "16-bit grey PNG": sixteen_bit_copies(plain, Path(tmp) / "wide")}
        for name, paths in sets.items():
            rates: dict[str, list[float]] = {"bare": [], "decoder": []}
            for _ in range(args.repeats):
                rates["bare"].append(images_per_second(bare, paths))
                rates["decoder"].append(images_per_second(decoder, paths))
            bare_rate, decoder_rate = (statistics.median(rates[key]) for key in ("bare", "decoder"))
            print(
                f"{name} ({len(paths)} images): bare {bare_rate:,.0f}/s, decoder {decoder_rate:,.0f}/s, "
                f"ratio {decoder_rate / bare_rate:.2f}"
            )


if __name__ == "__main__":
    main()
