"""Deadlines on real leads: warnings, breaches and the escalation each policy asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from capture.models import Interaction, Lead
from routing.models import SlaPolicy, TeamMembership
from routing.selectors import leads_breaching, leads_past_warning, unassigned_queue
from routing.services import BREACH_BATCH, escalate_due_breaches
from routing.signals import sla_breached
from routing.sla import Escalation
from tests.routing.conftest import submit
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db

TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 11:00 in Berlin


@pytest.fixture
def breaches():
    calls = []

    def on_breach(sender, **kwargs):
        calls.append(kwargs)

    sla_breached.connect(on_breach, dispatch_uid="test.breach")
    yield calls
    sla_breached.disconnect(dispatch_uid="test.breach")


def set_escalation(escalation: str) -> None:
    policy = SlaPolicy.objects.get(tier__name="hot")
    policy.escalation = escalation
    policy.save()  # as the admin does: the cached rules reload


@pytest.fixture
def hot_lead(scoring_rules, sla_policies, round_robin, alice, bob):
    with time_machine.travel(TUESDAY, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO", company_size="5000+")
    lead.refresh_from_db()
    assert lead.tier == "hot" and lead.owner == alice.user
    return lead


def test_a_breached_hot_lead_goes_to_the_next_rep_and_the_manager_hears(
        hot_lead, bob, manager, breaches):
    set_escalation(Escalation.BOTH)
    with time_machine.travel(TUESDAY + timedelta(minutes=14), tick=False):
        assert escalate_due_breaches() == 0
    with time_machine.travel(TUESDAY + timedelta(minutes=16), tick=False):
        assert list(leads_breaching()) == [hot_lead]
        assert escalate_due_breaches() == 1
        assert escalate_due_breaches() == 0  # once only
    hot_lead.refresh_from_db()
    assert hot_lead.owner == bob.user
    assert hot_lead.interactions.filter(
        kind=Interaction.Kind.ASSIGNMENT,
        summary="Reassigned from Alice to Bob automatically").exists()
    assert [(b["escalation"], b["manager_ids"], b["reassigned_to_id"]) for b in breaches] == [
        ("both", [manager.pk], bob.user_id)]
    # The explanation said "Reassigned by nobody: The first-response deadline passed."
    assert hot_lead.assessment.routing["manual"]["by"] == "the SLA escalation"


def test_a_breach_is_never_reassigned_to_a_rep_at_weight_0(hot_lead, bob, sales_team,
                                                            breaches):
    TeamMembership.objects.filter(team=sales_team, rep=bob).update(weight=0)
    set_escalation(Escalation.BOTH)  # its save reloads the rules, the weight with them
    with time_machine.travel(TUESDAY + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
    hot_lead.refresh_from_db()
    assert hot_lead.owner != bob.user
    assert breaches[0]["reassigned_to_id"] is None


def test_notify_only_keeps_the_owner(hot_lead, alice, breaches):
    set_escalation(Escalation.NOTIFY_MANAGER)
    with time_machine.travel(TUESDAY + timedelta(hours=1), tick=False):
        assert escalate_due_breaches() == 1
    hot_lead.refresh_from_db()
    assert hot_lead.owner == alice.user
    assert breaches[0]["reassigned_to_id"] is None


def test_an_answered_lead_is_never_escalated(hot_lead, breaches):
    Lead.objects.filter(pk=hot_lead.pk).update(first_response_at=TUESDAY + timedelta(minutes=5))
    with time_machine.travel(TUESDAY + timedelta(hours=1), tick=False):
        assert escalate_due_breaches() == 0
    assert breaches == []


def test_leads_past_their_warning_point(hot_lead):
    assert list(leads_past_warning(TUESDAY + timedelta(minutes=7))) == []
    assert list(leads_past_warning(TUESDAY + timedelta(minutes=8))) == [hot_lead]
    assert list(leads_past_warning(TUESDAY + timedelta(minutes=15))) == []


def test_the_unassigned_queue_lists_what_nobody_could_take(round_robin, alice, bob):
    for rep in (alice, bob):
        rep.is_available = False
        rep.save()
    waiting = submit(email="w@x.com")
    assert list(unassigned_queue(round_robin.team_id)) == [waiting]


def test_one_sweep_escalates_every_lead_that_breached_at_the_same_moment(
        tiers, sla_policies, alice, sales_team, breaches):
    """Monday 09:15: every weekend hot lead is due at once; none waits for the next run."""
    due = timezone.now() - timedelta(seconds=5)
    for i in range(BREACH_BATCH + 30):
        lead_for(alice.user, sales_team, respond_by=due, tier="hot", email=f"h{i}@example.com")
    assert escalate_due_breaches(seconds=0) == 0  # out of time: the next run takes them
    assert escalate_due_breaches() == BREACH_BATCH + 30
    assert not leads_breaching().exists()
    assert len(breaches) == BREACH_BATCH + 30


def test_the_sweepers_check_takes_the_latest_deadlines_and_the_schedule_the_rest(
        tiers, sla_policies, alice, sales_team, breaches):
    """The check every few seconds looks back BREACH_LOOKBACK only, so its cost does not grow
    with old breaches nobody answered; routing's one-minute run still escalates an old one (a
    backlog after the workers were down)."""
    from followup.tasks import BREACH_LOOKBACK

    now = timezone.now()
    fresh = lead_for(alice.user, sales_team, respond_by=now - timedelta(seconds=3), tier="hot",
                     email="fresh@example.com")
    old = lead_for(alice.user, sales_team, respond_by=now - BREACH_LOOKBACK - timedelta(hours=2),
                   tier="hot", email="old@example.com")
    assert list(leads_breaching(since=now - BREACH_LOOKBACK)) == [fresh]
    assert escalate_due_breaches(since=now - BREACH_LOOKBACK) == 1
    assert [call["lead"] for call in breaches] == [fresh]
    assert list(leads_breaching()) == [old]
    assert escalate_due_breaches() == 1
    assert [call["lead"] for call in breaches] == [fresh, old]
