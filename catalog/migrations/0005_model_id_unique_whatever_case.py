"""Model ids unique whatever their letter case (issue 19): `Demo/x` must not register beside `demo/x`.

The Hugging Face Hub treats ids case-insensitively, so two entries that differ only in case would let one pass
for the other. A unique index on (lower(namespace), lower(name)) sits beside 0001's exact one, which stays: exact
lookups and the timm import's upsert (ON CONFLICT (namespace, name)) use it.

Rows that already collide cannot be merged automatically (which one is the real model is a person's call), so
the migration stops first with a message listing them; rename or delete one of each pair and migrate again.
"""

from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Lower


class CaseCollisions(Exception):
    pass


def refuse_case_collisions(apps, schema_editor) -> None:
    ModelEntry = apps.get_model("catalog", "ModelEntry")
    clashes = (
        ModelEntry.objects.annotate(lower_namespace=Lower("namespace"), lower_name=Lower("name"))
        .values("lower_namespace", "lower_name")
        .annotate(rows=Count("pk"))
        .filter(rows__gt=1)
        .order_by("lower_namespace", "lower_name")
    )
    groups = []
    for clash in clashes[:20]:
        ids = ModelEntry.objects.filter(
            namespace__iexact=clash["lower_namespace"], name__iexact=clash["lower_name"]
        ).values_list("namespace", "name")
        groups.append(" = ".join(sorted(f"{namespace}/{name}" for namespace, name in ids)))
    if groups:
        raise CaseCollisions(
            "Model ids must be unique whatever their letter case, but these entries differ only in case: "
            + "; ".join(groups)
            + ". Rename or delete one of each (the admin, or the API's DELETE), then run migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_list_search_and_facet_counts")]

    operations = [
        migrations.RunPython(refuse_case_collisions, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="modelentry",
            constraint=models.UniqueConstraint(
                Lower("namespace"),
                Lower("name"),
                name="unique_model_id_ci",
                violation_error_message=(
                    "A model with this id in another letter case already exists; ids are unique whatever their case."
                ),
            ),
        ),
    ]
