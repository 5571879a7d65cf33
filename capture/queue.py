"""Queueing django-q2 tasks so that no task exists before the data it works on.

With the ORM broker on the `default` database (our default), the task row is written inside
the caller's transaction: it becomes visible to the workers exactly when the data commits,
and vanishes with it on a rollback, for the price of no extra commit. With Redis as the
broker (or django-q2's sync mode in tests) the task is queued once the transaction commits.
Either way the outbox row the task works on is what counts: the one-minute sweepers find
work whose kick was lost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction


def queue_task_with_data(func: str, *args) -> None:
    from django_q.conf import Conf
    from django_q.tasks import async_task

    in_transaction = settings.Q_CLUSTER.get("orm") == "default" and not Conf.SYNC
    if in_transaction and transaction.get_connection().in_atomic_block:
        async_task(func, *args)
    else:
        transaction.on_commit(lambda: async_task(func, *args))
