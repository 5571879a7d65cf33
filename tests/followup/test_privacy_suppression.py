"""The suppression list after an erasure: a sequence never writes to the person again, even
when staff type them back in by hand."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from capture.models import Lead
from capture.privacy import erase_person, find_person
from followup.models import OutboundMessage, Sequence
from followup.sequences import enrol_lead
from tests.factories import UserFactory
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db

ARRIVAL = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
DAY = timedelta(days=1)


def test_an_erased_address_gets_no_sequence_email_even_on_a_lead_added_by_hand(
        routing_rules, default_sequence):
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="grace@navy.mil", company="US Navy", country="US")
    sweep_at(ARRIVAL + DAY)  # enrolled: a day without a human answer
    assert OutboundMessage.objects.filter(lead=lead, kind="sequence",
                                          status="scheduled").exists()
    with time_machine.travel(ARRIVAL + DAY + timedelta(hours=1), tick=False):
        erase_person(find_person(email="grace@navy.mil"), UserFactory(username="olivia"))
    assert not OutboundMessage.objects.filter(lead=lead, status="scheduled").exists()

    # Later a rep types her in again from a business card: the admin, not the intake.
    with time_machine.travel(ARRIVAL + 2 * DAY, tick=False):
        again = Lead.objects.create(first_name="Grace", email="Grace@navy.mil",
                                    country="US", last_activity_at=ARRIVAL + 2 * DAY)
        enrol_lead(lead=again, sequence=Sequence.objects.get(), now=ARRIVAL + 2 * DAY)
    mail.outbox.clear()
    for day in range(3, 15):
        sweep_at(ARRIVAL + day * DAY)
    assert [m for m in mail.outbox if "grace@navy.mil" in " ".join(m.to).lower()] == []
    steps = OutboundMessage.objects.filter(lead=again, kind="sequence")
    assert steps.exists() and not steps.filter(status="sent").exists()
    assert "unsubscribed" in steps.first().last_error
