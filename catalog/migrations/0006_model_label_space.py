"""ModelEntry.label_space (issue 17): the ImageNet label space timm ships for an entry's head, by name.

Filled here for the timm entries already imported, by the rule the import uses (core.label_spaces.label_space_for:
the head size, checked against the dataset the tag names), so their synset folders map without a re-import.
"""

from django.db import migrations, models


def fill_label_spaces(apps, schema_editor) -> None:
    from core import label_spaces

    ModelEntry = apps.get_model("catalog", "ModelEntry")
    entries = ModelEntry.objects.filter(library="timm", num_classes__gt=0).only(
        "pk", "num_classes", "pretrained_on"
    )
    for entry in entries.iterator():
        space = label_spaces.label_space_for(num_classes=entry.num_classes, pretrained_on=entry.pretrained_on)
        if space:
            ModelEntry.objects.filter(pk=entry.pk).update(label_space=space)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0005_model_id_unique_whatever_case")]

    operations = [
        migrations.AddField(
            model_name="modelentry",
            name="label_space",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(fill_label_spaces, migrations.RunPython.noop),
    ]
