"""The prospect's acknowledgement: a row in the same transaction, a task on commit, sent once."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django_q.models import OrmQ

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, Interaction
from followup.models import OutboundMessage, Suppression
from followup.suppression import suppress
from followup.tasks import dispatch_due_messages, send_outbound

pytestmark = pytest.mark.django_db


def web_submission(form, **fields) -> IntakeInput:
    return IntakeInput(channel=Channel.WEB_FORM, fields=fields, form_id=form.pk,
                       summary="Submitted the form")


def test_the_send_is_queued_in_the_transaction_of_its_row_and_vanishes_with_a_rollback(
    quote_form,
):
    # The ORM broker on `default`: the task row commits with the data, or not at all.
    with pytest.raises(RuntimeError), transaction.atomic():
        receive_lead(web_submission(quote_form, first_name="Grace", email="grace@navy.mil"))
        assert OutboundMessage.objects.get().status == OutboundMessage.Status.SCHEDULED
        assert OrmQ.objects.count() == 1
        raise RuntimeError("the request failed after the intake")
    assert OutboundMessage.objects.count() == 0 and OrmQ.objects.count() == 0


def test_with_redis_as_the_broker_the_send_is_queued_only_on_commit(
    quote_form, settings, django_capture_on_commit_callbacks
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "redis": "redis://127.0.0.1:6379/0"}
    settings.Q_CLUSTER.pop("orm")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receive_lead(web_submission(quote_form, email="grace@navy.mil"))
    # The kick waits for the commit (beside the kick throttle's stamp); no ORM task row.
    assert len(callbacks) == 2 and OrmQ.objects.count() == 0


def test_a_synchronous_django_q_run_sends_it_naming_the_prospect_and_the_promise(
    quote_form, sync_tasks, django_capture_on_commit_callbacks
):
    quote_form.response_promise = "within 15 minutes"
    quote_form.save()
    with django_capture_on_commit_callbacks(execute=True):
        lead = receive_lead(web_submission(quote_form, first_name="Grace",
                                           email="grace@navy.mil")).lead
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["grace@navy.mil"]
    assert sent.subject == "We received your request"
    assert "Hi Grace," in sent.body and "within 15 minutes" in sent.body
    message = OutboundMessage.objects.get()
    assert message.status == OutboundMessage.Status.SENT and message.sent_at
    timeline = list(lead.interactions.values_list("direction", "kind"))
    assert ("outbound", "email") in timeline


def test_sending_the_same_message_twice_sends_one_email(quote_form):
    receive_lead(web_submission(quote_form, email="grace@navy.mil"))
    message = OutboundMessage.objects.get()
    assert send_outbound(message.id) is True
    assert send_outbound(message.id) is False
    assert len(mail.outbox) == 1


def test_a_failed_send_is_retried_later_and_visible(quote_form, settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    lead = receive_lead(web_submission(quote_form, email="grace@navy.mil")).lead
    message = OutboundMessage.objects.get()
    assert send_outbound(message.id) is False
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SCHEDULED
    assert message.attempts == 1 and "SMTP server unreachable" in message.last_error
    assert lead.pk is not None  # the lead is kept whatever the mail server does

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert dispatch_due_messages() == 0  # not due yet: the retry waits a minute
    with time_machine.travel(message.due_at + timedelta(seconds=1), tick=False):
        assert dispatch_due_messages() == 1
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.SENT and message.attempts == 2
    assert len(mail.outbox) == 1


def test_after_five_failures_the_message_is_failed_not_lost(quote_form, settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    receive_lead(web_submission(quote_form, email="grace@navy.mil"))
    message = OutboundMessage.objects.get()
    for _ in range(5):
        OutboundMessage.objects.filter(pk=message.pk, status="scheduled").update(
            due_at=message.created_at)
        send_outbound(message.id)
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.FAILED and message.attempts == 5


def test_a_message_claimed_by_a_dead_worker_is_sent_by_the_sweeper(quote_form):
    receive_lead(web_submission(quote_form, email="grace@navy.mil"))
    message = OutboundMessage.objects.get()
    OutboundMessage.objects.filter(pk=message.pk).update(status="sending",
                                                         claimed_at=message.created_at)
    assert dispatch_due_messages() == 0  # recently claimed: its worker may still be sending
    with time_machine.travel(message.created_at + timedelta(minutes=11), tick=False):
        assert dispatch_due_messages() == 1
    assert len(mail.outbox) == 1


def test_no_acknowledgement_without_an_email_or_a_subject(quote_form):
    receive_lead(web_submission(quote_form, phone="+14155552671"))
    quote_form.ack_subject = ""
    quote_form.save()
    receive_lead(web_submission(quote_form, email="a@x.co"))
    assert OutboundMessage.objects.count() == 0


def test_imports_and_demo_data_do_not_email_prospects(quote_form):
    receive_lead(IntakeInput(channel=Channel.WEB_FORM, fields={"email": "a@x.co"},
                             form_id=quote_form.pk, summary="x", notify_prospect=False))
    assert OutboundMessage.objects.count() == 0


def test_a_broken_template_still_acknowledges(quote_form):
    quote_form.ack_body = "Hi {% if %}"
    quote_form.save()
    receive_lead(web_submission(quote_form, email="a@x.co"))
    assert "We will get back to you" in OutboundMessage.objects.get().body


def test_each_submission_gets_one_acknowledgement_row(quote_form):
    receive_lead(web_submission(quote_form, email="a@x.co"))
    receive_lead(web_submission(quote_form, email="a@x.co"))
    assert OutboundMessage.objects.count() == 2
    assert Interaction.objects.filter(outbound_message__isnull=False).count() == 2


def test_one_kick_sends_every_due_message_over_one_smtp_session_and_the_others_find_them_sent(
    quote_form, settings,
):
    from tests.faults.smtp_sink import SmtpSink

    settings.FOLLOWUP_KICK_INTERVAL_MS = 0  # a kick per row (as from three web processes)
    for name in ("grace", "ada", "alan"):
        receive_lead(web_submission(quote_form, first_name=name.title(),
                                    email=f"{name}@example.com"))
    acks = list(OutboundMessage.objects.order_by("id"))
    assert len(acks) == 3 and OrmQ.objects.count() == 3  # one kick queued per row
    with SmtpSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        assert send_outbound(acks[1].id) is True  # the kick of the second row runs first
        assert sorted(sink.accepted) == sorted(str(m.id) for m in acks)
        assert sink.sessions == 1
        # The other kicks find their rows sent: no second email, no new session.
        assert send_outbound(acks[0].id) is False and send_outbound(acks[2].id) is False
        assert len(sink.accepted) == 3 and sink.sessions == 1
    assert {m.status for m in OutboundMessage.objects.all()} == {OutboundMessage.Status.SENT}
    assert Interaction.objects.filter(kind=Interaction.Kind.EMAIL).count() == 3


@pytest.fixture
def commit_lead(quote_form, django_capture_on_commit_callbacks):
    """receive_lead as a web request runs it: its transaction commits (on-commit hooks run)."""

    def take_in(email: str):
        with django_capture_on_commit_callbacks(execute=True):
            return receive_lead(web_submission(quote_form, email=email))

    return take_in


def test_a_burst_of_submissions_queues_one_kick_and_it_sends_every_acknowledgement(
    commit_lead, settings,
):
    settings.FOLLOWUP_KICK_INTERVAL_MS = 60_000  # the burst falls inside one interval
    for name in ("grace", "ada", "alan"):
        commit_lead(f"{name}@example.com")
    first, *others = OutboundMessage.objects.order_by("id")
    assert OrmQ.objects.count() == 1 and len(others) == 2
    assert send_outbound(first.id) is True
    assert len(mail.outbox) == 3
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {
        OutboundMessage.Status.SENT}


def test_once_the_interval_has_passed_the_next_row_gets_its_own_kick(commit_lead, settings):
    from followup.receivers import KickThrottle

    settings.FOLLOWUP_KICK_INTERVAL_MS = 250
    commit_lead("grace@navy.mil")
    commit_lead("ada@example.com")
    assert OrmQ.objects.count() == 1
    KickThrottle.last -= 0.3  # 300 ms later
    commit_lead("alan@example.com")
    assert OrmQ.objects.count() == 2


def test_a_kick_rolled_back_with_its_transaction_holds_back_no_later_row(
    commit_lead, quote_form, settings,
):
    settings.FOLLOWUP_KICK_INTERVAL_MS = 60_000
    with pytest.raises(RuntimeError), transaction.atomic():
        receive_lead(web_submission(quote_form, email="grace@navy.mil"))
        raise RuntimeError("the request's transaction fails after the kick was queued")
    assert not OrmQ.objects.exists() and not OutboundMessage.objects.exists()
    commit_lead("ada@example.com")
    assert OrmQ.objects.count() == 1


def test_a_row_committed_while_a_kick_sends_goes_out_with_that_kick(commit_lead, monkeypatch):
    from followup import services, tasks

    commit_lead("grace@navy.mil")
    real_deliver = services.deliver_outbound
    arrived = []

    def deliver_while_a_lead_arrives(message, **kwargs):
        if not arrived:  # the same web process takes in a lead meanwhile; its kick held back
            arrived.append(commit_lead("ada@example.com"))
        return real_deliver(message, **kwargs)

    monkeypatch.setattr(tasks, "deliver_outbound", deliver_while_a_lead_arrives)
    assert send_outbound(OutboundMessage.objects.order_by("id").first().id) is True
    assert OrmQ.objects.count() == 1  # only the first row's kick was queued
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "grace@navy.mil"]


def test_a_row_left_without_a_kick_goes_out_with_the_sweeper(commit_lead, settings):
    settings.FOLLOWUP_KICK_INTERVAL_MS = 60_000
    commit_lead("grace@navy.mil")
    commit_lead("ada@example.com")
    assert OrmQ.objects.count() == 1
    assert dispatch_due_messages() == 2 and len(mail.outbox) == 2


def test_a_kick_leaves_rows_that_are_not_due_yet(quote_form):
    receive_lead(web_submission(quote_form, email="grace@navy.mil"))
    receive_lead(web_submission(quote_form, email="ada@example.com"))
    first, later = OutboundMessage.objects.order_by("id")
    OutboundMessage.objects.filter(pk=later.pk).update(due_at=later.due_at + timedelta(hours=1))
    assert send_outbound(first.id) is True
    later.refresh_from_db()
    assert later.status == OutboundMessage.Status.SCHEDULED and len(mail.outbox) == 1


def test_the_promise_is_the_clock_of_the_leads_tier_else_the_forms(
    quote_form, routing_rules, sla_policies, sync_tasks, django_capture_on_commit_callbacks
):
    """A hot lead is promised the hot tier's target, a cold one the cold tier's; a tier without
    an SLA policy falls back to what the form says."""
    quote_form.response_promise = "within one business hour"
    quote_form.save()
    sla_policies["warm"].delete()
    with django_capture_on_commit_callbacks(execute=True):
        receive_lead(web_submission(quote_form, email="cto@navy.mil", job_title="CTO"))
        receive_lead(web_submission(quote_form, email="intern@navy.mil", job_title="Intern"))
    bodies = {m.to[0]: m.body for m in mail.outbox}
    assert "within 15 minutes." in bodies["cto@navy.mil"]
    assert "within 4 hours." in bodies["intern@navy.mil"]  # cold: 240 minutes
    sla_policies["cold"].delete()
    with django_capture_on_commit_callbacks(execute=True):
        receive_lead(web_submission(quote_form, email="temp@navy.mil", job_title="Temp"))
    assert "within one business hour." in mail.outbox[-1].body


@pytest.mark.parametrize(("target", "unit", "promise"), [
    (1, "minutes", "within 1 minute"),
    (90, "minutes", "within 90 minutes"),
    (120, "minutes", "within 2 hours"),
    (15, "business_minutes", "within 15 minutes during business hours"),
    (1, "business_hours", "within 1 business hour"),
    (4, "business_hours", "within 4 business hours"),
    (1, "business_days", "within 1 business day"),
    (2, "business_days", "within 2 business days"),
])
def test_an_sla_target_reads_as_a_promise(target, unit, promise):
    from routing.sla import SlaSpec

    assert SlaSpec("hot", target, unit).promise() == promise


def test_a_partners_api_lead_and_a_webhooks_are_acknowledged_with_the_form_they_name(
    client, quote_form, sync_tasks, django_capture_on_commit_callbacks
):
    """The API key and the webhook source each name a form whose acknowledgement their leads
    get; one that names none sends none (a partner may write to its people itself)."""
    from capture.models import ApiKey, WebhookSource
    from tests.capture.test_api import post as api_post
    from tests.capture.test_webhook import SECRET, signed_post

    quote_form.response_promise = "within one business day"
    quote_form.save()
    _partner, key = ApiKey.issue("Partner", source="partner", acknowledge_with=quote_form)
    _quiet, quiet_key = ApiKey.issue("Quiet partner", source="quiet")
    WebhookSource.objects.create(slug="zap", name="Zapier", secret=SECRET,
                                 acknowledge_with=quote_form)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_post(client, key, {"first_name": "Grace", "email": "grace@navy.mil"}
                        ).status_code == 201
        assert api_post(client, quiet_key, {"first_name": "Ada", "email": "ada@example.com"}
                        ).status_code == 201
        body = json.dumps({"first_name": "Linus", "email": "linus@example.org"}).encode()
        assert signed_post(client, "zap", body).status_code == 200
    sent = {m.to[0]: m for m in mail.outbox}
    assert set(sent) == {"grace@navy.mil", "linus@example.org"}
    assert "Hi Grace," in sent["grace@navy.mil"].body
    assert "within one business day" in sent["linus@example.org"].body


def test_a_second_submission_is_acknowledged_with_what_it_sent_not_the_first_one_s_message(
        quote_form):
    receive_lead(web_submission(quote_form, email="a@x.co", message="40 seats, please"))
    receive_lead(web_submission(quote_form, email="a@x.co"))  # matched, no message this time
    receive_lead(web_submission(quote_form, email="a@x.co", message="Make it 50"))
    first, second, third = OutboundMessage.objects.order_by("id")
    assert "What you sent us:\n40 seats, please" in first.body
    assert "40 seats" not in second.body
    assert "What you sent us" not in second.body  # no heading over nothing
    assert "Make it 50" in third.body and "40 seats" not in third.body


def test_a_form_submission_matched_to_a_lead_from_elsewhere_is_acknowledged_with_that_form(
        quote_form):
    # Seen over HTTP: a caller (a lead with no form) who then filled in /q/quote/ with the same
    # phone saw the thank-you page and got no email; a lead of another form got that form's.
    from tests.factories import IntakeFormFactory

    receive_lead(IntakeInput(channel=Channel.CALL, fields={"phone": "+14155552671"},
                             summary="Incoming call", kind=Interaction.Kind.CALL,
                             notify_prospect=False))
    receive_lead(IntakeInput(channel=Channel.WEB_FORM, form_id=quote_form.pk, form=quote_form,
                             fields={"phone": "+14155552671", "email": "caller@x.co"},
                             summary="Submitted the form"))
    first = OutboundMessage.objects.get()
    assert first.to_address == "caller@x.co" and first.subject == quote_form.ack_subject

    demo = IntakeFormFactory(slug="demo", ack_subject="Your demo request")
    receive_lead(IntakeInput(channel=Channel.WEB_FORM, form_id=demo.pk, form=demo,
                             fields={"email": "caller@x.co"}, summary="Submitted the form"))
    assert OutboundMessage.objects.exclude(pk=first.pk).get().subject == "Your demo request"


def test_the_acknowledgement_goes_to_and_names_whoever_sent_this_submission(quote_form):
    # Seen over HTTP: a submission matched by its phone to the open lead of someone else (a
    # shared office number) was acknowledged to that lead's address, "Hi Ann", quoting Bob's
    # message to Ann; Bob, who typed his own address, got nothing.
    receive_lead(web_submission(quote_form, first_name="Ann", email="ann@office.example",
                                phone="+14155552671"))
    receive_lead(web_submission(quote_form, first_name="Bob", email="bob@office.example",
                                phone="+14155552671", message="Quote for 3 laptops"))
    first, second = OutboundMessage.objects.order_by("id")
    assert first.to_address == "ann@office.example" and "Hi Ann" in first.body
    assert second.to_address == "bob@office.example"
    assert "Hi Bob" in second.body and "Quote for 3 laptops" in second.body


def test_someone_else_s_lead_lends_no_name_to_the_acknowledgement(quote_form):
    # Bob gave his email and phone but no name: the lead his phone matched is Ann's, and the
    # acknowledgement to Bob must not greet him as Ann (nor send him Ann's company).
    receive_lead(web_submission(quote_form, first_name="Ann", company="Ann's Shop",
                                email="ann@office.example", phone="+14155552671"))
    receive_lead(web_submission(quote_form, email="bob@office.example", phone="+14155552671",
                                message="Quote for 3 laptops"))
    second = OutboundMessage.objects.order_by("id").last()
    assert second.to_address == "bob@office.example"
    assert "Ann" not in second.body and "Ann" not in second.subject


@pytest.mark.parametrize(("reason", "why"), [
    (Suppression.Reason.BOUNCE, "the address bounced before"),
    (Suppression.Reason.COMPLAINT, "the address marked our email as spam before"),
    (Suppression.Reason.MANUAL, "staff put the address on the suppression list"),
])
def test_an_address_that_bounced_or_complained_gets_no_acknowledgement(quote_form, reason, why):
    """A hard-bounced address was acknowledged again on its next request (another bounce,
    the sender's reputation paying for it), one that reported us as spam likewise."""
    suppress(kind=Suppression.Kind.EMAIL, value="Grace@Navy.mil", reason=reason)
    receive_lead(web_submission(quote_form, first_name="Grace", email="grace@navy.mil"))
    message = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert send_outbound(message.id) is False
    assert mail.outbox == []
    message.refresh_from_db()
    assert message.status == OutboundMessage.Status.CANCELLED
    assert message.last_error == f"Not sent: {why}."


def test_an_unsubscribed_prospect_asking_again_is_still_acknowledged(quote_form):
    # The unsubscribe stops the follow-up; the answer to a request they have just made is not
    # marketing, and they would wonder whether it arrived.
    suppress(kind=Suppression.Kind.EMAIL, value="grace@navy.mil",
             reason=Suppression.Reason.UNSUBSCRIBED)
    receive_lead(web_submission(quote_form, first_name="Grace", email="grace@navy.mil"))
    message = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert send_outbound(message.id) is True
    assert [m.to for m in mail.outbox] == [["grace@navy.mil"]]
