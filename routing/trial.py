"""Try-it and backtest: the live engines over real or typed leads, reading only, writing nothing.

Both take a rule set — the current one, or an edited copy with a draft rule added and chosen
rules switched off — and call the same pure functions the intake calls.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.utils import timezone

from capture.models import OPEN_STATUSES, Lead
from routing.models import TeamCursor
from routing.routing import TEAM_ACTIONS, Cursor, Outcome, RepState, RoutingDecision, route
from routing.ruleset import RuleSet, open_lead_counts, rep_states, users_by_id
from routing.scoring import ScoreResult
from routing.services import clock_for, score_lead
from routing.sla import SlaClock

MAX_BACKTEST_LEADS = 5000


@dataclass(frozen=True)
class TrialResult:
    scored: ScoreResult
    decision: RoutingDecision
    clock: SlaClock | None
    owner_name: str
    facts: dict


def _cursors() -> dict[int, Cursor]:
    return {
        c.team_id: Cursor(c.last_user_id, {int(k): v for k, v in (c.counts or {}).items()})
        for c in TeamCursor.objects.all()
    }


def try_lead(lead: Lead, ruleset: RuleSet, now: datetime | None = None) -> TrialResult:
    """Score and route one lead (saved or typed) as the intake would now, saving nothing."""
    now = now or timezone.now()
    facts, scored = score_lead(lead, ruleset)
    member_ids = {u for t in ruleset.teams.values() for u in t.member_ids}
    member_ids |= {r.rep_id for r in ruleset.routing if r.rep_id}
    reps = rep_states(member_ids, now.date())
    decision = route(facts, ruleset.routing, ruleset.teams, reps, _cursors(), now)
    clock = clock_for(scored.tier, now, ruleset)
    owner = reps.get(decision.owner_id) if decision.owner_id else None
    return TrialResult(scored, decision, clock, owner.name if owner else "", facts)


@dataclass
class BacktestReport:
    days: int
    leads: int = 0
    tiers_now: Counter = field(default_factory=Counter)
    tiers_then: Counter = field(default_factory=Counter)
    teams: Counter = field(default_factory=Counter)
    reps: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    owner_changes: int = 0  # compared with the leads as they are
    tier_changes: int = 0
    rule_changes: int = 0
    unassigned: int = 0
    compared: bool = False  # an edited rule set, also replayed against the current rules
    edit_owner_changes: int = 0
    edit_tier_changes: int = 0
    edit_rule_changes: int = 0
    edit_unassigned: int = 0  # how many the current rules would leave in a queue
    truncated: bool = False
    examples: list[dict] = field(default_factory=list)

    # Lists for templates (a template reading counter.most_common would get the count 0).
    @property
    def tier_rows(self) -> list[tuple[str, int, int]]:
        names = sorted(set(self.tiers_now) | set(self.tiers_then))
        return [(n, self.tiers_now[n], self.tiers_then[n]) for n in names]

    @property
    def team_rows(self) -> list[tuple[str, int]]:
        return self.teams.most_common()

    @property
    def rep_rows(self) -> list[tuple[str, int]]:
        return self.reps.most_common()

    @property
    def outcome_rows(self) -> list[tuple[str, int]]:
        return self.outcomes.most_common()

    @property
    def rule_rows(self) -> list[tuple[str, int]]:
        return self.rules.most_common()


def backtest(ruleset: RuleSet, *, days: int, baseline: RuleSet | None = None,
             now: datetime | None = None, limit: int = MAX_BACKTEST_LEADS) -> BacktestReport:
    """Run the rules over the leads of the last `days` days, oldest first, without writing.

    Reps' loads start from today's open leads (minus the leads being replayed) and grow as the
    replay assigns; working hours and out-of-office are read at each lead's own arrival time;
    the "available" switch is read as it is now. With a `baseline` (the current rules when
    `ruleset` is an edited copy), both are replayed the same way and compared lead by lead,
    so the effect of the edit is not mixed up with where the rotation happens to stand.
    """
    now = now or timezone.now()
    since = now - timedelta(days=days)
    leads = list(Lead.objects.filter(created_at__gte=since).select_related("assessment")
                 .order_by("created_at", "id")[: limit + 1])
    report = BacktestReport(days=days, truncated=len(leads) > limit,
                            compared=baseline is not None)
    leads = leads[:limit]
    teams = {**(baseline.teams if baseline else {}), **ruleset.teams}
    member_ids = {u for t in teams.values() for u in t.member_ids}
    member_ids |= {r.rep_id for r in (*ruleset.routing, *(baseline.routing if baseline else ()))
                   if r.rep_id}
    loads = Counter(open_lead_counts(member_ids))
    for lead in leads:
        if lead.owner_id and lead.status in OPEN_STATUSES:
            loads[lead.owner_id] -= 1
    reps = rep_states(member_ids, since.date(), open_counts=loads)
    cursors = _cursors()
    names = {u: r.name for u, r in reps.items()}

    replayed = _replay(leads, ruleset, reps, loads, cursors)
    before = _replay(leads, baseline, reps, loads, cursors) if baseline else None
    for i, lead in enumerate(leads):
        _tally(report, lead, *replayed[i], names, before[i] if before else None)
    _name_missing_owners(report)
    return report


def _replay(leads: list[Lead], ruleset: RuleSet, reps: dict[int, RepState],
            loads: Counter, cursors: dict[int, Cursor]) -> list[tuple[ScoreResult,
                                                                       RoutingDecision]]:
    loads, cursors = Counter(loads), dict(cursors)  # each replay starts from the same state
    results = []
    for lead in leads:
        facts, scored = score_lead(lead, ruleset)
        states = {u: replace(r, open_leads=max(loads[u], 0)) for u, r in reps.items()}
        decision = route(facts, ruleset.routing, ruleset.teams, states, cursors,
                         lead.created_at)
        if decision.owner_id:
            loads[decision.owner_id] += 1
            if decision.action in TEAM_ACTIONS and decision.team_id:
                cursors[decision.team_id] = cursors.get(decision.team_id, Cursor()).after(
                    decision.owner_id, ruleset.teams[decision.team_id])
        results.append((scored, decision))
    return results


def _tally(report: BacktestReport, lead: Lead, scored: ScoreResult, decision: RoutingDecision,
           names: dict[int, str],
           before: tuple[ScoreResult, RoutingDecision] | None) -> None:
    report.leads += 1
    report.tiers_now[lead.tier or "(none)"] += 1
    report.tiers_then[scored.tier or "(none)"] += 1
    report.outcomes[Outcome(decision.outcome).label] += 1
    report.rules[decision.rule_name or "(no rule)"] += 1
    if decision.team_name:
        report.teams[decision.team_name] += 1
    if decision.owner_id:
        report.reps[names.get(decision.owner_id, f"user #{decision.owner_id}")] += 1
    if decision.outcome == Outcome.QUEUED:
        report.unassigned += 1
    assessment = getattr(lead, "assessment", None)
    stored_rule = assessment.rule_id if assessment else None
    report.owner_changes += decision.owner_id != lead.owner_id
    report.tier_changes += scored.tier != lead.tier
    report.rule_changes += decision.rule_id != stored_rule
    if before is not None:
        old_scored, old_decision = before
        changed = (old_decision.owner_id != decision.owner_id, old_scored.tier != scored.tier,
                   old_decision.rule_id != decision.rule_id)
        report.edit_owner_changes += changed[0]
        report.edit_tier_changes += changed[1]
        report.edit_rule_changes += changed[2]
        report.edit_unassigned += old_decision.outcome == Outcome.QUEUED
    else:
        changed = (decision.owner_id != lead.owner_id, scored.tier != lead.tier,
                   decision.rule_id != stored_rule)
    if any(changed) and len(report.examples) < 50:
        report.examples.append({
            "lead_id": lead.pk, "lead": lead.display_name, "created_at": lead.created_at,
            "score_now": lead.score, "score_then": scored.score,
            "tier_now": lead.tier, "tier_then": scored.tier,
            "owner_now_id": lead.owner_id, "owner_then": names.get(decision.owner_id, "")
            if decision.owner_id else "", "rule": decision.rule_name,
            "outcome": Outcome(decision.outcome).label,
        })


def _name_missing_owners(report: BacktestReport) -> None:
    users = users_by_id({e["owner_now_id"] for e in report.examples if e["owner_now_id"]})
    for example in report.examples:
        user = users.get(example["owner_now_id"])
        example["owner_now"] = (user.get_full_name() or user.get_username()) if user else ""
