"""PostgreSQL stopped while webhooks arrive: the provider is answered 5xx, so it retries; after
the restart its retries make each lead exactly once. On a throwaway cluster, never on 5432."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.faults import pgcluster
from tests.faults.conftest import (
    ROOT,
    WEBHOOK_SECRET,
    gunicorn,
    server_env,
    size,
    webhook_headers,
)

pytestmark = pytest.mark.faults

PEOPLE_BEFORE = size(3, 10)  # arrive while the database is up
PEOPLE_DURING = size(6, 40)  # arrive while it is down: each is sent twice, as providers retry


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def send(base: str, n: int) -> int:
    body = json.dumps({"id": f"evt-{n}", "email": f"person{n}@example.com",
                       "first_name": f"Person {n}", "message": "Call me"}).encode()
    headers = {k.removeprefix("HTTP_").replace("_", "-").title(): v
               for k, v in webhook_headers(body).items()}  # a fresh timestamp on each retry
    request = urllib.request.Request(f"{base}/inbound/webhook/zap/", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


COUNTS = """
import json
from capture.models import InboundEvent, Interaction, Lead
leads = list(Lead.objects.values_list("email", flat=True))
print(json.dumps({"leads": sorted(leads), "events": InboundEvent.objects.count(),
                  "processed": InboundEvent.objects.filter(status="processed").count(),
                  "interactions": Interaction.objects.count()}))
"""


def test_webhooks_during_a_database_outage_get_5xx_and_their_retries_make_each_lead_once(
        tmp_path):
    if reason := pgcluster.unavailable():
        pytest.skip(f"no throwaway PostgreSQL cluster: {reason}")
    started = time.monotonic()
    with pgcluster.throwaway_cluster() as cluster:
        env = server_env(cluster.url, CONN_MAX_AGE="60")
        manage(env, "shell", "-c", "from django.core.management import call_command; "
               "call_command('migrate', verbosity=0); "
               "from capture.models import WebhookSource; "
               f"WebhookSource.objects.create(slug='zap', name='Zap', secret={WEBHOOK_SECRET!r})")
        with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as base:
            before = [send(base, n) for n in range(PEOPLE_BEFORE)]
            cluster.stop("fast")
            during = [send(base, n) for n in range(PEOPLE_BEFORE, PEOPLE_BEFORE + PEOPLE_DURING)
                      for _ in range(2)]
            cluster.start()
            after = [send(base, n) for n in range(PEOPLE_BEFORE + PEOPLE_DURING)]  # the retries
        counts = json.loads(manage(env, "shell", "-c", COUNTS).strip().splitlines()[-1])

    assert before == [200] * PEOPLE_BEFORE
    assert all(500 <= code < 600 for code in during), during  # the provider will retry
    assert after == [200] * (PEOPLE_BEFORE + PEOPLE_DURING)
    people = PEOPLE_BEFORE + PEOPLE_DURING
    assert counts["leads"] == sorted(f"person{n}@example.com" for n in range(people))
    assert counts["events"] == counts["processed"] == people
    assert counts["interactions"] == people  # each retry of a stored event created nothing
    print(f"{PEOPLE_DURING} webhooks x2 during the outage answered {sorted(set(during))}; "
          f"{people} leads once each; {time.monotonic() - started:.1f}s")
