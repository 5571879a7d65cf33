"""The lead page's Email and SMS actions go through the outbox: retried while the mail server
is down, never sent twice, never to a prospect who unsubscribed (or texted STOP), and an email's
answer threads onto the lead."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail

from capture.channels.email import receive_email
from capture.models import Interaction, LeadStatus
from followup.models import Notification, OutboundMessage
from followup.suppression import suppress
from followup.tasks import dispatch_due_messages
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(alice):
    return lead_for(alice.user, first_name="Grace", email="grace@navy.mil")


def post_action(client, capture, url: str, data: dict):
    """POST a lead page action and let its send run after commit; the page it leads to."""
    with capture(execute=True):
        response = client.post(url, data)
    if response.status_code != 302:
        return response  # the form with its errors
    return client.get(response["Location"])  # the lead page, with the message shown


def tab(response, pane: str) -> str:
    """The HTML of one Act tab (#act-email, #act-sms) of the lead page."""
    html = response.content.decode()
    start = html.index(f'id="{pane}"')
    return html[start:html.index("</form>", start)]


@pytest.fixture
def send(client, alice, sync_tasks, django_capture_on_commit_callbacks):
    client.force_login(alice.user)

    def post(lead, subject="Your quote", body="Hello Grace"):
        return post_action(client, django_capture_on_commit_callbacks,
                           f"/leads/{lead.pk}/email/", {"subject": subject, "body": body})
    return post


def email_tab(response) -> str:
    return tab(response, "act-email")


def test_the_email_goes_out_with_the_reps_and_the_leads_reply_address(send, lead, alice):
    response = send(lead)
    assert "Email queued" in response.content.decode()
    assert "accepted" in email_tab(response) and "Your quote" in email_tab(response)
    [sent] = mail.outbox
    assert sent.to == ["grace@navy.mil"] and sent.body == "Hello Grace"
    assert sent.reply_to[0] == alice.user.email and "+lead-" in sent.reply_to[1]
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONTACTED and lead.first_response_at is not None
    entry = lead.interactions.get(kind=Interaction.Kind.EMAIL)
    name = alice.user.get_full_name() or alice.user.username
    assert entry.summary == f"Email by {name}: Your quote"
    assert entry.message_id == sent.extra_headers["Message-ID"].strip("<>")


def test_the_prospects_answer_threads_onto_the_lead(send, lead):
    send(lead)
    message_id = mail.outbox[0].extra_headers["Message-ID"]
    raw = (f"From: Grace H <grace.h@gmail.example>\r\nTo: alice@example.com\r\n"
           f"Subject: Re: Your quote\r\nMessage-ID: <answer-1@gmail.example>\r\n"
           f"In-Reply-To: {message_id}\r\n\r\nThursday works.\r\n").encode()
    event, _ = receive_email(raw, via="test")
    assert event.lead_id == lead.pk
    assert lead.interactions.filter(kind="email", direction="inbound").exists()


def test_a_down_mail_server_means_retries_then_the_email_goes(send, lead, settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    response = send(lead)
    row = OutboundMessage.objects.get(kind="reply", channel="email")
    assert (row.status, row.attempts) == ("scheduled", 1)
    assert "retrying" in email_tab(response) and "SMTP server unreachable" in email_tab(response)
    lead.refresh_from_db()
    assert lead.first_response_at is None  # nothing reached the prospect yet
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with time_machine.travel(row.due_at + timedelta(seconds=1), tick=False):
        dispatch_due_messages()
    row.refresh_from_db()
    assert row.status == "sent" and len(mail.outbox) == 1
    lead.refresh_from_db()
    assert lead.first_response_at is not None


def test_an_email_that_never_goes_is_shown_failed_and_the_rep_is_told(send, lead, alice,
                                                                       settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    send(lead)
    row = OutboundMessage.objects.get(kind="reply", channel="email")
    for _ in range(4):
        row.refresh_from_db()
        with time_machine.travel(row.due_at + timedelta(seconds=1), tick=False):
            dispatch_due_messages()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 5)
    notice = Notification.objects.get(user=alice.user, kind="reply_failed")
    assert notice.text.startswith("Your email to Grace") and "SMTP server unreachable" in \
        notice.text
    assert lead.interactions.filter(summary__startswith="Email by", summary__contains="failed"
                                    ).exists()


def test_a_double_click_sends_one_email(send, lead):
    send(lead)
    response = send(lead)
    assert "not sent twice" in response.content.decode()
    assert len(mail.outbox) == 1
    assert OutboundMessage.objects.filter(kind="reply", channel="email").count() == 1


def test_no_email_to_a_prospect_who_unsubscribed(send, lead):
    suppress(kind="email", value=lead.email, reason="unsubscribed", lead=lead)
    response = send(lead)
    assert "This prospect unsubscribed" in response.content.decode()
    assert mail.outbox == [] and not OutboundMessage.objects.filter(kind="reply").exists()


def test_an_unsubscribe_before_the_send_cancels_the_email(client, alice, lead,
                                                          django_capture_on_commit_callbacks):
    client.force_login(alice.user)
    client.post(f"/leads/{lead.pk}/email/", {"subject": "Hi", "body": "Hello"})  # not sent yet
    suppress(kind="email", value=lead.email, reason="unsubscribed", lead=lead)
    dispatch_due_messages()
    row = OutboundMessage.objects.get(kind="reply", channel="email")
    assert row.status == "cancelled" and "unsubscribed" in row.last_error
    assert mail.outbox == []


def test_a_lead_without_email_gets_a_form_error(send, alice):
    lead = lead_for(alice.user, email="", phone="+14155550100")
    client_response = send(lead)
    assert "This lead has no email address." in client_response.content.decode()
    assert not OutboundMessage.objects.filter(kind="reply").exists()


# --- SMS ------------------------------------------------------------------------------------

@pytest.fixture
def text(client, alice, sync_tasks, django_capture_on_commit_callbacks):
    client.force_login(alice.user)

    def post(lead, body="Are you free at 3?"):
        return post_action(client, django_capture_on_commit_callbacks,
                           f"/leads/{lead.pk}/sms/", {"body": body})
    return post


def sms_tab(response) -> str:
    return tab(response, "act-sms")


def test_a_text_goes_through_twilio_and_stamps_the_first_response(text, alice, twilio):
    lead = lead_for(alice.user, phone="+14155552671")
    response = text(lead)
    assert "Text queued" in response.content.decode() and "queued" in sms_tab(response)
    [sent] = twilio.texts
    assert (sent["To"], sent["Body"]) == ("+14155552671", "Are you free at 3?")
    lead.refresh_from_db()
    assert lead.first_response_at is not None and lead.status == LeadStatus.CONTACTED
    assert lead.interactions.filter(kind=Interaction.Kind.SMS, direction="outbound").exists()
    text(lead)  # a double click
    assert len(twilio.texts) == 1


def test_a_refused_text_is_shown_failed_and_nothing_counts_as_contact(text, alice, twilio):
    twilio.fail = True  # Twilio answers 400 (an unsubscribed recipient): not retried
    lead = lead_for(alice.user, phone="+14155552671")
    response = text(lead)
    assert "failed" in sms_tab(response) and "Unsubscribed recipient" in sms_tab(response)
    lead.refresh_from_db()
    assert lead.first_response_at is None


def test_no_text_to_a_prospect_who_texted_stop_or_without_a_phone(text, alice, twilio):
    stopped = lead_for(alice.user, phone="+14155552671")
    suppress(kind="phone", value=stopped.phone, reason="stop", lead=stopped)
    response = text(stopped)
    assert response.status_code == 400 and "texted STOP" in response.content.decode()
    no_phone = lead_for(alice.user, phone="")
    assert "This lead has no phone number." in text(no_phone).content.decode()
    assert twilio.texts == [] and not OutboundMessage.objects.filter(kind="reply").exists()
