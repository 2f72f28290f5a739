from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "evaluation"
    verbose_name = "Evaluation"

    def ready(self) -> None:
        # The catalog reads measured results through its port (catalog.measurements); it never imports us.
        from catalog import measurements
        from evaluation.selectors import RunMeasurements

        measurements.register(RunMeasurements())
