"""The routing engine: the first matching rule picks an action; a team strategy picks a rep. Pure.

Strategies see frozen rep states (availability, out-of-office, hours, open leads) and the team's
cursor (who was picked last, how many each has had) and return the pick with every candidate's
reason. The service that calls them holds the locks; this module only decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.db import models

from routing.conditions import Condition


class Action(models.TextChoices):
    REP = "rep", "Assign to one rep"
    ROUND_ROBIN = "round_robin", "Team: round-robin"
    LEAST_LOADED = "least_loaded", "Team: least-loaded"
    WEIGHTED = "weighted", "Team: weighted"
    NURTURE = "nurture", "Nurture list (no owner)"


TEAM_ACTIONS = frozenset({Action.ROUND_ROBIN, Action.LEAST_LOADED, Action.WEIGHTED})


class Outcome(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    QUEUED = "queued", "Team's unassigned queue"
    NURTURE = "nurture", "Nurture list"
    UNROUTED = "unrouted", "No owner"  # no rule matched, or its rep could not take it


@dataclass(frozen=True)
class RoutingRuleSpec:
    id: int | None
    name: str
    action: str
    conditions: tuple[Condition, ...] = ()
    tiers: frozenset[str] = frozenset()
    min_score: int | None = None
    max_score: int | None = None
    rep_id: int | None = None
    team_id: int | None = None
    respect_hours: bool = False
    match_region: bool = False
    match_vertical: bool = False
    min_seniority: int = 0
    is_default: bool = False

    def matches(self, facts: Mapping[str, object]) -> bool:
        if self.is_default:
            return True
        if self.tiers and facts.get("tier") not in self.tiers:
            return False
        score = facts.get("score") or 0
        if self.min_score is not None and score < self.min_score:
            return False
        if self.max_score is not None and score > self.max_score:
            return False
        return all(c.test(facts) for c in self.conditions)


@dataclass(frozen=True)
class WorkingHours:
    """A rep's week in their own timezone; `ends` before `starts` means a night shift."""

    timezone: str
    days: frozenset[int]  # 0 = Monday
    starts: time
    ends: time

    def is_working(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        now = local.time()
        if self.starts <= self.ends:
            return local.weekday() in self.days and self.starts <= now < self.ends
        if now >= self.starts:  # the evening part of a night shift
            return local.weekday() in self.days
        yesterday = (local.weekday() - 1) % 7
        return yesterday in self.days and now < self.ends

    def describe(self) -> str:
        return f"{self.starts:%H:%M}-{self.ends:%H:%M} {self.timezone}"


@dataclass(frozen=True)
class RepState:
    user_id: int
    name: str
    is_active: bool = True
    is_available: bool = True
    capacity: int | None = None  # open leads at most; None means no limit
    open_leads: int = 0
    hours: WorkingHours | None = None
    away: tuple[tuple[date, date], ...] = ()  # out-of-office ranges, both days included
    regions: frozenset[str] = frozenset()
    verticals: frozenset[str] = frozenset()
    seniority: int = 0
    weight: int = 1

    def away_until(self, day: date) -> date | None:
        for first, last in self.away:
            if first <= day <= last:
                return last
        return None


@dataclass(frozen=True)
class TeamSpec:
    id: int
    name: str
    lead_user_id: int | None
    member_ids: tuple[int, ...]  # the rotation, in a fixed order
    weights: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    """Where a team's rotation stands: who was picked last and how many each has had."""

    last_user_id: int | None = None
    counts: Mapping[int, int] = field(default_factory=dict)

    def after(self, user_id: int, team: TeamSpec | None = None) -> Cursor:
        """The cursor once `user_id` got a lead. With the team, a rep more than one round
        behind the leader is first lifted to that point (see _weighted_shares)."""
        counts = dict(self.counts)
        count = counts.get(user_id, 0)
        if team is not None:
            def weight(u: int) -> int:
                return max(team.weights.get(u, 1), 1)
            shares = [counts[u] / weight(u) for u in team.member_ids if u in counts]
            if shares:
                count = max(count, (max(shares) - 1) * weight(user_id))
        counts[user_id] = count + 1
        return Cursor(user_id, counts)


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    eligible: bool
    reason: str

    def as_dict(self) -> dict:
        return {"user_id": self.user_id, "name": self.name, "eligible": self.eligible,
                "reason": self.reason}


@dataclass(frozen=True)
class RoutingDecision:
    outcome: str
    owner_id: int | None = None
    rule_id: int | None = None
    rule_name: str = ""
    action: str = ""
    team_id: int | None = None
    team_name: str = ""
    candidates: tuple[Candidate, ...] = ()
    summary: str = ""

    @property
    def outcome_label(self) -> str:
        return Outcome(self.outcome).label

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "owner_id": self.owner_id, "rule_id": self.rule_id,
                "rule_name": self.rule_name, "action": self.action, "team_id": self.team_id,
                "team_name": self.team_name, "summary": self.summary,
                "candidates": [c.as_dict() for c in self.candidates]}


def first_matching_rule(facts: Mapping[str, object],
                        rules: Sequence[RoutingRuleSpec]) -> RoutingRuleSpec | None:
    """Rules in their order; the default rule (wherever it sits) only when none matched."""
    default = None
    for rule in rules:
        if rule.is_default:
            default = default or rule
        elif rule.matches(facts):
            return rule
    return default


def skip_reason(rep: RepState, rule: RoutingRuleSpec, facts: Mapping[str, object],
                now: datetime) -> str | None:
    """Why this rep cannot take this lead now, or None when they can."""
    if not rep.is_active:
        return "inactive account"
    if not rep.is_available:
        return "switched to unavailable"
    if until := rep.away_until(now.date() if rep.hours is None
                               else now.astimezone(ZoneInfo(rep.hours.timezone)).date()):
        return f"out of office until {until:%Y-%m-%d}"
    if rule.respect_hours and rep.hours is not None and not rep.hours.is_working(now):
        return f"outside working hours ({rep.hours.describe()})"
    if rep.capacity is not None and rep.open_leads >= rep.capacity:
        return f"at capacity ({rep.open_leads}/{rep.capacity} open leads)"
    if rule.min_seniority and rep.seniority < rule.min_seniority:
        return "not senior enough for this rule"
    if rule.match_region:
        country = str(facts.get("country") or "").strip().casefold()
        if not country or country not in rep.regions:
            return "does not cover this country"
    if rule.match_vertical:
        industry = str(facts.get("industry") or "").strip().casefold()
        if not industry or industry not in rep.verticals:
            return "does not cover this industry"
    return None


def _rotation_after(member_ids: Sequence[int], last: int | None) -> list[int]:
    """The rotation starting with the member after `last` (ties go to whoever is next in turn,
    so no account is favoured for being older)."""
    members = list(member_ids)
    if last in members:
        i = members.index(last) + 1
        return members[i:] + members[:i]
    if last is None:
        return members
    later = [m for m in members if m > last]  # `last` left the team: continue after their place
    return later + [m for m in members if m <= last]


def pick_from_team(action: str, team: TeamSpec, cursor: Cursor, reps: Mapping[int, RepState],
                   rule: RoutingRuleSpec, facts: Mapping[str, object],
                   now: datetime) -> tuple[int | None, tuple[Candidate, ...]]:
    """Apply one team strategy; returns the picked user id (or None) and every candidate."""
    order = _rotation_after(team.member_ids, cursor.last_user_id)
    reasons: dict[int, str | None] = {}
    for user_id in order:
        rep = reps.get(user_id)
        if team.weights.get(user_id, 1) <= 0:
            # Sales ops set weight 0 to take a rep out of this team's rotation, whatever the
            # strategy (the rep still gets leads from their other teams and one-rep rules).
            reasons[user_id] = f"weight 0 in {team.name}: out of rotation"
        elif rep is None:
            reasons[user_id] = "no rep profile"
        else:
            reasons[user_id] = skip_reason(rep, rule, facts, now)
    eligible = [u for u in order if reasons[u] is None]

    picked: int | None = None
    if eligible:
        if action == Action.ROUND_ROBIN:
            picked = eligible[0]
        elif action == Action.LEAST_LOADED:
            picked = min(eligible, key=lambda u: reps[u].open_leads)  # min keeps turn order
        else:
            picked = min(eligible, key=_weighted_shares(eligible, team, cursor).__getitem__)

    candidates = []
    for user_id in order:
        rep = reps.get(user_id)
        name = rep.name if rep else f"user #{user_id}"
        if reasons[user_id] is not None:
            candidates.append(Candidate(user_id, name, False, str(reasons[user_id])))
        elif user_id == picked:
            candidates.append(Candidate(user_id, name, True, _picked_why(action, rep, team,
                                                                        cursor)))
        else:
            candidates.append(Candidate(user_id, name, True, _passed_why(action, rep, team,
                                                                        cursor)))
    return picked, tuple(candidates)


def _weighted_shares(eligible: Sequence[int], team: TeamSpec, cursor: Cursor) -> dict[int, float]:
    """Each rep's share after one more lead: leads so far / weight, plus the next one.

    Nobody counts as more than one round behind the leader, so a rep who joins late or comes
    back from leave gets their turn without taking a burst of leads in a row.
    """
    def weight(u: int) -> int:
        return max(team.weights.get(u, 1), 1)

    shares = {u: cursor.counts.get(u, 0) / weight(u) for u in eligible}
    floor = max(shares.values()) - 1
    return {u: max(share, floor) + 1 / weight(u) for u, share in shares.items()}


def _picked_why(action: str, rep: RepState, team: TeamSpec, cursor: Cursor) -> str:
    if action == Action.ROUND_ROBIN:
        return "picked: next in turn"
    if action == Action.LEAST_LOADED:
        return f"picked: fewest open leads ({rep.open_leads})"
    return (f"picked: furthest below their share (weight {team.weights.get(rep.user_id, 1)}, "
            f"{cursor.counts.get(rep.user_id, 0)} so far)")


def _passed_why(action: str, rep: RepState, team: TeamSpec, cursor: Cursor) -> str:
    if action == Action.ROUND_ROBIN:
        return "eligible, later in turn"
    if action == Action.LEAST_LOADED:
        return f"eligible, {rep.open_leads} open leads"
    return (f"eligible, weight {team.weights.get(rep.user_id, 1)}, "
            f"{cursor.counts.get(rep.user_id, 0)} so far")


def route(facts: Mapping[str, object], rules: Sequence[RoutingRuleSpec],
          teams: Mapping[int, TeamSpec], reps: Mapping[int, RepState],
          cursors: Mapping[int, Cursor], now: datetime,
          rule: RoutingRuleSpec | None = None) -> RoutingDecision:
    """Where this lead goes and why. `facts` include the lead's tier and score."""
    rule = rule or first_matching_rule(facts, rules)
    if rule is None:
        return RoutingDecision(Outcome.UNROUTED, summary="No routing rule matched and there is "
                               "no default rule: the lead has no owner.")
    base = RoutingDecision(Outcome.UNROUTED, rule_id=rule.id, rule_name=rule.name,
                           action=rule.action)
    if rule.action == Action.NURTURE:
        return replace(base, outcome=Outcome.NURTURE,
                       summary=f"Rule “{rule.name}”: to the nurture list, no owner.")
    team = teams.get(rule.team_id) if rule.team_id else None
    if team:
        base = replace(base, team_id=team.id, team_name=team.name)
    if rule.action == Action.REP:
        rep = reps.get(rule.rep_id) if rule.rep_id else None
        if rep is None:
            return _queued(base, team, f"Rule “{rule.name}”: its rep has no rep profile.")
        reason = skip_reason(rep, rule, facts, now)
        if reason is None:
            return replace(base, outcome=Outcome.ASSIGNED, owner_id=rep.user_id,
                           candidates=(Candidate(rep.user_id, rep.name, True, "picked: the "
                                                 "rule names this rep"),),
                           summary=f"Rule “{rule.name}”: assigned to {rep.name}.")
        return _queued(replace(base, candidates=(Candidate(rep.user_id, rep.name, False,
                                                           reason),)),
                       team, f"Rule “{rule.name}”: {rep.name} cannot take it ({reason}).")
    if team is None:
        return replace(base, summary=f"Rule “{rule.name}”: its team no longer exists.")
    picked, candidates = pick_from_team(rule.action, team, cursors.get(team.id, Cursor()), reps,
                                        rule, facts, now)
    base = replace(base, candidates=candidates)
    if picked is None:
        return _queued(base, team, f"Rule “{rule.name}”: nobody in {team.name} can take it "
                       "now.")
    name = next(c.name for c in candidates if c.user_id == picked)
    return replace(base, outcome=Outcome.ASSIGNED, owner_id=picked,
                   summary=f"Rule “{rule.name}”: {Action(rule.action).label.lower()} in "
                   f"{team.name} picked {name}.")


def _queued(base: RoutingDecision, team: TeamSpec | None, why: str) -> RoutingDecision:
    where = f" It waits in the unassigned queue of {team.name}; the team lead is told." \
        if team \
        else " It has no owner."
    return replace(base, outcome=Outcome.QUEUED if team else Outcome.UNROUTED,
                   summary=why + where)
