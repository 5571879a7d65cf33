"""SLA timers under load: 100,000 open leads whose warning alerts fall due, worked by real
qcluster nodes through the one-minute sweeper. Prints one JSON line with the lag (seconds
between an alert's due time and its sending): max, p99, p50.

    DATABASE_URL=postgres://... python bench/sla_timers.py

It migrates the database it is given, removes the rows of its previous run (leads with source
"sla-bench"), writes its own leads and alert rows (parked), starts the qclusters, then gives
the alerts their due times from twenty seconds on, waits until all are sent, and stops them.
Environment: BENCH_SLA_LEADS (100000), BENCH_SLA_SPREAD_SECONDS (600: due times spread evenly
over this), BENCH_SLA_CLUSTERS (2 qcluster nodes), BENCH_SLA_WORKERS (4 per node),
BENCH_SLA_TIMEOUT (900 seconds after the last due time at most).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
os.environ.setdefault("EMAIL_URL", "dummymail://")  # measure our timers, not an SMTP server
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from capture.models import Interaction, Lead  # noqa: E402
from followup.models import Notification, OutboundMessage  # noqa: E402

LEADS = int(os.environ.get("BENCH_SLA_LEADS", "100000"))
SPREAD = int(os.environ.get("BENCH_SLA_SPREAD_SECONDS", "600"))
CLUSTERS = int(os.environ.get("BENCH_SLA_CLUSTERS", "2"))
WORKERS = int(os.environ.get("BENCH_SLA_WORKERS", "4"))
TIMEOUT = int(os.environ.get("BENCH_SLA_TIMEOUT", "900"))
SOURCE = "sla-bench"
BATCH = 5000
WARM_UP = 35


def log(message: str) -> None:
    print(f"[sla-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def remove_previous_run() -> None:
    leads = Lead.objects.filter(source=SOURCE)
    for model in (Notification, Interaction, OutboundMessage):
        model.objects.filter(lead__in=leads)._raw_delete(connection.alias)
    from routing.models import LeadAssessment

    LeadAssessment.objects.filter(lead__in=leads)._raw_delete(connection.alias)
    leads._raw_delete(connection.alias)


def create_leads(owner, respond_by) -> list[int]:
    now = timezone.now()
    ids: list[int] = []
    for start in range(0, LEADS, BATCH):
        rows = [Lead(first_name="Bench", last_name=str(i), email=f"sla{i}@sla-bench.example",
                     email_key=f"sla{i}@sla-bench.example", source=SOURCE, owner=owner,
                     tier="hot", created_at=now, last_activity_at=now, respond_by=respond_by)
                for i in range(start, min(start + BATCH, LEADS))]
        ids += [lead.pk for lead in Lead.objects.bulk_create(rows)]
    return ids


def create_alerts(lead_ids: list[int], respond_by) -> list[int]:
    """The warning rows, parked a day ahead until every one is written."""
    parked = timezone.now() + timedelta(days=1)
    ids: list[int] = []
    for start in range(0, len(lead_ids), BATCH):
        rows = [OutboundMessage(
            lead_id=lead_id, kind=OutboundMessage.Kind.SLA_WARNING,
            channel=OutboundMessage.Channel.EMAIL, due_at=parked, subject="Answer soon",
            dedupe_key=f"sla-warning:{lead_id}:{int(respond_by.timestamp())}")
            for lead_id in lead_ids[start:start + BATCH]]
        ids += [row.pk for row in OutboundMessage.objects.bulk_create(rows)]
    return ids


def set_due_times(alert_ids: list[int], first_due) -> None:
    """Spread the due times evenly over SPREAD seconds in one UPDATE: a steady stream of alerts
    falling due, about LEADS/SPREAD a second."""
    step = SPREAD / len(alert_ids)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE followup_outboundmessage SET due_at = %s + (id - %s) * %s * "
                "interval '1 second' WHERE id BETWEEN %s AND %s",
                [first_due, alert_ids[0], step, alert_ids[0], alert_ids[-1]])
        else:  # SQLite keeps datetimes as text in UTC
            cursor.execute(
                "UPDATE followup_outboundmessage SET due_at = "
                "strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday(%s) + (id - %s) * %s / 86400.0) "
                "WHERE id BETWEEN %s AND %s",
                [first_due.strftime("%Y-%m-%d %H:%M:%S.%f"), alert_ids[0], step,
                 alert_ids[0], alert_ids[-1]])


def analyze() -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there, later)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE followup_outboundmessage, capture_lead")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def start_clusters() -> list[subprocess.Popen]:
    env = {**os.environ, "Q_WORKERS": str(WORKERS)}
    logs = open(ROOT / "bench" / ".sla-qcluster.log", "w")  # noqa: SIM115
    return [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                             stdout=logs, stderr=logs, start_new_session=True)
            for _ in range(CLUSTERS)]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    remove_previous_run()
    owner, _ = get_user_model().objects.get_or_create(
        username="sla-bench-rep", defaults={"email": "sla-bench-rep@example.com"})
    respond_by = timezone.now() + timedelta(days=2)  # the breach is not what is measured
    log(f"{connection.vendor}: writing {LEADS} leads and their SLA warning rows")
    alert_ids = create_alerts(create_leads(owner, respond_by), respond_by)
    analyze()
    procs = start_clusters()
    try:
        time.sleep(WARM_UP)  # the clusters start and their scheduler first runs the sweeper
        first_due = timezone.now() + timedelta(seconds=20)
        set_due_times(alert_ids, first_due)
        analyze()
        log(f"alerts due over {SPREAD}s from {first_due:%X}")
        last_due = first_due + timedelta(seconds=SPREAD)
        deadline = time.monotonic() + (last_due - timezone.now()).total_seconds() + TIMEOUT
        alerts = OutboundMessage.objects.filter(id__gte=alert_ids[0], id__lte=alert_ids[-1])
        while time.monotonic() < deadline:
            left = alerts.filter(status__in=["scheduled", "sending"]).count()
            if not left and timezone.now() > last_due:
                break
            time.sleep(5)
    finally:
        stop(procs)
    lags = [(sent - due).total_seconds() for due, sent in
            alerts.filter(status="sent").values_list("due_at", "sent_at")]
    statuses = dict.fromkeys(OutboundMessage.Status.values, 0)
    for status in alerts.values_list("status", flat=True):
        statuses[status] += 1
    print(json.dumps({
        "bench": "sla_timers", "database": connection.vendor, "leads": LEADS,
        "spread_seconds": SPREAD, "clusters": CLUSTERS, "workers_per_cluster": WORKERS,
        "sent": statuses["sent"], "not_sent": LEADS - statuses["sent"], "statuses": statuses,
        "max_lag_seconds": round(max(lags, default=0.0), 3),
        "p99_lag_seconds": round(percentile(lags, 0.99), 3),
        "p50_lag_seconds": round(percentile(lags, 0.5), 3),
        "within_60_seconds": bool(lags) and len(lags) == LEADS and max(lags) <= 60,
    }))


if __name__ == "__main__":
    main()
