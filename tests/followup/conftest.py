"""Follow-up personas: a sales team (alice, bob, manager Max), SLA policies, the default
sequence, a Twilio stub, and helpers to move time and run the sweeper."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, Lead
from followup.demo import seed_followup
from followup.models import Sequence
from followup.tasks import dispatch_due_messages
from routing.models import (
    RepProfile,
    RoutingRule,
    ScoreTier,
    ScoringRule,
    SlaPolicy,
    Team,
    TeamMembership,
)
from routing.ruleset import forget_cached_rules
from routing.sla import Escalation, Unit
from tests.factories import UserFactory
from tests.followup.twilio_stub import TwilioStub


@pytest.fixture(autouse=True)
def _fresh_rule_cache():
    forget_cached_rules()
    yield
    forget_cached_rules()


@pytest.fixture
def tiers(db):
    return {name: ScoreTier.objects.create(name=name, min_score=score)
            for name, score in (("hot", 60), ("warm", 30), ("cold", 0))}


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", first_name="Max", last_name="Manager",
                       is_staff=True)


@pytest.fixture
def team(db, manager):
    return Team.objects.create(name="Sales", lead=manager)


def make_rep(username: str, team: Team, tz: str = "America/New_York") -> RepProfile:
    user = UserFactory(username=username, first_name=username.capitalize(), last_name="Rep")
    rep = RepProfile.objects.create(user=user, timezone=tz)
    TeamMembership.objects.create(team=team, rep=rep)
    return rep


@pytest.fixture
def alice(team):
    return make_rep("alice", team)


@pytest.fixture
def bob(team):
    return make_rep("bob", team)


@pytest.fixture
def routing_rules(tiers, team, alice, bob):
    ScoringRule.objects.create(name="Senior title", field="job_title", operator="contains",
                               value="CTO, VP", points=70)
    return RoutingRule.objects.create(name="Everyone", action="round_robin", team=team,
                                      is_default=True)


@pytest.fixture
def sla_policies(tiers):
    """Around the clock, so the tests read in plain minutes: hot 15, warm 60, cold 240."""
    return {
        tier: SlaPolicy.objects.create(tier=tiers[tier], target=target, unit=Unit.MINUTES,
                                       warning_percent=50, escalation=escalation)
        for tier, target, escalation in (("hot", 15, Escalation.BOTH),
                                         ("warm", 60, Escalation.NOTIFY_MANAGER),
                                         ("cold", 240, Escalation.NOTIFY_MANAGER))
    }


@pytest.fixture
def default_sequence(db) -> Sequence:
    seed_followup()
    return Sequence.objects.get()


def submit(channel: str = Channel.API, **fields) -> Lead:
    fields.setdefault("first_name", "Grace")
    data = IntakeInput(channel=channel, fields=fields, summary="API lead", source="api")
    lead = receive_lead(data).lead
    lead.refresh_from_db()
    return lead


def sweep_at(moment: datetime) -> int:
    """The one-minute sweeper, run at `moment`."""
    with time_machine.travel(moment, tick=False):
        return dispatch_due_messages()


@pytest.fixture
def twilio(settings):
    with TwilioStub() as stub:
        settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
        settings.TWILIO_AUTH_TOKEN = "test-token"
        settings.TWILIO_FROM_NUMBER = "+15005550006"
        settings.TWILIO_API_BASE_URL = stub.url
        yield stub
