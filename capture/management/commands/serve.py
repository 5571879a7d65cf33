"""`manage.py serve`: the web server and the django-q2 worker together; Ctrl-C stops both."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the development web server and the django-q2 worker (qcluster) together."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")),
                            help="The web server's port (default: $PORT, else 8000).")
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                            help="The address it listens on (default: $HOST, else 127.0.0.1).")

    def handle(self, *args, port: int, host: str, **options) -> None:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS(
            f"\nleadcrm is starting on {base}\n"
            f"  sign in:      {base}/   (each demo login lands on its role's page)\n"
            f"  public form:  {base}/q/quote/\n"
            f"  chat demo:    {base}/chat/demo/   (answer as alice at {base}/queue/)\n"
            f"  admin:        {base}/admin/\n"
            "  worker:       django-q2 qcluster (acknowledgements, retries)\n"
            "Press Ctrl-C to stop both.\n"
        ))
        # Each child leads its own process group, so stopping it stops its helpers too (the
        # autoreloader's server process, qcluster's workers), whatever signals we inherited.
        children = [
            subprocess.Popen([*manage, "qcluster"], start_new_session=True),  # noqa: S603
            subprocess.Popen([*manage, "runserver", f"{host}:{port}"],  # noqa: S603
                             start_new_session=True),
        ]
        stopping = False

        def stop(*_args) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.3)
        finally:
            self.stdout.write("Stopping the web server and the worker...")
            # qcluster's group gets a SIGINT, as from Ctrl-C in its own terminal: its main
            # process stops the cluster gracefully, and its workers end a running sweep at once
            # (followup.receivers.stop_sweeping_on_sigint); the sweep held the stop until the
            # kill below. A SIGTERM to each worker left the cluster waiting for ever. The
            # autoreloader's server process needs the group's SIGTERM.
            qcluster, web = children
            _signal_group(qcluster, signal.SIGINT)
            _signal_group(web, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal_group(child, signal.SIGKILL)
        if not stopping:  # a child died on its own: say so with the exit status
            sys.exit(1)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
