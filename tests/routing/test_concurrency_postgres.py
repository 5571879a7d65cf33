"""Real concurrent intakes on PostgreSQL: capacity is never exceeded, the rotation stays fair."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, Lead
from routing.models import RoutingCondition, RoutingRule, Team, TeamCursor, TeamMembership
from routing.routing import route
from routing.ruleset import forget_cached_rules
from tests.routing.conftest import make_rep

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _slow_decisions(monkeypatch):
    """Each decision takes 30 ms, so without the row locks the intakes would surely overlap
    between reading the reps' loads and writing the owner (checked: they then overfill)."""
    from routing import services

    def slow_route(*args, **kwargs):
        decision = route(*args, **kwargs)
        time.sleep(0.03)
        return decision

    monkeypatch.setattr(services, "route", slow_route)


def intake_at_once(people: list[dict]) -> list[str]:
    """Each person submits from their own thread and connection, all at the same moment."""
    barrier = threading.Barrier(len(people))
    errors: list[str] = []

    def submit(fields):
        try:
            barrier.wait()
            receive_lead(IntakeInput(channel=Channel.API, fields=fields, summary="API",
                                     notify_prospect=False))
        except Exception as exc:  # reported to the test, never swallowed
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_twenty_leads_at_once_never_exceed_the_reps_capacity(sales_team):
    reps = [make_rep(name, sales_team, capacity=3) for name in ("ann", "ben", "cat")]
    RoutingRule.objects.create(name="All", action="least_loaded", team=sales_team,
                               is_default=True)
    forget_cached_rules()
    for team in Team.objects.all():  # no race on creating the rotation: only on using it
        TeamCursor.objects.create(team=team)
    errors = intake_at_once([{"first_name": f"P{i}", "email": f"p{i}@corp.com"}
                             for i in range(20)])
    assert errors == []
    loads = Counter(Lead.objects.filter(owner__isnull=False).values_list("owner__username",
                                                                          flat=True))
    assert loads == {"ann": 3, "ben": 3, "cat": 3}
    assert Lead.objects.filter(owner__isnull=True, assessment__outcome="queued").count() == 11
    assert len(reps) == 3


def test_a_rep_in_two_teams_is_not_overfilled_by_both_at_once(db):
    europe, america = Team.objects.create(name="Europe"), Team.objects.create(name="America")
    shared = make_rep("sam", europe, capacity=4)
    TeamMembership.objects.create(team=america, rep=shared)
    to_europe = RoutingRule.objects.create(name="EU", action="round_robin", team=europe,
                                           position=1)
    RoutingCondition.objects.create(rule=to_europe, field="country", operator="equals",
                                    value="DE")
    RoutingRule.objects.create(name="Rest", action="round_robin", team=america,
                               is_default=True)
    forget_cached_rules()
    for team in Team.objects.all():  # no race on creating the rotation: only on using it
        TeamCursor.objects.create(team=team)
    errors = intake_at_once([{"first_name": f"P{i}", "email": f"p{i}@corp.com",
                              "country": "DE" if i % 2 else "US"} for i in range(16)])
    assert errors == []
    assert Lead.objects.filter(owner=shared.user).count() == 4


def test_round_robin_under_concurrency_gives_everyone_the_same_share(sales_team):
    for name in ("ann", "ben", "cat", "dan"):
        make_rep(name, sales_team)
    RoutingRule.objects.create(name="All", action="round_robin", team=sales_team,
                               is_default=True)
    forget_cached_rules()
    for team in Team.objects.all():  # no race on creating the rotation: only on using it
        TeamCursor.objects.create(team=team)
    errors = intake_at_once([{"first_name": f"P{i}", "email": f"p{i}@corp.com"}
                             for i in range(24)])
    assert errors == []
    loads = Counter(Lead.objects.values_list("owner__username", flat=True))
    assert loads == {"ann": 6, "ben": 6, "cat": 6, "dan": 6}
