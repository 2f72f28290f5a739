"""Migration 0007: existing timm entries get their lineage from their tags, the facet counts are rebuilt on the
wider key, and migrating back restores the four-column counts."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("catalog", "0006_model_label_space")]
AFTER = [("catalog", "0007_lineage_base_model")]
ROW = {"domain": "vision", "task": "image-classification", "library": "timm", "license": "apache-2.0"}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_timm_entries_get_their_lineage_and_the_facet_counts_their_new_key():
    old = _migrate(BEFORE)
    Entry = old.get_model("catalog", "ModelEntry")
    for name in ("vit_base_patch16_224.augreg_in21k", "vit_base_patch16_224.augreg_in21k_ft_in1k"):
        Entry.objects.create(
            namespace="timm", name=name, pretrained_on="imagenet-1k", **ROW
        )  # 0005's mistake
    Entry.objects.create(namespace="acme", name="mine", pretrained_on="photos", **ROW)
    try:
        new = _migrate(AFTER)
        entries = {e.name: e for e in new.get_model("catalog", "ModelEntry").objects.all()}
        child = entries["vit_base_patch16_224.augreg_in21k_ft_in1k"]
        assert (child.pretrained_on, child.fine_tuned_on, child.base_model) == (
            "imagenet-21k",
            "imagenet-1k",
            "timm/vit_base_patch16_224.augreg_in21k",
        )
        parent = entries["vit_base_patch16_224.augreg_in21k"]
        assert (parent.pretrained_on, parent.fine_tuned_on, parent.base_model) == ("imagenet-21k", "", "")
        assert entries["mine"].pretrained_on == "photos"  # not a timm entry: left as its author wrote it
        counts = new.get_model("catalog", "CatalogFacetCount").objects
        assert sorted(counts.values_list("pretrained_on", "base_model", "count")) == [
            ("imagenet-21k", "", 1),
            ("imagenet-21k", "timm/vit_base_patch16_224.augreg_in21k", 1),
            ("photos", "", 1),
        ]

        back = _migrate(BEFORE)
        assert list(
            back.get_model("catalog", "CatalogFacetCount").objects.values_list("count", flat=True)
        ) == [3]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
