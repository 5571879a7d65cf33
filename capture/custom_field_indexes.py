"""PostgreSQL indexes for custom fields (see docs/custom_fields.md for the measurements).

* One GIN index (jsonb_path_ops) on `Lead.custom_fields`, made by the migration, serves every
  containment filter — one choice, several choices, yes/no — whatever the number of fields.
* A B-tree expression index per number and date field, `(custom_fields -> 'key')`, serves the
  range filters ("seats between 100 and 500"), which GIN cannot. They are made and dropped as
  fields come and go, concurrently (no lock on the leads table), by a django-q2 task queued
  when a field is saved or deleted; `manage.py custom_field_indexes` does the same by hand.

SQLite needs none of this: the filters run there with json_extract over the (smaller) table.
"""

from __future__ import annotations

import logging
import time

from django.db import connection

from capture.custom_field_models import KEY_PATTERN, CustomField

logger = logging.getLogger(__name__)
PREFIX = "lead_cf_"
RANGE_KINDS = (CustomField.Kind.NUMBER, CustomField.Kind.DATE)


def index_name(key: str) -> str:
    return f"{PREFIX}{key}_idx"[:63]


def wanted_indexes() -> dict[str, str]:
    """Index name -> key, for every number and date field (archived ones keep their data)."""
    return {index_name(key): key for key in CustomField.objects.filter(
        kind__in=RANGE_KINDS).values_list("key", flat=True) if KEY_PATTERN.match(key)}


# The advisory lock one ensure_indexes() run holds: two runs at once (two fields saved in a
# row queue two tasks) building the same index concurrently deadlock each other.
LOCK_ID = 0x6C63_6D5F_6366  # "lcm_cf"
LOCK_POLL_S = 0.2


def existing_indexes(*, valid: bool | None = True) -> set[str]:
    """The custom field indexes on the leads table; valid=False: only those a failed
    concurrent build left invalid (PostgreSQL keeps them, unused, until dropped)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'capture_lead'::regclass AND c.relname LIKE %s",
            [PREFIX.replace("_", r"\_") + "%"])
        return {name for name, ok in cursor.fetchall() if valid is None or ok == valid}


def ensure_indexes() -> dict[str, list[str]]:
    """Create the missing expression indexes and drop those of deleted or retyped fields.

    Run outside a transaction (CREATE INDEX CONCURRENTLY refuses one): a task or a command.
    One run at a time (an advisory lock; a second run waits, then finds the work done). An
    index an interrupted build left invalid is dropped and built again.
    """
    if connection.vendor != "postgresql":
        return {"created": [], "dropped": []}
    with connection.cursor() as cursor:
        # Polled, not waited for: a session blocked in pg_advisory_lock() is a running
        # statement, and CREATE INDEX CONCURRENTLY waits for every running statement.
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_ID])
            if cursor.fetchone()[0]:
                break
            time.sleep(LOCK_POLL_S)
        try:
            done = _bring_in_line(cursor)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])
    if done["created"] or done["dropped"]:
        logger.info("Custom field indexes: %s", done)
    return done


def _bring_in_line(cursor) -> dict[str, list[str]]:
    wanted, invalid = wanted_indexes(), existing_indexes(valid=False)
    existing = existing_indexes(valid=None) - invalid
    done: dict[str, list[str]] = {"created": [], "dropped": []}
    for name in sorted((existing - set(wanted)) | invalid):
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        if name not in wanted:
            done["dropped"].append(name)
    for name, key in sorted(wanted.items()):
        if name in existing:
            continue
        # The key is a checked slug (KEY_PATTERN): safe to write into the DDL.
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON capture_lead "
                       f"((custom_fields -> '{key}'))")
        done["created"].append(name)
    return done


def queue_index_update() -> None:
    """After a field is saved or deleted: bring the indexes in line once it has committed."""
    if connection.vendor != "postgresql":
        return
    from django.db import transaction
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("capture.custom_field_indexes.ensure_indexes"))
