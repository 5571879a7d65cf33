"""The scheduled sweeper shares a big backlog out to the workers and still sends each once."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from followup.models import OutboundMessage
from followup.tasks import sweep_due_messages
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_backlog_of_alerts_is_shared_out_and_each_is_sent_once(settings, sync_tasks):
    settings.FOLLOWUP_SWEEP_SECONDS = 0
    lead = LeadFactory()
    due = timezone.now() - timedelta(minutes=2)
    OutboundMessage.objects.bulk_create([
        OutboundMessage(lead=lead, kind="owner_alert", to_address=f"rep{i}@example.com",
                        subject="New lead", due_at=due) for i in range(180)])
    sweep_due_messages()
    assert Counter(Counter(m.to[0] for m in mail.outbox).values()) == {1: 180}
    assert not OutboundMessage.objects.exclude(status="sent").exists()


def test_the_sweeper_is_scheduled_every_minute_once():
    schedule = Schedule.objects.get(name="followup: dispatch due messages")
    assert schedule.func == "followup.tasks.sweep_due_messages" and schedule.minutes == 1


def test_a_chunk_whose_task_waited_past_the_lease_leaves_its_rows_to_the_newer_claim():
    from followup.tasks import STALE_AFTER, claim_due_messages, deliver_claimed

    lead = LeadFactory()
    start = timezone.now()
    row = OutboundMessage.objects.create(lead=lead, kind="owner_alert", to_address="a@x.co",
                                         subject="New lead", due_at=start)
    first = start + timedelta(seconds=1)
    assert claim_due_messages(now=first) == [row.id]
    OutboundMessage.objects.filter(id=row.id).update(status="scheduled")  # freed as stale
    second = first + STALE_AFTER + timedelta(minutes=1)
    assert claim_due_messages(now=second) == [row.id]
    assert deliver_claimed([row.id], first) == 0  # the old task, run at last
    assert deliver_claimed([row.id], second) == 1
    assert deliver_claimed([row.id], second) == 0
    assert len(mail.outbox) == 1
