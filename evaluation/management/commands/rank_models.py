"""Rank candidate models for a dataset in the foreground, with a progress bar: the job a Celery worker runs."""

import socket

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from core.transfer.options import RANKING_CONFIG
from evaluation import selectors, transfer_selectors, transfer_services
from evaluation.models import EvalDataset, Modality, RunStatus, TransferRanking


def _error_text(error: ValidationError) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())


class Command(BaseCommand):
    help = (
        "Rank candidate models by how well they should transfer to a dataset (frozen features: linear probe, "
        "k-NN, LogME; plus a from-scratch baseline) now, in this process, and record the ranking."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="a registered dataset's name")
        parser.add_argument(
            "--split", default="train", help="the labelled images or texts to rank on (default: train)"
        )
        parser.add_argument("--candidates", nargs="+", metavar="NS/NAME", help="candidate model ids")
        parser.add_argument("--domain", help="or pick candidates from the catalog: domain (e.g. vision)")
        parser.add_argument("--task", help="... task (e.g. image-classification)")
        parser.add_argument("--max-params", type=int, help="... at most this many parameters")
        parser.add_argument("--max-gmacs", type=float, help="... at most this many GMACs")
        # --batch-size, --seed, --threads, --baseline/--no-baseline, --baseline-epochs: the API's ranking options,
        # same checks.
        RANKING_CONFIG.add_arguments(parser)

    def handle(self, *args, dataset: str, split: str, candidates: list[str] | None, **options) -> None:
        eval_dataset = EvalDataset.objects.filter(name=dataset).first()
        if eval_dataset is None:
            known = ", ".join(d.name for d in selectors.dataset_list()) or "none"
            raise CommandError(f"No dataset {dataset!r}; known: {known}.")
        candidate_filter = {
            key: options[key]
            for key in ("domain", "task", "max_params", "max_gmacs")
            if options[key] is not None
        }
        config = RANKING_CONFIG.arguments(options)
        try:
            ranking = transfer_services.ranking_request(
                dataset=eval_dataset, split=split, model_ids=candidates, candidate_filter=candidate_filter or None,
                config=config, enqueue=False,
            )  # fmt: skip
        except ValidationError as error:
            raise CommandError(_error_text(error)) from error
        with tqdm(
            total=100, desc=f"ranking {ranking.pk}", unit="%", bar_format="{l_bar}{bar}| {n:.0f}%"
        ) as bar:

            def progress(fraction: float, message: str) -> None:
                bar.update(fraction * 100 - bar.n)
                bar.set_postfix_str(message[:40])

            transfer_services.ranking_execute(
                ranking_id=ranking.pk, worker=f"cli@{socket.gethostname()}", on_progress=progress
            )
        self._report(transfer_selectors.ranking_get(ranking_id=ranking.pk))

    def _report(self, ranking: TransferRanking) -> None:
        if ranking.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Ranking {ranking.pk} {ranking.status}: {ranking.error}")
        text = ranking.dataset.modality == Modality.TEXT
        samples, baseline = ("texts", "bag-of-words") if text else ("images", "small CNN")
        self.stdout.write(
            f"Ranking {ranking.pk} on {ranking.dataset.name}/{ranking.split} ({ranking.num_images} {samples}, "
            f"{ranking.num_classes} classes); score = linear-probe CV top-1"
        )
        self.stdout.write(f"  {'rank':>4}  {'model':<36} {'score':>7} {'k-NN':>7} {'LogME':>8} {'time':>7}")
        for c in ranking.candidates.all():
            if c.score is None:
                self.stdout.write(f"  {'-':>4}  {c.model_label:<36} {c.get_status_display()}: {c.error}")
                continue
            self.stdout.write(
                f"  {c.rank:>4}  {c.model_label:<36} {c.score:6.2f}% {c.knn:6.2f}% {c.logme:8.3f} {c.seconds:6.1f}s"
            )
        if ranking.baseline_accuracy is not None:
            self.stdout.write(f"  from-scratch baseline ({baseline}): {ranking.baseline_accuracy:.2f}%")
        if ranking.negative_transfer:
            self.stdout.write(
                self.style.WARNING(
                    f"Negative transfer: no candidate beats a small model trained from scratch on these {samples}."
                )
            )
        self.stdout.write(f"Page: {ranking.get_absolute_url()}")
