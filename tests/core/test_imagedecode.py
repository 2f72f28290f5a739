"""The image decoder: every odd form a real folder holds reads as the picture a person sees."""

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import imagedecode
from core.imagedecode import BACKGROUND, decode_image, describe_counts
from tests.core.odd_images import ODD_FORMS, write_bilevel, write_exif_rotated


def grey_picture(size: tuple[int, int] = (12, 7)) -> Image.Image:
    """Not square and not symmetric, with every grey level from 0 to 255 somewhere."""
    width, height = size
    values = (np.arange(width * height).reshape(height, width) * 37 % 256).astype(np.uint8)
    values[0, 0], values[-1, -1] = 0, 255
    return Image.fromarray(np.repeat(values[:, :, None], 3, axis=2), mode="RGB")


@pytest.mark.parametrize("form", sorted(set(ODD_FORMS) - {"bilevel"}))
def test_every_odd_form_decodes_to_the_original_pixels(tmp_path, form):
    original = grey_picture()
    writer, cases = ODD_FORMS[form]
    path = writer(original, tmp_path / "image")

    decoded = decode_image(path)

    assert decoded.image.mode == "RGB"
    assert np.array_equal(np.asarray(decoded.image), np.asarray(original))
    assert decoded.cases == cases


def test_a_naive_convert_misreads_the_odd_forms_the_decoder_gets_right(tmp_path):
    original = np.asarray(grey_picture())
    for form in ("exif_rotated", "16bit", "palette_transparent", "rgba"):
        path = ODD_FORMS[form][0](grey_picture(), tmp_path / form)
        with Image.open(path) as image:
            naive = np.asarray(image.convert("RGB"))
        assert naive.shape != original.shape or not np.array_equal(naive, original), form


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_is_turned_upright(tmp_path, orientation):
    original = grey_picture()
    decoded = decode_image(write_exif_rotated(original, tmp_path / "photo", orientation))
    assert np.array_equal(np.asarray(decoded.image), np.asarray(original))
    assert decoded.cases == ("rgb", "exif_orientation")


def test_a_black_and_white_image_is_read_as_1_bit(tmp_path):
    values = np.where(np.asarray(grey_picture())[:, :, 0] > 127, 255, 0).astype(np.uint8)
    original = Image.fromarray(values).convert("RGB")
    decoded = decode_image(write_bilevel(original, tmp_path / "scan"))
    assert np.array_equal(np.asarray(decoded.image), np.asarray(original))
    assert decoded.cases == ("bilevel",)
    assert write_bilevel(grey_picture(), tmp_path / "grey") is None  # grey levels would be lost


def test_sixteen_bit_data_is_scaled_by_its_range_not_clipped(tmp_path):
    wide = np.array([[0, 1000, 30000, 65535]], dtype=np.uint16)
    little = Image.fromarray(wide)  # I;16
    big = Image.frombytes("I;16B", little.size, wide.astype(">u2").tobytes())
    for image, fmt in ((little, "PNG"), (big, "TIFF")):
        path = tmp_path / f"scan-{image.mode}.{fmt.lower()}"
        image.save(path, format=fmt)
        decoded = decode_image(path)
        assert np.asarray(decoded.image)[0, :, 0].tolist() == [0, 4, 117, 255]
        assert decoded.cases == ("16bit",)


def test_32_bit_integers_beyond_16_bits_and_floats_beyond_0_1_are_stretched(tmp_path):
    path = tmp_path / "big.tiff"
    Image.fromarray(np.array([[-100, 60, 155]], dtype=np.int32)).save(path, format="TIFF")
    assert np.asarray(decode_image(path).image)[0, :, 0].tolist() == [0, 160, 255]
    path = tmp_path / "depth.tiff"
    Image.fromarray(np.array([[-1.0, 0.0, 3.0]], dtype=np.float32)).save(path, format="TIFF")
    decoded = decode_image(path)
    assert np.asarray(decoded.image)[0, :, 0].tolist() == [0, 64, 255] and decoded.cases == ("float",)


def test_transparency_is_composited_on_the_documented_background(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (2, 2), (10, 20, 30, 0)).save(path)
    assert decode_image(path).image.getpixel((0, 0)) == BACKGROUND == (255, 255, 255)
    assert decode_image(path, background=(0, 0, 0)).image.getpixel((0, 0)) == (0, 0, 0)
    half = tmp_path / "half.png"
    Image.new("RGBA", (1, 1), (0, 0, 0, 128)).save(half)
    assert decode_image(half).image.getpixel((0, 0)) == (127, 127, 127)


def test_plain_images_say_so(tmp_path):
    for mode, case in (("RGB", "rgb"), ("L", "grayscale"), ("P", "palette")):
        path = tmp_path / f"{mode}.png"
        Image.new(mode, (3, 3)).save(path)
        assert decode_image(path).cases == (case,)


def test_an_unreadable_file_raises(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    with pytest.raises(OSError, match="cannot identify image file"):
        decode_image(path)


def test_counts_read_as_sentences():
    counts = imagedecode.count_cases([("16bit",)] * 21 + [("rgb", "exif_orientation"), ("rgb",)])
    assert counts == {"rgb": 2, "16bit": 21, "exif_orientation": 1}
    assert describe_counts(counts) == [
        "2 images were 8-bit RGB and were used as stored",
        "21 images were 16-bit and were rescaled from 0..65535 to 0..255",
        "1 image had an EXIF orientation and was turned upright",
    ]


def test_the_decoder_imports_nothing_but_pillow_numpy_and_the_standard_library():
    """The starter builder copies this file into bundles: it must run without Depot or Django."""
    tree = ast.parse(Path(imagedecode.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "collections", "dataclasses", "pathlib", "typing", "numpy", "PIL"}
