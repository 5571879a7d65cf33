"""500 scoring rules and 100 routing rules: a constant number of queries, well under 10 ms."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.models import Lead
from routing.models import RoutingCondition, RoutingRule, ScoringRule
from routing.routing import route
from routing.ruleset import bump_version, current_ruleset, rep_states
from routing.services import assess_lead, score_lead
from routing.signals import lead_assigned, lead_queued
from tests.routing.conftest import make_rep

pytestmark = pytest.mark.django_db

FIELDS = [("job_title", "contains", "CTO, VP, Chief"), ("company_size", "greater_than", "51-200"),
          ("country", "one_of", "DE, FR, GB, US"), ("email_is_free_mail", "equals", "yes"),
          ("utm_campaign", "matches", r"^brand-\d+"), ("phone", "is_set", "")]


def make_rules(scoring: int, routing: int, team) -> None:
    ScoringRule.objects.bulk_create(
        ScoringRule(name=f"s{i}", field=FIELDS[i % 6][0], operator=FIELDS[i % 6][1],
                    value=FIELDS[i % 6][2], points=(i % 7) - 3, position=i)
        for i in range(scoring))
    rules = RoutingRule.objects.bulk_create(
        RoutingRule(name=f"r{i}", position=i, action="round_robin", team=team)
        for i in range(routing - 1))
    RoutingCondition.objects.bulk_create(
        RoutingCondition(rule=rule, field="utm_source", operator="equals", value=f"never-{i}")
        for i, rule in enumerate(rules))
    RoutingRule.objects.create(name="default", action="round_robin", team=team, is_default=True)
    bump_version()


def lead(n: int) -> Lead:
    return Lead.objects.create(email=f"p{n}@acme.com", job_title="CTO", company_size="5000+",
                               country="DE", utm_campaign="brand-7")


def queries_to_assess(one_lead: Lead) -> int:
    with CaptureQueriesContext(connection) as captured:
        assess_lead(one_lead)
    return len(captured)


@pytest.fixture
def team_of_five(sales_team, tiers):
    for name in ("ann", "ben", "cat", "dan", "eve"):
        make_rep(name, sales_team, capacity=1000)
    return sales_team


def test_the_number_of_queries_does_not_grow_with_the_rules(team_of_five):
    make_rules(5, 2, team_of_five)
    assess_lead(lead(0))  # the first lead compiles the rules
    few = queries_to_assess(lead(1))
    ScoringRule.objects.all().delete()
    RoutingRule.objects.all().delete()
    make_rules(500, 100, team_of_five)
    assess_lead(lead(2))
    many = queries_to_assess(lead(3))
    assert few == many


def test_scoring_and_routing_one_lead_takes_a_fixed_number_of_queries(
        team_of_five, django_assert_num_queries, monkeypatch):
    # Routing's own queries: followup's listeners (the owner's alert) add theirs on top.
    for signal in (lead_assigned, lead_queued):
        monkeypatch.setattr(signal, "receivers", [])
    make_rules(500, 100, team_of_five)
    assess_lead(lead(0))
    one = lead(1)
    # rule version, cursor (lock, save), reps (profiles with whether anyone is away, open
    # leads), previous explanation, lead update, explanation, timeline entry; no savepoint (it
    # runs in the caller's transaction)
    with django_assert_num_queries(9):
        result = assess_lead(one)
    assert result.decision.rule_name == "default" and len(result.scored.fired) > 100


def test_the_rules_are_reloaded_after_a_change(team_of_five):
    make_rules(5, 2, team_of_five)
    first = current_ruleset()
    assert current_ruleset() is first  # cached
    ScoringRule.objects.filter(name="s0").update(points=50)  # a queryset update sends no signal
    assert current_ruleset() is first
    rule = ScoringRule.objects.get(name="s0")
    rule.points = 60
    rule.save()  # the admin saves rows: the version moves
    reloaded = current_ruleset()
    assert reloaded is not first
    assert next(r.points for r in reloaded.scoring if r.name == "s0") == 60


def test_the_engines_run_from_the_cached_rules_without_touching_the_database(
        team_of_five, django_assert_num_queries):
    # How fast they are is the benchmark's to report (make bench, bench_rules); what a test
    # can hold is that scoring and routing themselves never go back to the database.
    make_rules(500, 100, team_of_five)
    ruleset = current_ruleset()
    reps = rep_states(ruleset.teams[team_of_five.pk].member_ids, Lead().created_at.date())
    sample = lead(0)
    with django_assert_num_queries(0):
        facts, scored = score_lead(sample, ruleset)
        decision = route(facts, ruleset.routing, ruleset.teams, reps, {}, sample.created_at)
    assert decision.owner_id is not None and len(scored.fired) > 100


def test_the_bench_command_reports_and_leaves_nothing_behind(db, capsys):
    import json

    from django.core.management import call_command

    call_command("bench_rules", scoring=50, routing=10, leads=5)
    report = json.loads(capsys.readouterr().out)
    assert report["queries_per_lead"] == [8] and report["engines_ms"]["p50"] > 0
    assert not Lead.objects.exists() and not ScoringRule.objects.exists()
