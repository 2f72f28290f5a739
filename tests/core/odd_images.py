"""Re-save an 8-bit image in the odd forms real folders hold, each one decoding to exactly the same pixels.

Each writer takes an RGB image whose three channels are equal (a grey picture, like the digits) and writes it in
one form; the decoder must give back the original pixels bit for bit. Forms that cannot hold every image
losslessly (1-bit) say so by returning None.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

# The EXIF orientation tag and, per orientation, the transpose that turns upright pixels into the stored ones
# (the inverse of what a viewer applies).
_ORIENTATION = 0x0112
_STORED: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # a viewer rotates it 270 (90 clockwise) back
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def gray_values(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB"))
    if not (
        np.array_equal(pixels[:, :, 0], pixels[:, :, 1]) and np.array_equal(pixels[:, :, 0], pixels[:, :, 2])
    ):
        raise ValueError("these writers expect a grey RGB image (three equal channels)")
    return pixels[:, :, 0]


def write_exif_rotated(image: Image.Image, stem: Path, orientation: int = 6) -> Path:
    """The pixels stored turned, with the EXIF orientation that turns them back."""
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    path = stem.with_suffix(".png")
    image.convert("RGB").transpose(_STORED[orientation]).save(path, format="PNG", exif=exif)
    return path


def write_sixteen_bit(image: Image.Image, stem: Path) -> Path:
    """A 16-bit grey PNG: every value v widened to v * 257 (0..255 -> 0..65535)."""
    wide = gray_values(image).astype(np.uint16) * 257
    path = stem.with_suffix(".png")
    Image.fromarray(wide).save(path, format="PNG")
    return path


def write_palette_transparent(image: Image.Image, stem: Path) -> Path:
    """A palette PNG whose entries are all black, each with its own alpha (tRNS): grey v is black at 255 - v
    over the white background. Read without compositing, every pixel would be black."""
    values = gray_values(image)
    indexed = Image.fromarray(values).convert("P")  # identity mapping first ...
    indexed = Image.frombytes("P", indexed.size, values.tobytes())  # ... index = grey value
    indexed.putpalette([0, 0, 0] * 256)
    path = stem.with_suffix(".png")
    indexed.save(path, format="PNG", transparency=bytes(255 - i for i in range(256)))
    return path


def write_gif_transparent_animated(image: Image.Image, stem: Path) -> Path:
    """An animated GIF: frame one a grey-palette image whose white is the transparent index, frame two its
    negative (which must not be read)."""
    values = gray_values(image)
    palette = [level for i in range(256) for level in (i, i, i)]
    first = Image.frombytes("P", image.size, values.tobytes())
    first.putpalette(palette)
    second = Image.frombytes("P", image.size, (255 - values).tobytes())
    second.putpalette(palette)
    path = stem.with_suffix(".gif")
    first.save(
        path,
        format="GIF",
        save_all=True,
        append_images=[second],
        transparency=255,
        duration=100,
        loop=0,
        optimize=False,
    )
    return path


def write_cmyk(image: Image.Image, stem: Path) -> Path:
    """A CMYK TIFF (lossless; a CMYK JPEG would not be)."""
    path = stem.with_suffix(".tiff")
    image.convert("RGB").convert("CMYK").save(path, format="TIFF")
    return path


def write_rgba(image: Image.Image, stem: Path) -> Path:
    """Black ink with alpha 255 - v over the white background: a naive convert("RGB") reads it all black."""
    values = gray_values(image)
    rgba = np.zeros((*values.shape, 4), dtype=np.uint8)
    rgba[:, :, 3] = 255 - values
    path = stem.with_suffix(".png")
    Image.fromarray(rgba).save(path, format="PNG")
    return path


def write_grayscale_alpha(image: Image.Image, stem: Path) -> Path:
    values = gray_values(image)
    la = np.stack([np.zeros_like(values), 255 - values], axis=2)
    path = stem.with_suffix(".png")
    Image.fromarray(la, mode="LA").save(path, format="PNG")
    return path


def write_bilevel(image: Image.Image, stem: Path) -> Path | None:
    """A 1-bit PNG, only for an image that is pure black and white (otherwise it would lose grey levels)."""
    values = gray_values(image)
    if not np.isin(values, (0, 255)).all():
        return None
    path = stem.with_suffix(".png")
    Image.fromarray(values).convert("1", dither=Image.Dither.NONE).save(path, format="PNG")
    return path


def write_float(image: Image.Image, stem: Path) -> Path:
    """A 32-bit float TIFF holding v / 255 (0..1)."""
    path = stem.with_suffix(".tiff")
    Image.fromarray(gray_values(image).astype(np.float32) / 255.0).save(path, format="TIFF")
    return path


Writer = Callable[[Image.Image, Path], "Path | None"]

# The forms the "Done when" folder rotates through, with the colour case (and steps) the decoder must report.
ODD_FORMS: dict[str, tuple[Writer, tuple[str, ...]]] = {
    "exif_rotated": (write_exif_rotated, ("rgb", "exif_orientation")),
    "16bit": (write_sixteen_bit, ("16bit",)),
    "palette_transparent": (write_palette_transparent, ("palette_transparent",)),
    # Pillow opens a GIF with a grey palette as L with a transparent grey level.
    "gif_animated": (write_gif_transparent_animated, ("transparent_color", "first_frame")),
    "cmyk": (write_cmyk, ("cmyk",)),
    "rgba": (write_rgba, ("rgba",)),
    "grayscale_alpha": (write_grayscale_alpha, ("grayscale_alpha",)),
    "bilevel": (write_bilevel, ("bilevel",)),
    "float": (write_float, ("float",)),
}
