"""The qcluster killed with SIGKILL in the middle of sending outbox work, then restarted: no message
lost, none sent twice. A real `manage.py qcluster` against a file SQLite database, sending to a
local SMTP server that holds one message mid-DATA so the kill lands while it is being sent."""

from __future__ import annotations

import collections
import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.conftest import FULL, ROOT, server_env, size, stop_group, wait_until
from tests.faults.smtp_sink import SmtpSink

pytestmark = pytest.mark.faults

MESSAGES = size(8, 40)
KILLS = size(1, 3)

SEED = """
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.utils import timezone
from django_q.tasks import async_task
from capture.models import Lead
from followup.models import OutboundMessage
for n in range({count}):
    lead = Lead.objects.create(first_name=f"Prospect {{n}}", email=f"p{{n}}@example.com",
                               channel="web_form")
    row = OutboundMessage.objects.create(lead=lead, kind="ack", to_address=lead.email,
                                         subject=f"We received your request {{n}}",
                                         body="Thank you.", due_at=timezone.now())
    async_task("followup.tasks.send_outbound", row.id)  # the kick queued on commit
print("seeded")
"""

# What the passage of time does for a cluster that died, done at once instead of waiting:
# the dead worker's claim passes STALE_AFTER (2 minutes), the broker's `retry` (180 s) frees
# the tasks it had taken, and the one-minute sweeper's schedule is due.
AFTER_THE_CRASH = """
from datetime import timedelta
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from followup.models import OutboundMessage
from followup.tasks import STALE_AFTER
long_ago = timezone.now() - STALE_AFTER - timedelta(minutes=1)
OutboundMessage.objects.filter(status="sending").update(claimed_at=long_ago)
OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=600))
Schedule.objects.filter(func="followup.tasks.sweep_due_messages").update(next_run=long_ago)
print("aged")
"""
# The short form does not wait the ~30 s until the restarted cluster's scheduler runs the sweeper:
# it runs the sweeper's first step (releasing claims of dead workers) itself, and the restarted
# cluster re-runs the freed tasks. The full form (FAULTS_FULL=1) leaves it all to the cluster.
RELEASE_NOW = """
from followup.tasks import free_rows_of_dead_workers
print(free_rows_of_dead_workers())
"""



def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def start_qcluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as out:
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"],
                                cwd=ROOT, env=env, stdout=out, stderr=out,
                                start_new_session=True)


def states(env: dict[str, str]) -> dict[str, str]:
    """Each outbox row's status, read straight from the file (a manage.py call takes seconds)."""
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=20)) as db:
        rows = db.execute("SELECT id, status FROM followup_outboundmessage").fetchall()
    return {str(i): status for i, status in rows}


def test_a_qcluster_killed_mid_send_and_restarted_loses_no_message_and_sends_none_twice(
        tmp_path):
    started = time.monotonic()
    log = tmp_path / "qcluster.log"
    # Kill while holding message k of each round; the first round holds the middle one.
    holds = [MESSAGES // 2 + round_ * 3 for round_ in range(KILLS)]
    with SmtpSink(hold_at=holds[0]) as sink:
        env = server_env(f"sqlite:///{tmp_path / 'outbox.sqlite3'}", Q_WORKERS="1",
                         EMAIL_URL=f"smtp://127.0.0.1:{sink.port}", FOLLOWUP_SWEEP_SECONDS="0")
        manage(env, "shell", "-c", SEED.format(count=MESSAGES))
        killed_mid_send = 0
        for hold in holds:
            sink.hold_at, sink.holding, sink.release = hold, type(sink.holding)(), \
                type(sink.release)()
            cluster = start_qcluster(env, log)
            try:
                assert sink.holding.wait(timeout=90), log.read_text()[-3000:]
                stop_group(cluster, signal.SIGKILL, wait=10)  # mid-DATA: no reply was sent
                killed_mid_send += "sending" in states(env).values()
            finally:
                stop_group(cluster, signal.SIGKILL, wait=10)
                sink.release.set()
            manage(env, "shell", "-c", AFTER_THE_CRASH + ("" if FULL else RELEASE_NOW))
        cluster = start_qcluster(env, log)
        try:
            assert wait_until(lambda: set(states(env).values()) == {"sent"}, seconds=90,
                              every=1), (states(env), log.read_text()[-3000:])
        finally:
            stop_group(cluster)
        final = states(env)

    assert killed_mid_send == KILLS  # each kill landed on a message being sent
    sent_to_smtp = collections.Counter(sink.accepted)
    assert sorted(sent_to_smtp) == sorted(final)  # no message lost
    assert set(sent_to_smtp.values()) == {1}  # none sent twice
    print(f"{MESSAGES} messages, {KILLS} SIGKILL(s) mid-send: each accepted once by SMTP; "
          f"{time.monotonic() - started:.1f}s")
