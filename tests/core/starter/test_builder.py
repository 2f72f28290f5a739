"""The starter bundle builder: deterministic zips, fixed entry names, validation that names the field, layer groups."""

import dataclasses
import importlib.metadata
import io
import zipfile
from pathlib import Path

import pytest
import timm
import torch
import yaml

from core.starter import (
    ENTRY_NAMES,
    STRATEGIES,
    BundleConfigError,
    ModelRecord,
    TargetConfig,
    build_bundle,
    bundle_cache_key,
    bundle_filename,
    layer_groups,
    validate_target,
)

SHA = "f9a9bb4e4e4ae96516c1d861f594d75ad960d7a67829438523236eed93719c14"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def make_record(**overrides) -> ModelRecord:
    fields = {
        "model_id": "demo/digits-resnet10t",
        "architecture": "resnet10t",
        "model_args": {"num_classes": 5, "in_chans": 3, "global_pool": "avg"},
        "num_classes": 5,
        "label_names": ["0", "1", "2", "3", "4"],
        "input_size": (3, 32, 32),
        "mean": (0.3053, 0.3053, 0.3053),
        "std": (0.3269, 0.3269, 0.3269),
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        "license": "mit",
        "title": "ResNet-10-T, digits 0-4",
        "summary": "A small ResNet trained from scratch on digits 0-4 at 32x32.",
        "pretrained_on": "digits 0-4",
        "weights_sha256": SHA,
        "revision": REVISION,
        "hub_url": "http://127.0.0.1:8000",
        "hf_repo_id": "",
        "hf_revision": "",
        "claims": [
            {
                "dataset": "digits",
                "split": "test",
                "metric": "top1",
                "value": 100.0,
                "source": "model card",
                "source_url": "http://127.0.0.1:8000/models/demo/digits-resnet10t/",
            }
        ],
        "verified": [
            {
                "dataset": "digits",
                "split": "test",
                "top1": 99.44,
                "status": "verified",
                "delta": -0.56,
                "weights_sha256": SHA,
                "dataset_hash": "ab" * 32,
                "run_url": "http://127.0.0.1:8000/benchmarks/7/",
                "torch": "2.14.1",
                "timm": "1.0.31",
                "device": "cpu",
            }
        ],
    }
    return ModelRecord(**{**fields, **overrides})


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


@pytest.fixture(scope="module")
def record() -> ModelRecord:
    return make_record()


# ---------------------------------------------------------------------------------------------------------------
# Determinism and entry names


def test_it_builds_byte_identical_bundles(record):
    target = TargetConfig(num_classes=10)
    first = build_bundle(record, target)
    again = build_bundle(make_record(), TargetConfig(num_classes=10))
    assert first == again
    assert bundle_cache_key(record, target) == bundle_cache_key(make_record(), TargetConfig(num_classes=10))

    other = build_bundle(record, TargetConfig(num_classes=10, strategy="full_finetune"))
    assert other != first
    assert bundle_cache_key(
        record, TargetConfig(num_classes=10, strategy="full_finetune")
    ) != bundle_cache_key(record, target)


def test_it_writes_fixed_sorted_entries_with_fixed_metadata(record):
    data = build_bundle(record, TargetConfig(num_classes=10))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == list(ENTRY_NAMES) == sorted(ENTRY_NAMES)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.create_system == 3


def test_it_never_takes_entry_names_from_user_input():
    hostile = make_record(model_id="../../etc/passwd", title="../../x", summary="/abs/path")
    target = validate_target({"num_classes": 2, "class_names": ["cat", "dog"]}, hostile)
    with zipfile.ZipFile(io.BytesIO(build_bundle(hostile, target))) as archive:
        assert archive.namelist() == list(ENTRY_NAMES)
    assert bundle_filename(hostile, target) == "passwd-starter.zip"
    assert bundle_filename(make_record(model_id="acme/Ü ber..name"), target) == "ber..name-starter.zip"
    assert bundle_filename(make_record(model_id="acme/..."), target) == "model-starter.zip"


def test_it_names_the_download_after_the_model(record):
    assert bundle_filename(record, TargetConfig(num_classes=10)) == "digits-resnet10t-starter.zip"


def test_it_builds_quickly(record):
    # The timing itself is printed by benchmarks/starter_bundle.py; here it must simply build, warm.
    build_bundle(record, TargetConfig(num_classes=3))
    assert zipfile.ZipFile(io.BytesIO(build_bundle(record, TargetConfig(num_classes=4)))).testzip() is None


# ---------------------------------------------------------------------------------------------------------------
# What the bundle says


def test_it_records_model_target_and_layers_in_params(record):
    target = validate_target(
        {
            "num_classes": 3,
            "class_names": ["cat", "dog", "red fox"],
            "strategy": "full_finetune",
            "epochs": 7,
        },
        record,
    )
    params = yaml.safe_load(unzip(build_bundle(record, target))["params.yaml"])
    assert params["model"] == {
        "repo_id": "demo/digits-resnet10t",
        "revision": REVISION,
        "filename": "model.safetensors",
        "sha256": SHA,
        "hub_url": "http://127.0.0.1:8000",
        "hf_repo_id": "",
        "hf_revision": "",
        "architecture": "resnet10t",
        "model_args": {"in_chans": 3, "global_pool": "avg"},
        "num_classes": 5,
        "label_names": ["0", "1", "2", "3", "4"],
        "license": "mit",
    }
    assert params["data"]["input_size"] == [3, 32, 32]
    assert params["data"]["mean"] == [0.3053] * 3
    assert params["target"] == {"num_classes": 3, "class_names": ["cat", "dog", "red fox"]}
    assert params["train"]["strategy"] == "full_finetune"
    assert params["train"]["epochs"] == 7
    assert params["train"]["head_epochs"] == 2
    assert [group["name"] for group in params["layers"]["groups"]] == [
        "stem",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]
    assert params["layers"]["classifier"] == ["fc"]


def test_it_escapes_catalog_text_in_params_and_readme():
    nasty = "MIT\n# evil: [1, 2] {a: b} $HOME ${x} | <script>alert(1)</script> 'quote\" ü"
    record = make_record(license=nasty, title="T | <b>bold</b> $x", summary="line 1\nline 2 $$ ${y}")
    files = unzip(build_bundle(record, TargetConfig(num_classes=2, image_size=48)))
    params = yaml.safe_load(files["params.yaml"])
    assert params["model"]["license"] == nasty
    assert params["data"]["input_size"] == [3, 48, 48]
    assert "<script>" not in files["README.md"]
    assert "<b>" not in files["README.md"]
    assert "&lt;script>" in files["README.md"]


def test_readme_has_provenance_commands_and_baseline(record):
    files = unzip(build_bundle(record, TargetConfig(num_classes=10)))
    readme = files["README.md"]
    for text in (
        "demo/digits-resnet10t",
        "**mit**",
        SHA,
        REVISION,
        "| digits | test | top1 | 100.0 |",
        "| digits | test | 99.44 | verified | -0.56 |",
        "[run](http://127.0.0.1:8000/benchmarks/7/)",
        "python prepare.py",
        "python train.py --from-scratch --output-dir outputs-scratch",
        "python evaluate.py --model-dir outputs-scratch",
        "dvc exp run -S train.epochs=5",
        "| 3 | layer3 | `layer3` | unfrozen in phase 2 |",
        "| 0 | stem | `conv1`, `bn1` | frozen throughout (early) |",
    ):
        assert text in readme, text
    assert "$" not in readme.replace("$ ", "")  # every template placeholder was filled
    assert "train/            required" in files["data/README.md"]
    assert "target.num_classes (10)" in files["data/README.md"]


def test_requirements_pin_what_the_hub_runs(record):
    requirements = unzip(build_bundle(record, TargetConfig(num_classes=10)))["requirements.txt"]
    lines = [line for line in requirements.splitlines() if line and not line.startswith("#")]
    assert f"timm=={timm.__version__}" in lines
    assert f"torch=={torch.__version__.split('+')[0]}" in lines
    assert f"safetensors=={importlib.metadata.version('safetensors')}" in lines
    assert f"huggingface_hub=={importlib.metadata.version('huggingface_hub')}" in lines
    assert {line.split("==")[0] for line in lines} >= {"numpy", "pillow", "pyyaml", "tqdm", "torchvision"}
    assert "# dvc" in requirements


def test_scripts_compile_and_dvc_stages_fit_params(record):
    files = unzip(build_bundle(record, TargetConfig(num_classes=10)))
    for name, text in files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")
    params = yaml.safe_load(files["params.yaml"])
    stages = yaml.safe_load(files["dvc.yaml"])["stages"]
    assert list(stages) == ["prepare", "train", "evaluate"]
    produced = {"data"}
    for stage in stages.values():
        for dep in stage["deps"]:
            dep = dep.replace("${data.root}", params["data"]["root"])  # dvc fills it in from params.yaml
            assert dep in files or dep in produced, dep
        for key in stage.get("params", []):
            section, _, leaf = key.partition(".")
            assert section in params and (not leaf or leaf in params[section]), key
        produced.update(out if isinstance(out, str) else next(iter(out)) for out in stage.get("outs", []))
        produced.update(next(iter(metric)) for metric in stage.get("metrics", []))
    assert stages["train"]["metrics"] == [{"outputs/metrics.json": {"cache": False}}]
    assert stages["evaluate"]["metrics"] == [{"outputs/eval_metrics.json": {"cache": False}}]
    assert "outputs/model.safetensors" in stages["train"]["outs"]
    # The reports are outs git keeps (cache: false), so experiments commit them beside the metrics.
    assert {"outputs/train_report.json": {"cache": False}} in stages["train"]["outs"]
    assert stages["evaluate"]["outs"] == [{"outputs/eval_report.json": {"cache": False}}]


# ---------------------------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": "ten"}, "num_classes"),
        ({}, "num_classes"),
        ({"num_classes": 10, "strategy": "magic"}, "strategy"),
        ({"num_classes": 10, "epochs": -1}, "epochs"),
        ({"num_classes": 10, "epochs": 0}, "epochs"),
        ({"num_classes": 10, "epochs": True}, "epochs"),
        ({"num_classes": 10, "batch_size": 1}, "batch_size"),
        ({"num_classes": 10, "lr_head": 0}, "lr_head"),
        ({"num_classes": 10, "lr_head": "nan"}, "lr_head"),
        ({"num_classes": 10, "lr_backbone": "fast"}, "lr_backbone"),
        ({"num_classes": 10, "layer_decay": 1.5}, "layer_decay"),
        ({"num_classes": 10, "image_size": 4}, "image_size"),
        ({"num_classes": 10, "augmentation": "wild"}, "augmentation"),
        ({"num_classes": 10, "device": "tpu; rm -rf /"}, "device"),
        ({"num_classes": 10, "warmup_epochs": 11}, "warmup_epochs"),
        ({"num_classes": 3, "class_names": ["a", "b"]}, "class_names"),
        ({"num_classes": 2, "class_names": ["cat", "Cat"]}, "class_names"),
        ({"num_classes": 2, "class_names": ["cat", "../dog"]}, "class_names"),
        ({"num_classes": 2, "class_names": ["cat", ".hidden"]}, "class_names"),
        ({"num_classes": 2, "class_names": ["cat", 7]}, "class_names"),
        ({"num_classes": 10, "pretrained": True}, "pretrained"),
    ],
)
def test_it_rejects_bad_configs_naming_the_field(record, raw, field):
    with pytest.raises(BundleConfigError) as caught:
        validate_target(raw, record)
    assert caught.value.field == field
    assert caught.value.message


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_it_accepts_every_strategy(record, strategy):
    assert validate_target({"num_classes": 10, "strategy": strategy}, record).strategy == strategy


def test_it_reads_form_strings(record):
    target = validate_target(
        {
            "class_names": "cat, dog,\nred fox",
            "lr_head": "0.01",
            "epochs": "3",
            "image_size": "",
            "seed": "7",
        },
        record,
    )
    assert target == TargetConfig(
        num_classes=3, class_names=("cat", "dog", "red fox"), lr_head=0.01, epochs=3, image_size=None, seed=7
    )


def test_it_refuses_a_model_without_weights():
    no_weights = make_record(weights_sha256=None)
    with pytest.raises(BundleConfigError) as caught:
        validate_target({"num_classes": 10}, no_weights)
    assert caught.value.field == "model"
    with pytest.raises(BundleConfigError) as caught:
        build_bundle(no_weights, TargetConfig(num_classes=10))
    assert caught.value.field == "model"


def test_it_checks_a_target_built_directly(record):
    with pytest.raises(BundleConfigError) as caught:
        build_bundle(record, TargetConfig(num_classes=10, epochs=-5))
    assert caught.value.field == "epochs"


def test_it_keeps_the_fixed_input_size_of_a_vit():
    vit = make_record(architecture="test_vit", model_args={"img_size": 32, "patch_size": 4})
    assert validate_target({"num_classes": 10, "image_size": 32}, vit).image_size == 32
    with pytest.raises(BundleConfigError) as caught:
        validate_target({"num_classes": 10, "image_size": 64}, vit)
    assert caught.value.field == "image_size"


def test_it_refuses_an_unknown_architecture():
    with pytest.raises(BundleConfigError) as caught:
        build_bundle(make_record(architecture="no_such_net"), TargetConfig(num_classes=10))
    assert caught.value.field == "model"


# ---------------------------------------------------------------------------------------------------------------
# Layer groups


def covering_group(name: str, groups: dict) -> list[str]:
    def under(prefix: str) -> bool:
        return name == prefix or name.startswith(prefix + ".")

    hits = [group["name"] for group in groups["groups"] if any(under(m) for m in group["modules"])]
    return hits + ["classifier" for prefix in groups["classifier"] if under(prefix)]


def assert_every_parameter_in_one_group(architecture: str, model_args: dict, groups: dict) -> None:
    with torch.device("meta"):
        model = timm.create_model(architecture, num_classes=10, **model_args)
    for name, _ in model.named_parameters():
        assert len(covering_group(name, groups)) == 1, (name, covering_group(name, groups))


def test_layer_groups_of_a_resnet():
    groups = layer_groups("resnet10t", {"num_classes": 5}, 5)
    assert [(g["name"], g["modules"], g["early"]) for g in groups["groups"]] == [
        ("stem", ["conv1", "bn1"], True),
        ("layer1", ["layer1"], True),
        ("layer2", ["layer2"], True),
        ("layer3", ["layer3"], False),
        ("layer4", ["layer4"], False),
    ]
    assert groups["classifier"] == ["fc"]
    assert [info["reduction"] for info in groups["feature_info"]] == [2, 4, 8, 16, 32]
    assert "group_matcher(coarse=True)" in groups["source"]
    assert_every_parameter_in_one_group("resnet10t", {}, groups)


def test_layer_groups_of_a_vit():
    args = {"img_size": 32, "patch_size": 4}
    groups = layer_groups("test_vit", args, 5)
    names = [g["name"] for g in groups["groups"]]
    assert names == ["stem", *(f"blocks.{i}" for i in range(5)), "blocks.5+norm"]
    assert groups["groups"][0]["modules"] == ["cls_token", "pos_embed", "patch_embed"]
    # Isotropic: the last third of the blocks is late.
    assert [g["early"] for g in groups["groups"]] == [True] * 5 + [False] * 2
    assert groups["classifier"] == ["head"]
    assert_every_parameter_in_one_group("test_vit", args, groups)


def test_layer_groups_keep_a_pre_logits_norm_apart_from_the_classifier():
    groups = layer_groups("test_convnext", {}, 5)
    assert groups["classifier"] == ["head.fc"]
    assert groups["groups"][-1]["modules"] == ["head.norm"]
    assert [g["early"] for g in groups["groups"]] == [True, True, True, False, False, False]
    assert_every_parameter_in_one_group("test_convnext", {}, groups)


def test_layer_groups_are_cached_copies():
    first = layer_groups("resnet10t", {}, 5)
    first["groups"].clear()
    assert layer_groups("resnet10t", {}, 5)["groups"]


def test_target_config_defaults_match_the_issue():
    target = TargetConfig(num_classes=2)
    assert dataclasses.asdict(target) == {
        "num_classes": 2,
        "class_names": (),
        "strategy": "freeze_then_unfreeze",
        "epochs": 10,
        "batch_size": 32,
        "lr_head": 1e-3,
        "lr_backbone": 1e-4,
        "image_size": None,
        "augmentation": "light",
        "hflip": None,  # chosen from the model and classes: hflip_default
        "seed": 0,
        "device": "auto",
        "layer_decay": 0.75,
        "warmup_epochs": 1,
        "patience": 5,
    }


# ---------------------------------------------------------------------------------------------------------------
# The decoder travels with the bundle; augmentation fits the task


def test_the_bundle_carries_the_hubs_own_image_decoder_byte_for_byte(record):
    from core import imagedecode

    files = unzip(build_bundle(record, TargetConfig(num_classes=10)))
    hub_source = Path(imagedecode.__file__).read_text(encoding="utf-8")
    assert files["imagedecode.py"] == hub_source
    assert "from imagedecode import decode_image" in files["common.py"]
    assert "read_image" in files["predict.py"] and "Image.open" not in files["predict.py"]
    stages = yaml.safe_load(files["dvc.yaml"])["stages"]
    assert "imagedecode.py" in stages["train"]["deps"] and "imagedecode.py" in stages["evaluate"]["deps"]


def hflip_of(record: ModelRecord, **target) -> float:
    files = unzip(build_bundle(record, TargetConfig(**{"num_classes": 3, **target})))
    return yaml.safe_load(files["params.yaml"])["train"]["hflip"]


def test_digits_and_text_models_train_without_horizontal_flips(record):
    assert hflip_of(record) == 0.0  # labels "0".."4"
    files = unzip(build_bundle(record, TargetConfig(num_classes=10)))
    assert "hflip 0: the class names are single characters" in files["params.yaml"]
    assert "hflip 0: the class names are single characters" in files["README.md"]
    photos = make_record(
        model_id="demo/pets", title="Pets", summary="Cats and dogs.", pretrained_on="pet photos",
        label_names=["cat", "dog", "fox", "owl", "yak"],
    )  # fmt: skip
    assert hflip_of(photos) == 0.5
    assert hflip_of(photos, class_names=("a", "b", "c")) == 0.0  # the target's classes are letters
    ocr = make_record(model_id="demo/ocr-net", title="OCR", summary="Reads printed text.", label_names=[])
    assert hflip_of(ocr) == 0.0
    assert hflip_of(record, hflip=0.25) == 0.25  # the user's choice wins
    # The target's own classes decide when given: cats and dogs fine-tuned from the digits model are flipped.
    assert hflip_of(record, class_names=("cat", "dog", "fox")) == 0.5
    assert hflip_of(make_record(summary="Textures and designs.", label_names=["ab", "cd"], model_id="x/y",
                                title="T", pretrained_on="textures")) == 0.5  # fmt: skip
    assert validate_target({"num_classes": 3, "hflip": "0.3"}, photos).hflip == 0.3
    with pytest.raises(BundleConfigError, match="hflip: must be a probability between 0 and 1"):
        validate_target({"num_classes": 3, "hflip": 2}, photos)


def test_error_messages_name_the_field_once(record):
    with pytest.raises(BundleConfigError) as error:
        validate_target({"num_classes": 3, "strategy": "yolo"}, record)
    assert error.value.field == "strategy" and "strategy" not in error.value.message
    assert str(error.value).count("strategy") == 1


# ---------------------------------------------------------------------------------------------------------------
# What the README tells a user before they start: how to install on a CPU and how long training takes


def readme_of(record: ModelRecord, **target) -> str:
    return unzip(build_bundle(record, TargetConfig(num_classes=10, **target)))["README.md"]


def test_the_readme_offers_pytorchs_cpu_build_at_the_pinned_versions():
    readme = readme_of(make_record())
    torch_version = importlib.metadata.version("torch").split("+")[0]
    vision_version = importlib.metadata.version("torchvision").split("+")[0]
    assert (
        f"pip install torch=={torch_version} torchvision=={vision_version} "
        "--index-url https://download.pytorch.org/whl/cpu"
    ) in readme
    assert "pip install -r requirements.txt" in readme


def test_the_time_estimate_scales_the_hubs_measured_speed_by_the_strategys_cost():
    measured = [{**make_record().verified[0], "throughput_ips": 100.0, "threads": 2}]
    # 1,000 images at 100 images/s: linear_probe costs 1.2 forward passes per image (train + a fifth for
    # validation), 12 s an epoch, 2 min for ten; the fine-tunes and the scratch baseline 3.2, 32 s, 5 min for ten.
    probe = readme_of(make_record(verified=measured), strategy="linear_probe", epochs=10)
    assert "100.0 images/s" in probe and "cpu, 2 threads" in probe
    assert "roughly 12 s per epoch with `linear_probe` (at most 10 epochs: about 2 min)" in probe
    full = readme_of(make_record(verified=measured), strategy="full_finetune", epochs=10)
    assert "roughly 32 s per epoch with `full_finetune` (at most 10 epochs: about 5 min)" in full
    assert "from-scratch baseline roughly 32 s per epoch" in full


def test_without_a_measured_speed_the_readme_says_so_and_points_at_trains_own_estimate():
    for verified in ([], [{**make_record().verified[0], "throughput_ips": None}]):
        readme = readme_of(make_record(verified=verified))
        assert "The hub has not measured this model's speed yet." in readme
        assert "prints its own estimate after the first epoch" in readme
