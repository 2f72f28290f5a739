"""Register timm's pretrained configurations (~1,800) with parameter counts and GMACs computed without weights.

Stats come from the bundled cache for this timm version (core/data/timm_stats.json) and from a local cache
under var/; whatever is missing is computed on the meta device in parallel and cached. Entries are registered
first, so the catalog is usable while stats are still being computed.

Then timm's published results (core/data/timm-results/) become claims: top-1/top-5 per tag on six test sets
and inference speed per architecture, followed by a consistency report.
"""

from pathlib import Path

import timm
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import services
from core import timm_registry, timm_results
from core.claims_csv import ClaimsCsvError


def local_cache_path() -> Path:
    return settings.VAR_DIR / "cache" / "timm_stats.json"


class Command(BaseCommand):
    help = "Import timm's pretrained model registry into the catalog (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--filter", default="*", help="Glob on pretrained names, e.g. 'resnet*'")
        parser.add_argument("--workers", type=int, default=2, help="Processes computing missing stats")
        parser.add_argument(
            "--skip-stats", action="store_true", help="Register without computing missing stats"
        )
        parser.add_argument(
            "--skip-results",
            action="store_true",
            help="Do not load timm's published accuracy and speed claims",
        )

    def handle(
        self, *args, filter: str, workers: int, skip_stats: bool, skip_results: bool, **options
    ) -> None:
        records = list(timm_registry.iter_pretrained_records(filter))
        if not records:
            raise CommandError(f"No pretrained timm model matches {filter!r}.")
        version = timm.__version__
        stats = {
            **timm_registry.load_stats_cache(timm_registry.BUNDLED_STATS_PATH, version),
            **timm_registry.load_stats_cache(local_cache_path(), version),
        }
        summary = self._register(records, stats, "registering")
        self.stdout.write(f"{summary.created} new, {summary.updated} updated timm entries (timm {version}).")
        if summary.case_conflicts:
            self.stderr.write(
                f"Skipped {len(summary.case_conflicts)} timm names held by another entry in another letter case "
                f"(ids are unique whatever their case): {', '.join(summary.case_conflicts[:20])}"
            )
        if summary.without_stats and not skip_stats:
            self._compute_missing(records, stats, workers, version, len(summary.without_stats))
        if not skip_results:
            self._import_results(records)

    def _import_results(self, records: list) -> None:
        try:
            tables = [
                services.ResultsTable(
                    dataset=test_set.dataset,
                    split=test_set.split,
                    source_url=timm_results.source_url(test_set.filename),
                    rows=timm_results.read_test_set(test_set),
                )
                for test_set in timm_results.TEST_SETS
            ]
            speed_tables = [
                services.SpeedTableRows(
                    device=table.device,
                    hardware=table.hardware,
                    precision=table.precision,
                    torch_version=table.torch_version,
                    source_url=timm_results.source_url(table.filename),
                    rows=timm_results.read_speed_table(table),
                )
                for table in timm_results.SPEED_TABLES
            ]
        except ClaimsCsvError as error:
            raise CommandError(f"timm results: {error}") from error
        summary = services.timm_results_import(
            tables=tables,
            speed_tables=speed_tables,
            names=[record.name for record in records],
            registry_names=timm.list_pretrained(),
        )
        self._report(summary, len(records))

    def _report(self, summary: services.TimmResultsSummary, total: int) -> None:
        write = self.stdout.write
        write(
            f"timm results ({timm_results.TIMM_RESULTS_COMMIT[:12]}): {summary.claims_created} new, "
            f"{summary.claims_updated} updated accuracy claims; {summary.speed_claims_created} new, "
            f"{summary.speed_claims_updated} updated speed claims; {summary.claims_retired} claims retired "
            "(their tags no longer listed)."
        )
        write(
            f"Consistency: {summary.tags_with_claims} of {total} tags have published results, "
            f"{len(summary.tags_without_claims)} have none."
        )
        if summary.tags_not_in_registry:
            write(
                f"{len(summary.tags_not_in_registry)} result row(s) name tags timm {timm.__version__} does not list: "
                + _shortened(summary.tags_not_in_registry)
            )
        mismatches = summary.param_count_mismatches
        write(f"param_count disagreeing with timm's own count by more than 1%: {len(mismatches) or 'none'}")
        for item in mismatches:
            write(
                f"  {item.name}: results table {item.csv_params:,}, timm {item.catalog_params:,} "
                f"({item.relative_difference:.1%})"
            )

    def _register(self, records: list, stats: dict, label: str) -> services.TimmImportSummary:
        with tqdm(total=len(records), desc=label, unit="model", file=self.stderr._out, leave=False) as bar:
            return services.timm_registry_import(
                records=records, stats_by_key=stats, stats_key=timm_registry.stats_key, on_progress=bar.update
            )

    def _compute_missing(self, records: list, stats: dict, workers: int, version: str, missing: int) -> None:
        self.stdout.write(f"Computing parameters and GMACs for {missing} entries on the meta device...")
        with tqdm(desc="stats", unit="arch", file=self.stderr._out) as bar:

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            run = timm_registry.compute_missing_stats(records, stats, workers=workers, on_progress=progress)
        local_cache_path().parent.mkdir(parents=True, exist_ok=True)
        timm_registry.save_stats_cache(local_cache_path(), version, run.stats, run.failures)
        self._register(records, run.stats, "updating")
        for key, error in sorted(run.failures.items()):
            self.stderr.write(f"no stats for {key}: {error}")
        self.stdout.write(f"Stats computed; {len(run.failures)} architecture(s) could not be built.")


def _shortened(names: list[str], limit: int = 10) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
