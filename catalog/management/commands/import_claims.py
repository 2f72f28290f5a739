"""Import accuracy claims from a CSV in timm's results format (a file path or an http(s) URL)."""

from pathlib import Path

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import services
from core.claims_csv import ClaimsCsvError, parse_claims_csv

MAX_CSV_BYTES = 20_000_000


def read_source(source: str) -> tuple[str, str]:
    """The CSV text and the URL to cite as the claims' source ("" for a local file)."""
    if source.startswith(("http://", "https://")):
        try:
            response = requests.get(source, timeout=30)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise CommandError(f"Cannot fetch {source}: {exc}") from exc
        if len(response.content) > MAX_CSV_BYTES:
            raise CommandError(f"{source} is larger than {MAX_CSV_BYTES} bytes")
        return response.text, source
    path = Path(source)
    if not path.is_file():
        raise CommandError(f"No such file: {source}")
    return path.read_text(encoding="utf-8"), ""


class Command(BaseCommand):
    help = "Record accuracy claims from a results CSV (model,img_size,top1,top1_err,top5,...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="Path or http(s) URL of the CSV")
        parser.add_argument("--dataset", default="imagenet-1k", help="Dataset the results were measured on")
        parser.add_argument("--split", default="validation")
        parser.add_argument("--namespace", default="timm", help="Namespace of model names without one")

    def handle(self, *args, source: str, dataset: str, split: str, namespace: str, **options) -> None:
        text, source_url = read_source(source)
        try:
            rows = parse_claims_csv(text)
        except ClaimsCsvError as exc:
            raise CommandError(f"{source}: {exc}") from exc
        summary = services.claims_import(
            rows=rows, dataset=dataset, split=split, source_url=source_url, namespace=namespace
        )
        self.stdout.write(f"Recorded claims for {summary.recorded} model(s) on {dataset}/{split}.")
        if summary.unknown_models:
            shown = ", ".join(summary.unknown_models[:10])
            more = f" and {len(summary.unknown_models) - 10} more" if len(summary.unknown_models) > 10 else ""
            self.stdout.write(
                f"Skipped {len(summary.unknown_models)} row(s) for models not in the catalog: {shown}{more}"
            )
