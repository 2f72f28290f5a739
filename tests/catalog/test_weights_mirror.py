"""Mirroring an entry's weights from the Hugging Face Hub, as a job: the API, the page's button, the command.

Only the internet is replaced: the Hub is another live Depot (its HF-compatible endpoints serve a real
safetensors file at a real commit), or an address where nothing listens.
"""

import hashlib
import time
import zipfile
from datetime import timedelta
from io import BytesIO, StringIO

import pytest
import timm
import torch
from django.core.management import CommandError, call_command
from django.utils import timezone
from safetensors.torch import save_file

from catalog import services
from catalog.models import MirrorStatus, ModelEntry, SourceKind, WeightsMirror

FIELDS = {
    "architecture": "test_resnet",
    "num_classes": 5,
    "input_size": [3, 32, 32],
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "interpolation": "bilinear",
    "crop_pct": 1.0,
}
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture
def hub_cache(monkeypatch, tmp_path):
    """An empty Hugging Face cache, so every file comes over the wire (or not at all)."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    return cache


@pytest.fixture
def upstream(make_model, tmp_path):
    """The repository the weights come from: demo/source, with a real safetensors file."""
    source = make_model(name="source", **FIELDS)
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=5).state_dict(), str(path))
    services.weights_attach(model=source, path=path, original_name=path.name, source_kind=SourceKind.LOCAL)
    source.refresh_from_db()
    return source, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def catalogued(make_model, upstream):
    """An entry that only catalogs demo/source: its Hugging Face source, pinned, and no weights."""
    source, _ = upstream
    return make_model(
        namespace="acme", name="copy", hf_repo_id="demo/source", hf_revision=source.revision, source_kind="hf",
        **FIELDS,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_staff_mirror_weights_through_the_api_and_then_bundles_work(
    live_server, settings, tmp_path, hub_cache, staff_client, upstream, catalogued
):
    settings.HF_MIRROR_ENDPOINT = live_server.url
    settings.VAR_DIR = tmp_path / "var"  # this test's own, so the check below sees no other test's download
    settings.VAR_DIR.mkdir()
    _, sha256 = upstream

    response = staff_client.post("/api/v1/models/acme/copy/mirror-weights/", {}, format="json")

    assert response.status_code == 202, response.json()
    job = staff_client.get(
        response["Location"]
    ).json()  # eager Celery: the job ran when the request committed
    assert (job["status"], job["error"]) == ("succeeded", "")
    assert job["bytes_done"] == job["bytes_total"] > 0 and job["percent"] == 100.0
    assert job["weights_sha256"] == sha256
    model = ModelEntry.objects.select_related("weights").get(namespace="acme", name="copy")
    assert model.weights.sha256 == sha256 and model.source_kind == "hf"
    # one stored copy: nothing left in the Hugging Face cache or the download directory
    assert not [path for path in hub_cache.rglob("*") if path.is_file()]
    assert not list((settings.VAR_DIR / "tmp").glob("mirror-*"))
    bundle = staff_client.get("/api/v1/models/acme/copy/starter-bundle/", {"num_classes": 3})
    assert bundle.status_code == 200
    assert zipfile.ZipFile(BytesIO(bundle.content)).namelist()
    page = staff_client.get("/models/acme/copy/").content.decode()
    assert "Weights not stored on this hub" not in page and "Download starter bundle" in page


@pytest.mark.django_db(transaction=True)
def test_progress_is_recorded_while_the_file_downloads(
    live_server, settings, monkeypatch, hub_cache, catalogued
):
    settings.HF_MIRROR_ENDPOINT = live_server.url
    monkeypatch.setattr(services, "MIRROR_PROGRESS_SECONDS", 0.0)  # write every report
    seen: list[tuple[int, int | None]] = []
    write = services._MirrorProgress.__call__

    heartbeats = []

    def write_and_read_back(self, done, total):
        write(self, done, total)
        row = WeightsMirror.objects.get(pk=self.mirror_id)
        seen.append((row.bytes_done, row.bytes_total))
        heartbeats.append(row.heartbeat)

    monkeypatch.setattr(services._MirrorProgress, "__call__", write_and_read_back)
    mirror, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    services.weights_mirror_execute(mirror_id=mirror.pk)

    total = WeightsMirror.objects.get(pk=mirror.pk).bytes_total
    assert total and seen[0] == (0, total) and seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    # each progress write is a sign of life the reaper reads
    assert None not in heartbeats and heartbeats == sorted(heartbeats) and heartbeats[-1] > heartbeats[0]


def test_offline_the_command_fails_with_the_reason_and_the_job_records_it(settings, hub_cache, catalogued):
    settings.HF_MIRROR_ENDPOINT = UNREACHABLE

    with pytest.raises(
        CommandError, match=r"the Hub \(http://127\.0\.0\.1:9\) cannot be reached \(ConnectionRefusedError"
    ):
        call_command("mirror_weights", "acme/copy", stdout=StringIO())

    job = WeightsMirror.objects.get(model=catalogued)
    assert job.status == MirrorStatus.FAILED and "cannot be reached" in job.error
    assert ModelEntry.objects.get(pk=catalogued.pk).weights_id is None


def test_the_page_says_why_there_are_no_weights_and_offers_staff_the_mirror(client, staff_user, catalogued):
    anonymous = client.get("/models/acme/copy/").content.decode()
    assert "Weights not stored on this hub" in anonymous and "cannot\n          re-check" in anonymous
    assert "Mirror weights from the Hugging Face Hub" not in anonymous

    client.force_login(staff_user)
    settings_page = client.get("/models/acme/copy/").content.decode()
    assert "Mirror weights from the Hugging Face Hub" in settings_page


def test_the_page_button_queues_a_job_and_shows_its_failure(
    client, settings, staff_user, hub_cache, catalogued, django_capture_on_commit_callbacks
):
    settings.HF_MIRROR_ENDPOINT = UNREACHABLE
    client.force_login(staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(
            "/models/acme/copy/mirror-weights/", {"revision": catalogued.hf_revision}, follow=True
        )

    assert "Queued mirror #" in queued.content.decode()
    after = client.get("/models/acme/copy/").content.decode()  # the job ran once the request committed
    assert "status-failed" in after and "cannot be reached" in after


@pytest.mark.parametrize(
    ("fields", "body", "field"),
    [
        ({"hf_repo_id": "demo/source"}, {}, "revision"),  # nothing pinned
        ({"hf_repo_id": "demo/source"}, {"revision": "main"}, "revision"),
        ({}, {"revision": "a" * 40}, "hf_repo_id"),  # no source at all
    ],
)
def test_a_mirror_without_a_pinned_source_is_a_400_naming_the_field(
    staff_client, make_model, fields, body, field
):
    make_model(namespace="acme", name="unpinned", **fields)

    response = staff_client.post("/api/v1/models/acme/unpinned/mirror-weights/", body, format="json")

    assert response.status_code == 400 and field in response.json()["detail"]
    assert not WeightsMirror.objects.exists()


def test_only_staff_mirror(outsider_client, catalogued):
    assert (
        outsider_client.post("/api/v1/models/acme/copy/mirror-weights/", {}, format="json").status_code == 403
    )


def test_a_second_request_returns_the_job_in_progress(staff_client, catalogued):
    first, created = services.weights_mirror_request(model=catalogued, enqueue=False)

    response = staff_client.post("/api/v1/models/acme/copy/mirror-weights/", {}, format="json")

    assert created and response.status_code == 200 and response.json()["id"] == first.pk


def test_the_admin_lists_jobs_and_starts_none(admin_client, catalogued):
    services.weights_mirror_request(model=catalogued, enqueue=False)

    page = admin_client.get("/admin/catalog/weightsmirror/")

    assert page.status_code == 200 and "demo/source@" in page.content.decode()
    assert admin_client.get("/admin/catalog/weightsmirror/add/").status_code == 403


def test_a_job_running_past_its_time_limit_no_longer_blocks_a_new_request(settings, catalogued):
    stuck, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    long_ago = timezone.now() - timedelta(seconds=settings.MIRROR_TIME_LIMIT + 120)
    WeightsMirror.objects.filter(pk=stuck.pk).update(status=MirrorStatus.RUNNING, started=long_ago)

    fresh, created = services.weights_mirror_request(model=catalogued, enqueue=False)

    assert created and fresh.pk != stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == MirrorStatus.FAILED and "stopped before it finished" in stuck.error


def test_a_job_running_within_its_time_limit_is_the_one_returned(catalogued):
    running, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    WeightsMirror.objects.filter(pk=running.pk).update(status=MirrorStatus.RUNNING, started=timezone.now())

    again, created = services.weights_mirror_request(model=catalogued, enqueue=False)

    assert not created and again.pk == running.pk


def running(mirror: WeightsMirror, *, started_age: float, heartbeat_age: float | None) -> None:
    now = timezone.now()
    WeightsMirror.objects.filter(pk=mirror.pk).update(
        status=MirrorStatus.RUNNING, started=now - timedelta(seconds=started_age),
        heartbeat=None if heartbeat_age is None else now - timedelta(seconds=heartbeat_age),
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)  # the reaper closes old connections, as in a worker
def test_the_reaper_fails_a_job_whose_worker_stopped_answering_and_a_new_request_goes_ahead(
    settings, catalogued
):
    from evaluation.tasks import reap_once

    silent, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    running(
        silent,
        started_age=settings.RUN_HEARTBEAT_TIMEOUT + 30,
        heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT + 5,
    )

    reap_once()  # what every worker's reaper thread runs

    silent.refresh_from_db()
    assert silent.status == MirrorStatus.FAILED and silent.finished is not None
    assert "stopped answering" in silent.error and f"over {settings.RUN_HEARTBEAT_TIMEOUT} s" in silent.error
    fresh, created = services.weights_mirror_request(model=catalogued, enqueue=False)
    assert created and fresh.pk != silent.pk


def test_a_long_job_that_still_shows_progress_is_left_running(settings, catalogued):
    busy, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    running(busy, started_age=settings.RUN_HEARTBEAT_TIMEOUT * 5, heartbeat_age=1)

    assert services.weights_mirrors_reap() == []
    again, created = services.weights_mirror_request(model=catalogued, enqueue=False)
    assert not created and again.pk == busy.pk and again.status == MirrorStatus.RUNNING


def test_a_sign_of_life_between_the_reapers_read_and_its_write_keeps_the_job(
    settings, catalogued, monkeypatch
):
    job, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    running(
        job, started_age=settings.RUN_HEARTBEAT_TIMEOUT * 2, heartbeat_age=settings.RUN_HEARTBEAT_TIMEOUT + 5
    )
    later = timezone.now() + timedelta(seconds=1)
    stale = WeightsMirror.objects.filter(pk=job.pk)
    read = list(stale.values_list("pk", "heartbeat", "started"))
    WeightsMirror.objects.filter(pk=job.pk).update(heartbeat=later)  # the job writes progress meanwhile

    class ReadBefore:  # the rows as the reaper read them, before the write
        def filter(self, *args, **kwargs):
            return self

        def values_list(self, *fields):
            return read

    assert services.weights_mirrors_reap(mirrors=ReadBefore()) == []
    job.refresh_from_db()
    assert job.status == MirrorStatus.RUNNING and job.heartbeat == later


@pytest.mark.django_db(transaction=True)  # the heartbeat thread writes through a connection of its own
def test_a_job_beats_through_a_phase_without_progress(settings, catalogued, monkeypatch):
    from core import weights

    settings.RUN_HEARTBEAT_TIMEOUT = 1  # a beat every 0.2 s
    seen = []

    def phase_without_progress(mirror):  # as hashing and checking a large download: no progress to report
        before = WeightsMirror.objects.get(pk=mirror.pk).heartbeat
        time.sleep(0.8)
        seen.append((before, WeightsMirror.objects.get(pk=mirror.pk).heartbeat))
        raise weights.WeightsError("stopped here by the test")

    monkeypatch.setattr(services, "_mirror_download_and_attach", phase_without_progress)
    mirror, _ = services.weights_mirror_request(model=catalogued, enqueue=False)
    services.weights_mirror_execute(mirror_id=mirror.pk)

    ((before, after),) = seen
    assert before is not None and after > before
    assert WeightsMirror.objects.get(pk=mirror.pk).status == MirrorStatus.FAILED  # and it ended as it should
