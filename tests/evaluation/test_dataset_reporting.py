"""What registration and runs say about the files: unused ones by name, how images were read, changed content."""

import io
import shutil
from pathlib import Path

import numpy as np
from django.core.management import call_command
from PIL import Image

from evaluation import services
from evaluation.models import RunStatus
from tests.core.odd_images import write_sixteen_bit
from tests.evaluation.api.test_views import imagefolder_zip, png_bytes
from tests.fixtures_data import FAST, PER_CLASS

UNUSED = {
    ".DS_Store": "hidden (name starts with '.')",
    "LICENSE": "beside the split folders, not inside one",
    "test/notes.md": "beside the class folders, not inside one",
    "test/.cache": "hidden (name starts with '.')",
    "test/3/.ipynb_checkpoints": "hidden (name starts with '.')",
    "test/3/labels.csv": "not an image (extension not one of .bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp)",
}


def litter(root: Path) -> None:
    (root / ".DS_Store").write_bytes(b"\0")
    (root / "LICENSE").write_text("CC0")
    (root / "test" / "notes.md").write_text("how these were collected")
    (root / "test" / ".cache").mkdir()
    (root / "test" / ".cache" / "x.png").write_bytes(b"\0")
    (root / "test" / "3" / ".ipynb_checkpoints").mkdir()
    (root / "test" / "3" / "labels.csv").write_text("a,b\n")


def test_registration_reports_every_unused_file_by_name(db, small_digits_root, tmp_path, client):
    root = tmp_path / "littered"
    shutil.copytree(small_digits_root, root)
    litter(root)

    dataset = services.dataset_register_directory(name="littered", root=root)

    assert {item["path"]: item["reason"] for item in dataset.unused_files} == UNUSED
    assert dataset.split_sizes == {"test": 10 * PER_CLASS}  # the images are all there, nothing else counted
    assert dataset.decode_counts == {"test": {"rgb": 10 * PER_CLASS}}
    listed = client.get("/api/v1/datasets/").json()["results"][0]
    assert {item["path"] for item in listed["unused_files"]} == set(UNUSED)
    page = client.get("/datasets/").content.decode()
    assert "6 files not used" in page and "test/3/labels.csv" in page and "LICENSE" in page
    assert f"test: {10 * PER_CLASS} images were 8-bit RGB and were used as stored" in page


def test_the_cli_prints_the_unused_files(db, small_digits_root, tmp_path):
    root = tmp_path / "littered"
    shutil.copytree(small_digits_root, root)
    litter(root)
    out = io.StringIO()
    call_command("register_dataset", "littered", str(root), stdout=out)
    text = out.getvalue()
    assert "6 files are not used:" in text
    for path, reason in UNUSED.items():
        assert f"  {path}: {reason}" in text
    assert f"test: {10 * PER_CLASS} images were 8-bit RGB and were used as stored" in text


def test_an_upload_refusal_names_the_file_field(staff_client, small_digits_root, db):
    empty = staff_client.post(
        "/api/v1/datasets/",
        {"name": "empty", "file": imagefolder_zip({"test/readme.txt": b"hi"})},
        format="multipart",
    )
    assert empty.status_code == 400 and list(empty.json()["detail"]) == ["file"]
    members = {"test/0/good.png": png_bytes(small_digits_root, "0"), "test/1/bad.png": b"garbage"}
    broken = staff_client.post(
        "/api/v1/datasets/", {"name": "broken", "file": imagefolder_zip(members)}, format="multipart"
    )
    assert broken.status_code == 400 and list(broken.json()["detail"]) == ["file"]
    assert "1/bad.png" in broken.json()["detail"]["file"][0]


def test_a_run_for_a_copy_of_a_dataset_is_reported_under_the_copys_name(digit_model, small_digits, tmp_path):
    copy = services.dataset_register_directory(
        name="digits-copy", root=shutil.copytree(small_digits.root, tmp_path / "c")
    )
    assert copy.split_hashes == small_digits.split_hashes
    first, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    services.run_execute(run_id=first.pk, worker="w")

    run, created = services.run_request(model=digit_model, dataset=copy, config=FAST, enqueue=False)

    assert created and run.pk != first.pk and run.dataset == copy
    run = services.run_execute(run_id=run.pk, worker="w")
    assert run.status == RunStatus.SUCCEEDED and run.provenance["dataset_name"] == "digits-copy"
    again, created = services.run_request(model=digit_model, dataset=copy, config=FAST, enqueue=False)
    assert not created and again.pk == run.pk  # the same request for the copy dedupes to the copy's run


def test_a_run_whose_files_changed_since_registration_fails_with_the_reason(digit_model, small_digits):
    run, _ = services.run_request(model=digit_model, dataset=small_digits, config=FAST, enqueue=False)
    victim = sorted((Path(small_digits.root) / "test" / "5").iterdir())[0]
    Image.new("RGB", (32, 32), (9, 9, 9)).save(victim)  # still a valid image, but other pixels

    run = services.run_execute(run_id=run.pk, worker="w")

    assert run.status == RunStatus.FAILED and run.finished is not None and run.top1 is None
    assert "changed since it was registered" in run.error and "nothing was measured" in run.error
    assert f"register_dataset {small_digits.name}" in run.error


def test_a_run_counts_how_its_images_were_read(digit_model, small_digits, client, api_client):
    for path in sorted((Path(small_digits.root) / "test" / "7").iterdir())[:5]:
        with Image.open(path) as image:
            original = image.convert("RGB")
        path.unlink()
        write_sixteen_bit(original, path.with_name(f"{path.stem}-16bit"))
    dataset = services.dataset_register_directory(name=small_digits.name, root=Path(small_digits.root))
    assert dataset.decode_counts == {"test": {"rgb": 10 * PER_CLASS - 5, "16bit": 5}}
    run, _ = services.run_request(model=digit_model, dataset=dataset, config=FAST, enqueue=False)

    run = services.run_execute(run_id=run.pk, worker="w")

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.metrics["decode_counts"] == {"rgb": 10 * PER_CLASS - 5, "16bit": 5}
    sentence = "5 images were 16-bit and were rescaled from 0..65535 to 0..255"
    assert sentence in run.metrics["decoding"]
    assert run.provenance["image_decoder"]["version"] == "1"
    assert run.provenance["image_decoder"]["background"] == [255, 255, 255]
    assert sentence in api_client.get(f"/api/v1/benchmarks/{run.pk}/").json()["metrics"]["decoding"]
    assert sentence in client.get(f"/benchmarks/{run.pk}/").content.decode()


def test_sixteen_bit_images_read_as_their_8_bit_originals_in_the_harness(tmp_path, small_digits_root):
    from core.harness import load_image

    original_path = sorted((small_digits_root / "test" / "2").iterdir())[0]
    with Image.open(original_path) as image:
        original = image.convert("RGB")
    wide = write_sixteen_bit(original, tmp_path / "wide")
    assert np.array_equal(np.asarray(load_image(wide)), np.asarray(original))
