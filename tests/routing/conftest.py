"""Routing personas: tiers, SLA policies on a Berlin calendar, a team with alice and bob."""

from __future__ import annotations

from datetime import time

import pytest

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, Lead
from routing.models import (
    BusinessHours,
    OpeningHours,
    RepProfile,
    RoutingRule,
    ScoreTier,
    ScoringRule,
    SlaPolicy,
    Team,
    TeamMembership,
)
from routing.ruleset import forget_cached_rules
from routing.sla import Unit
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fresh_rule_cache():
    forget_cached_rules()  # each test's database starts at version 0 again
    yield
    forget_cached_rules()


@pytest.fixture
def tiers(db):
    return {name: ScoreTier.objects.create(name=name, min_score=score)
            for name, score in (("hot", 60), ("warm", 30), ("cold", 0))}


@pytest.fixture
def berlin_hours(db):
    calendar = BusinessHours.objects.create(name="Berlin office", timezone="Europe/Berlin")
    for day in range(5):
        OpeningHours.objects.create(calendar=calendar, weekday=day, opens=time(9),
                                    closes=time(17))
    return calendar


@pytest.fixture
def sla_policies(tiers, berlin_hours):
    return [
        SlaPolicy.objects.create(tier=tiers["hot"], target=15, unit=Unit.MINUTES),
        SlaPolicy.objects.create(tier=tiers["warm"], target=4, unit=Unit.BUSINESS_HOURS,
                                 calendar=berlin_hours),
        SlaPolicy.objects.create(tier=tiers["cold"], target=1, unit=Unit.BUSINESS_DAYS,
                                 calendar=berlin_hours),
    ]


@pytest.fixture
def scoring_rules(tiers):
    return [
        ScoringRule.objects.create(name="Senior title", field="job_title", operator="contains",
                                   value="CTO, VP", points=40),
        ScoringRule.objects.create(name="Big company", field="company_size",
                                   operator="greater_than", value="51-200", points=30),
        ScoringRule.objects.create(name="Free mail", field="email_is_free_mail",
                                   operator="equals", value="yes", points=-25),
    ]


def make_rep(username, team=None, **profile):
    user = UserFactory(username=username, first_name=username.capitalize())
    rep = RepProfile.objects.create(user=user, **profile)
    if team is not None:
        TeamMembership.objects.create(team=team, rep=rep)
    return rep


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", first_name="Max", is_staff=True)


@pytest.fixture
def sales_team(db, manager):
    return Team.objects.create(name="Sales", lead=manager)


@pytest.fixture
def alice(sales_team):
    return make_rep("alice", sales_team)


@pytest.fixture
def bob(sales_team):
    return make_rep("bob", sales_team)


@pytest.fixture
def round_robin(sales_team, alice, bob, tiers):
    return RoutingRule.objects.create(name="Everyone", action="round_robin", team=sales_team,
                                      is_default=True)


def submit(**fields) -> Lead:
    fields.setdefault("first_name", "Grace")
    data = IntakeInput(channel=Channel.API, fields=fields, summary="API lead",
                       notify_prospect=False, source="api-test")
    return receive_lead(data).lead
