"""import_timm: the registry with weight-free stats, idempotent, with missing stats computed and cached."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import ModelEntry
from core import hfconfig, timm_registry


def test_it_registers_pretrained_configs_with_metadata_and_stats(db):
    call_command("import_timm", "--filter", "resnet18.*", stdout=StringIO(), stderr=StringIO())
    model = ModelEntry.objects.get(namespace="timm", name="resnet18.a1_in1k")
    assert model.num_params == 11_689_512 and model.gmacs == pytest.approx(1.81, abs=0.02)
    assert model.input_size == [3, 224, 224] and model.num_classes == 1000
    assert model.hf_repo_id == "timm/resnet18.a1_in1k" and model.source_kind == "hf"
    assert (
        model.pretrained_on == "imagenet-1k"
        and model.task == "image-classification"
        and model.library == "timm"
    )
    assert model.mean == [0.485, 0.456, 0.406] and model.crop_pct == 0.95
    assert len(model.revision) == 40 and "resnet18" in model.search_text
    assert ModelEntry.objects.filter(name__startswith="resnet18.").count() == len(
        list(timm_registry.iter_pretrained_records("resnet18.*"))
    )


def test_imagenet_heads_name_their_label_space_from_head_size_and_tag(db, api_client):
    call_command(
        "import_timm", "--filter", "vit_base_patch16_clip_224.*", "--skip-stats", "--skip-results",
        stdout=StringIO(), stderr=StringIO(),
    )  # fmt: skip
    spaces = dict(ModelEntry.objects.filter(namespace="timm").values_list("name", "label_space"))

    assert spaces["vit_base_patch16_clip_224.openai_ft_in1k"] == "imagenet-1k"
    assert spaces["vit_base_patch16_clip_224.openai_ft_in12k"] == "imagenet-12k"
    assert spaces["vit_base_patch16_clip_224.laion2b"] == ""  # a 512-wide image tower, not an ImageNet head
    entry = ModelEntry.objects.get(name="vit_base_patch16_clip_224.openai_ft_in12k")
    assert entry.label_names == [] and len(entry.output_label_names) == entry.num_classes == 11821
    assert entry.output_label_names[0] == "n00005787" and entry.output_label_descriptions[0] == "benthos"
    # The config.json served to timm and huggingface_hub carries them, as timm's own config.json does.
    config = hfconfig.timm_config(entry)
    assert config["label_names"] == entry.output_label_names
    assert config["label_descriptions"]["n00005787"] == "benthos"
    detail = api_client.get(f"/api/v1/models/timm/{entry.name}/").json()
    assert detail["label_space"] == "imagenet-12k" and detail["label_names"] == []


def test_it_is_idempotent(db):
    out = StringIO()
    call_command("import_timm", "--filter", "resnet18.*", stdout=out, stderr=StringIO())
    count = ModelEntry.objects.count()
    out = StringIO()
    call_command("import_timm", "--filter", "resnet18.*", stdout=out, stderr=StringIO())
    assert ModelEntry.objects.count() == count
    assert f"0 new, {count} updated" in out.getvalue()


def test_clip_towers_are_feature_extractors_not_classifiers(db):
    call_command(
        "import_timm", "--filter", "vit_base_patch32_clip_224.laion2b*", stdout=StringIO(), stderr=StringIO()
    )
    family = ModelEntry.objects.filter(name__startswith="vit_base_patch32_clip_224.laion2b")
    tower = family.filter(fine_tuned_on="").first()  # pretrained on laion-2b and nothing else
    assert tower is not None and tower.pretrained_on == "laion-2b"
    assert tower.task == "image-feature-extraction"
    # a tower fine-tuned on imagenet-1k has that dataset's head: a classifier
    classifier = family.filter(fine_tuned_on="imagenet-1k").first()
    assert classifier is not None and classifier.task == "image-classification"


def test_missing_stats_are_computed_and_cached(db, monkeypatch, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(timm_registry, "BUNDLED_STATS_PATH", tmp_path / "nothing.json")
    out = StringIO()
    call_command("import_timm", "--filter", "test_resnet.*", "--workers", "1", stdout=out, stderr=StringIO())
    assert "Computing parameters and GMACs" in out.getvalue()
    model = ModelEntry.objects.get(name__startswith="test_resnet.")
    assert model.num_params > 0 and model.gmacs > 0
    assert (tmp_path / "cache" / "timm_stats.json").exists()
    out = StringIO()
    call_command("import_timm", "--filter", "test_resnet.*", stdout=out, stderr=StringIO())
    assert "Computing" not in out.getvalue()  # the local cache answered


def test_an_empty_filter_is_an_error(db):
    with pytest.raises(CommandError, match="No pretrained timm model matches 'nothing-like-this'"):
        call_command("import_timm", "--filter", "nothing-like-this")
