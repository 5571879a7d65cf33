"""Sales ops in the admin (sequences, preview with a real lead, the outbox) and the queue's
notification list."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template import Context, Template

from followup.models import Notification, OutboundMessage, Sequence
from followup.selectors import mark_notifications_read
from tests.factories import UserFactory
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_sales_ops_build_a_sequence_with_steps_in_the_admin(ops_client):
    response = ops_client.post("/admin/followup/sequence/add/", {
        "name": "Webinar no-shows", "is_active": "on", "position": "10",
        "trigger": "no_response", "no_response_hours": "48", "sources": "",
        "window_starts": "09:00", "window_ends": "17:00", "then_nurture": "on",
        "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-delay": "2", "steps-0-delay_unit": "hours",
        "steps-0-channel": "email", "steps-0-subject": "Sorry we missed you",
        "steps-0-body": "Hi {{ first_name }}",
        "steps-1-position": "2", "steps-1-delay": "1", "steps-1-delay_unit": "business_days",
        "steps-1-channel": "task", "steps-1-subject": "Call", "steps-1-body": "Call them",
    })
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    sequence = Sequence.objects.get(name="Webinar no-shows")
    assert [s.channel for s in sequence.steps.all()] == ["email", "task"]


def test_a_broken_step_template_is_refused_with_a_clear_error(ops_client):
    response = ops_client.post("/admin/followup/sequence/add/", {
        "name": "Broken", "trigger": "on_arrival", "no_response_hours": "24", "position": "1",
        "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-delay": "1", "steps-0-delay_unit": "days",
        "steps-0-channel": "email", "steps-0-subject": "Hi", "steps-0-body": "{% if %}",
    })
    assert response.status_code == 200 and "This template has an error" in \
        response.content.decode()
    assert not Sequence.objects.filter(name="Broken").exists()


def test_the_preview_renders_every_step_for_a_real_lead(ops_client, routing_rules,
                                                        default_sequence):
    lead = submit(email="grace@navy.mil", company="US Navy")
    response = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                              f"?lead={lead.pk}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your request for US Navy" in page and "Hi Grace," in page
    assert "Alice Rep" in page and "Unsubscribe with one click" in page


def test_the_preview_escapes_what_the_prospect_typed(ops_client, routing_rules,
                                                     default_sequence):
    lead = submit(email="x@navy.mil", first_name="<b>Bold</b>", company="<script>x()</script>")
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    assert "<script>x()</script>" not in page and "<b>Bold</b>" not in page
    assert "Your request for &lt;script&gt;x()&lt;/script&gt;" in page


def test_a_failed_message_is_visible_in_the_outbox(ops_client, routing_rules, settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    moment = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        submit(email="grace@navy.mil")
    for minutes in range(0, 50, 10):
        sweep_at(moment + timedelta(minutes=minutes))
    assert OutboundMessage.objects.get().status == "failed"
    page = ops_client.get("/admin/followup/outboundmessage/?status__exact=failed")
    assert "New lead for you: Grace" in page.content.decode()


def test_the_queue_shows_the_reps_unread_notifications(routing_rules, alice, rf):
    submit(email="grace@navy.mil")
    html = Template("{% load followup %}{% notifications_for user %}").render(
        Context({"user": alice.user}))
    assert "New cold lead: Grace" in html
    assert mark_notifications_read(alice.user) == 1
    assert Notification.objects.get().read_at is not None
    html = Template("{% load followup %}{% notifications_for user %}").render(
        Context({"user": alice.user}))
    assert "Grace" not in html


def test_seed_demo_installs_the_default_sequence_once(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-1")
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    sequence = Sequence.objects.get()
    assert [(s.delay, s.channel) for s in sequence.steps.all()] == [
        (1, "email"), (3, "email"), (5, "email")]
    assert sequence.trigger == "no_response" and sequence.no_response_hours == 24
