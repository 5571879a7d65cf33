"""SLA clocks: the owner is reminded at the warning point, the breach escalates once, and the
first human contact stops the clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from capture.models import Interaction, LeadStatus
from capture.services import log_rep_contact, record_first_response, set_lead_status
from followup.models import Notification, OutboundMessage
from routing.services import escalate_due_breaches, sla_state_of
from routing.sla import SlaState
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def hot_lead(routing_rules, sla_policies, alice):
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO")
    assert lead.tier == "hot" and lead.owner == alice.user
    assert lead.respond_by == NOON + timedelta(minutes=15)
    sweep_at(NOON)  # the assignment alert
    mail.outbox.clear()
    return lead


def warnings():
    return [m for m in mail.outbox if m.subject.startswith("Answer soon")]


def test_the_owner_is_reminded_once_at_the_warning_point(hot_lead, alice):
    assert sweep_at(NOON + timedelta(minutes=7)) == 0  # warning at 50 %: 7.5 minutes
    assert sweep_at(NOON + timedelta(minutes=7, seconds=31)) == 1
    assert sweep_at(NOON + timedelta(minutes=8)) == 0
    assert [m.to for m in warnings()] == [["alice@example.com"]]
    assert "Nobody has answered" in warnings()[0].body
    assert Notification.objects.filter(user=alice.user, kind="sla_warning").count() == 1


def test_a_call_logged_before_the_warning_point_stops_the_clock(hot_lead, alice):
    with time_machine.travel(NOON + timedelta(minutes=3), tick=False):
        log_rep_contact(lead=hot_lead, user=alice.user, kind=Interaction.Kind.CALL,
                        summary="Called Grace")
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=3)
    assert sweep_at(NOON + timedelta(minutes=8)) == 0
    assert warnings() == []
    with time_machine.travel(NOON + timedelta(minutes=20), tick=False):
        assert escalate_due_breaches() == 0
        assert sla_state_of(hot_lead) == SlaState.MET
    warning = OutboundMessage.objects.get(kind="sla_warning")
    assert warning.status == "cancelled" and "Answered" in warning.last_error


def test_moving_the_lead_to_contacted_is_a_first_response(hot_lead, alice):
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        set_lead_status(lead=hot_lead, status=LeadStatus.CONTACTED, user=alice.user)
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=5)


def test_only_the_first_contact_stamps_the_response_time(hot_lead):
    assert record_first_response(lead=hot_lead, at=NOON + timedelta(minutes=1)) is True
    assert record_first_response(lead=hot_lead, at=NOON + timedelta(minutes=2)) is False
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=1)


def test_a_breach_reassigns_tells_the_manager_and_goes_on_the_timeline(hot_lead, bob, manager):
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
        assert escalate_due_breaches() == 0
    hot_lead.refresh_from_db()
    assert hot_lead.owner == bob.user
    assert sweep_at(NOON + timedelta(minutes=16)) == 2  # the manager's email, bob's alert
    assert sweep_at(NOON + timedelta(minutes=17)) == 0
    to = sorted(m.to[0] for m in mail.outbox)
    assert to == ["bob@example.com", "manager@example.com"]
    breach = next(m for m in mail.outbox if m.to == ["manager@example.com"])
    assert breach.subject == "SLA breached: Grace" and "reassigned to Bob Rep" in breach.body
    assert Notification.objects.filter(user=manager, kind="sla_breach").count() == 1
    assert hot_lead.interactions.filter(summary__startswith="SLA breached").count() == 1
    assert warnings() == []  # found after the deadline: the breach took over


def test_a_cold_lead_breach_only_notifies_the_manager(routing_rules, sla_policies, alice,
                                                      manager):
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="grace@navy.mil")
    assert lead.tier == "cold"
    with time_machine.travel(NOON + timedelta(hours=4, minutes=1), tick=False):
        assert escalate_due_breaches() == 1
    lead.refresh_from_db()
    assert lead.owner == alice.user
    sweep_at(NOON + timedelta(hours=4, minutes=1))
    assert [m.to for m in mail.outbox if m.subject.startswith("SLA")] == [
        ["manager@example.com"]]
