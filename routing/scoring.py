"""The scoring engine: add up the points of every rule that fires, then read the tier. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from routing.conditions import Condition


@dataclass(frozen=True)
class ScoringRuleSpec:
    id: int | None
    name: str
    group: str
    condition: Condition
    points: int


@dataclass(frozen=True)
class TierSpec:
    name: str
    min_score: int


@dataclass(frozen=True)
class FiredRule:
    rule_id: int | None
    name: str
    group: str
    points: int
    condition: str

    def as_dict(self) -> dict:
        return {"rule_id": self.rule_id, "name": self.name, "group": self.group,
                "points": self.points, "condition": self.condition}


@dataclass(frozen=True)
class ScoreResult:
    score: int
    tier: str
    fired: tuple[FiredRule, ...]

    def points_by_group(self) -> dict[str, int]:
        groups: dict[str, int] = {}
        for rule in self.fired:
            groups[rule.group] = groups.get(rule.group, 0) + rule.points
        return groups


def tier_for(score_value: int, tiers: Sequence[TierSpec]) -> str:
    """The tier with the highest threshold the score reaches; below all of them, the lowest.

    Tiers are read highest threshold first: hot >= 60, warm >= 30, cold (anything else).
    """
    if not tiers:
        return ""
    ordered = sorted(tiers, key=lambda t: t.min_score, reverse=True)
    for tier in ordered:
        if score_value >= tier.min_score:
            return tier.name
    return ordered[-1].name


def score(facts: Mapping[str, object], rules: Sequence[ScoringRuleSpec],
          tiers: Sequence[TierSpec]) -> ScoreResult:
    """Every rule whose condition holds adds its points (negative points take away)."""
    fired = tuple(
        FiredRule(rule.id, rule.name, rule.group, rule.points, rule.condition.describe())
        for rule in rules
        if rule.condition.test(facts)
    )
    total = sum(rule.points for rule in fired)
    return ScoreResult(total, tier_for(total, tiers), fired)
