"""Sequences: day 2, 5 and 10 then nurture; enrolment rules; every stop condition; headers."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent, tracking
from django.core import mail
from django.db import IntegrityError, transaction

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, Interaction, LeadStatus
from capture.services import log_rep_contact, set_lead_status
from followup.models import (
    Enrollment,
    Notification,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Suppression,
)
from followup.sequences import enrol_lead
from followup.suppression import unsubscribe_url
from followup.tasks import send_outbound
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db

# Monday 30 November 2026, 10:00 in New York.
ARRIVAL = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def to_prospect(lead):
    return [m for m in mail.outbox if m.to == [lead.email]]


@pytest.fixture
def lead(routing_rules, default_sequence):
    with time_machine.travel(ARRIVAL, tick=False):
        return submit(email="grace@navy.mil", company="US Navy", country="US")


@pytest.fixture
def enrolled(lead):
    sweep_at(ARRIVAL + DAY)  # 24 hours without a human response
    return Enrollment.objects.get(lead=lead)


def test_an_unanswered_lead_gets_emails_on_day_2_5_and_10_then_goes_to_nurture(lead):
    assert sweep_at(ARRIVAL + DAY - timedelta(minutes=1)) == 1  # only the owner's alert
    assert not Enrollment.objects.exists()
    sweep_at(ARRIVAL + DAY)
    assert Enrollment.objects.get().status == "active"

    assert sweep_at(ARRIVAL + 2 * DAY - timedelta(minutes=1)) == 0
    assert sweep_at(ARRIVAL + 2 * DAY) == 1  # Wednesday 10:00 in New York
    first = to_prospect(lead)[-1]
    assert first.subject == "Your request for US Navy"
    assert "Hi Grace," in first.body and "Alice Rep" in first.body

    # Day 5 is a Saturday: the default sequence keeps weekends free, so Monday at 9:00.
    assert sweep_at(ARRIVAL + 5 * DAY) == 0
    monday_nine = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert sweep_at(monday_nine - timedelta(minutes=1)) == 0
    assert sweep_at(monday_nine) == 1
    assert to_prospect(lead)[-1].subject == "Checking in"

    assert sweep_at(ARRIVAL + 10 * DAY) == 1  # Thursday 10 December, 10:00
    assert to_prospect(lead)[-1].subject == "Shall I close your request?"
    assert len(to_prospect(lead)) == 3
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NURTURE
    assert Enrollment.objects.get().status == "completed"
    assert sweep_at(ARRIVAL + 20 * DAY) == 0


def test_a_lead_answered_within_24_hours_is_not_enrolled(lead, alice):
    with time_machine.travel(ARRIVAL + timedelta(hours=3), tick=False):
        log_rep_contact(lead=lead, user=alice.user, kind=Interaction.Kind.EMAIL)
    sweep_at(ARRIVAL + DAY)
    assert not Enrollment.objects.exists()
    assert sweep_at(ARRIVAL + 3 * DAY) == 0 and to_prospect(lead) == []


def test_every_sequence_email_has_the_postal_address_unsubscribe_link_and_headers(
        enrolled, settings):
    sweep_at(ARRIVAL + 2 * DAY)
    sent = to_prospect(enrolled.lead)[0]
    link = unsubscribe_url(enrolled.lead)
    assert settings.COMPANY_POSTAL_ADDRESS in sent.body and link in sent.body
    assert sent.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "+lead-" in sent.reply_to[0]
    # A reply quoting this Message-ID threads onto the lead (the email channel matches it).
    message_id = sent.extra_headers["Message-ID"].strip("<>")
    assert Interaction.objects.get(message_id=message_id).lead == enrolled.lead
    row = OutboundMessage.objects.get(message_id=message_id)
    assert row.status == "sent" and row.provider_status == "accepted"


def unsubscribe_path(lead) -> str:
    return unsubscribe_url(lead).removeprefix("http://127.0.0.1:8000")


def test_opening_the_unsubscribe_link_only_asks_so_a_mail_scanner_unsubscribes_nobody(
        enrolled, client):
    response = client.get(unsubscribe_path(enrolled.lead))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Unsubscribe from our emails?" in page and "grace@navy.mil" in page
    assert '<form method="post"' in page and "You are unsubscribed" not in page
    client.get(unsubscribe_path(enrolled.lead))  # a second scanner
    enrolled.refresh_from_db()
    assert enrolled.status == "active" and not Suppression.objects.exists()


def test_the_button_on_the_unsubscribe_page_stops_at_once_and_confirms(enrolled, csrf_client):
    path = unsubscribe_path(enrolled.lead)
    csrf_client.get(path)
    response = csrf_client.post(path)  # the page's form: no CSRF token is needed or checked
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped" and "unsubscribed" in enrolled.stop_reason
    assert Suppression.objects.get().value == "grace@navy.mil"
    assert sweep_at(ARRIVAL + 11 * DAY) == 0 and to_prospect(enrolled.lead) == []
    assert enrolled.lead.interactions.filter(summary__contains="unsubscribed").exists()


def test_the_unsubscribe_page_says_when_the_address_is_already_unsubscribed(enrolled, client):
    client.post(unsubscribe_path(enrolled.lead))
    page = client.get(unsubscribe_path(enrolled.lead)).content.decode()
    assert "You are already unsubscribed" in page and "<form" not in page


def test_a_mail_clients_one_click_post_unsubscribes_without_a_csrf_token(enrolled, csrf_client):
    path = unsubscribe_path(enrolled.lead)
    response = csrf_client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped"
    assert Suppression.objects.get().value == "grace@navy.mil"


def test_a_step_stored_with_a_debug_tag_fails_at_once_and_sends_nothing(enrolled):
    enrolled.sequence.steps.filter(position=1).update(body="Hi {% debug %}")
    sweep_at(ARRIVAL + 2 * DAY)
    assert to_prospect(enrolled.lead) == []
    step = OutboundMessage.objects.get(enrollment=enrolled, step__position=1)
    assert step.status == "failed"  # not retried: the text will not render until it is fixed
    assert "Line 1: {% debug %} is not allowed here." in step.last_error


def test_a_forged_unsubscribe_link_changes_nothing(enrolled, client):
    response = client.get("/u/not-a-real-token/")
    assert response.status_code == 404 and "not valid" in response.content.decode()
    response = client.post("/u/not-a-real-token/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404 and "not valid" in response.content.decode()
    enrolled.refresh_from_db()
    assert enrolled.status == "active"


def test_an_unsubscribed_address_is_never_enrolled_again(enrolled, client):
    client.post(unsubscribe_path(enrolled.lead))
    sequence = Sequence.objects.create(name="Second try", trigger="on_arrival")
    SequenceStep.objects.create(sequence=sequence, delay=1, delay_unit="hours",
                                subject="Hello", body="Hi")
    enrol_lead(lead=enrolled.lead, sequence=sequence, now=ARRIVAL + 3 * DAY)
    assert sweep_at(ARRIVAL + 3 * DAY + timedelta(hours=1)) == 0
    assert to_prospect(enrolled.lead) == []


def test_a_lead_who_emailed_us_is_followed_up_when_nobody_answers(routing_rules,
                                                                 default_sequence):
    """A request sent to sales@ is a new lead like a form's: nobody answering it within 24
    hours enrols it (it is no import). It got no "no response" timer, so nothing followed."""
    from capture.channels.email import receive_email

    raw = (b"From: Emma Mailer <emma@mailer-corp.com>\r\nTo: sales@example.com\r\n"
           b"Subject: Quote for 40 seats\r\nMessage-ID: <emma-1@mailer-corp.com>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nWe need a quote for 40 seats.\r\n")
    with time_machine.travel(ARRIVAL, tick=False):
        event, _ = receive_email(raw, via="test")
    lead = event.lead
    sweep_at(ARRIVAL + DAY)
    assert Enrollment.objects.get(lead=lead).status == "active"
    sweep_at(ARRIVAL + 2 * DAY)
    assert [m.subject for m in to_prospect(lead)] == ["Your request"]


@pytest.mark.parametrize(("channel", "kind", "reason"), [
    (Channel.EMAIL, Interaction.Kind.EMAIL, "the prospect replied by email"),
    (Channel.SMS, Interaction.Kind.SMS, "the prospect texted"),
    (Channel.CHAT, Interaction.Kind.MESSAGE, "the prospect wrote"),  # WhatsApp, Messenger
    (Channel.CALL, Interaction.Kind.CALL, "the prospect called"),
    (Channel.BOOKING, Interaction.Kind.SUBMISSION, "the prospect booked a meeting"),
])
def test_any_inbound_reply_stops_the_sequence_and_says_why(enrolled, channel, kind, reason):
    sweep_at(ARRIVAL + 2 * DAY)  # the day-2 email went out
    with time_machine.travel(ARRIVAL + 3 * DAY, tick=False):
        receive_lead(IntakeInput(channel=channel, kind=kind, summary="Reply",
                                 fields={"email": "grace@navy.mil"}, notify_prospect=False,
                                 lead_id=enrolled.lead_id))
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped" and enrolled.stop_reason == reason
    assert enrolled.lead.interactions.filter(summary__contains=reason).exists()
    assert sweep_at(ARRIVAL + 11 * DAY) == 0
    assert len(to_prospect(enrolled.lead)) == 1
    assert OutboundMessage.objects.filter(enrollment=enrolled, status="cancelled").count() == 2


def test_a_message_before_any_step_reached_the_prospect_stops_nothing(lead):
    """Writing again before anyone answered (a second WhatsApp, more chat) answers nobody:
    the "no response" timer and then the sequence go on; only a reply to what the sequence
    sent, or a rep's answer, stops it."""
    with time_machine.travel(ARRIVAL + timedelta(hours=2), tick=False):
        receive_lead(IntakeInput(channel=Channel.CHAT, kind=Interaction.Kind.MESSAGE,
                                 summary="Any news?", fields={"email": "grace@navy.mil"},
                                 notify_prospect=False, lead_id=lead.pk))
    sweep_at(ARRIVAL + DAY)  # nobody answered within 24 hours: enrolled all the same
    enrollment = Enrollment.objects.get(lead=lead)
    with time_machine.travel(ARRIVAL + DAY + timedelta(hours=1), tick=False):
        receive_lead(IntakeInput(channel=Channel.CHAT, kind=Interaction.Kind.MESSAGE,
                                 summary="Hello?", fields={"email": "grace@navy.mil"},
                                 notify_prospect=False, lead_id=lead.pk))
    enrollment.refresh_from_db()
    assert enrollment.status == "active"
    sweep_at(ARRIVAL + 2 * DAY)
    assert len(to_prospect(lead)) == 1  # the day-2 email


def test_texting_stop_stops_the_sequence_and_no_text_is_ever_sent(routing_rules, twilio):
    sequence = Sequence.objects.create(name="Texts", trigger="on_arrival",
                                       window_starts=time(0), window_ends=time(23, 59),
                                       send_on_weekends=True)
    for position in (1, 2):
        SequenceStep.objects.create(sequence=sequence, position=position, delay=2,
                                    delay_unit="hours", channel="sms",
                                    body="Hi {{ first_name }}, still interested?")
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(phone="+14155552671", country="US")
    assert sweep_at(ARRIVAL + timedelta(hours=2)) == 2  # the owner's alert and the first text
    assert [t["To"] for t in twilio.texts] == ["+14155552671"]
    # On a line of its own: "...from Bob Brown Reply STOP" read as one sentence.
    assert twilio.texts[0]["Body"] == "Hi Grace, still interested?\nReply STOP to opt out."
    receive_lead(IntakeInput(channel=Channel.SMS, kind=Interaction.Kind.SMS, summary="STOP",
                             fields={"phone": "+14155552671"}, notify_prospect=False,
                             flags={"do_not_text": True}))
    enrollment = Enrollment.objects.get(lead=lead)
    assert enrollment.status == "stopped" and "STOP" in enrollment.stop_reason
    assert Suppression.objects.get(kind="phone").value == "+14155552671"
    assert sweep_at(ARRIVAL + timedelta(hours=5)) == 0 and len(twilio.texts) == 1


def test_a_reps_status_change_stops_the_sequence(enrolled, alice):
    set_lead_status(lead=enrolled.lead, status=LeadStatus.QUALIFIED, user=alice.user)
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped" and enrolled.stop_reason == "a rep changed the status"


def test_a_bounce_reported_by_the_email_provider_stops_the_sequence(enrolled):
    event = AnymailTrackingEvent(event_type="bounced", recipient="Grace@Navy.mil")
    tracking.send(sender=object, event=event, esp_name="Postmark")
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped" and enrolled.stop_reason == "the email bounced"
    assert Suppression.objects.get().reason == "bounce"


def test_a_lead_is_in_at_most_one_active_sequence(enrolled):
    other = Sequence.objects.create(name="Other")
    assert enrol_lead(lead=enrolled.lead, sequence=other) is None
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(lead=enrolled.lead, sequence=other)


def test_a_step_can_be_written_and_sent_only_once(enrolled):
    row = OutboundMessage.objects.filter(enrollment=enrolled).order_by("due_at").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        OutboundMessage.objects.create(lead=enrolled.lead, kind="sequence",
                                       enrollment=enrolled, step=row.step)
    with time_machine.travel(row.due_at, tick=False):
        assert send_outbound(row.id) is True
        assert send_outbound(row.id) is False
    assert len(to_prospect(enrolled.lead)) == 1


def test_enrolment_by_tier_source_and_form(routing_rules, tiers, quote_form):
    hot_only = Sequence.objects.create(name="Hot", trigger="on_arrival", position=1)
    hot_only.tiers.add(tiers["hot"])
    from_quote = Sequence.objects.create(name="Quote form", trigger="on_arrival", position=2)
    from_quote.forms.add(quote_form)
    partners = Sequence.objects.create(name="Partners", trigger="on_arrival", position=3,
                                       sources="partner-api, Reseller")
    for sequence in (hot_only, from_quote, partners):
        SequenceStep.objects.create(sequence=sequence, subject="Hi", body="Hi")

    hot = submit(email="cto@big.com", job_title="CTO")
    web = receive_lead(IntakeInput(channel=Channel.WEB_FORM, form_id=quote_form.pk,
                                   fields={"email": "a@web.com"}, summary="Form")).lead
    partner = receive_lead(IntakeInput(channel=Channel.API, source="reseller",
                                       fields={"email": "b@partner.com"}, summary="API")).lead
    nobody = submit(email="c@nowhere.com")
    imported = receive_lead(IntakeInput(channel=Channel.IMPORT, fields={"email": "d@x.com"},
                                        summary="Imported", notify_prospect=False)).lead
    enrolled_in = {e.lead_id: e.sequence.name for e in Enrollment.objects.all()}
    assert enrolled_in == {hot.pk: "Hot", web.pk: "Quote form", partner.pk: "Partners"}
    assert nobody.pk not in enrolled_in and imported.pk not in enrolled_in


def test_a_call_task_step_lands_on_the_owners_queue_within_calling_hours(routing_rules,
                                                                         alice):
    sequence = Sequence.objects.create(name="Call", trigger="on_arrival",
                                       window_starts=time(7), window_ends=time(23))
    SequenceStep.objects.create(sequence=sequence, delay=14, delay_unit="hours",
                                channel="task", subject="Call {{ first_name }}", body="Call")
    with time_machine.travel(ARRIVAL, tick=False):  # 10:00 in New York; +14 hours is 00:00
        lead = submit(email="grace@navy.mil", country="US")
    row = OutboundMessage.objects.get(lead=lead, kind="sequence")
    assert row.due_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 8:00 in New York
    sweep_at(row.due_at)
    task = Notification.objects.get(user=alice.user, kind="task")
    assert task.text == "Call Grace: Grace" and task.lead == lead


# --- Pause and resume ---------------------------------------------------------------------------

def test_a_paused_sequence_sends_nothing_and_resuming_keeps_the_gaps(enrolled):
    from followup.sequences import pause_enrollment, resume_enrollment

    lead = enrolled.lead
    planned = list(OutboundMessage.objects.filter(enrollment=enrolled).order_by("due_at")
                   .values_list("due_at", flat=True))
    with time_machine.travel(ARRIVAL + DAY + timedelta(hours=1), tick=False):
        assert pause_enrollment(lead=lead, who="Alice") is True
        assert pause_enrollment(lead=lead, who="Alice") is False  # already paused
    enrolled.refresh_from_db()
    assert enrolled.status == "paused"
    assert sweep_at(ARRIVAL + 2 * DAY + timedelta(minutes=30)) == 0  # day 2 is held, not sent
    assert to_prospect(lead) == []
    held = OutboundMessage.objects.filter(enrollment=enrolled)
    assert set(held.values_list("status", flat=True)) == {"paused"}

    with time_machine.travel(ARRIVAL + 2 * DAY + timedelta(hours=1), tick=False):
        assert resume_enrollment(lead=lead, who="Alice") is True
    # Paused for a day: every step moved on by a day (the first to Thursday 10:00).
    moved = list(held.order_by("due_at").values_list("due_at", flat=True))
    assert [b - a for a, b in zip(planned, moved, strict=True)] == [DAY] * 3
    assert set(held.values_list("status", flat=True)) == {"scheduled"}
    assert sweep_at(moved[0] - timedelta(minutes=1)) == 0
    assert sweep_at(moved[0]) == 1
    assert [m.subject for m in to_prospect(lead)] == ["Your request for US Navy"]
    summaries = list(lead.interactions.values_list("summary", flat=True))
    assert any("paused by Alice" in s for s in summaries)
    assert any("resumed by Alice" in s for s in summaries)


def test_a_step_claimed_as_the_sequence_is_paused_goes_back_to_waiting(enrolled):
    from followup.sequences import pause_enrollment

    row = OutboundMessage.objects.filter(enrollment=enrolled).order_by("due_at").first()
    OutboundMessage.objects.filter(pk=row.pk).update(status="sending")  # a worker claimed it
    Enrollment.objects.filter(pk=enrolled.pk).update(status="paused")
    pause_enrollment(lead=enrolled.lead, who="Alice")  # no-op: already paused
    from followup.services import deliver_outbound

    row.refresh_from_db()
    with time_machine.travel(row.due_at, tick=False):
        assert deliver_outbound(row) is False
    row.refresh_from_db()
    assert row.status == "paused" and to_prospect(enrolled.lead) == []


def test_stopping_a_paused_sequence_cancels_what_it_held_and_a_paused_lead_gets_no_second(
        enrolled):
    from followup.sequences import pause_enrollment, stop_enrollment

    lead = enrolled.lead
    pause_enrollment(lead=lead, who="Alice")
    assert enrol_lead(lead=lead, sequence=Sequence.objects.create(name="Other")) is None
    assert stop_enrollment(lead=lead, reason="stopped by Alice") is True
    enrolled.refresh_from_db()
    assert enrolled.status == "stopped"
    assert set(OutboundMessage.objects.filter(enrollment=enrolled)
               .values_list("status", flat=True)) == {"cancelled"}


def test_the_lead_page_pauses_and_resumes_the_sequence(enrolled, client, alice):
    lead = enrolled.lead
    client.force_login(alice.user)
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "Pause</button>" in page and "Stop the sequence" in page
    response = client.post(f"/leads/{lead.pk}/pause-sequence/", follow=True)
    page = response.content.decode()
    assert "Sequence paused" in page and "Resume</button>" in page and "(held; was due" in page
    client.post(f"/leads/{lead.pk}/resume-sequence/")
    enrolled.refresh_from_db()
    assert enrolled.status == "active" and enrolled.paused_at is None


def test_the_last_step_that_failed_goes_out_when_sales_ops_retry_it(enrolled, settings,
                                                                  client):
    """The last step failed (the mail server was down on day 10): with nothing left, the
    sequence completed and the lead went to nurture. Retried from the outbox once the server
    was back, the step was cancelled ("The sequence is completed.") instead of sent."""
    from tests.factories import UserFactory

    sweep_at(ARRIVAL + 2 * DAY)
    sweep_at(datetime(2026, 12, 7, 14, 0, tzinfo=UTC))  # day 5 moved to Monday 9:00
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    for minutes in range(0, 50, 10):
        sweep_at(ARRIVAL + 10 * DAY + timedelta(minutes=minutes))
    last = OutboundMessage.objects.get(enrollment=enrolled, step__position=3)
    assert last.status == "failed"
    enrolled.refresh_from_db()
    assert enrolled.status == "completed"

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(ARRIVAL + 11 * DAY + timedelta(hours=1), tick=False):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        client.post("/admin/followup/outboundmessage/", {
            "action": "send_again_now", "_selected_action": [last.pk]})
    last.refresh_from_db()
    assert last.status == "sent", last.last_error
    assert [m.subject for m in to_prospect(enrolled.lead)][-1] == "Shall I close your request?"


def test_a_failed_step_retried_after_the_prospect_wrote_is_not_sent(enrolled, settings,
                                                                    client):
    from tests.factories import UserFactory

    sweep_at(ARRIVAL + 2 * DAY)
    sweep_at(datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    for minutes in range(0, 50, 10):
        sweep_at(ARRIVAL + 10 * DAY + timedelta(minutes=minutes))
    with time_machine.travel(ARRIVAL + 11 * DAY, tick=False):
        receive_lead(IntakeInput(channel=Channel.EMAIL, kind=Interaction.Kind.EMAIL,
                                 summary="Reply", fields={"email": "grace@navy.mil"},
                                 notify_prospect=False, lead_id=enrolled.lead_id))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    last = OutboundMessage.objects.get(enrollment=enrolled, step__position=3)
    with time_machine.travel(ARRIVAL + 11 * DAY + timedelta(hours=1), tick=False):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        client.post("/admin/followup/outboundmessage/", {
            "action": "send_again_now", "_selected_action": [last.pk]})
    last.refresh_from_db()
    assert last.status == "cancelled"
    assert len(to_prospect(enrolled.lead)) == 2


def test_a_failed_step_retried_at_night_is_reported_as_waiting_for_the_window(
        enrolled, settings, client):
    """Retried after the lead's sending window closed, the step is moved to the morning: the
    action said "1 not sent: see their status and last error", and the last error was still
    the mail server's."""
    from tests.factories import UserFactory

    sweep_at(ARRIVAL + 2 * DAY)
    sweep_at(datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    for minutes in range(0, 50, 10):
        sweep_at(ARRIVAL + 10 * DAY + timedelta(minutes=minutes))
    last = OutboundMessage.objects.get(enrollment=enrolled, step__position=3)
    assert last.status == "failed"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    evening = datetime(2026, 12, 11, 0, 30, tzinfo=UTC)  # Thursday 19:30 in New York
    with time_machine.travel(evening, tick=False):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        page = client.post("/admin/followup/outboundmessage/", {
            "action": "send_again_now", "_selected_action": [last.pk]}, follow=True)
    last.refresh_from_db()
    assert last.status == "scheduled"
    assert last.due_at == datetime(2026, 12, 11, 14, 0, tzinfo=UTC)  # Friday 9:00 there
    said = [(m.level_tag, m.message) for m in page.context["messages"]]
    assert said == [("success", "Sent 0 of 1 message(s). 1 waits for the prospect's sending "
                                "window: it goes out at its due time.")]
