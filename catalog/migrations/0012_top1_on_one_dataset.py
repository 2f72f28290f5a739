"""Accuracy is always a number on a named dataset (issue 18): lists rank on ImageNet-1k unless a query names another.

1. ModelEntry.in1k_claimed_top1 / in1k_verified_top1: the best top-1 claimed on ImageNet-1k and the hub's
   measurement of that claim (null without one), and DatasetTop1Claim.verified_value (the same per dataset);
   in1k_verification and DatasetTop1Claim.verification, the verdicts on those claims (judged with the
   measurement's sample size, so a list never re-judges a bare top-1).
   Filled here by the service that keeps them (services.model_derived_refresh), so the migration and every later
   write compute them one way.
2. PostgreSQL only: the ordering indexes of 0003's shape, (column DESC/ASC NULLS LAST, namespace, name), for the
   two new columns, so `ordering=-claimed_top1` (now on ImageNet-1k) is an index scan that stops after a page;
   0003's indexes on the headline columns go, since no ordering sorts on those any more.
"""

from django.db import migrations, models

TABLE = "catalog_modelentry"
NEW_ORDERINGS = ("in1k_claimed_top1", "in1k_verified_top1")
OLD_ORDERINGS = ("claimed_top1", "verified_top1")  # 0003's
BATCH = 2000


def _index_name(column: str, direction: str) -> str:
    return f"catalog_me_ord_{column}_{direction.lower()}"


def _create_ordering_indexes(cursor, columns) -> None:
    for column in columns:
        for direction in ("ASC", "DESC"):
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{_index_name(column, direction)}" ON "{TABLE}" '
                f'("{column}" {direction} NULLS LAST, "namespace", "name")'
            )


def _drop_ordering_indexes(cursor, columns) -> None:
    for column in columns:
        for direction in ("ASC", "DESC"):
            cursor.execute(f'DROP INDEX IF EXISTS "{_index_name(column, direction)}"')


def add_postgres_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _drop_ordering_indexes(cursor, OLD_ORDERINGS)
        _create_ordering_indexes(cursor, NEW_ORDERINGS)


def drop_postgres_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _drop_ordering_indexes(cursor, NEW_ORDERINGS)
        _create_ordering_indexes(cursor, OLD_ORDERINGS)


def refresh_derived(apps, schema_editor) -> None:
    """The live service, not a copy: the values must be the ones every later write computes (measured runs are
    read through the catalog's measurements port, which the evaluation app registers)."""
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    pks = list(ModelEntry.objects.order_by("pk").values_list("pk", flat=True))
    if not pks:
        return
    from catalog.services import model_derived_refresh

    for first in range(0, len(pks), BATCH):
        model_derived_refresh(model_ids=pks[first : first + BATCH])


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_search_rank")]

    operations = [
        migrations.AddField(
            model_name="modelentry",
            name="in1k_claimed_top1",
            field=models.FloatField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="modelentry",
            name="in1k_verified_top1",
            field=models.FloatField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="datasettop1claim",
            name="verified_value",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="modelentry",
            name="in1k_verification",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
        migrations.AddField(
            model_name="datasettop1claim",
            name="verification",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.RunPython(refresh_derived, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(add_postgres_indexes, drop_postgres_indexes, elidable=False),
    ]
