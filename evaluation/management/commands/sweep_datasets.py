"""List (and with --delete remove) what lies under MEDIA_ROOT/datasets/ and in the upload spool with no dataset
row referencing it: files an interrupted deletion or upload left behind."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from evaluation import selectors, services


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


class Command(BaseCommand):
    help = (
        "List directories under MEDIA_ROOT/datasets/ (and upload spool leftovers) that no dataset references, with "
        "their sizes; --delete removes those unchanged for the grace period (an upload may be extracting into a "
        "fresh one right now)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--delete", action="store_true", help="remove the orphans past the grace period")
        parser.add_argument(
            "--grace-seconds", type=int, default=None,
            help="keep what changed more recently than this (default DEPOT_DATASET_SWEEP_GRACE)",
        )  # fmt: skip

    def handle(self, *args, delete: bool, grace_seconds: int | None, **options) -> None:
        grace = timedelta(seconds=settings.DATASET_SWEEP_GRACE if grace_seconds is None else grace_seconds)
        orphans = selectors.dataset_orphans(grace=grace)
        for orphan in orphans:
            note = " (fresh: within the grace period, kept)" if orphan.fresh else ""
            self.stdout.write(f"{_megabytes(orphan.bytes):>12}  {orphan.path}{note}")
        removable = [orphan for orphan in orphans if not orphan.fresh]
        total = _megabytes(sum(orphan.bytes for orphan in removable))
        if not delete:
            self.stdout.write(f"{len(orphans)} orphan(s), {len(removable)} past the grace period ({total}).")
            return
        removed = services.dataset_orphans_remove(orphans=orphans)
        freed = _megabytes(sum(orphan.bytes for orphan in removed))
        self.stdout.write(f"removed {len(removed)} orphan(s), {freed}; kept {len(orphans) - len(removed)}.")
