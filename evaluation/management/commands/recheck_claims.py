"""Re-check the catalog's claims in batches: one run per top-1 claim on a dataset this hub holds, measured the
claim's way (its image size, crop, filter and scoring). Queued for the Celery workers by default, so a GPU
worker (device auto picks CUDA where there is one) does the work; --now runs them here, one after another."""

import socket

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.run_config import PROTOCOL_OPTIONS, RUN_CONFIG
from evaluation import selectors, services
from evaluation.models import RunStatus


class Command(BaseCommand):
    help = "Queue (or run with --now) a re-check of every claim on the datasets this hub holds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", action="append", help="Only claims on this dataset (repeatable).")
        parser.add_argument("--model", default="", help="Only models whose name contains this text.")
        parser.add_argument(
            "--limit",
            type=int,
            default=0,
            help="Queue at most this many new runs (a batch; run again to go on).",
        )
        parser.add_argument(
            "--now", action="store_true", help="Run here, in this process, one after another."
        )
        parser.add_argument(
            "--force", action="store_true", help="Run even where the same run already exists."
        )
        # the run options that are not the claim's to decide: --batch-size, --seed, --threads, --num-workers
        RUN_CONFIG.add_arguments(parser)

    def handle(
        self, *args, dataset: list[str] | None, model: str, limit: int, now: bool, force: bool, **options
    ):
        config = RUN_CONFIG.arguments(options)
        decided = sorted(set(config) & set(PROTOCOL_OPTIONS))
        if decided:
            raise CommandError(
                f"Each claim decides {', '.join(decided)} for its own re-check; leave them out."
            )
        claims = selectors.claims_to_recheck(datasets=dataset, model_pattern=model)
        counts = {"queued": 0, "existing": 0, "no weights": 0, "refused": 0}
        for claim in list(claims):  # read first: a --now run writes while the loop goes on
            if limit and counts["queued"] >= limit:  # claims already measured do not count: a rerun goes on
                break
            label = f"{claim.model.model_id} on {claim.dataset}/{claim.split}"
            if claim.model.weights_id is None:
                counts["no weights"] += 1
                continue
            try:
                run, created = services.claim_recheck_request(
                    claim=claim, config=config, force=force, enqueue=not now
                )
            except ValidationError as error:
                counts["refused"] += 1
                self.stderr.write(
                    f"{label}: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
                )
                continue
            counts["queued" if created else "existing"] += 1
            if now and created:
                run = services.run_execute(run_id=run.pk, worker=f"cli@{socket.gethostname()}")
                outcome = (
                    f"top-1 {run.top1:.2f}%"
                    if run.status == RunStatus.SUCCEEDED
                    else f"{run.status}: {run.error}"
                )
                self.stdout.write(f"{label}: run {run.pk} {outcome} (claimed {claim.value:.2f}%)")
        if counts["no weights"]:
            self.stdout.write(
                f"{counts['no weights']} claims skipped: their models have no weights on this hub "
                "(manage.py fetch_weights namespace/name stores them)."
            )
        verb = "ran" if now else "queued"
        self.stdout.write(
            f"{counts['queued']} runs {verb}, {counts['existing']} already recorded or queued, "
            f"{counts['refused']} refused."
        )
        if counts["refused"] and not counts["queued"] and not counts["existing"]:
            raise CommandError("Every claim of this batch was refused.")
