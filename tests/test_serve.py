"""`manage.py serve` (what `make run` starts): the web server and the worker come up together,
and a SIGTERM (or Ctrl-C) stops both at once, leaving no worker behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.faults.conftest import free_port, stop_group, wait_until

ROOT = Path(__file__).resolve().parent.parent


def processes_on(database: Path) -> list[int]:
    """The processes whose environment names this database (the server's and the worker's)."""
    mark = f"DATABASE_URL=sqlite:///{database}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:  # gone, or not ours
            continue
    return found


def test_serve_starts_the_web_server_and_the_worker_and_a_sigterm_stops_both(tmp_path):
    database = tmp_path / "serve.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DEBUG": "false",
           "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                   check=True)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen(  # noqa: S603
            [sys.executable, "manage.py", "serve", "--port", str(port)], cwd=ROOT, env=env,
            stdout=out, stderr=out, start_new_session=True)
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                            timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return serve.poll() is not None
        assert wait_until(up, seconds=60, every=0.2) and serve.poll() is None, log.read_text()
        assert wait_until(lambda: "running." in log.read_text(), seconds=30), log.read_text()
        assert len(processes_on(database)) >= 4  # serve, runserver, the qcluster and its workers
        # Where every demo login signs in (the admin's login takes staff accounts only).
        assert f"sign in:      http://127.0.0.1:{port}/ " in log.read_text()
        stopped_at = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        took = time.monotonic() - stopped_at
        # serve kills what has not stopped after 15 s: stopping well before that means the
        # worker stopped gracefully (it once waited for the kill every time).
        assert took < 10, f"serve took {took:.1f} s to stop\n{log.read_text()[-2000:]}"
        assert "has stopped" in log.read_text()  # the qcluster's own graceful goodbye
        assert wait_until(lambda: not processes_on(database), seconds=5), processes_on(database)
    finally:
        stop_group(serve, signal.SIGKILL, wait=10)
        # serve's children lead sessions of their own: killing serve's group left a failed
        # run's runserver and qcluster running for good. They are found by this database.
        for pid in processes_on(database):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
