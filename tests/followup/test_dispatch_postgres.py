"""Two dispatchers racing on PostgreSQL (real threads, real row locks) send each message once."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from followup.models import OutboundMessage
from followup.tasks import claim_due_messages, dispatch_due_messages, send_outbound
from tests.factories import LeadFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def due_messages(count: int) -> list[int]:
    lead = LeadFactory()
    due = timezone.now() - timedelta(seconds=5)
    rows = OutboundMessage.objects.bulk_create([
        OutboundMessage(lead=lead, kind=OutboundMessage.Kind.OWNER_ALERT,
                        to_address=f"rep{i}@example.com", subject=f"Lead {i}", due_at=due)
        for i in range(count)])
    return [row.id for row in rows]


def race(target, workers: int = 4) -> None:
    start = threading.Barrier(workers)
    errors = []

    def run():
        try:
            start.wait()
            target()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_four_dispatchers_racing_send_every_message_exactly_once():
    due_messages(300)

    def drain():
        while dispatch_due_messages(limit=25):
            pass

    race(drain)
    sent_to = Counter(m.to[0] for m in mail.outbox)
    assert len(sent_to) == 300 and set(sent_to.values()) == {1}
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_dispatchers_claim_disjoint_batches_with_skip_locked():
    due_messages(100)
    claimed = []
    race(lambda: claimed.extend(claim_due_messages(limit=30)))
    assert len(claimed) == len(set(claimed)) == 100


def test_the_same_task_delivered_to_four_workers_sends_once():
    message_id = due_messages(1)[0]
    race(lambda: send_outbound(message_id))
    assert len(mail.outbox) == 1
