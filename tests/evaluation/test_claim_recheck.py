"""Re-checking timm's claims the way timm measured them: test sets registered with a preset under the name their
claims use, an ImageNet-1k entry whose outputs are named by timm's synsets, and a claim's protocol (image size,
crop, filter, scoring) deciding which run vouches for it.

The model is timm's tiny test_resnet with a 1,000-class head and random weights; the data are folders laid out
like ImageNet-A (its 200 synset folders) and ImageNet-ReaL (ReaL's own file names) holding one tiny image each.
"""

import io
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from PIL import Image
from safetensors.torch import save_file

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog.models import SourceKind
from core import label_spaces
from core.run_config import SCORE_ALL_OUTPUTS, SCORE_DATASET_CLASSES
from evaluation import services
from evaluation.models import BenchmarkRun, EvalDataset, RunStatus

SYNSETS = label_spaces.label_space("imagenet-1k").synsets
CHEAP = {"batch_size": 50, "num_workers": 0, "threads": 1}
# timm's results-imagenet-a.csv states img_size, crop_pct and interpolation per row; this claim is one such row.
CLAIM = {"img_size": 40, "crop_pct": 0.875, "interpolation": "bilinear"}


def write_image(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(36, 44, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG", quality=90)


@pytest.fixture
def imagenet_a_root(tmp_path) -> Path:
    root = tmp_path / "imagenet-a"
    for position, synset in enumerate(label_spaces.partial_synsets("imagenet-a")):
        write_image(root / "test" / synset / f"{position:04d}.jpg", seed=position)
    return root


@pytest.fixture
def timm_entry(make_model, tmp_path):
    """An ImageNet-1k timm entry as the import makes it (label space, no label names), with stored weights."""
    model = make_model(
        namespace="timm", name="test_resnet.r160_in1k", architecture="test_resnet", num_classes=1000,
        label_space="imagenet-1k", pretrained_on="imagenet-1k", input_size=[3, 32, 32], mean=[0.5] * 3,
        std=[0.5] * 3, interpolation="bicubic", crop_pct=0.95, crop_mode="center",
        claims=[{"dataset": "imagenet-a", "split": "test", "metric": "top1", "value": 0.5, "source": "results-table",
                 **CLAIM}],
    )  # fmt: skip
    torch.manual_seed(0)
    path = tmp_path / "model.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=1000).state_dict(), str(path))
    catalog_services.weights_attach(
        model=model, path=path, original_name=path.name, source_kind=SourceKind.LOCAL
    )
    model.refresh_from_db()
    return model


def register(name: str, root: Path, preset: str | None = None) -> str:
    out = io.StringIO()
    call_command("register_dataset", name, str(root), *(["--preset", preset] if preset else []), stdout=out)
    return out.getvalue()


def claim_verdict(model):
    [verdict] = catalog_selectors.claim_verdicts(model=model)
    return verdict


def test_it_registers_imagenet_a_under_its_claims_name_and_reports_the_layout(db, imagenet_a_root):
    out = register("imagenet-a", imagenet_a_root, preset="imagenet-a")

    assert "ImageNet-A (imagenet-a/test): the whole set, 200 of 200 classes, 200 images." in out
    assert EvalDataset.objects.get(name="imagenet-a").split_sizes == {"test": 200}


def test_it_reports_a_subset_with_its_image_count(db, tmp_path):
    for position, synset in enumerate(label_spaces.partial_synsets("imagenet-r")[:3]):
        write_image(tmp_path / "r" / "test" / synset / "a.jpg", seed=position)

    assert "a subset, 3 of 200 classes, 3 images" in register(
        "imagenet-r", tmp_path / "r", preset="imagenet-r"
    )


def test_it_refuses_a_folder_that_is_not_the_preset_showing_an_expected_name(db, tmp_path):
    write_image(tmp_path / "a" / "test" / "tench" / "a.jpg", seed=1)

    with pytest.raises(CommandError, match=r"named by synsets \(e\.g\. 'n01498041'\).*: tench"):
        register("imagenet-a", tmp_path / "a", preset="imagenet-a")
    assert not EvalDataset.objects.exists()  # nothing half-registered


def test_it_refuses_imagenet_real_files_that_real_has_no_labels_for(db, tmp_path):
    write_image(tmp_path / "real" / "validation" / SYNSETS[0] / "tench.jpg", seed=1)

    with pytest.raises(CommandError, match=r"keyed by ImageNet validation file name.*tench\.jpg"):
        register("imagenet-real", tmp_path / "real", preset="imagenet-real")


def test_it_refuses_a_preset_under_another_name_or_without_the_claims_split(db, imagenet_a_root, tmp_path):
    with pytest.raises(CommandError, match="register it as imagenet-a"):
        register("my-a", imagenet_a_root, preset="imagenet-a")
    write_image(tmp_path / "v" / "val" / SYNSETS[0] / "a.jpg", seed=1)
    with pytest.raises(ValidationError, match="claims are on split 'validation'"):
        services.dataset_register_preset(preset="imagenet-1k", root=tmp_path / "v")


def test_only_a_run_measured_the_claims_way_decides_its_verdict(timm_entry, imagenet_a_root):
    register("imagenet-a", imagenet_a_root, preset="imagenet-a")
    dataset = EvalDataset.objects.get(name="imagenet-a")
    assert claim_verdict(timm_entry).status == "pending"

    # A plain run: synset folders map through the entry's label space (once refused: "no label names").
    plain, _ = services.run_request(model=timm_entry, dataset=dataset, config=CHEAP, enqueue=False)
    plain = services.run_execute(run_id=plain.pk, worker="test@host")
    assert plain.status == RunStatus.SUCCEEDED, plain.error
    assert plain.metrics["scoring"]["summary"] == "scored over 1,000 of 1,000 outputs"
    assert plain.provenance["protocol"]["img_size"] == 32  # the model's own
    assert claim_verdict(timm_entry).status == "pending"  # not measured the claim's way

    claim = timm_entry.claims.get()
    recheck, created = services.claim_recheck_request(claim=claim, config=CHEAP, enqueue=False)
    recheck = services.run_execute(run_id=recheck.pk, worker="test@host")

    assert created and recheck.status == RunStatus.SUCCEEDED, recheck.error
    assert recheck.config | CLAIM == recheck.config and recheck.config["scoring"] == SCORE_DATASET_CLASSES
    assert recheck.provenance["protocol"] | {"set_by_run": []} == {
        **CLAIM, "scoring": SCORE_DATASET_CLASSES, "labels": "class-folders", "set_by_run": [],
    }  # fmt: skip
    assert recheck.metrics["scoring"]["summary"] == "scored over 200 of 1,000 outputs"
    verdict = claim_verdict(timm_entry)
    assert verdict.run.pk == recheck.pk and verdict.measured == recheck.top1
    page = Client().get(recheck.get_absolute_url()).content.decode()
    assert (
        "scored over 200 of 1,000 outputs" in page and "40 px, crop 0.875, bilinear, dataset-classes" in page
    )


def test_a_recheck_refuses_a_protocol_that_contradicts_the_claim(timm_entry, imagenet_a_root):
    register("imagenet-a", imagenet_a_root, preset="imagenet-a")

    with pytest.raises(ValidationError, match="measured with scoring=dataset-classes") as error:
        services.claim_recheck_request(
            claim=timm_entry.claims.get(), config={"scoring": SCORE_ALL_OUTPUTS}, enqueue=False
        )
    assert "scoring" in error.value.message_dict
    assert not BenchmarkRun.objects.exists()


def test_the_batch_command_rechecks_every_claim_on_a_held_dataset(timm_entry, imagenet_a_root, make_model):
    register("imagenet-a", imagenet_a_root, preset="imagenet-a")
    make_model(
        name="no-weights", claims=[{"dataset": "imagenet-a", "split": "test", "metric": "top1", "value": 9}]
    )
    out = io.StringIO()

    call_command("recheck_claims", "--now", "--num-workers", "0", "--threads", "1", stdout=out)

    [run] = BenchmarkRun.objects.all()
    assert run.status == RunStatus.SUCCEEDED and run.config["img_size"] == 40
    assert f"timm/test_resnet.r160_in1k on imagenet-a/test: run {run.pk} top-1" in out.getvalue()
    assert "1 claims skipped: their models have no weights" in out.getvalue()
    assert "1 runs ran, 0 already recorded or queued, 0 refused." in out.getvalue()


def test_the_model_page_shows_the_label_spaces_lemmas(timm_entry):
    page = Client().get(timm_entry.get_absolute_url()).content.decode()

    assert "imagenet-1k labels" in page and '<span title="n01440764">tench, Tinca tinca</span>' in page


def test_a_limited_batch_goes_on_where_the_last_one_stopped(timm_entry, imagenet_a_root):
    register("imagenet-a", imagenet_a_root, preset="imagenet-a")
    # The author's own figure at the model's size: another protocol, so another run.
    catalog_services.claim_record(
        model=timm_entry,
        dataset="imagenet-a",
        split="test",
        metric="top1",
        value=0.4,
        source="author",
        img_size=32,
    )

    for _ in range(2):
        call_command("recheck_claims", "--limit", "1", stdout=io.StringIO())

    assert sorted(BenchmarkRun.objects.values_list("config__img_size", flat=True)) == [32, 40]
    with pytest.raises(CommandError, match="Each claim decides img_size"):
        call_command("recheck_claims", "--img-size", "64", stdout=io.StringIO())


def test_a_run_on_imagenet_real_is_refused_when_real_has_no_labels_for_its_files(timm_entry, tmp_path):
    write_image(tmp_path / "real" / "validation" / SYNSETS[0] / "tench.jpg", seed=1)
    dataset = services.dataset_register_directory(name="imagenet-real", root=tmp_path / "real")  # no preset

    with pytest.raises(ValidationError) as error:
        services.run_request(
            model=timm_entry, dataset=dataset, split="validation", config=CHEAP, enqueue=False
        )
    assert "files are named otherwise: n01440764/tench.jpg" in error.value.message_dict["dataset"][0]
    assert not BenchmarkRun.objects.exists()


def test_a_run_on_imagenet_real_scores_against_reals_labels(timm_entry, tmp_path):
    for index in range(1, 9):  # image 1 has an empty ReaL set
        write_image(
            tmp_path / "real" / "validation" / SYNSETS[index] / label_spaces.real_file_name(index), index
        )
    register("imagenet-real", tmp_path / "real", preset="imagenet-real")
    dataset = EvalDataset.objects.get(name="imagenet-real")

    run, _ = services.run_request(
        model=timm_entry, dataset=dataset, split="validation", config=CHEAP, enqueue=False
    )
    run = services.run_execute(run_id=run.pk, worker="test@host")

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.metrics["num_samples"] == 7 and run.metrics["scoring"]["excluded_images"] == 1
    assert run.provenance["protocol"]["labels"] == "imagenet-real"
