"""/api/v1/benchmarks/ and /api/v1/datasets/: 202 with the run URL, cancel, errors that name the field."""

import io
import zipfile

import pytest

from evaluation.models import BenchmarkRun, EvalDataset, RunStatus
from tests.fixtures_data import FAST

URL = "/api/v1/benchmarks/"


def body(model="demo/digit-net", dataset="digits-small", **extra):
    return {"model": model, "dataset": dataset, "split": "test", "config": FAST, **extra}


def test_staff_queue_a_run_and_get_202_with_its_url(
    staff_client, digit_model, small_digits, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(URL, body(), format="json")
    assert response.status_code == 202
    run = response.json()
    assert run["status"] == "queued" and run["model"] == "demo/digit-net" and run["dataset"] == "digits-small"
    assert response["Location"] == run["url"] and run["url"].endswith(f"/api/v1/benchmarks/{run['id']}/")
    assert len(callbacks) == 1  # enqueued after commit, not before
    again = staff_client.post(URL, body(), format="json")
    assert again.status_code == 200 and again.json()["id"] == run["id"]


def test_the_queued_run_is_executed_and_readable(
    staff_client, api_client, digit_model, small_digits, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        run_id = staff_client.post(URL, body(), format="json").json()["id"]
    run = api_client.get(f"{URL}{run_id}/").json()
    assert run["status"] == "succeeded" and run["progress"] == 100.0
    assert (
        run["metrics"]["num_samples"] == 120
        and run["provenance"]["weights_sha256"] == digit_model.weights.sha256
    )
    listed = api_client.get(f"{URL}?model=demo/digit-net").json()
    assert [item["id"] for item in listed["results"]] == [run_id]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (body(model="nobody/nothing"), "model", "No model nobody/nothing."),
        (body(dataset="imagenet-1k"), "dataset", "No dataset 'imagenet-1k' on this hub."),
        (body(split="train"), "split", "has no split 'train'"),
        (body(config={"batch_size": -1}), "batch_size", "must be between 1 and 4096, got -1"),
        (body(config={"gpus": 8}), "gpus", "Invalid gpus: unknown field; known fields: batch_size"),
        ({"dataset": "digits-small"}, "model", "This field is required"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(
    staff_client, digit_model, small_digits, payload, field, message
):
    response = staff_client.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["detail"] and message in response.json()["error"]
    assert not BenchmarkRun.objects.exists()


def test_only_staff_queue_or_cancel_runs(api_client, outsider_client, digit_model, small_digits):
    assert api_client.post(URL, body(), format="json").status_code == 401
    assert outsider_client.post(URL, body(), format="json").status_code == 403
    assert not BenchmarkRun.objects.exists()


def test_cancel_a_queued_run_and_refuse_cancelling_twice(staff_client, digit_model, small_digits):
    run_id = staff_client.post(URL, body(), format="json").json()["id"]
    cancelled = staff_client.post(f"{URL}{run_id}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = staff_client.post(f"{URL}{run_id}/cancel/")
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]
    assert BenchmarkRun.objects.get(pk=run_id).status == RunStatus.CANCELLED
    assert staff_client.post(f"{URL}999999/cancel/").status_code == 404


def imagefolder_zip(members: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "data.zip"
    return buffer


def png_bytes(small_digits_root, digit: str) -> bytes:
    return sorted((small_digits_root / "test" / digit).iterdir())[0].read_bytes()


def test_staff_upload_a_dataset_zip(staff_client, small_digits_root, db):
    members = {f"test/{d}/{i}.png": png_bytes(small_digits_root, d) for d in ("0", "1") for i in range(3)}
    response = staff_client.post(
        "/api/v1/datasets/", {"name": "tiny-set", "file": imagefolder_zip(members)}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["class_names"] == ["0", "1"] and response.json()["split_sizes"] == {"test": 6}
    assert [d["name"] for d in staff_client.get("/api/v1/datasets/").json()["results"]] == ["tiny-set"]


def test_a_zip_with_parent_paths_is_refused_and_leaves_nothing(staff_client, small_digits_root, settings, db):
    members = {"test/0/a.png": png_bytes(small_digits_root, "0"), "../../escape.png": b"x"}
    response = staff_client.post(
        "/api/v1/datasets/", {"name": "evil", "file": imagefolder_zip(members)}, format="multipart"
    )
    assert response.status_code == 400
    assert "escapes the archive with '..'" in response.json()["error"]
    assert not EvalDataset.objects.exists()
    datasets_dir = settings.MEDIA_ROOT / "datasets"
    assert not datasets_dir.exists() or list(datasets_dir.iterdir()) == []


def test_a_zip_with_a_corrupted_image_is_refused_by_name(staff_client, small_digits_root, settings, db):
    members = {"test/0/good.png": png_bytes(small_digits_root, "0"), "test/1/bad.png": b"garbage"}
    response = staff_client.post(
        "/api/v1/datasets/", {"name": "broken", "file": imagefolder_zip(members)}, format="multipart"
    )
    assert response.status_code == 400
    assert "1/bad.png" in response.json()["error"]
    assert not EvalDataset.objects.exists()
    assert list((settings.MEDIA_ROOT / "datasets").iterdir()) == []


def test_an_empty_dataset_is_refused(staff_client, db):
    response = staff_client.post(
        "/api/v1/datasets/",
        {"name": "empty", "file": imagefolder_zip({"test/readme.txt": b"hi"})},
        format="multipart",
    )
    assert response.status_code == 400
    assert not EvalDataset.objects.exists()
