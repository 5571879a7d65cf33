"""Filtering leads by a custom field on PostgreSQL: no index, the GIN index alone, expression
indexes alone, and what ships (GIN + a B-tree expression index per number/date field), on N
leads (default 1,000,000).

Usage: DATABASE_URL=postgres://... bench/custom_fields.py [N] [OWNER_ID]

Fills the database up to N leads with bench/fill_leads.py (70% answer "Tech stack" and
"Seats"), then times the queue's own filter querysets (built by routing.filters.QueueFilter,
so the SQL is the product's) under each index setup, and prints one JSON line. A bench-only
"Plan" choice is added to the answered leads (Enterprise on 0.1%: a selective filter). The
shipped indexes are put back at the end.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
django.setup()

from django.db import connection  # noqa: E402
from django.http import QueryDict  # noqa: E402

from capture.custom_field_indexes import ensure_indexes, existing_indexes  # noqa: E402
from capture.models import OPEN_STATUSES, CustomField, Lead  # noqa: E402
from routing.demo_custom_fields import DEMO_FIELDS  # noqa: E402
from routing.filters import QueueFilter  # noqa: E402
from routing.queue import in_queue_order  # noqa: E402

RUNS = int(os.environ.get("BENCH_CUSTOM_RUNS", "7"))
GIN = "lead_custom_fields_gin"
EXPRESSION_INDEXES = {
    # one index per filterable field, each on the expression Django's SQL for it uses
    "lead_cf_seats_expr": "btree ((custom_fields -> 'seats'))",
    "lead_cf_tech_stack_expr": "gin ((custom_fields -> 'tech_stack'))",
    "lead_cf_plan_expr": "btree ((custom_fields -> 'plan'))",
}
SHIPPED = "shipped: GIN + B-tree per number/date field"
SETUPS = ("no index", "GIN (jsonb_path_ops) only", "expression index per field", SHIPPED)


def definitions() -> None:
    for position, (key, label, kind, choices, help_text, *_rest) in enumerate(DEMO_FIELDS, 1):
        CustomField.objects.get_or_create(key=key, defaults={
            "label": label, "kind": kind, "choices": "\n".join(choices),
            "help_text": help_text, "position": position * 10})
    CustomField.objects.get_or_create(key="plan", defaults={
        "label": "Plan (bench)", "kind": "choice", "choices": "Basic\nPro\nEnterprise",
        "position": 90})


def add_plans() -> None:
    """Enterprise on 0.1% of the answered leads, Pro or Basic on the rest (once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE capture_lead SET custom_fields = custom_fields || jsonb_build_object("
            "'plan', CASE WHEN id % 1000 = 0 THEN 'Enterprise' WHEN id % 2 = 0 THEN 'Pro' "
            "ELSE 'Basic' END) WHERE custom_fields ? 'seats' AND NOT custom_fields ? 'plan'")
        cursor.execute("VACUUM ANALYZE capture_lead")


def queries(owner_id: int | None) -> dict[str, object]:
    """Name -> queryset, each as the queue page would run it (first page of 25, newest first)."""
    def filtered(query: str, base=None):
        base = Lead.objects.all() if base is None else base
        qs = QueueFilter(QueryDict(query), queryset=base).qs
        return qs.order_by("-created_at")

    found = {
        "tech_stack has GCP, newest 25": filtered("cf_tech_stack=GCP")[:25],
        "tech_stack has GCP, capped count (100)": filtered("cf_tech_stack=GCP").order_by()[:100],
        "tech_stack has GCP, count (30%)": filtered("cf_tech_stack=GCP").order_by(),
        "plan is Enterprise (0.1%), newest 25": filtered("cf_plan=Enterprise")[:25],
        "plan is Enterprise (0.1%), count": filtered("cf_plan=Enterprise").order_by(),
        "seats between 990 and 1000, newest 25": filtered(
            "cf_seats_min=990&cf_seats_max=1000")[:25],
        "seats between 990 and 1000, count": filtered(
            "cf_seats_min=990&cf_seats_max=1000").order_by(),
        "rare: tech_stack has GCP and seats = 1000, count": filtered(
            "cf_tech_stack=GCP&cf_seats_min=1000&cf_seats_max=1000").order_by(),
    }
    if owner_id:  # the rep's queue page itself: their open leads, in queue order
        mine = Lead.objects.filter(owner_id=owner_id, status__in=OPEN_STATUSES)
        found["a rep's queue page with GCP (queue order), first 25"] = in_queue_order(
            QueueFilter(QueryDict("cf_tech_stack=GCP"), queryset=mine).qs)[:25]
    return found


def timed(qs, count: bool) -> tuple[float, int, str]:
    sql, params = (qs.values("id") if count else qs).query.sql_with_params()
    if count:
        sql = f"SELECT count(*) FROM ({sql}) AS q"  # noqa: S608 - our own SQL
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:6])
        times, rows = [], 0
        for _ in range(RUNS):
            start = time.perf_counter()
            cursor.execute(sql, params)
            rows = len(cursor.fetchall()) if not count else cursor.fetchone()[0]
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), rows, plan


def index_size(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s::regclass)", [name])
        return cursor.fetchone()[0]


def setup(name: str) -> dict:
    """Drop every custom-field index, then create the ones of this setup; returns build info."""
    info: dict = {"setup": name, "indexes": {}}
    with connection.cursor() as cursor:
        for index in (GIN, *EXPRESSION_INDEXES):
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
        wanted = {}
        for index in existing_indexes():
            cursor.execute(f"DROP INDEX IF EXISTS {index}")
        if name in ("GIN (jsonb_path_ops) only", SHIPPED):
            wanted = {GIN: "gin (custom_fields jsonb_path_ops)"}
        elif name == "expression index per field":
            wanted = EXPRESSION_INDEXES
        for index, definition in wanted.items():
            start = time.perf_counter()
            cursor.execute(f"CREATE INDEX {index} ON capture_lead USING {definition}")
            info["indexes"][index] = {"build_s": round(time.perf_counter() - start, 1),
                                      "size_mb": round(index_size(index) / 2**20, 1)}
    if name == SHIPPED:
        start = time.perf_counter()
        created = ensure_indexes()["created"]  # what the product makes for number/date fields
        for index in created:
            info["indexes"][index] = {"build_s": round(time.perf_counter() - start, 1),
                                      "size_mb": round(index_size(index) / 2**20, 1)}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE capture_lead")
    return info


def main() -> None:
    if connection.vendor != "postgresql":
        sys.exit("bench/custom_fields.py needs PostgreSQL (DATABASE_URL)")
    target = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    owner_id = int(sys.argv[2]) if len(sys.argv) > 2 else None
    definitions()
    fill = subprocess.run([sys.executable, str(ROOT / "bench" / "fill_leads.py"), str(target),
                           *([str(owner_id)] if owner_id else [])], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=7200)
    print(fill.stdout.strip(), file=sys.stderr)
    add_plans()
    answered = Lead.objects.filter(custom_fields__has_key="seats").count()
    result = {"leads": Lead.objects.count(), "answered": answered, "runs": RUNS, "setups": []}
    try:
        for name in SETUPS:
            info = setup(name)
            info["queries"] = {}
            for label, qs in queries(owner_id).items():
                ms, rows, plan = timed(qs, count="count" in label)
                info["queries"][label] = {"p50_ms": round(ms, 1), "rows": rows, "plan": plan}
                print(f"{name}: {label}: {ms:.1f} ms ({rows})", file=sys.stderr)
            result["setups"].append(info)
    finally:
        setup(SHIPPED)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
