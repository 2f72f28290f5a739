"""PostgreSQL-only indexes for the catalog list: a trigram index for the search filter and one index per
ordering that matches its ORDER BY exactly (column DESC/ASC NULLS LAST, then namespace, name), so a sorted page
is an index scan that stops after one page instead of a sort of the whole filtered set.

SQLite and other databases skip this migration (their indexes come from the model fields). CREATE EXTENSION
pg_trgm needs privileges a deployment may not grant: then the trigram index is skipped with a warning and the
migration still succeeds (search then scans, as before). No model state changes, so makemigrations stays clean.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

TABLE = "catalog_modelentry"
TRIGRAM_INDEX = "catalog_modelentry_search_trgm"
# ordering key -> indexed expression (filters.ORDERING_FIELDS); "size" is Coalesce(weights, estimate)
ORDERING_COLUMNS = {
    "num_params": '"num_params"',
    "size": 'COALESCE("weights_size_bytes", "size_estimate_bytes")',
    "gmacs": '"gmacs"',
    "claimed_top1": '"claimed_top1"',
    "verified_top1": '"verified_top1"',
    "downloads": '"downloads"',
    "created": '"created"',
    "name": '"name"',
}


def ordering_indexes() -> list[tuple[str, str]]:
    """(index name, CREATE INDEX statement) for both directions of every ordering."""
    statements = []
    for key, expression in ORDERING_COLUMNS.items():
        for direction in ("ASC", "DESC"):
            name = f"catalog_me_ord_{key}_{direction.lower()}"
            statements.append(
                (
                    name,
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" '
                    f'(({expression}) {direction} NULLS LAST, "namespace", "name")',
                )
            )
    return statements


def create_trigram_index(cursor) -> None:
    try:
        with transaction.atomic():  # a savepoint: a refused CREATE EXTENSION must not abort the migration
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        logger.warning(
            "pg_trgm is not available (%s); skipping the trigram index on %s.search_text. "
            "Search still works, without an index. A superuser can run CREATE EXTENSION pg_trgm and "
            "re-run this migration to add it.",
            str(error).strip(),
            TABLE,
        )
        return
    cursor.execute(
        f'CREATE INDEX IF NOT EXISTS "{TRIGRAM_INDEX}" ON "{TABLE}" USING gin ("search_text" gin_trgm_ops)'
    )


def add_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        create_trigram_index(cursor)
        for _name, statement in ordering_indexes():
            cursor.execute(statement)


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # The extension stays: other databases objects may use it, and dropping it needs privileges too.
        for name in [TRIGRAM_INDEX, *(name for name, _statement in ordering_indexes())]:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_timm_results_claims")]

    operations = [migrations.RunPython(add_indexes, drop_indexes, elidable=False)]
