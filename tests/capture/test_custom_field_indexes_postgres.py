"""PostgreSQL: the GIN index from the migration, and the expression index a number or date
custom field gets (made after commit by a task, dropped with the field), used by the filter."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from capture import custom_fields
from capture.custom_field_indexes import ensure_indexes, existing_indexes
from capture.models import CustomField, Lead
from tests.factories import LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_migration_made_the_gin_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = "
                       "'lead_custom_fields_gin'")
        assert "gin (custom_fields jsonb_path_ops)" in cursor.fetchone()[0]


def test_a_number_field_gets_its_expression_index_and_loses_it_when_deleted(sync_tasks):
    seats = CustomField.objects.create(key="seats", label="Seats", kind="number")
    CustomField.objects.create(key="stack", label="Stack", kind="multi_choice", choices="A\nB")
    assert existing_indexes() == {"lead_cf_seats_idx"}  # choices are served by the GIN index
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a tiny table: make the planner show it
        qs = custom_fields.filter_range(Lead.objects.all(), seats, 10, 20)
        sql, params = qs.order_by().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "lead_cf_seats_idx" in plan
    seats.delete()
    assert existing_indexes() == set()


def test_containment_filters_use_the_gin_index(sync_tasks):
    stack = CustomField.objects.create(key="stack", label="Stack", kind="multi_choice",
                                       choices="A\nB")
    LeadFactory(custom_fields={"stack": ["A"]})
    LeadFactory(custom_fields={"stack": ["B"]})
    qs = custom_fields.filter_any_of(Lead.objects.all(), stack, ["A"])
    assert qs.count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        sql, params = qs.order_by().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "lead_custom_fields_gin" in plan


def test_runs_at_once_do_not_deadlock_and_each_index_is_built_once():
    # Two fields saved in a row queue two tasks; two workers may run them at the same time.
    for key in ("seats", "budget_usd", "renewal"):
        CustomField.objects.create(key=key, label=key, kind="date" if key == "renewal"
                                   else "number")
    LeadFactory.create_batch(50, custom_fields={"seats": 5, "budget_usd": 10})
    results, errors = [], []
    start = threading.Barrier(4)

    def run():
        try:
            start.wait()
            results.append(ensure_indexes())
        except Exception as exc:  # what the test is about
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert existing_indexes() == {"lead_cf_seats_idx", "lead_cf_budget_usd_idx",
                                  "lead_cf_renewal_idx"}
    assert sorted(name for r in results for name in r["created"]) == sorted(existing_indexes())


def test_an_index_a_failed_build_left_invalid_is_built_again(sync_tasks):
    CustomField.objects.create(key="seats", label="Seats", kind="number")
    with connection.cursor() as cursor:  # what an interrupted CREATE INDEX CONCURRENTLY leaves
        cursor.execute("UPDATE pg_index SET indisvalid = false "
                       "WHERE indexrelid = 'lead_cf_seats_idx'::regclass")
    assert existing_indexes() == set() and existing_indexes(valid=False) == {"lead_cf_seats_idx"}
    assert ensure_indexes()["created"] == ["lead_cf_seats_idx"]
    assert existing_indexes() == {"lead_cf_seats_idx"} and not existing_indexes(valid=False)
