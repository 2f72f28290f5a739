"""Lineage (issue 18): what an entry was pretrained on, fine-tuned on, and fine-tuned from.

1. ModelEntry.fine_tuned_on and ModelEntry.base_model (a Hugging Face card's `base_model:`, "namespace/name").
2. timm entries get their lineage from their tags (core.timm_registry): pretrained_on was the last dataset of the
   tag, so every `in22k_ft_in1k` fine-tune said imagenet-1k; it becomes the first, fine_tuned_on the last, and
   base_model the entry of the parent tag when the catalog holds it. Summaries and tags follow at the next
   `manage.py import_timm` (idempotent).
3. The facet-count table counts pretrained_on and base_model too: both columns, a wider unique constraint, and
   the counts rebuilt from the entries.
"""

from django.db import migrations, models

from core import timm_registry

OLD_FACET_FIELDS = ("domain", "task", "library", "license")
FACET_FIELDS = (*OLD_FACET_FIELDS, "pretrained_on", "base_model")
BATCH = 2000


def timm_lineage(apps, schema_editor) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    timm_entries = ModelEntry.objects.filter(namespace="timm", library="timm")
    names = frozenset(timm_entries.values_list("name", flat=True))
    batch = []
    for entry in timm_entries.only("id", "name").order_by("pk").iterator(chunk_size=BATCH):
        tag = entry.name.partition(".")[2]
        entry.pretrained_on = timm_registry.pretrained_on_from_tag(tag)
        entry.fine_tuned_on = timm_registry.fine_tuned_on_from_tag(tag)
        parent = timm_registry.fine_tuned_from(entry.name, names)
        entry.base_model = f"timm/{parent}" if parent else ""
        batch.append(entry)
        if len(batch) >= BATCH:
            ModelEntry.objects.bulk_update(batch, ["pretrained_on", "fine_tuned_on", "base_model"])
            batch = []
    ModelEntry.objects.bulk_update(batch, ["pretrained_on", "fine_tuned_on", "base_model"])


def _rebuild(apps, fields: tuple[str, ...]) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    CatalogFacetCount = apps.get_model("catalog", "CatalogFacetCount")
    CatalogFacetCount.objects.all().delete()
    rows = ModelEntry.objects.order_by().values(*fields).annotate(n=models.Count("id"))
    CatalogFacetCount.objects.bulk_create(
        [CatalogFacetCount(**{name: row[name] for name in fields}, count=row["n"]) for row in rows],
        batch_size=BATCH,
    )


def rebuild_facet_counts(apps, schema_editor) -> None:
    _rebuild(apps, FACET_FIELDS)


def rebuild_old_facet_counts(apps, schema_editor) -> None:
    _rebuild(apps, OLD_FACET_FIELDS)


def clear_facet_counts(apps, schema_editor) -> None:
    # Migrating back: rows keyed on six columns would collide under the four-column constraint; the counts are
    # rebuilt on four once the columns are gone.
    apps.get_model("catalog", "CatalogFacetCount").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_model_label_space")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, rebuild_old_facet_counts, elidable=False),
        migrations.AddField(
            model_name="modelentry",
            name="fine_tuned_on",
            field=models.CharField(blank=True, db_index=True, max_length=96),
        ),
        migrations.AddField(
            model_name="modelentry",
            name="base_model",
            field=models.CharField(blank=True, db_index=True, max_length=200),
        ),
        migrations.RemoveConstraint(model_name="catalogfacetcount", name="unique_facet_combination"),
        migrations.AddField(
            model_name="catalogfacetcount",
            name="pretrained_on",
            field=models.CharField(default="", max_length=96),
        ),
        migrations.AddField(
            model_name="catalogfacetcount",
            name="base_model",
            field=models.CharField(default="", max_length=200),
        ),
        migrations.AddConstraint(
            model_name="catalogfacetcount",
            constraint=models.UniqueConstraint(fields=FACET_FIELDS, name="unique_facet_combination"),
        ),
        # The tags are the source of truth for timm lineage; a reverse would restore the wrong values.
        migrations.RunPython(timm_lineage, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(rebuild_facet_counts, clear_facet_counts, elidable=False),
    ]
