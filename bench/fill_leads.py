"""Fill the database up to N leads in bulk SQL (PostgreSQL), for the flat-cost benchmark.

Usage: fill_leads.py N [OWNER_ID,OWNER_ID,...]
"""

import os
import sys
import time

import django

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
django.setup()

from django.db import OperationalError, connection, models  # noqa: E402

from capture.models import Lead  # noqa: E402

BATCH = 100_000
STATUSES = ["new", "contacted", "qualified", "won", "lost", "nurture", "disqualified"]


def expression(field, owner_ids: list[int]) -> str:
    """SQL for one column of generated row number g."""
    special = {
        # One lead in 50 belongs to each given owner: the benchmark's rep, so the queue page
        # has a real queue, and the reps the intake routes to, so their loads are real.
        "owner": ("CASE WHEN mod(g, 50) < {n} THEN (ARRAY[{ids}])[1 + mod(g, 50)] END".format(
            n=len(owner_ids), ids=",".join(str(int(i)) for i in owner_ids))
            if owner_ids else "NULL"),
        "respond_by": "now() + (mod(g, 7200) - 3600 || ' seconds')::interval",
        "first_name": "'Fill'",
        "last_name": "'Lead ' || g",
        "email": "'fill' || g || '@fill.example'",
        "email_key": "'fill' || g || '@fill.example'",
        "company": "'Company ' || mod(g, 5000)",
        "channel": "(ARRAY['web_form','email','call','api','sms'])[1 + mod(g, 5)]",
        "status": "(ARRAY[{}])[1 + mod(g, 7)]".format(",".join(f"'{s}'" for s in STATUSES)),
        "message": "'Generated for the flat-cost benchmark'",
        # The demo's custom fields on 70% of the leads: each stack choice on about 30% of
        # those, seats 1-1000 (keys defined by seed_demo / seed_load / bench/custom_fields.py).
        "custom_fields": "CASE WHEN mod(g, 10) < 7 THEN jsonb_strip_nulls(jsonb_build_object("
        "'tech_stack', (SELECT jsonb_agg(c ORDER BY i) FROM unnest(ARRAY['AWS','Azure','GCP',"
        "'on-premises','Microsoft 365','Google Workspace']) WITH ORDINALITY AS s(c, i) "
        "WHERE mod(g::bigint * 31 + i * 17, 10) < 3), 'seats', 1 + mod(g::bigint * 7919, 1000))) "
        "ELSE '{}'::jsonb END",
    }
    if field.name in special:
        return special[field.name]
    if isinstance(field, models.DateTimeField):
        return "NULL" if field.null else "now() - (g || ' seconds')::interval"
    if field.null:
        return "NULL"
    if isinstance(field, models.JSONField):
        return "'[]'::jsonb"
    if isinstance(field, models.BooleanField):
        return "false"
    if isinstance(field, models.IntegerField):
        return "0"
    return "''"


def main() -> None:
    target = int(sys.argv[1])
    owner_ids = [int(i) for i in sys.argv[2].split(",")] if len(sys.argv) > 2 else []
    if connection.vendor != "postgresql":
        sys.exit("fill_leads.py needs PostgreSQL")
    from capture.models import CustomField
    from routing.demo_custom_fields import DEMO_FIELDS

    for key, label, kind, choices, *_rest in DEMO_FIELDS:  # the keys the rows answer
        CustomField.objects.get_or_create(key=key, defaults={
            "label": label, "kind": kind, "choices": "\n".join(choices)})
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = ", ".join(expression(f, owner_ids) for f in fields)
    start = time.perf_counter()
    have = Lead.objects.count()
    with connection.cursor() as cursor:
        while have < target:
            upto = min(target, have + BATCH)
            cursor.execute(
                f"INSERT INTO {Lead._meta.db_table} ({columns}) "  # noqa: S608 - our own SQL
                f"SELECT {values} FROM generate_series(%s, %s) AS g",
                [have + 1, upto],
            )
            have = upto
    for attempt in range(5):
        # Statistics and the visibility map (index-only scans), as autovacuum would make them
        # minutes later. It can deadlock with a CREATE INDEX CONCURRENTLY the worker runs for
        # a custom field (capture/custom_field_indexes.py): try again.
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {Lead._meta.db_table}")
            break
        except OperationalError:
            time.sleep(2 + attempt)
    with connection.cursor() as cursor:
        # The fill's dirty pages written out now, not by the checkpointer during the
        # measurement that follows.
        cursor.execute("CHECKPOINT")
    print(f"{have:,} leads in the database ({time.perf_counter() - start:.1f}s to fill)")


if __name__ == "__main__":
    main()
