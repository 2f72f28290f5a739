"""The issue's "Done when": a digits test folder re-saved in odd forms measures exactly like the originals.

Every image of the demo model's classes (digits 0-4, test split) is re-saved in one odd form, in rotation:
EXIF-rotated, 16-bit, palette with per-entry transparency, animated GIF with a transparent colour, CMYK, RGBA,
grey + alpha, 32-bit float, and 1-bit where the image is pure black and white (no digit is, so the 1-bit form
is covered by the decoder's own tests). Each form decodes to exactly the original pixels (asserted), so the
demo model must give the same top-1 and the same prediction for every image: in the hub's harness, and in a
starter bundle's evaluate.py and predict.py (which carry the same decoder).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets import dataset_content_hash
from core.harness import DatasetSource, HarnessConfig, ModelSource, evaluate_model
from core.imagedecode import decode_image
from core.starter import TargetConfig, build_bundle
from demo.training import demo_spec, train_demo_model
from tests.core.odd_images import ODD_FORMS
from tests.core.starter.test_bundle_training import record_for, run, unpack

pytestmark = pytest.mark.slow

SOURCE_DIGITS = [str(digit) for digit in range(5)]
ROTATION = [form for form in ODD_FORMS if form != "bilevel"]
ISSUE_FORMS = {"exif_rotated", "16bit", "palette_transparent", "cmyk", "rgba"}


@pytest.fixture(scope="module")
def demo_model(digits_build, tmp_path_factory):
    return train_demo_model(
        demo_spec("digits-resnet10t"),
        data_root=digits_build.root,
        out_dir=tmp_path_factory.mktemp("demo"),
        seed=0,
    )


@pytest.fixture(scope="module")
def folders(digits_build, tmp_path_factory) -> tuple[Path, Path, dict[str, int]]:
    """(originals, odd forms, images per form)."""
    base = tmp_path_factory.mktemp("odd")
    originals, odd = base / "originals", base / "odd"
    used: dict[str, int] = {}
    index = 0
    for digit in SOURCE_DIGITS:
        (originals / digit).mkdir(parents=True)
        (odd / digit).mkdir(parents=True)
        for path in sorted((digits_build.root / "test" / digit).glob("*.png")):
            shutil.copy(path, originals / digit / path.name)
            with Image.open(path) as image:
                original = image.convert("RGB")
            written = ODD_FORMS["bilevel"][0](original, odd / digit / path.stem)
            form = "bilevel"
            if written is None:  # not pure black and white: the next form of the rotation
                form = ROTATION[index % len(ROTATION)]
                index += 1
                written = ODD_FORMS[form][0](original, odd / digit / path.stem)
            decoded = decode_image(written)
            assert np.array_equal(np.asarray(decoded.image), np.asarray(original)), written
            assert decoded.cases == ODD_FORMS[form][1]
            used[form] = used.get(form, 0) + 1
    return originals, odd, used


def expected_counts(used: dict[str, int]) -> dict[str, int]:
    expected: dict[str, int] = {}
    for form, count in used.items():
        for case in ODD_FORMS[form][1]:
            expected[case] = expected.get(case, 0) + count
    return expected


def harness_run(demo_model, root: Path):
    cfg = demo_model.config["pretrained_cfg"]
    model = ModelSource(
        architecture=demo_model.config["architecture"], num_classes=demo_model.config["num_classes"],
        model_args={}, weights_path=demo_model.weights_path, weights_sha256=demo_model.weights_sha256,
        pretrained_cfg=cfg, label_names=list(demo_model.config["label_names"]),
    )  # fmt: skip
    dataset = DatasetSource(name=root.name, split="test", root=root, content_hash=dataset_content_hash(root))
    return evaluate_model(model, dataset, HarnessConfig(num_workers=0, threads=1, latency_samples=0))


def test_the_folder_holds_every_odd_form_of_the_issue(folders):
    _, _, used = folders
    assert set(used) >= ISSUE_FORMS, used
    assert set(used) >= set(ROTATION)


def test_the_harness_measures_the_odd_folder_exactly_like_the_originals(demo_model, folders):
    originals, odd, used = folders

    plain, oddly = harness_run(demo_model, originals), harness_run(demo_model, odd)

    assert oddly.num_samples == plain.num_samples == sum(used.values())
    assert oddly.predictions == plain.predictions
    assert oddly.top1 == plain.top1 and oddly.top1 > 90
    assert oddly.confusion_matrix == plain.confusion_matrix
    assert plain.decode_counts == {"rgb": plain.num_samples}
    assert oddly.decode_counts == expected_counts(used)
    assert f"{used['16bit']} images were 16-bit and were rescaled from 0..65535 to 0..255" in oddly.decoding


def by_stem(rows: list[dict], key: str) -> dict[str, object]:
    return {Path(row["file"]).stem: row[key] for row in rows}


@pytest.mark.long(seconds=18)
def test_the_bundles_evaluate_and_predict_read_the_odd_folder_like_the_originals(
    demo_model, folders, tmp_path
):
    originals, odd, used = folders
    project = unpack(build_bundle(record_for(demo_model), TargetConfig(num_classes=5)), tmp_path / "project")
    model_dir = str(demo_model.model_dir)

    results = {}
    for name, root in (("originals", originals), ("odd", odd)):
        # The report (not the dvc metrics file) holds the confusion matrix and how the images were read.
        metrics, predictions = tmp_path / f"{name}-report.json", tmp_path / f"{name}-predictions.json"
        arguments = [
            "--model-dir",
            model_dir,
            "--data",
            str(root),
            "--out",
            str(tmp_path / f"{name}-metrics.json"),
        ]
        arguments += ["--report", str(metrics)]
        run(project, "evaluate.py", *arguments, "--predictions", str(predictions))
        images = sorted(str(path) for path in root.rglob("*") if path.is_file())
        lines = run(project, "predict.py", "--model-dir", model_dir, *images).stdout.strip().splitlines()
        results[name] = (
            json.loads(metrics.read_text()),
            json.loads(predictions.read_text()),
            [json.loads(line) for line in lines],
        )

    (plain_metrics, plain_rows, plain_lines), (odd_metrics, odd_rows, odd_lines) = (
        results["originals"],
        results["odd"],
    )
    assert odd_metrics["top1"] == plain_metrics["top1"] > 90
    assert odd_metrics["confusion_matrix"] == plain_metrics["confusion_matrix"]
    assert odd_metrics["decode_counts"] == expected_counts(used)  # evaluate.py says how it read them, too
    assert plain_metrics["decode_counts"] == {"rgb": plain_metrics["num_images"]}
    assert by_stem(odd_rows, "predicted") == by_stem(plain_rows, "predicted")
    assert len(plain_rows) == plain_metrics["num_images"] == len(plain_lines) == len(odd_lines)
    assert by_stem(odd_lines, "top_k") == by_stem(plain_lines, "top_k")  # labels and probabilities alike
    assert by_stem(plain_lines, "label") == by_stem(plain_rows, "predicted")
