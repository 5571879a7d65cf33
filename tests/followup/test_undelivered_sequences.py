"""A sequence none of whose messages reached the prospect ends as undelivered, not completed:
the lead stays out of nurture and its owner is told once (docs/followup.md, When a sequence
stops)."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core import mail

from capture.models import LeadStatus
from followup.models import Enrollment, Notification, OutboundMessage, Suppression
from tests.factories import UserFactory
from tests.followup.conftest import submit, sweep_at
from tests.followup.test_windows_and_downtime import one_step

pytestmark = pytest.mark.django_db

# Monday 30 November 2026, 10:00 in New York.
ARRIVAL = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MONDAY_NINE = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # day 5 falls on Saturday
FAILING = "tests.followup.failing_backend.FailingBackend"


def sweep_with_retries(moment: datetime) -> None:
    """The sweeper at `moment` and through the retries 1, 2, 4 and 8 minutes later."""
    for minutes in range(0, 50, 10):
        sweep_at(moment + timedelta(minutes=minutes))


@pytest.fixture
def lead(routing_rules, default_sequence):
    with time_machine.travel(ARRIVAL, tick=False):
        return submit(email="grace@navy.mil", company="US Navy", country="US")


def undelivered_notices(user) -> list[str]:
    return list(Notification.objects.filter(
        user=user, kind=Notification.Kind.FOLLOWUP_UNDELIVERED).values_list("text", flat=True))


def test_a_sequence_the_mail_server_refused_ends_undelivered_and_the_owner_is_told(
        lead, settings, client, alice):
    settings.EMAIL_BACKEND = FAILING
    sweep_at(ARRIVAL + DAY)  # enrolled: nobody answered within 24 hours
    enrollment = Enrollment.objects.get(lead=lead)
    for due in (ARRIVAL + 2 * DAY, MONDAY_NINE):
        sweep_with_retries(due)
        enrollment.refresh_from_db()
        assert enrollment.status == "active"  # a step is still to come
    assert undelivered_notices(alice.user) == []
    sweep_with_retries(ARRIVAL + 10 * DAY)

    assert [m.to for m in mail.outbox] == []
    assert set(OutboundMessage.objects.filter(enrollment=enrollment).values_list(
        "status", flat=True)) == {"failed"}
    enrollment.refresh_from_db()
    assert enrollment.status == "undelivered"
    assert enrollment.stop_reason == (
        "3 failed (ConnectionRefusedError: SMTP server unreachable)")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW  # not nurture: nobody has followed it up
    assert undelivered_notices(alice.user) == [
        "Follow-up could not reach Grace: nothing of “No answer yet: day 2, 5 and 10, then "
        "nurture” was delivered (3 failed (ConnectionRefusedError: SMTP server unreachable))"]

    client.force_login(alice.user)
    queue = client.get("/queue/").content.decode()
    assert f'<a href="/leads/{lead.pk}/">Follow-up could not reach Grace' in queue
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Ended: nothing could be delivered.</strong> None of its messages reached the " \
        "prospect (3 failed (ConnectionRefusedError: SMTP server unreachable)). The lead was " \
        "not moved to nurture: reach them another way." in page
    assert "Sequence “No answer yet: day 2, 5 and 10, then nurture” ended: nothing could be " \
        "delivered" in page  # the timeline
    assert "completed" not in page

    client.force_login(UserFactory(username="ops", is_staff=True, is_superuser=True))
    listed = client.get("/admin/followup/enrollment/", {"status": "undelivered"})
    assert list(listed.context["cl"].result_list) == [enrollment]
    assert "Ended: nothing could be delivered" in listed.content.decode()
    assert client.get("/admin/followup/enrollment/", {"status": "completed"}
                      ).context["cl"].result_count == 0


def test_steps_to_a_suppressed_address_end_undelivered(lead, alice):
    Suppression.objects.create(kind="email", value="grace@navy.mil", reason="bounce")
    sweep_at(ARRIVAL + DAY)
    for due in (ARRIVAL + 2 * DAY, MONDAY_NINE, ARRIVAL + 10 * DAY):
        sweep_at(due)
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.status == "undelivered"
    assert enrollment.stop_reason.startswith("3 not sent (The prospect unsubscribed")
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW
    assert len(undelivered_notices(alice.user)) == 1  # one notice, not one per step


def test_a_step_skipped_after_downtime_ends_its_sequence_undelivered(routing_rules, alice):
    one_step(delay=1, window_starts=time(8), window_ends=time(21), send_on_weekends=True)
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="grace@navy.mil", country="US")
    sweep_at(ARRIVAL + 2 * DAY)  # the worker was down for two days
    step = OutboundMessage.objects.get(lead=lead, kind="sequence")
    assert step.status == "skipped"
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.status == "undelivered"
    assert enrollment.stop_reason.startswith("1 skipped (found 47.0 hours late")
    assert lead.owner == alice.user
    assert len(undelivered_notices(alice.user)) == 1


def test_one_step_that_reached_the_prospect_completes_the_sequence_as_before(
        lead, settings, alice):
    sweep_at(ARRIVAL + DAY)
    sweep_at(ARRIVAL + 2 * DAY)  # the day-2 email goes out; then the mail server goes down
    settings.EMAIL_BACKEND = FAILING
    sweep_with_retries(MONDAY_NINE)
    sweep_with_retries(ARRIVAL + 10 * DAY)
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.status == "completed" and enrollment.stop_reason == ""
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NURTURE
    assert undelivered_notices(alice.user) == []


def test_a_failed_step_retried_after_the_sequence_ended_undelivered_completes_it(
        lead, settings, client):
    settings.EMAIL_BACKEND = FAILING
    sweep_at(ARRIVAL + DAY)
    for due in (ARRIVAL + 2 * DAY, MONDAY_NINE, ARRIVAL + 10 * DAY):
        sweep_with_retries(due)
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.status == "undelivered"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    last = OutboundMessage.objects.get(enrollment=enrollment, step__position=3)
    with time_machine.travel(ARRIVAL + 10 * DAY + timedelta(hours=1), tick=False):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        client.post("/admin/followup/outboundmessage/", {
            "action": "send_again_now", "_selected_action": [last.pk]})
    last.refresh_from_db()
    assert last.status == "sent", last.last_error
    assert [m.subject for m in mail.outbox if m.to == ["grace@navy.mil"]] == [
        "Shall I close your request?"]
    enrollment.refresh_from_db()
    assert enrollment.status == "completed" and enrollment.stop_reason == ""
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NURTURE
