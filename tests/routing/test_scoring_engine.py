"""The scoring engine, without a database: points add up, negatives subtract, tiers at edges."""

from routing.conditions import compile_condition
from routing.scoring import ScoringRuleSpec, TierSpec, score, tier_for

TIERS = (TierSpec("hot", 60), TierSpec("warm", 30), TierSpec("cold", 0))


def rule(rule_id, field, operator, value, points, group="fit"):
    return ScoringRuleSpec(rule_id, f"rule {rule_id}", group,
                           compile_condition(field, operator, value, routing=False), points)


RULES = (
    rule(1, "job_title", "contains", "CTO, VP", 40),
    rule(2, "company_size", "greater_than", "51-200", 30),
    rule(3, "email_is_free_mail", "equals", "yes", -25),
    rule(4, "service", "equals", "Cloud migration", 15, group="intent"),
)


def test_every_rule_that_fires_adds_its_points_and_is_listed():
    result = score({"job_title": "CTO", "company_size": "201-1000",
                    "email_is_free_mail": False, "service": "Cloud migration"}, RULES, TIERS)
    assert result.score == 85 and result.tier == "hot"
    assert [f.rule_id for f in result.fired] == [1, 2, 4]
    assert result.points_by_group() == {"fit": 70, "intent": 15}


def test_negative_points_take_away():
    result = score({"job_title": "VP Engineering", "email_is_free_mail": True}, RULES, TIERS)
    assert result.score == 15 and result.tier == "cold"
    assert [(f.rule_id, f.points) for f in result.fired] == [(1, 40), (3, -25)]


def test_a_score_can_go_below_zero_and_is_still_in_the_lowest_tier():
    result = score({"email_is_free_mail": True}, RULES, TIERS)
    assert result.score == -25 and result.tier == "cold"


def test_tier_edges():
    assert tier_for(60, TIERS) == "hot"
    assert tier_for(59, TIERS) == "warm"
    assert tier_for(30, TIERS) == "warm"
    assert tier_for(29, TIERS) == "cold"
    assert tier_for(-100, TIERS) == "cold"
    assert tier_for(10, ()) == ""


def test_no_rules_scores_zero():
    assert score({"job_title": "CTO"}, (), TIERS).score == 0
