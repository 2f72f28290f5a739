"""Run a benchmark in the foreground with a progress bar: the same service a Celery worker runs."""

import socket

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import selectors as catalog_selectors
from catalog.models import ModelEntry
from core.run_config import RUN_CONFIG
from evaluation import selectors, services
from evaluation.models import EvalDataset, RunStatus


class Command(BaseCommand):
    help = "Measure a model on an evaluation dataset now, in this process, and record the run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="namespace/name")
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--split", default="test")
        # --batch-size, --seed, --threads, --num-workers: the API's run options, same checks (--workers: the old
        # spelling of --num-workers).
        RUN_CONFIG.add_arguments(parser, aliases={"num_workers": ("--workers",)})
        parser.add_argument("--force", action="store_true", help="Run even if the same run already exists.")

    def handle(self, *args, model_id: str, dataset: str, split: str, **options) -> None:
        namespace, _, name = model_id.partition("/")
        model = ModelEntry.objects.select_related("weights").filter(namespace=namespace, name=name).first()
        if model is None:
            raise CommandError(f"No model {model_id}.")
        eval_dataset = EvalDataset.objects.filter(name=dataset).first()
        if eval_dataset is None:
            raise CommandError(
                f"No dataset {dataset!r}; known: {', '.join(d.name for d in selectors.dataset_list())}."
            )
        try:
            run, created = services.run_request(
                model=model,
                dataset=eval_dataset,
                split=split,
                config=RUN_CONFIG.arguments(options),
                force=options["force"],
                enqueue=False,
            )
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        if not created:
            self.stdout.write(
                f"Run {run.pk} with the same weights, data and config already exists ({run.status})."
            )
        else:
            with tqdm(total=100, desc=f"run {run.pk}", unit="%", bar_format="{l_bar}{bar}| {n:.0f}%") as bar:

                def progress(fraction: float, message: str) -> None:
                    bar.update(fraction * 100 - bar.n)
                    bar.set_postfix_str(message[:40])

                run = services.run_execute(
                    run_id=run.pk, worker=f"cli@{socket.gethostname()}", on_progress=progress
                )
        self._report(run)

    def _report(self, run) -> None:
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}: {run.error}")
        self.stdout.write(f"Run {run.pk}: top-1 {run.top1:.2f}% on {run.dataset.name}/{run.split}")
        for verdict in catalog_selectors.claim_verdicts(model=run.model):
            if verdict.run and verdict.run.pk == run.pk:
                claim = verdict.claim
                self.stdout.write(
                    f"  claim {claim.value:.2f}% -> {verdict.status} "
                    f"(delta {verdict.delta:+.2f}, 95% interval {verdict.interval[0]:.2f}-"
                    f"{verdict.interval[1]:.2f}% on {verdict.num_samples} images, tolerance {verdict.tolerance})"
                )
