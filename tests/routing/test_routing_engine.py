"""The routing engine, without a database: rule order, the default rule, each strategy."""

from datetime import UTC, date, datetime, time
from itertools import pairwise

from routing.conditions import compile_condition
from routing.routing import (
    Action,
    Cursor,
    Outcome,
    RepState,
    RoutingRuleSpec,
    TeamSpec,
    WorkingHours,
    first_matching_rule,
    route,
)

# Tuesday 2026-11-24, 14:00 UTC: 09:00 in New York, 15:00 in Berlin, 23:00 in Tokyo.
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
NINE_TO_FIVE = {"days": frozenset(range(5)), "starts": time(9), "ends": time(17)}


def rep(user_id, **kwargs) -> RepState:
    kwargs.setdefault("name", f"rep{user_id}")
    return RepState(user_id=user_id, **kwargs)


def when(field, operator, value):
    return compile_condition(field, operator, value)


TEAM = TeamSpec(1, "Sales", lead_user_id=99, member_ids=(1, 2, 3))
RR = RoutingRuleSpec(10, "everyone", Action.ROUND_ROBIN, team_id=1)


def decide(rule=RR, reps=None, cursor=None, facts=None, now=NOW, team=TEAM):
    reps = reps if reps is not None else {i: rep(i) for i in team.member_ids}
    return route(facts or {}, [rule], {team.id: team}, reps,
                 {team.id: cursor or Cursor()}, now)


def test_rules_are_tried_in_order_and_the_first_match_wins():
    rules = [
        RoutingRuleSpec(1, "germany", Action.NURTURE,
                        conditions=(when("country", "equals", "DE"),)),
        RoutingRuleSpec(2, "europe", Action.NURTURE,
                        conditions=(when("country", "one_of", "DE, FR"),)),
    ]
    assert first_matching_rule({"country": "DE"}, rules).id == 1
    assert first_matching_rule({"country": "FR"}, rules).id == 2
    assert first_matching_rule({"country": "US"}, rules) is None


def test_all_conditions_of_a_rule_must_hold():
    rule = RoutingRuleSpec(1, "big germans", Action.NURTURE, conditions=(
        when("country", "equals", "DE"), when("company_size", "greater_than", "51-200")))
    assert rule.matches({"country": "DE", "company_size": "5000+"})
    assert not rule.matches({"country": "DE", "company_size": "1-10"})


def test_tier_and_score_range_limit_a_rule():
    rule = RoutingRuleSpec(1, "hot 60-80", Action.NURTURE, tiers=frozenset({"hot"}),
                           min_score=60, max_score=80)
    assert rule.matches({"tier": "hot", "score": 60})
    assert rule.matches({"tier": "hot", "score": 80})
    assert not rule.matches({"tier": "hot", "score": 81})
    assert not rule.matches({"tier": "warm", "score": 70})


def test_the_default_rule_catches_the_rest_wherever_it_sits():
    rules = [RoutingRuleSpec(1, "default", Action.NURTURE, is_default=True),
             RoutingRuleSpec(2, "germany", Action.NURTURE,
                             conditions=(when("country", "equals", "DE"),))]
    assert first_matching_rule({"country": "DE"}, rules).id == 2
    assert first_matching_rule({"country": "US"}, rules).id == 1


def test_no_rule_and_no_default_leaves_the_lead_unrouted():
    decision = route({}, [], {}, {}, {}, NOW)
    assert decision.outcome == Outcome.UNROUTED and decision.owner_id is None


def test_nurture_has_no_owner():
    decision = route({}, [RoutingRuleSpec(1, "n", Action.NURTURE)], {}, {}, {}, NOW)
    assert decision.outcome == Outcome.NURTURE and decision.owner_id is None


def test_one_rep_rule_assigns_that_rep_or_queues_when_they_cannot_take_it():
    rule = RoutingRuleSpec(1, "vip", Action.REP, rep_id=2, team_id=1)
    assert decide(rule).owner_id == 2
    away = decide(rule, reps={2: rep(2, is_available=False)})
    assert away.outcome == Outcome.QUEUED and away.team_id == 1
    assert away.candidates[0].reason == "switched to unavailable"


def test_round_robin_goes_round_after_the_cursor():
    assert decide().owner_id == 1
    assert decide(cursor=Cursor(1)).owner_id == 2
    assert decide(cursor=Cursor(3)).owner_id == 1


def test_round_robin_skips_every_kind_of_unavailable_rep_and_says_why():
    reps = {
        1: rep(1, is_active=False),
        2: rep(2, is_available=False),
        3: rep(3, away=((date(2026, 11, 20), date(2026, 11, 27)),)),
        4: rep(4, capacity=5, open_leads=5),
        5: rep(5),
    }
    team = TeamSpec(1, "Sales", 99, (1, 2, 3, 4, 5))
    decision = decide(reps=reps, team=team)
    assert decision.owner_id == 5
    reasons = {c.user_id: c.reason for c in decision.candidates}
    assert reasons == {
        1: "inactive account",
        2: "switched to unavailable",
        3: "out of office until 2026-11-27",
        4: "at capacity (5/5 open leads)",
        5: "picked: next in turn",
    }


def test_out_of_office_ends_after_its_last_day():
    reps = {1: rep(1, away=((date(2026, 11, 20), date(2026, 11, 23)),))}
    team = TeamSpec(1, "Solo", None, (1,))
    assert decide(reps=reps, team=team).owner_id == 1


def test_working_hours_are_read_in_each_reps_own_timezone_when_the_rule_asks():
    reps = {
        1: rep(1, hours=WorkingHours("Asia/Tokyo", **NINE_TO_FIVE)),      # 23:00 there
        2: rep(2, hours=WorkingHours("America/New_York", **NINE_TO_FIVE)),  # 09:00 there
        3: rep(3, hours=WorkingHours("Europe/Berlin", **NINE_TO_FIVE)),   # 15:00 there
    }
    at_work = RoutingRuleSpec(10, "at work", Action.ROUND_ROBIN, team_id=1, respect_hours=True)
    decision = decide(at_work, reps=reps)
    assert decision.owner_id == 2
    assert decision.candidates[0].reason.startswith("outside working hours (09:00-17:00 Asia/")
    # A rule that does not ask for hours ignores them.
    assert decide(reps=reps).owner_id == 1
    # One hour earlier New York is not at work yet: Berlin is next.
    early = decide(at_work, reps=reps, now=NOW.replace(hour=13, minute=59))
    assert early.owner_id == 3


def test_a_night_shift_runs_past_midnight():
    night = WorkingHours("Europe/London", frozenset({0}), time(22), time(6))
    assert night.is_working(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))   # Monday 23:00
    assert night.is_working(datetime(2026, 11, 24, 5, 0, tzinfo=UTC))    # Tuesday 05:00
    assert not night.is_working(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))


def test_nobody_eligible_puts_the_lead_in_the_team_queue():
    reps = {i: rep(i, is_available=False) for i in (1, 2, 3)}
    decision = decide(reps=reps)
    assert decision.outcome == Outcome.QUEUED and decision.owner_id is None
    assert decision.team_id == 1 and "unassigned queue" in decision.summary
    assert len(decision.candidates) == 3 and not any(c.eligible for c in decision.candidates)


def test_least_loaded_picks_fewest_open_leads_and_breaks_ties_by_turn():
    rule = RoutingRuleSpec(10, "ll", Action.LEAST_LOADED, team_id=1)
    reps = {1: rep(1, open_leads=4), 2: rep(2, open_leads=2), 3: rep(3, open_leads=2)}
    assert decide(rule, reps=reps).owner_id == 2
    assert decide(rule, reps=reps, cursor=Cursor(2)).owner_id == 3
    full = {**reps, 2: rep(2, open_leads=2, capacity=2)}
    assert decide(rule, reps=full).owner_id == 3


def test_weighted_shares_leads_by_weight():
    team = TeamSpec(1, "Sales", None, (1, 2), weights={1: 3, 2: 1})
    rule = RoutingRuleSpec(10, "w", Action.WEIGHTED, team_id=1)
    cursor, picks = Cursor(), []
    for _ in range(400):
        decision = decide(rule, team=team, cursor=cursor)
        picks.append(decision.owner_id)
        cursor = cursor.after(decision.owner_id)
    assert picks.count(1) == 300 and picks.count(2) == 100


def test_round_robin_is_fair_over_a_thousand_assignments_and_never_repeats_a_rep():
    team = TeamSpec(1, "Sales", None, (11, 12, 13, 14, 15, 16, 17))
    reps = {i: rep(i) for i in team.member_ids}
    cursor, picks = Cursor(), []
    for n in range(1000):
        # Reps come and go: one is unavailable now and then.
        off = team.member_ids[n % 7] if n % 5 == 0 else None
        states = {i: (rep(i, is_available=False) if i == off else r) for i, r in reps.items()}
        decision = decide(team=team, reps=states, cursor=cursor)
        picks.append(decision.owner_id)
        cursor = cursor.after(decision.owner_id)
    assert all(a != b for a, b in pairwise(picks))
    counts = [picks.count(i) for i in team.member_ids]
    assert max(counts) - min(counts) <= 2, counts


def test_region_vertical_and_seniority_requirements():
    reps = {1: rep(1, regions=frozenset({"de"}), seniority=2),
            2: rep(2, regions=frozenset({"us"}), verticals=frozenset({"banking"}), seniority=3)}
    team = TeamSpec(1, "Sales", None, (1, 2))
    by_region = RoutingRuleSpec(10, "r", Action.ROUND_ROBIN, team_id=1, match_region=True)
    assert decide(by_region, reps=reps, team=team, facts={"country": "US"}).owner_id == 2
    senior = RoutingRuleSpec(10, "s", Action.ROUND_ROBIN, team_id=1, min_seniority=3)
    assert decide(senior, reps=reps, team=team).owner_id == 2
    vertical = RoutingRuleSpec(10, "v", Action.ROUND_ROBIN, team_id=1, match_vertical=True)
    decision = decide(vertical, reps=reps, team=team, facts={"industry": "Retail"})
    assert decision.outcome == Outcome.QUEUED


def test_a_rep_joining_a_weighted_team_late_gets_no_burst_of_leads():
    rule = RoutingRuleSpec(10, "w", Action.WEIGHTED, team_id=1)
    cursor = Cursor(2, {1: 100, 2: 100})
    team = TeamSpec(1, "Sales", None, (1, 2, 3))
    picks = []
    for _ in range(30):
        decision = decide(rule, team=team, cursor=cursor)
        picks.append(decision.owner_id)
        cursor = cursor.after(decision.owner_id, team)
    assert picks.count(3) == 10 and picks[:3].count(3) <= 2


def test_a_rep_with_weight_0_gets_no_leads_from_the_team_whatever_the_strategy():
    """Sales ops set weight 0 to take a rep out of rotation; only the weighted strategy heard
    it, and round-robin and least-loaded kept handing the rep leads."""
    team = TeamSpec(1, "Sales", None, (1, 2), weights={1: 0, 2: 1})
    reps = {1: rep(1, open_leads=0), 2: rep(2, open_leads=7)}
    for action in (Action.ROUND_ROBIN, Action.LEAST_LOADED, Action.WEIGHTED):
        rule = RoutingRuleSpec(10, "everyone", action, team_id=1)
        cursor = Cursor()
        for _ in range(5):
            decision = decide(rule, team=team, reps=reps, cursor=cursor)
            assert decision.owner_id == 2, action
            cursor = cursor.after(decision.owner_id, team)
        assert decision.candidates[0].reason == "weight 0 in Sales: out of rotation"
    alone = TeamSpec(1, "Sales", None, (1,), weights={1: 0})
    decision = decide(team=alone, reps={1: rep(1)})
    assert decision.outcome == Outcome.QUEUED and decision.owner_id is None
