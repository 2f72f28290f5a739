"""Text datasets registered beside image ones, and text runs through the same lifecycle, verdicts and pages."""

import io
import time
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from catalog import services as catalog_services
from catalog import text_services as catalog_text_services
from catalog.models import ModelEntry
from core.harness import HarnessConfig
from core.textdata import read_text_dataset
from core.textharness import TextDatasetSource, TextModelSource, evaluate_text_model
from core.weights import sha256_file
from evaluation import services, text_services
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus
from evaluation.tasks import run_benchmark
from hub.celery import app
from tests.text_models import save_text_classifier, save_text_encoder, sentiment_rows, write_tsv

pytestmark = pytest.mark.django_db
FAST = {"batch_size": 8, "num_workers": 0}


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return save_text_classifier(tmp_path_factory.mktemp("text") / "classifier")


@pytest.fixture
def text_model(classifier_dir):
    return catalog_text_services.text_model_register(
        namespace="demo", name="sentiment", directory=classifier_dir, license="mit"
    )


@pytest.fixture
def reviews_root(tmp_path):
    root = tmp_path / "reviews"
    write_tsv(root / "test.tsv", sentiment_rows(23, offset=200))
    write_tsv(root / "train.tsv", sentiment_rows(10))
    (root / "README.txt").write_text("where the reviews come from", encoding="utf-8")
    return root


@pytest.fixture
def reviews(reviews_root):
    return text_services.dataset_register_text(name="reviews", root=reviews_root)


def test_a_text_folder_registers_with_its_splits_hashes_and_unused_files(reviews, reviews_root):
    read = read_text_dataset(reviews_root)

    assert reviews.modality == "text" and reviews.kind == "directory"
    assert reviews.class_names == ["neg", "pos"]
    assert reviews.split_sizes == {"test": 23, "train": 10}
    assert reviews.split_hashes == read.split_hashes
    assert reviews.unused_files == [{"path": "README.txt", "reason": "not a .tsv, .csv, .jsonl file"}]


def test_a_bad_text_dataset_is_refused_naming_the_line(tmp_path):
    root = write_tsv(tmp_path / "bad" / "test.tsv", [("fine", "pos"), ("no label", "")]).parent

    with pytest.raises(ValidationError) as caught:
        text_services.dataset_register_text(name="bad", root=root)

    assert caught.value.message_dict["root"] == ["test.tsv: 1 problem(s): line 3: missing label"]
    assert not EvalDataset.objects.exists()


def test_a_name_keeps_its_modality_and_transfer_rankings_on_text_refuse_image_models(
    reviews, tmp_path, make_model
):
    from evaluation import transfer_services

    with pytest.raises(ValidationError, match="reviews is a text dataset; pick another name"):
        services.dataset_register_directory(name="reviews", root=tmp_path)
    vision = make_model(name="vision-model", num_classes=2)
    with pytest.raises(ValidationError, match="reviews holds text data and ranks text models"):
        transfer_services.ranking_request(
            dataset=reviews, split="test", model_ids=[vision.model_id], enqueue=False
        )


def test_register_dataset_command_takes_text_with_modality(reviews_root):
    out = StringIO()
    call_command("register_dataset", "cli-reviews", str(reviews_root), "--modality", "text", stdout=out)

    assert EvalDataset.objects.get(name="cli-reviews").modality == "text"
    assert "2 classes; test 23, train 10." in out.getvalue() and "README.txt" in out.getvalue()
    bad = reviews_root / "test.tsv"
    bad.write_bytes(bad.read_bytes() + b"caf\xe9\tpos\n")
    with pytest.raises(CommandError, match=r"root: .*not UTF-8"):
        call_command("register_dataset", "cli-bad", str(reviews_root), "--modality", "text")


def test_staff_upload_a_text_file_and_a_bad_one_is_refused_with_nothing_kept(staff_client, settings):
    good = b"text\tlabel\tsplit\nnice\tpos\ttest\nawful\tneg\ttest\n"
    response = staff_client.post(
        "/api/v1/datasets/",
        {"name": "uploaded", "file": SimpleUploadedFile("all.tsv", good)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["modality"] == "text" and response.json()["split_sizes"] == {"test": 2}

    ragged = b"text\tlabel\nnice\tpos\textra\n"
    refused = staff_client.post(
        "/api/v1/datasets/", {"name": "ragged", "file": io.BytesIO(ragged)}, format="multipart"
    )  # not named .tsv: read as a zip, and refused as one
    assert refused.status_code == 400
    named = staff_client.post(
        "/api/v1/datasets/",
        {"name": "ragged", "file": SimpleUploadedFile("test.tsv", ragged)},
        format="multipart",
    )
    assert named.status_code == 400 and "line 2: 3 field(s), the header has 2" in named.json()["error"]
    assert not EvalDataset.objects.filter(name="ragged").exists()
    kept = sorted(p.name for p in (settings.MEDIA_ROOT / "datasets").iterdir())
    assert len(kept) == 1 and kept[0].startswith("uploaded-")


def test_runs_pair_models_and_data_of_one_modality(make_model, text_model, reviews, tmp_path):
    vision = make_model(name="vision-model", num_classes=2)
    vision.weights = text_model.weights  # any stored file: the modality check comes first
    vision.save(update_fields=["weights"])
    with pytest.raises(ValidationError, match="reviews holds text data; demo/vision-model is a vision model"):
        services.run_request(model=vision, dataset=reviews, enqueue=False)

    encoder = catalog_text_services.text_model_register(
        namespace="demo",
        name="encoder",
        directory=save_text_encoder(tmp_path / "enc"),
        task="feature-extraction",
    )
    with pytest.raises(ValidationError, match="a text dataset measures text classifiers"):
        services.run_request(model=encoder, dataset=reviews, enqueue=False)


def test_a_text_run_records_the_harness_result_and_a_verdict(
    text_model, reviews, reviews_root, classifier_dir
):
    run, created = services.run_request(model=text_model, dataset=reviews, config=FAST, enqueue=False)
    run = services.run_execute(run_id=run.pk, worker="w")

    assert created and run.status == RunStatus.SUCCEEDED, run.error
    direct = evaluate_text_model(
        TextModelSource(classifier_dir, sha256_file(classifier_dir / "model.safetensors")),
        TextDatasetSource("reviews", "test", reviews_root, reviews.split_hashes["test"]),
        HarnessConfig(**FAST),
        class_names=reviews.class_names,
    )
    assert run.top1 == direct.top1 and run.metrics["predictions"] == direct.predictions
    assert run.metrics["macro_f1"] == direct.macro_f1 and run.metrics["truncated"] == direct.truncated
    assert run.provenance["tokenizer"]["sha256"] == direct.provenance["tokenizer"]["sha256"]
    assert run.provenance["dataset_hash"] == reviews.split_hashes["test"]
    assert f"on {run.metrics['num_samples']} texts" in run.log_tail

    catalog_services.claim_record(
        model=text_model, dataset="reviews", split="test", metric="accuracy", value=run.top1
    )
    assert ModelEntry.objects.get(pk=text_model.pk).verification == "verified"
    page = services_page(run)
    assert "demo/sentiment" in page and "<th>Texts</th>" in page and "texts/s" in page
    assert f"{run.metrics['macro_f1']:.2f}%" in page and "Per-class precision, recall and F1" in page
    assert f"{run.metrics['truncated']} longer than 16 tokens" in page


def services_page(run) -> str:
    from django.test import Client

    response = Client().get(run.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_the_benchmark_command_measures_a_text_model(text_model, reviews):
    out = StringIO()
    call_command(
        "benchmark",
        "demo/sentiment",
        "--dataset",
        "reviews",
        "--batch-size",
        "8",
        "--num-workers",
        "0",
        stdout=out,
    )

    run = BenchmarkRun.objects.get(model=text_model)
    assert run.status == RunStatus.SUCCEEDED and f"top-1 {run.top1:.2f}% on reviews/test" in out.getvalue()


def test_a_text_split_edited_after_registration_fails_the_run_naming_it(text_model, reviews, reviews_root):
    run, _ = services.run_request(model=text_model, dataset=reviews, config=FAST, enqueue=False)
    path = reviews_root / "test.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("film", "movie", 1), encoding="utf-8")

    run = services.run_execute(run_id=run.pk, worker="w")

    assert run.status == RunStatus.FAILED and "changed since it was registered" in run.error


@pytest.mark.django_db(transaction=True)
def test_a_text_run_goes_queued_running_succeeded_on_a_real_worker(
    celery_worker_process, classifier_dir, tmp_path
):
    model = catalog_text_services.text_model_register(
        namespace="demo", name="worker-text", directory=classifier_dir
    )
    root = write_tsv(tmp_path / "w-reviews" / "test.tsv", sentiment_rows(12, offset=300)).parent
    dataset = text_services.dataset_register_text(name="w-reviews", root=root)
    run, _ = services.run_request(model=model, dataset=dataset, config=FAST, enqueue=False)
    seen = [BenchmarkRun.objects.get(pk=run.pk).status]
    with app.connection_for_write(celery_worker_process) as broker_connection:
        run_benchmark.apply_async((run.pk,), connection=broker_connection)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = BenchmarkRun.objects.get(pk=run.pk).status
        if status != seen[-1]:
            seen.append(status)
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
            break
        time.sleep(0.05)
    run.refresh_from_db()
    assert seen == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED], (seen, run.error)
    assert run.worker.startswith("test-worker@") and run.metrics["num_samples"] == 12
    assert run.provenance["modality"] == "text" and run.provenance["num_workers"] == 0


def test_web_code_does_not_import_transformers():
    """transformers takes seconds to import; web processes serve text models' files without it (workers and
    commands import it when they measure or register)."""
    import subprocess
    import sys

    script = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'hub.settings'); django.setup(); "
        "import hub.urls, catalog.api.hfcompat, evaluation.api.views, evaluation.services; "
        "print(sorted(m for m in ('transformers', 'tokenizers', 'core.textharness') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
