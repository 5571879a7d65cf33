"""Testing a data migration: the database taken back to the migration before it, rows written
as they were then, the migration run, and the database left at the latest schema after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@contextmanager
def migrated_back_to(before: list[tuple[str, str]]) -> Iterator[None]:
    """At `before` inside the block; at every app's latest migration after it, whatever the
    block did (the tests that follow need today's schema)."""
    migrate(before)
    try:
        yield
    finally:
        executor = MigrationExecutor(connection)
        migrate(executor.loader.graph.leaf_nodes())
