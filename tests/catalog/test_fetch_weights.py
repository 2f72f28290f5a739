"""Fetching from a Hugging Face source: pinned revisions only, and a clear error offline without a cache."""

import pytest
from django.core.management import CommandError, call_command


def test_an_unpinned_revision_is_refused(make_model):
    make_model(name="remote", hf_repo_id="timm/resnet18.a1_in1k", source_kind="hf")
    with pytest.raises(CommandError, match="not pinned: give the full 40-character commit sha"):
        call_command("fetch_weights", "demo/remote")


def test_offline_without_a_cached_file_is_a_clear_error(make_model, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    make_model(name="remote", hf_repo_id="timm/resnet18.a1_in1k", source_kind="hf")
    with pytest.raises(
        CommandError, match=r"not in the local Hugging Face cache and the Hub \(\S+\) cannot be reached"
    ):
        call_command("fetch_weights", "demo/remote", "--revision", "a" * 40)


def test_an_unknown_model_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No model nobody/none"):
        call_command("fetch_weights", "nobody/none")
