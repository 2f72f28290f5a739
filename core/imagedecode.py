"""Decode an image file to the 8-bit RGB picture a person sees, and say what it took.

The one image reader of Depot: the benchmark harness, the dataset scan and every starter bundle's
train/evaluate/predict scripts use it. It depends on Pillow and numpy only (no Django, nothing else from Depot),
because the starter builder copies this very file into each bundle as `imagedecode.py`.

A bare `Image.open(path).convert("RGB")` reads many real files wrongly and silently: a phone photo sideways (EXIF
orientation ignored), a 16-bit scan as pure black and white (values clipped at 255), a transparent screenshot or
GIF with whatever colour hides under the transparent pixels. `decode_image` instead:

1. takes the first frame of an animated image (GIF, APNG, WebP, multi-page TIFF);
2. converts the colour mode to 8-bit RGB:
   - RGB as is; L (grey) and 1 (black and white) copied to three channels; P (palette) through its palette;
     CMYK by Pillow's conversion (exact inverse of RGB -> CMYK; ICC profiles are not applied);
     YCbCr, LAB, HSV by Pillow's conversion;
   - 16-bit integers (I;16, I;16L, I;16B, I;16N): scaled from their real range 0..65535 to 0..255 (v / 257,
     rounded), so 8-bit data widened to 16 bits (v * 257) comes back exactly; never clipped at 255;
   - 32-bit integers (I): the same 0..65535 scale when every value fits in 16 bits (how Pillow may hold a 16-bit
     file), otherwise stretched from the image's own minimum..maximum;
   - 32-bit floats (F): 0..1 data times 255, 0..255 data as is, anything else stretched from its min..max;
3. composites transparency (an alpha band: RGBA, LA, PA; or a transparent colour: P, L or RGB with a
   `transparency` entry) over an opaque background, white by default (BACKGROUND): dark content drawn on a
   transparent canvas, as screenshots, logos and scanned forms are, stays readable, and it is the background
   a browser or image viewer shows most often. Pass `background=` to choose another;
4. applies the EXIF orientation tag (2..8), so the pixels come out upright, as viewers show them.

Every call returns, with the image, the decoding cases that applied: exactly one colour case (CASES) and any of
the extra steps (STEPS). A benchmark run counts them per case and shows the counts, so a folder of 16-bit scans is
visible as such ("21 images were 16-bit and were rescaled"), never silently misread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import PIL
from PIL import Image

# Bump when any decoded pixel could change: it is recorded in every run's provenance.
DECODER_VERSION = "1"
BACKGROUND: tuple[int, int, int] = (255, 255, 255)

# The colour cases (exactly one per image), with what happened, as "N images <text>".
CASES: dict[str, str] = {
    "rgb": "were 8-bit RGB and were used as stored",
    "grayscale": "were 8-bit grayscale and were copied to three channels",
    "bilevel": "were 1-bit black and white and were expanded to RGB",
    "palette": "were palette images and were expanded through their palette",
    "palette_transparent": "were palette images with transparency and were composited on the background",
    "rgba": "had an alpha channel (RGBA) and were composited on the background",
    "grayscale_alpha": "were grayscale with an alpha channel (LA) and were composited on the background",
    "transparent_color": "had a transparent colour and were composited on the background",
    "cmyk": "were CMYK and were converted to RGB",
    "16bit": "were 16-bit and were rescaled from 0..65535 to 0..255",
    "32bit_int": "were 32-bit integer and were rescaled to 0..255",
    "float": "were 32-bit floating point and were rescaled to 0..255",
    "other_mode": "were in another colour mode (YCbCr, LAB or HSV) and were converted to RGB",
}
# Extra steps, on top of the colour case.
STEPS: dict[str, str] = {
    "exif_orientation": "had an EXIF orientation and were turned upright",
    "first_frame": "were animated or multi-page and only their first frame was read",
}

_EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transpose that makes the stored pixels upright (as PIL.ImageOps.exif_transpose does).
_UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_CASES = {"RGBA": "rgba", "RGBa": "rgba", "LA": "grayscale_alpha", "La": "grayscale_alpha"}
_PLAIN_CASES = {"RGB": "rgb", "L": "grayscale", "1": "bilevel", "P": "palette", "CMYK": "cmyk"}


@dataclass(frozen=True)
class DecodedImage:
    """An upright 8-bit RGB image and the decoding cases that applied (colour case first, then steps)."""

    image: Image.Image
    cases: tuple[str, ...]


def decode_image(
    source: str | Path | IO[bytes], *, background: tuple[int, int, int] = BACKGROUND
) -> DecodedImage:
    """Open and fully decode one image file to upright 8-bit RGB. Pillow's errors propagate (unreadable file)."""
    with Image.open(source) as image:
        steps: list[str] = []
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
            steps.append("first_frame")
        orientation = _orientation(image)
        image.load()
        rgb, case = _to_rgb(image, background)
    if orientation in _UPRIGHT:
        rgb = rgb.transpose(_UPRIGHT[orientation])
        steps.insert(0, "exif_orientation")
    return DecodedImage(image=rgb, cases=(case, *steps))


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (TypeError, ValueError, SyntaxError, OSError):  # a malformed EXIF block: read the pixels as stored
        return 1


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> tuple[Image.Image, str]:
    mode = image.mode
    if mode in _SIXTEEN_BIT:
        return _gray_to_rgb(_scale_sixteen_bit(np.asarray(image, dtype=np.float64))), "16bit"
    if mode == "I":
        return _gray_to_rgb(_scale_int32(np.asarray(image, dtype=np.float64))), "32bit_int"
    if mode == "F":
        return _gray_to_rgb(_scale_float(np.asarray(image, dtype=np.float64))), "float"
    if mode in _ALPHA_CASES:
        return _composite(image.convert("RGBA"), background), _ALPHA_CASES[mode]
    if mode in ("P", "PA") and ("transparency" in image.info or mode == "PA"):
        return _composite(image.convert("RGBA"), background), "palette_transparent"
    if mode in ("L", "RGB") and "transparency" in image.info:
        return _composite(image.convert("RGBA"), background), "transparent_color"
    if mode in _PLAIN_CASES:
        return (image.copy() if mode == "RGB" else image.convert("RGB")), _PLAIN_CASES[mode]
    return image.convert("RGB"), "other_mode"


def _gray_to_rgb(values: np.ndarray) -> Image.Image:
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))


def _scale_sixteen_bit(values: np.ndarray) -> np.ndarray:
    return values / 257.0  # 65535 / 255: 0 -> 0, 65535 -> 255, v * 257 -> v exactly


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros_like(values)
    return (values - low) * (255.0 / (high - low))


def _scale_int32(values: np.ndarray) -> np.ndarray:
    if values.size and values.min() >= 0 and values.max() <= 65535:
        return _scale_sixteen_bit(values)
    return _stretch(values)


def _scale_float(values: np.ndarray) -> np.ndarray:
    finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(finite.min()), float(finite.max())
    if low >= 0.0 and high <= 1.0:
        return finite * 255.0
    if low >= 0.0 and high <= 255.0:
        return finite
    return _stretch(finite)


def _composite(rgba: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Alpha-blend over an opaque background in integers: opaque pixels keep their exact colour."""
    pixels = np.asarray(rgba, dtype=np.uint32)
    alpha = pixels[:, :, 3:4]
    back = np.asarray(background, dtype=np.uint32).reshape(1, 1, 3)
    blended = (pixels[:, :, :3] * alpha + back * (255 - alpha) + 127) // 255
    return Image.fromarray(blended.astype(np.uint8))


# ---------------------------------------------------------------------------------------------------------------
# Counting and describing cases


def count_cases(case_lists: Iterable[Iterable[str]]) -> dict[str, int]:
    """Per case, how many images needed it, in the order of CASES then STEPS."""
    counts = Counter(case for cases in case_lists for case in cases)
    order = [*CASES, *STEPS]
    return {case: counts[case] for case in order if counts[case]} | {
        case: n for case, n in sorted(counts.items()) if case not in order
    }


def describe_counts(counts: Mapping[str, int]) -> list[str]:
    """One sentence per case, e.g. "21 images were 16-bit and were rescaled from 0..65535 to 0..255"."""
    sentences = []
    for case, count in counts.items():
        text = CASES.get(case) or STEPS.get(case) or f"needed decoding case {case!r}"
        if count == 1:
            text = text.replace("were ", "was ").replace(" their ", " its ")
        sentences.append(f"{count} image{'' if count == 1 else 's'} {text}")
    return sentences


def decoder_provenance(background: tuple[int, int, int] = BACKGROUND) -> dict:
    """What a run records about how its images were read."""
    return {"version": DECODER_VERSION, "background": list(background), "pillow": PIL.__version__}
