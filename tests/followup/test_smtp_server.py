"""The outbox against a real SMTP server on 127.0.0.1 (tests/faults/smtp_sink.py): what the
prospect and the rep receive, and what staff see when the server misbehaves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path

import pytest

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel
from followup.models import OutboundMessage
from followup.tasks import send_outbound
from tests.faults.smtp_sink import SmtpSink

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
Kind, Status = OutboundMessage.Kind, OutboundMessage.Status


@pytest.fixture
def smtp(settings):
    """Point the email backend at a sink made by the test (`smtp(**behaviour)`)."""
    sinks = []

    def start(**behaviour) -> SmtpSink:
        sink = SmtpSink(**behaviour).__enter__()
        sinks.append(sink)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        return sink

    yield start
    for sink in sinks:
        sink.__exit__(None, None, None)


def web_lead(form, **fields):
    return receive_lead(IntakeInput(channel=Channel.WEB_FORM, fields=fields, form_id=form.pk,
                                    summary="Submitted the form")).lead


def test_a_name_with_a_line_break_reaches_the_rep_in_a_one_line_subject_and_injects_nothing(
    quote_form, routing_rules, smtp,
):
    """A form post (or an API call) can carry CR/LF in a name. The rep's alert put the name in
    its Subject as it was: Django refused the header (BadHeaderError), the alert failed five
    times and the rep never got the email."""
    sink = smtp()
    lead = web_lead(quote_form, first_name="Eve\r\nBcc: victim@example.net",
                    last_name="Doe\nX-Injected: yes", email="eve@example.org")
    alert = OutboundMessage.objects.get(lead=lead, kind=Kind.OWNER_ALERT)
    send_outbound(alert.id)
    alert.refresh_from_db()
    assert (alert.status, alert.last_error) == (Status.SENT, "")
    [to_rep] = [m for m in sink.messages if m["X-Leadcrm-Message"] == str(alert.id)]
    assert to_rep["Subject"] == "New lead for you: Eve Bcc: victim@example.net Doe X-Injected: yes"
    assert to_rep["Bcc"] is None and to_rep["X-Injected"] is None
    assert to_rep["To"] == lead.owner.email


def test_a_rep_answering_their_alert_email_is_not_taken_as_the_prospect_replying(
    quote_form, routing_rules, smtp,
):
    """The rep's alert comes from DEFAULT_FROM_EMAIL (sales@, where inbound mail arrives) with
    its Message-ID on the lead's timeline. A rep who pressed Reply ("Max, can Bob take this?")
    was threaded onto the lead as the prospect's email reply: the rep got a notice "Grace Hopper
    replied by email: Max, can Bob take this?", and a running sequence would have stopped."""
    from capture.channels.email import receive_email
    from capture.models import InboundEvent, Interaction
    from followup.models import Notification

    sink = smtp()
    lead = web_lead(quote_form, first_name="Grace", last_name="Hopper", email="grace@navy.mil")
    send_outbound(OutboundMessage.objects.get(lead=lead, kind=Kind.OWNER_ALERT).id)
    [alert] = [m for m in sink.messages if m["To"] == lead.owner.email]
    reply = (f"From: Alice Rep <{lead.owner.email}>\r\nTo: {alert['From']}\r\n"
             f"Subject: Re: {alert['Subject']}\r\nMessage-ID: <rep-answer-1@example.com>\r\n"
             f"In-Reply-To: {alert['Message-ID']}\r\nReferences: {alert['Message-ID']}\r\n"
             "\r\nMax, can Bob take this one?\r\n")
    event, _ = receive_email(reply.encode(), via="test")
    assert event.status == InboundEvent.Status.IGNORED
    assert "alert" in event.reason
    assert not Interaction.objects.filter(lead=lead, direction="inbound", kind="email").exists()
    assert not Notification.objects.filter(kind=Notification.Kind.PROSPECT_WROTE).exists()


def test_a_silent_mail_server_fails_the_whole_batch_at_once_with_its_reason(
    quote_form, smtp, settings,
):
    """A server that takes the connection and never answers: the kick's first email waits out
    EMAIL_TIMEOUT, and the rest of its rows fail at once with the same reason, to be retried
    after a minute. Each used to wait out the timeout again (a kick takes up to 50 rows: at 20 s
    each django-q2 killed it after 60 s, and its rows stayed "sending" with no word of why)."""
    settings.EMAIL_TIMEOUT = 1
    sink = smtp(greet=False)
    for number in range(6):
        web_lead(quote_form, first_name="Sam", email=f"sam{number}@example.org")
    first = OutboundMessage.objects.order_by("id").first()
    assert send_outbound(first.id) is False
    assert sink.sessions == 1  # the silent server was tried once, not once per row
    rows = OutboundMessage.objects.order_by("id")
    assert {(row.status, row.attempts) for row in rows} == {(Status.SCHEDULED, 1)}
    assert "timed out" in rows[0].last_error
    assert all("not tried: the mail server failed" in row.last_error
               and "timed out" in row.last_error for row in rows[1:])


def test_a_server_that_hangs_up_after_each_message_still_gets_the_whole_batch(quote_form, smtp):
    """Servers limit the messages of one session (or drop an idle one): the batch's next email
    opens a new session, and is not failed as if the server were down."""
    sink = smtp(close_after=1)
    for name in ("grace", "ada", "alan"):
        web_lead(quote_form, first_name=name.title(), email=f"{name}@example.org")
    rows = list(OutboundMessage.objects.order_by("id"))
    send_outbound(rows[0].id)
    assert sorted(sink.accepted) == sorted(str(row.id) for row in rows)
    assert sink.sessions == 3
    assert {row.status for row in OutboundMessage.objects.all()} == {Status.SENT}


def test_a_refused_recipient_does_not_hold_back_the_rest_of_the_batch(quote_form, smtp):
    """A 550 for one address is that message's: the next rows go out in the same run."""
    sink = smtp(refuse={"nora@example.org": "550 5.1.1 no such user"})
    web_lead(quote_form, first_name="Nora", email="nora@example.org")
    web_lead(quote_form, first_name="Olga", email="olga@example.org")
    nora, olga = OutboundMessage.objects.order_by("id")
    send_outbound(nora.id)
    nora.refresh_from_db()
    olga.refresh_from_db()
    assert (nora.status, nora.attempts) == (Status.SCHEDULED, 1)
    assert "550" in nora.last_error and "no such user" in nora.last_error
    assert olga.status == Status.SENT and sink.accepted == [str(olga.id)]


def manage(*args: str, timeout: float = 60, **environment) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": "sqlite:////tmp/leadcrm-smtp-check.sqlite3",
           **environment}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=timeout)


def test_an_smtp_server_that_never_answers_is_given_up_on_by_default():
    """Without a timeout a server that takes the connection and says nothing (a firewall, the
    wrong port, smtps:// to an implicit-TLS port) held a worker until django-q2 killed it,
    then the next, and the rows stayed 'sending' with no error for ever."""
    result = manage("shell", "-c", "from django.conf import settings; "
                    "print('timeout', settings.EMAIL_TIMEOUT)",
                    EMAIL_URL="smtp+tls://user:password@127.0.0.1:2525")
    value = result.stdout.split("timeout ", 1)[1].split()[0]
    assert value != "None" and 0 < float(value) < 60  # under the task's timeout


def test_an_email_url_timeout_is_taken_and_a_silent_server_gives_a_clear_error():
    with SmtpSink(greet=False) as sink:
        started = time.monotonic()
        result = manage("sendtestemail", "someone@example.org", timeout=40,
                        EMAIL_URL=f"smtp://127.0.0.1:{sink.port}?timeout=2")
        took = time.monotonic() - started
    assert result.returncode != 0 and "timed out" in result.stderr
    assert took < 20


def test_an_unknown_email_url_option_stops_the_start_with_its_name():
    result = manage("check", EMAIL_URL="smtp://127.0.0.1:2525?tiemout=5")
    assert result.returncode != 0
    assert "EMAIL_URL option 'tiemout'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_password_reset_page_answers_at_once_and_the_worker_sends_the_email(
    client, smtp, settings,
):
    """The reset email was sent inside the web request: with a mail server taking 3 s the page
    took 3 s for an address with an account and 0.05 s without (which told a prober who has an
    account), a silent server held the request until gunicorn's timeout, and a failed send
    was logged and lost. The worker sends it now, with django-q2's retries."""
    from django_q.models import OrmQ

    from tests.factories import UserFactory

    settings.EMAIL_TIMEOUT = 10
    sink = smtp(data_delay=3)
    UserFactory(username="carol", email="carol@example.com")
    client.post("/accounts/password_reset/", {"email": "nobody@example.com"})  # a warm page
    started = time.monotonic()
    response = client.post("/accounts/password_reset/", {"email": "carol@example.com"})
    # Answered before the mail server could have taken the message (3 s).
    assert response.status_code == 302 and time.monotonic() - started < 3
    assert sink.messages == []
    [queued] = OrmQ.objects.all()  # what a qcluster worker runs
    task = queued.task
    # The queue holds who and where, not a working link: the worker makes the token.
    assert "/accounts/reset/" not in repr(task) and "carol" not in repr(task["args"][2:])
    module, _, name = task["func"].rpartition(".")
    getattr(import_module(module), name)(*task["args"], **task["kwargs"])
    [sent] = sink.messages
    assert sent["To"] == "carol@example.com"
    link = re.search(r"https?://\S+?(/accounts/reset/\S+)", sent.get_content()).group(1)
    assert client.get(link, follow=True).context["validlink"]
