"""Deleting a dataset is a job (issue 19): the request marks it, a re-runnable task removes its files in batches
and then its row; the reaper publishes a stalled deletion again; sweep_datasets finds what nothing references."""

import io
import os
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from evaluation import selectors, services, transfer_services
from evaluation.models import EvalDataset

MANY = 5_000


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def uploaded(tmp_path: Path, name: str = "big", extra_files: int = MANY) -> EvalDataset:
    """A registered upload, then `extra_files` tiny files planted in its root (quicker than zipping them)."""
    zip_path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("test/a/1.png", _png())
        archive.writestr("test/b/1.png", _png())
    dataset = services.dataset_register_zip(name=name, zip_path=zip_path)
    for index in range(extra_files):
        folder = Path(dataset.root) / "extra" / f"{index % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index}.txt").write_bytes(b"x")
    return dataset


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def test_the_request_only_marks_the_dataset_and_the_job_removes_every_file_and_the_row(
    staff_client, tmp_path, db, django_capture_on_commit_callbacks
):
    dataset = uploaded(tmp_path)
    root = Path(dataset.root)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = staff_client.delete("/api/v1/datasets/big/")
    assert response.status_code == 202
    assert response["Location"].endswith("/api/v1/datasets/big/") and response.json()["deleting"] is True
    assert count_files(root) == MANY + 2  # the request removed nothing: the files are the job's
    assert staff_client.get("/api/v1/datasets/big/").json()["deleting"] is True
    assert "big" not in [item["name"] for item in staff_client.get("/api/v1/datasets/").json()["results"]]
    assert len(queued) == 1
    queued[0]()  # the task, eagerly
    assert not root.exists()
    assert not EvalDataset.objects.filter(name="big").exists()
    assert staff_client.get("/api/v1/datasets/big/").status_code == 404


def test_an_interrupted_deletion_stays_deleting_and_a_rerun_finishes(tmp_path, db):
    dataset = uploaded(tmp_path)
    root = Path(dataset.root)
    EvalDataset.objects.filter(pk=dataset.pk).update(deleting=timezone.now())
    done = services.dataset_delete_execute(dataset_id=dataset.pk, batch_size=1_000, max_batches=1)
    assert done is False
    assert count_files(root) == MANY + 2 - 1_000  # one batch, then stopped
    assert EvalDataset.objects.get(pk=dataset.pk).deleting is not None
    assert services.dataset_delete_execute(dataset_id=dataset.pk) is True
    assert not root.exists() and not EvalDataset.objects.filter(pk=dataset.pk).exists()
    assert services.dataset_delete_execute(dataset_id=dataset.pk) is True  # and once more: nothing to do


def test_a_crash_mid_batch_leaves_it_deleting_and_the_reaper_publishes_it_again(
    tmp_path, db, monkeypatch, django_capture_on_commit_callbacks
):
    dataset = uploaded(tmp_path, extra_files=300)
    root = Path(dataset.root)
    real_unlink, removed = Path.unlink, []

    def dying_unlink(path: Path, missing_ok: bool = False) -> None:
        if len(removed) == 100:
            raise OSError("worker lost (simulated)")
        real_unlink(path, missing_ok=missing_ok)
        removed.append(path)

    monkeypatch.setattr(Path, "unlink", dying_unlink)
    with pytest.raises(OSError, match="simulated"), django_capture_on_commit_callbacks(execute=True):
        services.dataset_delete(dataset=dataset)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert count_files(root) == 302 - 100
    stalled = EvalDataset.objects.get(pk=dataset.pk)
    assert stalled.deleting is not None
    assert services.datasets_deletion_reap() == []  # within DEPOT_DATASET_DELETE_TIMEOUT: not yet
    later = stalled.deleting + timedelta(seconds=601)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.datasets_deletion_reap(now=later) == [dataset.pk]
    assert not root.exists() and not EvalDataset.objects.filter(pk=dataset.pk).exists()


def test_a_new_run_on_a_dataset_being_deleted_is_refused(staff_client, digit_model, small_digits):
    EvalDataset.objects.filter(pk=small_digits.pk).update(deleting=timezone.now())
    response = staff_client.post(
        "/api/v1/benchmarks/", {"model": digit_model.model_id, "dataset": small_digits.name}, format="json"
    )
    assert response.status_code == 400
    assert "being deleted" in response.json()["detail"]["dataset"][0]


def test_deleting_a_server_directory_answers_204_and_keeps_its_files(staff_client, small_digits):
    root = Path(small_digits.root)
    assert staff_client.delete(f"/api/v1/datasets/{small_digits.name}/").status_code == 204
    assert not EvalDataset.objects.filter(pk=small_digits.pk).exists()
    assert any(root.rglob("*.png"))


def _age(path: Path, seconds: int) -> None:
    past = timezone.now().timestamp() - seconds
    os.utime(path, (past, past))
    for directory, _, files in os.walk(path):
        for name in [*files, "."]:
            os.utime(Path(directory) / name, (past, past))


def test_the_sweep_lists_orphans_keeps_fresh_and_referenced_ones_and_removes_with_delete(
    tmp_path, db, settings
):
    referenced = uploaded(tmp_path, name="kept", extra_files=3)
    datasets_dir = Path(settings.MEDIA_ROOT) / "datasets"
    old, fresh = datasets_dir / "gone-0123456789ab", datasets_dir / "extracting-ba9876543210"
    for orphan in (old, fresh):
        (orphan / "test" / "a").mkdir(parents=True)
        (orphan / "test" / "a" / "1.png").write_bytes(b"p" * 2_000_000)
    spool_leftover = Path(settings.FILE_UPLOAD_TEMP_DIR) / "tmpabc.upload"
    spool_leftover.write_bytes(b"z" * 10)
    _age(old, 2 * 86400)
    _age(spool_leftover, 2 * 86400)
    _age(Path(referenced.root), 2 * 86400)

    found = {orphan.path: orphan for orphan in selectors.dataset_orphans(grace=timedelta(days=1))}
    assert set(found) == {old, fresh, spool_leftover}
    assert found[old].bytes == 2_000_000 and not found[old].fresh and found[fresh].fresh

    listing = io.StringIO()
    call_command("sweep_datasets", stdout=listing)
    assert str(old) in listing.getvalue() and "2.0 MB" in listing.getvalue()
    assert old.exists()  # listed only

    swept = io.StringIO()
    call_command("sweep_datasets", "--delete", stdout=swept)
    assert not old.exists() and not spool_leftover.exists()
    assert fresh.exists() and Path(referenced.root).exists()
    assert "removed 2 orphan(s)" in swept.getvalue()


def test_a_ranking_keeps_its_dataset_and_none_starts_on_one_being_deleted(digit_model, small_digits):
    ranking = transfer_services.ranking_request(
        dataset=small_digits, split="test", model_ids=[digit_model.model_id], enqueue=False
    )
    # Refused up front: the files would go before the row's PROTECT could object.
    with pytest.raises(services.DatasetInUse, match="transfer ranking"):
        services.dataset_delete(dataset=small_digits)
    ranking.delete()
    EvalDataset.objects.filter(pk=small_digits.pk).update(deleting=timezone.now())
    with pytest.raises(ValidationError, match="being deleted"):
        transfer_services.ranking_request(
            dataset=small_digits, split="test", model_ids=[digit_model.model_id], enqueue=False
        )


def test_the_admins_delete_goes_through_the_job_too(
    admin_client, tmp_path, db, django_capture_on_commit_callbacks
):
    dataset = uploaded(tmp_path, extra_files=20)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/evaluation/evaldataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Path(dataset.root).exists() and not EvalDataset.objects.filter(pk=dataset.pk).exists()
