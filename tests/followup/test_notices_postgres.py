"""Two callers telling one owner about one lead at the same moment, on PostgreSQL (real
threads, real transactions): the owner gets one notice, not one each."""

import threading
import time

import pytest
from django.db import connection, transaction

from followup.models import Notification
from followup.services import notify_once_per_lead
from tests.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WROTE = Notification.Kind.PROSPECT_WROTE


def test_two_messages_of_one_lead_taken_in_at_once_give_its_owner_one_notice():
    owner = UserFactory(username="alice")
    lead = LeadFactory(first_name="Kenji", last_name="Sato", owner=owner)
    texts = ["Kenji Sato replied by email: Are you still there?",
             "Kenji Sato texted: Please call me"]
    start = threading.Barrier(len(texts))
    errors: list[str] = []

    def take_in(text: str) -> None:
        """One worker's intake: it tells the owner, then finishes its own work before it
        commits, so the other worker looks for an unread notice before this one exists."""
        try:
            with transaction.atomic():
                start.wait()
                notify_once_per_lead(owner.pk, lead, WROTE, text)
                time.sleep(0.3)
        except Exception as exc:  # reported to the test, never swallowed
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    workers = [threading.Thread(target=take_in, args=(text,)) for text in texts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    unread = list(Notification.objects.filter(user=owner, read_at__isnull=True)
                  .values_list("kind", "text"))
    assert len(unread) == 1 and unread[0][0] == WROTE and unread[0][1] in texts
