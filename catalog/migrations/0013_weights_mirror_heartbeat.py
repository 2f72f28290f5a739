from django.db import migrations, models


class Migration(migrations.Migration):
    """A running mirror job's sign of life, written with its progress: a job whose worker died is failed after
    DEPOT_RUN_HEARTBEAT_TIMEOUT instead of blocking new requests for the model until its time limit."""

    dependencies = [("catalog", "0012_top1_on_one_dataset")]

    operations = [
        migrations.AddField(
            model_name="weightsmirror",
            name="heartbeat",
            field=models.DateTimeField(
                blank=True, null=True, help_text="Last sign of life of the running job (with its progress)."
            ),
        ),
    ]
