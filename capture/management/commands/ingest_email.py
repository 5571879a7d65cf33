"""`manage.py ingest_email FILE...`: .eml files and mbox archives through the email channel."""

from __future__ import annotations

import mailbox
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from capture.channels.email import receive_email


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


class Command(BaseCommand):
    help = "Read .eml files and mbox archives as inbound email (a rerun adds nothing new)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, files: list[Path], no_progress: bool, **options) -> None:
        messages = []
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")
            if _is_mbox(path):
                box = mailbox.mbox(path, create=False)
                messages += [(f"{path}#{i}", box.get_bytes(key))
                             for i, key in enumerate(box.keys())]
            else:
                messages.append((str(path), path.read_bytes()))
        outcome: Counter = Counter()
        for _name, raw in tqdm(messages, unit="msg", disable=no_progress,
                               file=self.stderr._out):
            event, created = receive_email(raw, via="ingest_email")
            if not created:
                outcome["already stored"] += 1
            elif event.status == event.Status.PROCESSED:
                outcome["new lead" if event.created_lead else "added to a lead"] += 1
            else:
                outcome[event.status] += 1
        summary = ", ".join(f"{count} {what}" for what, count in sorted(outcome.items()))
        self.stdout.write(f"{len(messages)} message(s): {summary or 'nothing to do'}\n")
