"""`manage.py import_leads FILE`: a CSV or Excel file of leads through the intake, with progress."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from capture.channels.imports import (
    BATCH_SIZE,
    ImportFileError,
    import_rows,
    options_for,
    read_table,
)
from capture.identity import region_problem


class Command(BaseCommand):
    help = ("Import leads from a .csv or .xlsx file whose first row names the columns (lead "
            "field names such as first_name, email, phone). A rerun adds nothing new.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="A .csv or .xlsx file.")
        parser.add_argument("--source", default="", help="Recorded as the leads' source "
                            "(default: the file name).")
        parser.add_argument("--region", default="", help="Region for phone numbers without "
                            "+country code, e.g. GB.")
        parser.add_argument("--dry-run", action="store_true",
                            help="Check every row and say what would happen; write nothing.")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                            help=f"Rows checked at a time (default {BATCH_SIZE}).")
        parser.add_argument("--no-progress", action="store_true",
                            help="No progress bar (for logs and scripts).")

    def handle(self, *args, file: Path, source: str, region: str, dry_run: bool,
               batch_size: int, no_progress: bool, **options) -> None:
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        if problem := region_problem(region):
            raise CommandError(f"--region {problem}")
        data = file.read_bytes()
        options_ = options_for(source or file.stem, region)
        try:
            total = sum(1 for _ in read_table(data, file.name))
            with tqdm(total=total, unit="row", disable=no_progress,
                      file=self.stderr._out) as bar:
                report = import_rows(read_table(data, file.name), options_, dry_run=dry_run,
                                     batch_size=max(1, batch_size), progress=bar.update)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from None
        for line, errors in report.errors[:50]:
            detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
            self.stdout.write(f"row {line}: {detail}\n")
        if len(report.errors) > 50:
            self.stdout.write(f"... and {report.invalid - 50} more rows with errors\n")
        self.stdout.write(("Dry run, nothing written. Would import " if dry_run else "")
                          + report.summary() + "\n")
