"""Register timm's pretrained configurations (~1,800) with parameter counts and GMACs computed without weights.

Stats come from the bundled cache for this timm version (catalog/data/timm_stats.json) and from a local cache
under var/; whatever is missing is computed on the meta device in parallel and cached. Entries are registered
first, so the catalog is usable while stats are still being computed.
"""

from pathlib import Path

import timm
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog import services, timm_registry


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

    def handle(self, *args, filter: str, workers: int, skip_stats: bool, **options) -> None:
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
        if summary.without_stats and not skip_stats:
            self._compute_missing(records, stats, workers, version, len(summary.without_stats))

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
