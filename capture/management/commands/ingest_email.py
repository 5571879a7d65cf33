"""`manage.py ingest_email FILE...`: .eml files and mbox archives through the email channel."""

from __future__ import annotations

import contextlib
import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from capture.channels.email import not_an_email, receive_email

HEAD_BYTES = 64 * 1024  # enough of a message to find its first header fields


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def _not_an_email(path: Path, box: mailbox.mbox | None) -> str:
    """Why the file is no email (nor an mbox archive of them), or "". An archive's first
    message stands for it: reading every one twice would double the time of a large one."""
    if box is None:
        with path.open("rb") as handle:
            return not_an_email(handle.read(HEAD_BYTES))
    first = next(box.iterkeys(), None)
    if first is None:
        return "the archive holds no message"
    with contextlib.closing(box.get_file(first)) as message:
        return not_an_email(message.read(HEAD_BYTES))


def _messages(sources: list[tuple[Path, mailbox.mbox | None]]) -> Iterator[bytes]:
    """One message at a time: an mbox of many gigabytes (a Google Takeout archive) is read
    message by message from its table of contents, never held in memory as a whole."""
    for path, box in sources:
        if box is None:
            yield path.read_bytes()
            continue
        try:
            for key in box.iterkeys():
                yield box.get_bytes(key)
        finally:
            box.close()


class Command(BaseCommand):
    help = "Read .eml files and mbox archives as inbound email (a rerun adds nothing new)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("files", nargs="+", type=Path,
                            help=".eml files and mbox archives, in any mix.")
        parser.add_argument("--no-progress", action="store_true",
                            help="No progress bar (for logs and scripts).")

    def handle(self, *args, files: list[Path], no_progress: bool, **options) -> None:
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")
        # The first pass only finds where each message starts (mailbox's table of contents:
        # two offsets a message), which gives the progress bar its total.
        sources = [(path, mailbox.mbox(path, create=False) if _is_mbox(path) else None)
                   for path in files]
        # A file that is no email fails the whole run before anything is taken in: exit status
        # 1 and the files named, rather than "1 ignored" and success for a picture.
        if refused := [f"{path}: not an email ({reason})" for path, box in sources
                       if (reason := _not_an_email(path, box))]:
            for _, box in sources:
                if box is not None:
                    box.close()
            raise CommandError("\n".join([*refused, "Nothing was taken in."]))
        total = sum(1 if box is None else len(box) for _, box in sources)
        outcome: Counter = Counter()
        for raw in tqdm(_messages(sources), total=total, unit="msg", disable=no_progress,
                        file=self.stderr._out):
            event, created = receive_email(raw, via="ingest_email")
            if not created:
                outcome["already stored"] += 1
            elif event.status == event.Status.PROCESSED:
                outcome["new lead(s)" if event.created_lead else "added to a lead"] += 1
            else:
                outcome[event.status] += 1
        summary = ", ".join(f"{count} {what}" for what, count in sorted(outcome.items()))
        self.stdout.write(f"{total} message(s): {summary or 'nothing to do'}\n")
