"""Writes: score, route and clock a lead; reassign it; escalate a breach.

The decisions come from the pure engines (scoring, routing, sla) over the cached rule set;
these functions hold the row locks, write the lead with a queryset update (never a full save
that could overwrite a concurrent edit), keep the explanation, and announce what happened.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from capture.models import CLOSED_STATUSES, Channel, Interaction, Lead, LeadStatus
from capture.services import person_name
from routing.conditions import facts_for
from routing.models import LeadAssessment, TeamCursor
from routing.routing import (
    TEAM_ACTIONS,
    Action,
    Cursor,
    Outcome,
    RoutingDecision,
    RoutingRuleSpec,
    first_matching_rule,
    pick_from_team,
    route,
)
from routing.ruleset import RuleSet, current_ruleset, rep_states, users_by_id
from routing.scoring import ScoreResult, score
from routing.selectors import leads_breaching
from routing.signals import deadline_moved, lead_assigned, lead_queued, sla_breached
from routing.sla import Escalation, SlaClock, SlaState, respond_by_for, sla_state

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assessment:
    scored: ScoreResult
    decision: RoutingDecision | None
    clock: SlaClock | None


def score_lead(lead: Lead, ruleset: RuleSet) -> tuple[dict, ScoreResult]:
    """The lead's facts (with its new score and tier) and the score. Pure over the rule set."""
    facts = facts_for(lead, ruleset.context)
    scored = score(facts, ruleset.scoring, ruleset.tiers)
    facts["score"], facts["tier"] = scored.score, scored.tier
    return facts, scored


def clock_for(tier: str, started: datetime, ruleset: RuleSet) -> SlaClock | None:
    policy = ruleset.sla.get(tier)
    if policy is None:
        return None
    try:
        return respond_by_for(started, policy)
    except (ValueError, OverflowError):  # a target past the calendar (or year 9999)
        logger.warning("SLA policy of tier %s gives no deadline: its calendar never opens "
                       "or its target is out of reach", tier)
        return None


@dataclass(frozen=True)
class _Plan:
    """What assessing a lead decided, before anything is written."""

    scored: ScoreResult
    decision: RoutingDecision | None
    clock: SlaClock | None
    updates: dict[str, object]  # the lead's own fields to write
    ruleset: RuleSet
    now: datetime


@transaction.atomic(savepoint=False)  # the intake's transaction when called from it
def assess_lead(lead: Lead, *, route_lead: bool = True, start_clock: bool = True,
                clock_from: datetime | None = None, now: datetime | None = None) -> Assessment:
    """Score the lead, route it when asked, set its deadline; keep the explanation.

    The clock starts at `clock_from` (default: when the lead was created). Runs inside the
    intake transaction (capture's lead_received) or on its own.
    """
    now = now or timezone.now()
    previous = LeadAssessment.objects.filter(lead=lead).first()
    plan = _plan(lead, previous, route_lead=route_lead, start_clock=start_clock,
                 clock_from=clock_from, now=now)
    previous_owner_id = lead.owner_id
    if plan.updates:
        Lead.objects.filter(pk=lead.pk).update(**plan.updates)
        for name, value in plan.updates.items():
            setattr(lead, name, value)
    return _record(lead, plan, previous, previous_owner_id)


def plan_new_lead(lead: Lead, *, respond_within: timedelta | None = None) -> None:
    """Score, route and clock a new lead before its row is inserted (capture's lead_creating).

    The outcome (score, tier, owner, deadline, nurture) is set on the unsaved lead, so the row
    is written once: an UPDATE just after the INSERT would write every one of the lead's
    indexes again. The explanation and the announcements need the row; they wait on the lead
    for assess_received_lead(). `respond_within` is the channel's own target (a live chat's):
    the deadline is the sooner of it and the tier's, warned at half of it.
    """
    now = timezone.now()
    plan = _plan(lead, None, route_lead=_needs_routing(lead), start_clock=True,
                 clock_from=lead.created_at or now, now=now, respond_within=respond_within)
    for name, value in plan.updates.items():
        setattr(lead, name, value)
    lead._routing_plan = plan


def _plan(lead: Lead, previous: LeadAssessment | None, *, route_lead: bool, start_clock: bool,
          clock_from: datetime | None, now: datetime,
          respond_within: timedelta | None = None) -> _Plan:
    ruleset = current_ruleset()
    facts, scored = score_lead(lead, ruleset)
    decision = _route_locked(facts, ruleset, now) if route_lead else None

    updates: dict[str, object] = {"score": scored.score, "tier": scored.tier}
    clock = None
    if start_clock:
        started = clock_from or lead.created_at or now
        clock = clock_for(scored.tier, started, ruleset)
        if respond_within and (clock is None or started + respond_within < clock.respond_by):
            clock = SlaClock(started, started + respond_within / 2, started + respond_within)
    elif (previous and previous.tier != scored.tier and lead.first_response_at is None
          and lead.respond_by is not None):
        clock = clock_for(scored.tier, previous.sla_started_at or lead.created_at, ruleset)
    if clock:
        updates["respond_by"] = clock.respond_by
    if decision and decision.owner_id:
        updates["owner_id"] = decision.owner_id
    if decision and decision.outcome == Outcome.NURTURE and lead.status == LeadStatus.NEW:
        updates["status"] = LeadStatus.NURTURE
    return _Plan(scored, decision, clock, updates, ruleset, now)


def _record(lead: Lead, plan: _Plan, previous: LeadAssessment | None,
            previous_owner_id: int | None) -> Assessment:
    """Keep the explanation and announce the outcome (the lead's row holds it already)."""
    _keep_explanation(lead, previous, plan.scored, plan.decision, plan.clock,
                      plan.ruleset.version, plan.now)
    if plan.decision:
        _announce(lead, plan.decision, previous, previous_owner_id, plan.now, plan.ruleset)
    return Assessment(plan.scored, plan.decision, plan.clock)


def _route_locked(facts: dict, ruleset: RuleSet, now: datetime) -> RoutingDecision:
    """Route with the team's cursor and its reps' rows locked until the transaction ends."""
    rule = first_matching_rule(facts, ruleset.routing)
    if rule is None:
        return route(facts, ruleset.routing, ruleset.teams, {}, {}, now)
    team = ruleset.teams.get(rule.team_id) if rule.team_id else None
    cursor_row = None
    cursors = {}
    if rule.action in TEAM_ACTIONS and team is not None:
        cursor_row = _locked_cursor(team.id)
        cursors[team.id] = Cursor(cursor_row.last_user_id,
                                  {int(k): v for k, v in (cursor_row.counts or {}).items()})
        user_ids = team.member_ids
    else:
        user_ids = [rule.rep_id] if rule.rep_id else []
    reps = rep_states(user_ids, now.date(), lock=True,
                      loads=rule.action == Action.LEAST_LOADED)
    decision = route(facts, ruleset.routing, ruleset.teams, reps, cursors, now, rule=rule)
    if cursor_row is not None and decision.owner_id:
        moved = cursors[team.id].after(decision.owner_id, team)
        cursor_row.last_user_id = moved.last_user_id
        cursor_row.counts = {str(k): v for k, v in moved.counts.items()}
        cursor_row.save(update_fields=["last_user", "counts", "updated_at"])
    return decision


def _locked_cursor(team_id: int) -> TeamCursor:
    """The team's rotation row, locked until the transaction ends (made on first use)."""
    row = TeamCursor.objects.select_for_update().filter(team_id=team_id).first()
    if row is None:
        TeamCursor.objects.get_or_create(team_id=team_id)  # a concurrent first use may win
        row = TeamCursor.objects.select_for_update().get(team_id=team_id)
    return row


def _keep_explanation(lead: Lead, previous: LeadAssessment | None, scored: ScoreResult,
                      decision: RoutingDecision | None, clock: SlaClock | None,
                      version: int, now: datetime) -> None:
    values: dict[str, object] = {
        "score": scored.score, "tier": scored.tier,
        "fired_rules": [f.as_dict() for f in scored.fired],
        "ruleset_version": version, "scored_at": now,
    }
    if decision:
        values.update(outcome=decision.outcome, routing=decision.as_dict(),
                      rule_id=decision.rule_id, team_id=decision.team_id, routed_at=now)
    if clock:
        values.update(sla_started_at=clock.started_at, warn_at=clock.warn_at)
    if previous is None:
        LeadAssessment.objects.create(lead=lead, **values)  # also cached as lead.assessment
    else:
        LeadAssessment.objects.filter(pk=previous.pk).update(**values)
        for name, value in values.items():
            setattr(previous, name, value)
        lead.assessment = previous  # followup reads warn_at from it, without a query


def _announce(lead: Lead, decision: RoutingDecision, previous: LeadAssessment | None,
              previous_owner_id: int | None, now: datetime, ruleset: RuleSet) -> None:
    if decision.outcome == Outcome.ASSIGNED and decision.owner_id != previous_owner_id:
        owner = next((c.name for c in decision.candidates if c.user_id == decision.owner_id),
                     f"user #{decision.owner_id}")
        Interaction.objects.create(
            lead=lead, direction=Interaction.Direction.INTERNAL,
            kind=Interaction.Kind.ASSIGNMENT, channel=lead.channel, occurred_at=now,
            summary=f"Assigned to {owner} by the rule “{decision.rule_name}”"[:255],
            body=decision.summary,
        )
        lead_assigned.send(sender=Lead, lead=lead, owner_id=decision.owner_id,
                           previous_owner_id=previous_owner_id, decision=decision,
                           acting_user=None)
    elif decision.outcome == Outcome.QUEUED:
        already = previous is not None and previous.outcome == Outcome.QUEUED \
            and previous.team_id == decision.team_id
        if not already:  # the team lead hears about a waiting lead once, not on every touch
            team_lead_id = ruleset.teams[decision.team_id].lead_user_id
            Interaction.objects.create(
                lead=lead, direction=Interaction.Direction.INTERNAL,
                kind=Interaction.Kind.ASSIGNMENT, channel=lead.channel, occurred_at=now,
                summary=f"Waiting in the unassigned queue of {decision.team_name}"[:255],
                body=decision.summary,
            )
            lead_queued.send(sender=Lead, lead=lead, team_id=decision.team_id,
                             team_lead_id=team_lead_id, decision=decision)
    elif decision.outcome == Outcome.NURTURE and (previous is None
                                                  or previous.outcome != Outcome.NURTURE):
        Interaction.objects.create(
            lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.STATUS,
            channel=lead.channel, occurred_at=now,
            summary=f"To the nurture list by the rule “{decision.rule_name}”"[:255],
        )


def assess_received_lead(lead: Lead, *, created: bool) -> Assessment:
    """What capture's lead_received triggers: score always; route and clock what needs it.

    A new lead was decided before its insert (plan_new_lead): what is left is to keep the
    explanation and announce."""
    plan = lead.__dict__.pop("_routing_plan", None) if created else None
    if plan is not None:
        return _record(lead, plan, None, None)
    route_it = _needs_routing(lead)
    start_clock = created or (lead.respond_by is None and lead.first_response_at is None)
    # An older lead that never had a deadline gets one from this contact on, not from the past.
    clock_from = lead.created_at if created else timezone.now()
    return assess_lead(lead, route_lead=route_it, start_clock=start_clock, clock_from=clock_from)


def _needs_routing(lead: Lead) -> bool:
    return lead.owner_id is None and lead.status not in CLOSED_STATUSES


@transaction.atomic
def rescore_lead(lead: Lead) -> Assessment:
    """After staff edit a lead's fields: new score, tier and explanation; the owner stays.

    A changed tier moves an unanswered lead's deadline to the new tier's policy, announced
    so the owner is warned before the new one (followup schedules the warning).
    """
    respond_by = lead.respond_by
    assessment = assess_lead(lead, route_lead=False, start_clock=False)
    if assessment.clock is not None and lead.respond_by != respond_by:
        deadline_moved.send(sender=Lead, lead=lead)
    return assessment


@transaction.atomic
def reassign_lead(*, lead: Lead, owner, acting_user, note: str = "") -> bool:
    """A manager gives the lead to someone else: the timeline says who, and the owner hears.

    Nobody (owner None) puts it back in its team's unassigned queue, counted there like a lead
    no rep could take (outcome "queued"); an owner makes it "assigned" again. A snooze ends:
    it was the old owner's, and the new one is told about a lead they could not see."""
    current, snoozed_until = Lead.objects.select_for_update().filter(pk=lead.pk).values_list(
        "owner_id", "snoozed_until").first() or (None, None)
    new_id = owner.pk if owner is not None else None
    if current == new_id:
        return False
    Lead.objects.filter(pk=lead.pk).update(owner_id=new_id, snoozed_until=None)
    lead.owner_id, lead.snoozed_until = new_id, None
    users = users_by_id([i for i in (current, new_id) if i])
    by = f"by {person_name(acting_user)}" if acting_user is not None else "automatically"
    summary = (f"Reassigned from {person_name(users.get(current))} to "
               f"{person_name(users.get(new_id))} {by}")
    if snoozed_until is not None and snoozed_until > timezone.now():
        summary += "; the snooze ended"
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.ASSIGNMENT,
        channel=Channel.MANUAL, actor=acting_user if acting_user and acting_user.pk else None,
        summary=summary[:255], body=note,
    )
    assessment = LeadAssessment.objects.filter(lead=lead).first()
    if assessment is not None:
        routing = dict(assessment.routing or {})
        # The lead page says "Reassigned by …": an SLA escalation has no person to name.
        routing["manual"] = {"by": person_name(acting_user, nobody="the SLA escalation"),
                             "to_owner_id": new_id,
                             "at": timezone.now().isoformat(), "note": note}
        if new_id:
            outcome = Outcome.ASSIGNED
        elif assessment.team_id:
            outcome = Outcome.QUEUED  # the dashboard's unassigned queue, aging and SLA counts
        else:
            outcome = assessment.outcome
        LeadAssessment.objects.filter(pk=assessment.pk).update(routing=routing, outcome=outcome)
    if new_id:
        lead_assigned.send(sender=Lead, lead=lead, owner_id=new_id, previous_owner_id=current,
                           decision=None, acting_user=acting_user)
    return True


# --- SLA ---------------------------------------------------------------------------------------

def sla_state_of(lead: Lead, now: datetime | None = None) -> SlaState | None:
    """due / warning / breached / met for a lead (its warning point comes from the assessment)."""
    assessment = getattr(lead, "assessment", None) if lead.pk else None
    return sla_state(respond_by=lead.respond_by, first_response_at=lead.first_response_at,
                     now=now or timezone.now(),
                     warn_at=assessment.warn_at if assessment else None)


@transaction.atomic
def escalate_breach(lead_id: int, now: datetime | None = None) -> bool:
    """Run the tier policy's escalation once: reassign to the next eligible rep and/or tell the
    manager (through sla_breached; followup sends). A second call does nothing."""
    now = now or timezone.now()
    # A lead another sweep is escalating just now is its (PostgreSQL: skipped, not waited on;
    # SQLite has one writer and ignores the lock); the conditional UPDATE claims it once.
    unclaimed = LeadAssessment.objects.filter(lead_id=lead_id, escalated_at__isnull=True)
    if not unclaimed.select_for_update(skip_locked=True).values_list("pk", flat=True):
        return False
    if not unclaimed.update(escalated_at=now):
        return False
    lead = Lead.objects.select_related("assessment").get(pk=lead_id)
    if sla_state_of(lead, now) != SlaState.BREACHED or lead.first_response_at:
        LeadAssessment.objects.filter(lead_id=lead_id).update(escalated_at=None)
        return False
    ruleset = current_ruleset()
    policy = ruleset.sla.get(lead.tier)
    escalation = policy.escalation if policy else Escalation.NOTIFY_MANAGER
    reassigned_to = None
    team = ruleset.teams.get(lead.assessment.team_id) if lead.assessment.team_id else None
    # Only a lead routed to a team has other reps to try (a "one rep" rule's has none).
    reassign_tried = escalation in (Escalation.REASSIGN, Escalation.BOTH) and team is not None
    if reassign_tried:
        reassigned_to = _next_rep(lead, team, ruleset, now)
        if reassigned_to:
            reassign_lead(lead=lead, owner=users_by_id([reassigned_to])[reassigned_to],
                          acting_user=None, note="The first-response deadline passed.")
    manager_ids = _managers_to_alert(lead, team, ruleset)
    sla_breached.send(sender=Lead, lead=lead, escalation=escalation, manager_ids=manager_ids,
                      reassign_tried=reassign_tried, reassigned_to_id=reassigned_to)
    return True


def _managers_to_alert(lead: Lead, team, ruleset: RuleSet) -> list[int]:
    """The lead of the team the lead was routed to; else (an "assign to one rep" rule without a
    team, a team without a lead) the leads of the owner's own teams, so a breach always reaches
    the rep's manager when there is one. Never the owner: they are the one who missed it."""
    if team is not None and team.lead_user_id:
        return [team.lead_user_id]
    return sorted({t.lead_user_id for t in ruleset.teams.values()
                   if lead.owner_id in t.member_ids and t.lead_user_id
                   and t.lead_user_id != lead.owner_id})


def _next_rep(lead: Lead, team, ruleset: RuleSet, now: datetime) -> int | None:
    facts, _ = score_lead(lead, ruleset)
    rule = next((r for r in ruleset.routing if r.id == lead.assessment.rule_id), None)
    if rule is None or rule.action not in TEAM_ACTIONS:
        rule = RoutingRuleSpec(None, "SLA escalation", Action.ROUND_ROBIN, team_id=team.id)
    cursor_row = _locked_cursor(team.id)
    cursor = Cursor(cursor_row.last_user_id,
                    {int(k): v for k, v in (cursor_row.counts or {}).items()})
    others = tuple(u for u in team.member_ids if u != lead.owner_id)
    reps = rep_states(others, now.date(), lock=True, loads=rule.action == Action.LEAST_LOADED)
    picked, _ = pick_from_team(rule.action, replace(team, member_ids=others), cursor, reps,
                               rule, facts, now)
    if picked:
        moved = cursor.after(picked, team)
        TeamCursor.objects.filter(pk=cursor_row.pk).update(
            last_user_id=picked, counts={str(k): v for k, v in moved.counts.items()})
    return picked


BREACH_BATCH = 200
BREACH_SWEEP_SECONDS = 45


def escalate_due_breaches(batch: int = BREACH_BATCH, seconds: float = BREACH_SWEEP_SECONDS,
                          since: datetime | None = None) -> int:
    """The sweeper for SLA breaches (a django-q2 schedule runs it every minute).

    Many leads share a deadline (every weekend's hot lead is due Monday at 09:15): one batch per
    run left the rest a minute late per batch. So a run goes on, batch after batch in deadline
    order, until none is due or `seconds` have passed (under the task's 60 s timeout; the next
    run takes the rest). It reads on after the last lead it tried, so a lead whose escalation
    declines (answered meanwhile) is not read again within the run. Two runs at once (two
    qclusters, a slow run) share the work: each lead is claimed once (escalate_breach).

    `since` limits a run to the deadlines that passed after it: the sweeper's check every few
    seconds reads only the latest ones, and this schedule's full read, whose cost grows with
    the breaches nobody answered yet, runs once a minute."""
    started = time.monotonic()
    escalated, after = 0, None
    while True:  # the time is checked before each lead: a run ends well within the timeout
        due = leads_breaching(since=since).order_by("respond_by", "id")
        if after:
            due = due.filter(Q(respond_by__gt=after[0]) | Q(respond_by=after[0], id__gt=after[1]))
        rows = list(due.values_list("respond_by", "id")[:batch])
        for row in rows:
            if time.monotonic() - started >= seconds:
                return escalated
            escalated += escalate_breach(row[1])
            after = row
        if len(rows) < batch:
            return escalated
