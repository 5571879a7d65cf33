"""seed_demo's eight weeks of worked leads: the dashboard has figures on a fresh demo."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from capture.models import Interaction, Lead, LeadStatus
from followup.models import OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-1")
    call_command("seed_demo", verbosity=0)


def history():
    return Lead.objects.filter(interactions__body="Created by seed_demo (history).")


def test_the_managers_dashboard_shows_speed_to_lead_on_a_fresh_demo(demo, client):
    client.force_login(User.objects.get(username="manager"))
    context = client.get("/dashboard/").context
    overall = context["speed"]["overall"]
    assert overall["answered"] >= 10 and overall["median"].total_seconds() > 0
    assert context["sla"]["met"] > 0 and context["sla"]["breached"] > 0
    won = sum(row["won"] for row in context["conversion"])
    assert won > 0


@pytest.mark.parametrize("when", [
    "2026-12-05 23:30:00+00:00",  # Saturday night: the office (New York, 9-17) is closed
    "2026-12-08 04:00:00+00:00",  # Monday 23:00 in New York
    "2026-12-09 15:00:00+00:00",  # Wednesday 10:00 in New York, open
])
def test_the_demo_dashboard_has_met_and_breached_deadlines_whenever_it_is_seeded(
        when, monkeypatch, client):
    """Its deadlines once depended on the hour seed_demo ran: seeded on a weekend or at night,
    every worked lead had "met" its deadline and the dashboard showed no breach."""
    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-1")
    with time_machine.travel(datetime.fromisoformat(when), tick=True):
        call_command("seed_demo", verbosity=0)
        client.force_login(User.objects.get(username="manager"))
        sla = client.get("/dashboard/").context["sla"]
        assert sla["met"] > 0 and sla["breached"] > 0
        office = ZoneInfo("America/New_York")
        for lead in Lead.objects.exclude(respond_by=None).exclude(tier="cold"):
            # Minutes and hours count while the office is open: a deadline falls inside them.
            local = lead.respond_by.astimezone(office)
            assert local.weekday() < 5 and time(9) <= local.time() <= time(17), lead


def test_worked_leads_are_backdated_answered_and_send_nothing_today(demo):
    leads = list(history())
    assert len(leads) == 24
    now = timezone.now()
    for lead in leads:
        assert lead.owner_id and lead.created_at < now - timedelta(days=2)
        assert lead.created_at < lead.first_response_at < now
        times = list(lead.interactions.order_by("occurred_at").values_list("kind", flat=True))
        assert times[0] == Interaction.Kind.SUBMISSION
        assert Interaction.Kind.CALL in times
    assert {lead.status for lead in leads} >= {LeadStatus.WON, LeadStatus.LOST,
                                                 LeadStatus.CONTACTED}
    assert not OutboundMessage.objects.filter(
        lead__in=leads, status=OutboundMessage.Status.SCHEDULED).exists()


def test_a_second_run_adds_no_history(demo):
    before = history().count()
    call_command("seed_demo", verbosity=0)
    assert history().count() == before
