"""The catalog list at 100,000 entries (issue 20): word search, facet counts without a scan, claim-ordered pages.

1. search_text becomes the entry's search words (core.search: name words and their inner suffixes, then the words
   of namespace, title, summary and tags); every row is restamped here, as services stamp new writes.
2. CatalogFacetCount: the unfiltered catalog's facet counts, filled here from the entries and kept exact from
   then on by catalog.services.
3. PostgreSQL only (vendor check, like 0003): a generated column `search_vector tsvector` (strip(to_tsvector(
   'simple', search_text)), STORED, so the database keeps it in step with every write of search_text, bulk ones included)
   under a GIN index, replacing 0003's trigram index, which the word search no longer uses; and an index on
   (dataset, value DESC NULLS LAST, model_id) so "ordering=-claim" reads the claim table in order and stops after
   a page (ties sorted by an incremental sort), and one on (model_id, dataset) INCLUDE (value) so a join that starts
   from the entries finds each one's claim in one index-only probe. The column is not in Django's model state (Django never writes or reads it; the search filter names
   it), so makemigrations stays clean. A later migration that alters search_text on PostgreSQL must drop and
   re-add the generated column around that change.
"""

from django.db import migrations, models

from core import search

TABLE = "catalog_modelentry"
SEARCH_COLUMN = "search_vector"
SEARCH_INDEX = "catalog_me_search_vector"
CLAIM_DESC_INDEX = "catalog_dtc_dataset_value_desc"
CLAIM_PROBE_INDEX = "catalog_dtc_model_dataset_value"
TRIGRAM_INDEX = "catalog_modelentry_search_trgm"  # 0003's
FACET_FIELDS = ("domain", "task", "library", "license")
BATCH = 2000


def restamp_search_text(apps, schema_editor) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    batch = []
    fields = ("id", "namespace", "name", "title", "summary", "tags", "search_text")
    for entry in ModelEntry.objects.only(*fields).order_by("pk").iterator(chunk_size=BATCH):
        entry.search_text = search.document_text(
            name=entry.name, fields=[entry.namespace, entry.title, entry.summary, entry.tags]
        )
        batch.append(entry)
        if len(batch) >= BATCH:
            ModelEntry.objects.bulk_update(batch, ["search_text"])
            batch = []
    ModelEntry.objects.bulk_update(batch, ["search_text"])


def fill_facet_counts(apps, schema_editor) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    CatalogFacetCount = apps.get_model("catalog", "CatalogFacetCount")
    rows = ModelEntry.objects.order_by().values(*FACET_FIELDS).annotate(n=models.Count("id"))
    CatalogFacetCount.objects.bulk_create(
        [CatalogFacetCount(**{name: row[name] for name in FACET_FIELDS}, count=row["n"]) for row in rows]
    )


def add_postgres_search(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX IF EXISTS "{TRIGRAM_INDEX}"')
        cursor.execute(
            f'ALTER TABLE "{TABLE}" ADD COLUMN "{SEARCH_COLUMN}" tsvector '
            # strip(): no word positions (search matches words, not phrases): a third smaller, so are the rows
            f"GENERATED ALWAYS AS (strip(to_tsvector('simple'::regconfig, \"search_text\"))) STORED"
        )
        cursor.execute(f'CREATE INDEX "{SEARCH_INDEX}" ON "{TABLE}" USING gin ("{SEARCH_COLUMN}")')
        cursor.execute(
            f'CREATE INDEX "{CLAIM_DESC_INDEX}" ON "catalog_datasettop1claim" '
            '("dataset", "value" DESC NULLS LAST, "model_id")'
        )
        # Joining from the entries (a filter on them picks few): the claim on the dataset in one index-only probe.
        cursor.execute(
            f'CREATE INDEX "{CLAIM_PROBE_INDEX}" ON "catalog_datasettop1claim" ("model_id", "dataset") INCLUDE ("value")'
        )


def drop_postgres_search(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX IF EXISTS "{CLAIM_DESC_INDEX}"')
        cursor.execute(f'DROP INDEX IF EXISTS "{CLAIM_PROBE_INDEX}"')
        cursor.execute(f'ALTER TABLE "{TABLE}" DROP COLUMN IF EXISTS "{SEARCH_COLUMN}"')  # drops its index
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone():  # 0003's trigram index, where 0003 could create it
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{TRIGRAM_INDEX}" ON "{TABLE}" USING gin ("search_text" gin_trgm_ops)'
            )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_postgres_list_indexes")]

    operations = [
        migrations.CreateModel(
            name="CatalogFacetCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("domain", models.CharField(max_length=16)),
                ("task", models.CharField(max_length=40)),
                ("library", models.CharField(max_length=32)),
                ("license", models.CharField(max_length=64)),
                ("count", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("domain", "task", "library", "license"), name="unique_facet_combination"
                    )
                ],
            },
        ),
        # Restamping is not undone: the old text is a plain lower-cased concatenation a reverse could rebuild,
        # but the words serve the old substring search as well.
        migrations.RunPython(restamp_search_text, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(fill_facet_counts, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(add_postgres_search, drop_postgres_search, elidable=False),
    ]
