"""Relevance-ranked search (issue 18): the model name's words in their own column, for the ranking's tiers.

1. ModelEntry.search_name: core.search.name_key(name) (" vit small patch16 224 augreg in21k"), stamped here for
   every row as services stamp every write.
2. PostgreSQL only: a btree on (search_name COLLATE "C", namespace, name). Byte order is what both databases rank
   by within a tier (SQLite's default collation is bytewise too), and a "C" btree serves `LIKE ' vit small%'`
   as a range: a search's first tier (names that start with the query) comes from the index in rank order, and a
   page of it stops after a page, however many entries match.
"""

from django.db import migrations, models

from core import search

TABLE = "catalog_modelentry"
PREFIX_INDEX = "catalog_me_search_name_c"
BATCH = 2000


def stamp_search_name(apps, schema_editor) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    batch = []
    for entry in ModelEntry.objects.only("id", "name").order_by("pk").iterator(chunk_size=BATCH):
        entry.search_name = search.name_key(entry.name)
        batch.append(entry)
        if len(batch) >= BATCH:
            ModelEntry.objects.bulk_update(batch, ["search_name"])
            batch = []
    ModelEntry.objects.bulk_update(batch, ["search_name"])


def add_prefix_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f'CREATE INDEX IF NOT EXISTS "{PREFIX_INDEX}" ON "{TABLE}" ("search_name" COLLATE "C", "namespace", "name")'
        )


def drop_prefix_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX IF EXISTS "{PREFIX_INDEX}"')


class Migration(migrations.Migration):
    dependencies = [("catalog", "0010_claims_retired_when_timm_stops_listing")]

    operations = [
        migrations.AddField(
            model_name="modelentry",
            name="search_name",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.RunPython(stamp_search_name, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(add_prefix_index, drop_prefix_index, elidable=False),
    ]
