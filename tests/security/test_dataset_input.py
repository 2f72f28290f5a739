"""Hostile dataset zips (staff) and dataset deletion: a clear 4xx, no row, no file outside its place."""

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from evaluation import services
from evaluation.models import BenchmarkRun, EvalDataset
from tests.core.forged_zips import kernel_payload, lying_size_zip, overlapping_zip, same_header_zip
from tests.security.conftest import assert_error_shape, files_under


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_of(
    entries: list[tuple[zipfile.ZipInfo | str, bytes]], compression=zipfile.ZIP_DEFLATED
) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "data.zip"
    return buffer


def symlink_member(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


GOOD = [("test/a/1.png", png()), ("test/b/1.png", png())]

HOSTILE_ZIPS = {
    "duplicate member names": ([*GOOD, ("test/a/1.png", png())], "more than once"),
    "300-character member name": ([*GOOD, (f"test/a/{'n' * 300}.png", png())], "longer than"),
    "parent-directory traversal": ([*GOOD, ("../../escaped.png", png())], ".."),
    "traversal inside a path": ([*GOOD, ("test/a/../../../escaped.png", png())], ".."),
    "absolute path": ([*GOOD, ("/tmp/escaped.png", png())], "absolute"),
    "windows drive path": ([*GOOD, ("C:/escaped.png", png())], "absolute"),
    "backslash path": ([*GOOD, ("test\\..\\..\\escaped.png", png())], "backslash"),
    "symlink member": (
        [*GOOD, (symlink_member("test/a/link.png", "/etc/passwd"), b"/etc/passwd")],
        "symlink",
    ),
    "zip bomb (compression ratio)": ([*GOOD, ("test/a/bomb.png", b"\0" * 3_000_000)], "expands"),
    "a file where a folder is needed": ([*GOOD, ("test/c", b"x"), ("test/c/1.png", png())], "test/c"),
    "empty archive": ([], "no files"),
    "unreadable image": ([*GOOD, ("test/a/2.png", b"not an image")], "unreadable"),
}


def post_dataset(client, file, name: str = "hostile"):
    return client.post("/api/v1/datasets/", {"name": name, "file": file}, format="multipart")


def assert_nothing_left(settings, tmp_path) -> None:
    assert EvalDataset.objects.count() == 0
    assert files_under(Path(settings.MEDIA_ROOT)) == []
    assert not any(Path(tmp_path.anchor, "tmp").glob("escaped.png"))
    assert not list(tmp_path.rglob("escaped.png"))


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zips_are_refused_and_leave_nothing(staff_client, settings, tmp_path, db, case):
    entries, mentions = HOSTILE_ZIPS[case]
    assert_error_shape(post_dataset(staff_client, zip_of(entries)), 400, mentions=mentions)
    assert_nothing_left(settings, tmp_path)


def test_too_many_files_are_refused(staff_client, settings, tmp_path, db):
    settings.DATASET_MAX_FILES = 3
    entries = [(f"test/a/{i}.png", png()) for i in range(4)]
    assert_error_shape(post_dataset(staff_client, zip_of(entries)), 400, mentions="over the limit of 3")
    assert_nothing_left(settings, tmp_path)


def test_too_many_uncompressed_bytes_are_refused(staff_client, settings, tmp_path, db):
    settings.DATASET_MAX_BYTES = 100
    assert_error_shape(post_dataset(staff_client, zip_of(GOOD, zipfile.ZIP_STORED)), 400, mentions="limit")
    assert_nothing_left(settings, tmp_path)


def upload(data: bytes) -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = "data.zip"
    return file


FORGED_ZIPS = {
    # 60 members inflating one shared stream (issue 19): each declares an honest ratio under the limit.
    "overlapping members (Fifield layout)": (lambda: overlapping_zip(60, kernel_payload()), "overlap"),
    "members sharing one local header": (lambda: same_header_zip(60, kernel_payload()), "overlap"),
    "a member inflating past its declared size": (
        lambda: lying_size_zip("test/a/2.png", kernel_payload(), 1_000, others=dict(GOOD)),
        "inflates to more than its declared 1000 bytes",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGED_ZIPS))
def test_forged_zip_bombs_are_a_400_on_file_and_store_nothing(
    staff_client, settings, tmp_path, db, nothing_stored, case
):
    build, mentions = FORGED_ZIPS[case]
    body = assert_error_shape(post_dataset(staff_client, upload(build())), 400, mentions=mentions)
    assert "file" in body["detail"], body
    assert_nothing_left(settings, tmp_path)
    nothing_stored()


def test_what_is_not_a_zip_is_refused(staff_client, settings, tmp_path, db):
    file = io.BytesIO(b"PK\x03\x04 but not really a zip")
    file.name = "data.zip"
    assert_error_shape(post_dataset(staff_client, file), 400, mentions="zip")
    assert_nothing_left(settings, tmp_path)


def test_an_oversize_zip_is_a_413(staff_client, settings, tmp_path, db):
    settings.MAX_UPLOAD_BYTES = 100
    assert_error_shape(post_dataset(staff_client, zip_of(GOOD)), 413, mentions="upload limit")
    assert_nothing_left(settings, tmp_path)


@pytest.mark.parametrize("name", ["../escaped", "a/b", ".hidden", "x" * 97, "with space"])
def test_dataset_names_cannot_steer_the_destination(staff_client, settings, tmp_path, db, name):
    assert_error_shape(post_dataset(staff_client, zip_of(GOOD), name=name), 400, mentions="name")
    assert_nothing_left(settings, tmp_path)


@pytest.mark.parametrize(("client_name", "status"), [("api_client", 401), ("outsider_client", 403)])
def test_dataset_uploads_and_deletes_need_staff(request, settings, tmp_path, db, client_name, status):
    client = request.getfixturevalue(client_name)
    assert_error_shape(post_dataset(client, zip_of(GOOD)), status)
    assert_nothing_left(settings, tmp_path)
    services.dataset_register_zip(name="kept", zip_path=write(tmp_path / "k.zip", zip_of(GOOD)))
    assert_error_shape(client.delete("/api/v1/datasets/kept/"), status)
    assert EvalDataset.objects.filter(name="kept").exists()


def write(path: Path, buffer: io.BytesIO) -> Path:
    path.write_bytes(buffer.getvalue())
    return path


def test_staff_delete_an_uploaded_dataset_and_its_files(
    staff_client, settings, db, django_capture_on_commit_callbacks
):
    assert post_dataset(staff_client, zip_of(GOOD), name="gone").status_code == 201
    root = Path(EvalDataset.objects.get(name="gone").root)
    assert root.is_dir() and root.is_relative_to(Path(settings.MEDIA_ROOT) / "datasets")
    # Issue 19: a big upload's files went in the request, which timed out and left thousands behind.
    for index in range(3_000):
        nested = root / "test" / "a" / f"{index % 30}"
        nested.mkdir(exist_ok=True)
        (nested / f"{index}.bin").write_bytes(b"x")
    (root / "test" / "b" / "link").symlink_to(Path(settings.MEDIA_ROOT).parent)  # removed, never followed
    with django_capture_on_commit_callbacks(execute=True):  # the deletion job, eagerly after commit
        response = staff_client.delete("/api/v1/datasets/gone/")
    assert response.status_code == 202 and response.json()["deleting"] is True
    assert not EvalDataset.objects.filter(name="gone").exists()
    assert not root.exists()
    assert files_under(Path(settings.MEDIA_ROOT)) == []  # nothing left behind
    assert Path(settings.MEDIA_ROOT).parent.is_dir()
    assert_error_shape(staff_client.get("/api/v1/datasets/gone/"), 404, mentions="gone")


def test_a_dataset_registered_from_a_server_directory_keeps_its_files(staff_client, small_digits):
    root = Path(small_digits.root)
    assert staff_client.delete(f"/api/v1/datasets/{small_digits.name}/").status_code == 204
    assert root.is_dir() and any(root.rglob("*.png"))  # not ours to delete


def test_a_dataset_with_benchmark_runs_is_kept_with_a_409(staff_client, digit_model, small_digits):
    services.run_request(model=digit_model, dataset=small_digits, split="test", enqueue=False)
    assert_error_shape(staff_client.delete(f"/api/v1/datasets/{small_digits.name}/"), 409, mentions="run")
    assert EvalDataset.objects.filter(pk=small_digits.pk).exists()
    assert BenchmarkRun.objects.count() == 1
