"""Issue 19: model_args and model metadata from an outside test. Each is a clear 4xx naming the field, nothing
stored or changed; rows stored before the checks cannot reach timm either."""

from pathlib import Path

import pytest
import timm
from django.core.exceptions import ValidationError
from safetensors.torch import save_file

from catalog import services
from catalog.models import ModelEntry, WeightsFile
from core import harness, model_args, weights
from core.starter import builder
from tests.security.conftest import assert_error_shape

API = "/api/v1/models/"
NEW_MODEL = {
    "namespace": "acme",
    "name": "probe",
    "domain": "vision",
    "task": "image-classification",
    "library": "timm",
    "architecture": "test_resnet",
    "num_classes": 10,
}

HOSTILE_MODEL_ARGS = {
    "a server path": {"checkpoint_path": "/etc/shadow"},
    "a relative path": {"checkpoint_path": "../../var/db.sqlite3"},
    "pretrained": {"pretrained": True},
    "pretrained_cfg": {"pretrained_cfg": {"file": "/etc/passwd"}},
    "pretrained_cfg_overlay": {"pretrained_cfg_overlay": {"url": "http://evil.example/w.pth"}},
    "cache_dir": {"cache_dir": "/tmp"},
    "features_only": {"features_only": True},
    "num_classes": {"num_classes": 3},
    "an unknown key": {"block_fn": "os.system"},
    "a path as a value": {"global_pool": "/etc/shadow"},
    "a URL as a value": {"global_pool": "https://evil.example/x"},
    "a nested object": {"img_size": {"h": 32}},
    "a long list": {"img_size": [32] * 100},
    "a bool for an int": {"in_chans": True},
    "a string for a number": {"drop_rate": "0.1"},
    "an out of range rate": {"drop_rate": 7},
    "too many channels": {"in_chans": 4096},
}


@pytest.mark.parametrize("args", HOSTILE_MODEL_ARGS.values(), ids=HOSTILE_MODEL_ARGS.keys())
def test_it_refuses_hostile_model_args_on_register(staff_client, nothing_stored, args):
    body = assert_error_shape(
        staff_client.post(API, {**NEW_MODEL, "model_args": args}, format="json"), 400, mentions="model_args"
    )
    assert "model_args" in body["detail"], body
    assert not ModelEntry.objects.exists()
    nothing_stored()


@pytest.mark.parametrize("args", HOSTILE_MODEL_ARGS.values(), ids=HOSTILE_MODEL_ARGS.keys())
def test_it_refuses_hostile_model_args_on_update(staff_client, make_model, nothing_stored, args):
    make_model(name="target", architecture="test_resnet", model_args={"drop_rate": 0.1})
    body = assert_error_shape(
        staff_client.patch(f"{API}demo/target/", {"model_args": args}, format="json"),
        400,
        mentions="model_args",
    )
    assert "model_args" in body["detail"], body
    assert ModelEntry.objects.get().model_args == {"drop_rate": 0.1}
    nothing_stored()


def test_the_refusal_names_the_key_and_why(staff_client):
    body = assert_error_shape(
        staff_client.post(
            API, {**NEW_MODEL, "model_args": {"checkpoint_path": "/etc/shadow"}}, format="json"
        ),
        400,
    )
    assert "checkpoint_path" in body["error"] and "server's disk" in body["error"], body
    assert "/etc/shadow" not in str(body), body  # nothing tells the caller about the server's files


@pytest.mark.parametrize(
    "args",
    [
        {"img_size": 32, "patch_size": 8},
        {"img_size": [32, 32], "patch_size": 4},
        {"in_chans": 3, "global_pool": "avg"},
        {"drop_rate": 0.2, "drop_path_rate": 0.1, "mlp_ratio": 4.0, "class_token": True},
    ],
)
def test_it_accepts_the_architecture_arguments_the_repo_uses(staff_client, args):
    response = staff_client.post(API, {**NEW_MODEL, "model_args": args}, format="json")
    assert response.status_code == 201, response.json()
    assert ModelEntry.objects.get().model_args == args


def test_the_service_refuses_them_for_every_writer(make_model):
    with pytest.raises(ValidationError) as caught:
        make_model(name="cli", model_args={"checkpoint_path": "/etc/shadow"})
    assert "model_args" in caught.value.message_dict
    assert not ModelEntry.objects.exists()


def _admin_post(client, staff_user, model: ModelEntry, **changes: str):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    form = {
        "namespace": model.namespace, "name": model.name, "domain": "vision", "task": "image-classification",
        "library": "timm", "architecture": model.architecture, "paper_ids": "[]", "input_size": "[]",
        "num_classes": str(model.num_classes or ""), "label_names": "[]", "model_args": "{}", "mean": "[]",
        "std": "[]", "source_kind": "none", "claims-TOTAL_FORMS": "0", "claims-INITIAL_FORMS": "0",
    }  # fmt: skip
    return client.post(f"/admin/catalog/modelentry/{model.pk}/change/", {**form, **changes})


def test_the_admin_form_refuses_them(client, staff_user, make_model):
    model = make_model(name="admin-target", architecture="test_resnet")
    response = _admin_post(client, staff_user, model, model_args='{"checkpoint_path": "/etc/shadow"}')
    assert response.status_code == 200  # the form again, with the error; not a redirect
    assert "checkpoint_path" in response.content.decode()
    assert ModelEntry.objects.get().model_args == {}


def test_the_admin_form_refuses_an_edit_the_stored_weights_do_not_fit(client, staff_user, digit_model):
    response = _admin_post(client, staff_user, digit_model, num_classes="5")
    assert response.status_code == 200, response.status_code
    assert "do not fit" in response.content.decode()
    assert ModelEntry.objects.get(pk=digit_model.pk).num_classes == 10


# --- rows stored before the allow-list ---------------------------------------------------------------------


def _stored_before_the_fix(model: ModelEntry, args: dict) -> None:
    ModelEntry.objects.filter(pk=model.pk).update(model_args=args)  # bypasses the services, as old rows did


def test_a_weights_upload_on_an_old_row_never_reaches_torch_load(make_model, tmp_path, monkeypatch):
    model = make_model(name="old-row", architecture="test_resnet", num_classes=10)
    _stored_before_the_fix(model, {"checkpoint_path": "/etc/shadow"})
    model.refresh_from_db()
    path = tmp_path / "model.safetensors"
    save_file(timm.create_model("test_resnet", num_classes=10).state_dict(), str(path))
    monkeypatch.setattr(timm, "create_model", _must_not_be_called)
    with pytest.raises(weights.WeightsError, match="checkpoint_path"):
        services.weights_attach(model=model, path=path, original_name=path.name)
    assert not WeightsFile.objects.exists()


def _must_not_be_called(*args, **kwargs):
    raise AssertionError("timm.create_model was called with refused model_args")


def test_the_harness_refuses_old_rows_loudly(monkeypatch):
    monkeypatch.setattr(timm, "create_model", _must_not_be_called)
    source = harness.ModelSource(
        architecture="test_resnet", num_classes=10, model_args={"checkpoint_path": "/etc/shadow"},
        weights_path=Path("unused.safetensors"), weights_sha256="0" * 64, pretrained_cfg={}, label_names=[],
    )  # fmt: skip
    with pytest.raises(harness.HarnessError, match="checkpoint_path"):
        harness._instantiate(source)


def test_the_bundle_builder_refuses_old_rows_loudly():
    with pytest.raises(builder.BundleConfigError, match="checkpoint_path"):
        builder.layer_groups("test_resnet", {"checkpoint_path": "/etc/shadow"}, 10)


def test_the_core_check_refuses_anything_not_listed():
    assert model_args.checked({"img_size": [32, 32]}) == {"img_size": [32, 32]}
    with pytest.raises(model_args.ModelArgsError, match="allow-list"):
        model_args.checked({"act_layer": "gelu"})
    with pytest.raises(model_args.ModelArgsError):
        model_args.checked(["checkpoint_path"])


# --- metadata bounds -----------------------------------------------------------------------------------------

BAD_METADATA = {
    "a huge input": ({"input_size": [3, 100000, 100000]}, "input_size"),
    "zero height": ({"input_size": [3, 0, 32]}, "input_size"),
    "too many channels": ({"input_size": [64, 32, 32]}, "input_size"),
    "bools as input_size": ({"input_size": [True, True, True]}, "input_size"),
    "a 2-value mean": ({"input_size": [3, 32, 32], "mean": [0.5, 0.5]}, "mean"),
    "a zero std": ({"std": [0, 0, 0]}, "std"),
    "a negative std": ({"std": [0.2, -0.2, 0.2]}, "std"),
    "bools as std": ({"std": [False, False, False]}, "std"),
    "bools as mean": ({"mean": [True, True, True]}, "mean"),
    "a NaN mean": ({"mean": ["NaN", 0.5, 0.5]}, "mean"),
    "zero classes": ({"num_classes": 0}, "num_classes"),
    "a billion classes": ({"num_classes": 10**9}, "num_classes"),
    "fewer label names than classes": ({"num_classes": 10, "label_names": ["a", "b"]}, "label_names"),
}


@pytest.mark.parametrize(("change", "field"), BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_it_refuses_out_of_bounds_metadata_on_register(staff_client, nothing_stored, change, field):
    body = assert_error_shape(staff_client.post(API, {**NEW_MODEL, **change}, format="json"), 400)
    assert field in body["detail"] and field in body["error"], body
    assert not ModelEntry.objects.exists()
    nothing_stored()


@pytest.mark.parametrize(("change", "field"), BAD_METADATA.values(), ids=BAD_METADATA.keys())
def test_it_refuses_out_of_bounds_metadata_on_update(staff_client, make_model, nothing_stored, change, field):
    make_model(name="target", num_classes=10, input_size=[3, 32, 32], mean=[0.5] * 3, std=[0.25] * 3)
    before = ModelEntry.objects.values().get()
    body = assert_error_shape(staff_client.patch(f"{API}demo/target/", change, format="json"), 400)
    assert field in body["detail"], body
    assert ModelEntry.objects.values().get() == before
    nothing_stored()


def test_a_mean_must_match_the_stored_channels(staff_client, make_model):
    make_model(name="gray", input_size=[1, 28, 28])
    body = assert_error_shape(staff_client.patch(f"{API}demo/gray/", {"mean": [0.5] * 3}, format="json"), 400)
    assert "mean" in body["detail"] and "1 (input_size)" in str(body["detail"]), body


def test_sane_metadata_is_accepted(staff_client):
    fields = {
        "input_size": [1, 28, 28],
        "mean": [0.1307],
        "std": [0.3081],
        "num_classes": 2,
        "label_names": ["a", "b"],
    }
    assert staff_client.post(API, {**NEW_MODEL, **fields}, format="json").status_code == 201


# --- edits that stored weights no longer fit -----------------------------------------------------------------

ARCHITECTURE_EDITS = {
    "num_classes": {"num_classes": 5, "label_names": []},
    "architecture": {"architecture": "test_vit"},
    "model_args": {"model_args": {"in_chans": 1}},
}


@pytest.mark.parametrize("edit", ARCHITECTURE_EDITS.values(), ids=ARCHITECTURE_EDITS.keys())
def test_an_edit_the_stored_weights_do_not_fit_is_refused(staff_client, digit_model, edit):
    before = ModelEntry.objects.values().get(pk=digit_model.pk)
    field = next(name for name in ("num_classes", "architecture", "model_args") if name in edit)
    body = assert_error_shape(
        staff_client.patch(f"{API}{digit_model.model_id}/", edit, format="json"), 400, mentions="weights"
    )
    assert field in body["detail"], body
    assert ModelEntry.objects.values().get(pk=digit_model.pk) == before
    assert WeightsFile.objects.count() == 1


def test_an_edit_the_stored_weights_still_fit_is_accepted(staff_client, digit_model):
    response = staff_client.patch(
        f"{API}{digit_model.model_id}/", {"model_args": {"drop_rate": 0.1}, "title": "x"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert ModelEntry.objects.get(pk=digit_model.pk).model_args == {"drop_rate": 0.1}
