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


def existing_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'capture_lead' "
                       "AND indexname LIKE %s", [PREFIX.replace("_", r"\_") + "%"])
        return {row[0] for row in cursor.fetchall()}


def ensure_indexes() -> dict[str, list[str]]:
    """Create the missing expression indexes and drop those of deleted or retyped fields.

    Run outside a transaction (CREATE INDEX CONCURRENTLY refuses one): a task or a command.
    """
    if connection.vendor != "postgresql":
        return {"created": [], "dropped": []}
    wanted, existing = wanted_indexes(), existing_indexes()
    done: dict[str, list[str]] = {"created": [], "dropped": []}
    with connection.cursor() as cursor:
        for name in sorted(existing - set(wanted)):
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            done["dropped"].append(name)
        for name, key in sorted(wanted.items()):
            if name in existing:
                continue
            # The key is a checked slug (KEY_PATTERN): safe to write into the DDL.
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON capture_lead "
                           f"((custom_fields -> '{key}'))")
            done["created"].append(name)
    if done["created"] or done["dropped"]:
        logger.info("Custom field indexes: %s", done)
    return done


def queue_index_update() -> None:
    """After a field is saved or deleted: bring the indexes in line once it has committed."""
    if connection.vendor != "postgresql":
        return
    from django.db import transaction
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("capture.custom_field_indexes.ensure_indexes"))
