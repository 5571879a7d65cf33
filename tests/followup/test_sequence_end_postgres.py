"""A sequence's last two steps sent by two workers at once, on PostgreSQL (real threads, real
transactions): the sequence still ends, and the lead goes to the nurture list."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction

from capture.models import LeadStatus
from followup.models import Enrollment, OutboundMessage
from followup.sequences import enrol_lead
from followup.services import _record_sent
from tests.followup.conftest import submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_last_two_steps_sent_at_once_still_end_the_sequence(routing_rules,
                                                                 default_sequence):
    lead = submit(email="grace@navy.mil", company="US Navy", country="US")
    enrollment = enrol_lead(lead=lead, sequence=default_sequence)
    steps = list(OutboundMessage.objects.filter(enrollment=enrollment).order_by("due_at"))
    *earlier, second_last, last = steps
    OutboundMessage.objects.filter(pk__in=[s.pk for s in earlier]).update(
        status=OutboundMessage.Status.SENT)
    # Both claimed by a worker each (after downtime, both were due at once).
    OutboundMessage.objects.filter(pk__in=[second_last.pk, last.pk]).update(
        status=OutboundMessage.Status.SENDING)
    first_has_read = threading.Event()
    errors: list[str] = []

    def send(step: OutboundMessage, *, first: bool) -> None:
        try:
            if not first:
                first_has_read.wait(10)
            with transaction.atomic():
                _record_sent(step, lead)
                if first:
                    first_has_read.set()
                    # The first worker's transaction stays open while the second records
                    # its step (before the fix both read the other's step as sending).
                    threading.Event().wait(2)
        except Exception as exc:  # reported to the test, never swallowed
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    workers = [threading.Thread(target=send, args=(second_last,), kwargs={"first": True}),
               threading.Thread(target=send, args=(last,), kwargs={"first": False})]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert errors == []
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED
    assert enrollment.ended_at is not None and enrollment.ended_at - lead.created_at < timedelta(
        minutes=5)
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NURTURE
