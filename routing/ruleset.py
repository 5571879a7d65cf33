"""Reads the rule rows into frozen specs, once per rule change, and the reps' state per lead.

The compiled rule set is kept in the process and checked against `RuleSetVersion` (one query
per request, or per lead outside one), which every save or delete of a rule row moves on: a
change in the admin is seen by every process at its next request. Reps' availability and
loads change all the time, so they are read fresh for the team at hand, in a fixed number of
queries.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Count, Exists, F, OuterRef

from capture.memo import request_memo
from capture.models import OPEN_STATUSES, CustomField, IntakeForm, Lead
from routing import models as m
from routing.conditions import ConditionError, FactContext, compile_condition
from routing.routing import RepState, RoutingRuleSpec, TeamSpec, WorkingHours
from routing.scoring import ScoringRuleSpec, TierSpec
from routing.sla import Calendar, SlaSpec

logger = logging.getLogger(__name__)

# Models whose rows are part of the compiled rule set.
RULE_MODELS = (m.ScoringRule, m.ScoreTier, m.RoutingRule, m.RoutingCondition, m.Team,
               m.TeamMembership, m.FreeMailDomain, m.SlaPolicy, m.BusinessHours,
               m.OpeningHours, m.Holiday, CustomField, IntakeForm)


@dataclass(frozen=True)
class RuleSet:
    version: int
    scoring: tuple[ScoringRuleSpec, ...]
    tiers: tuple[TierSpec, ...]
    routing: tuple[RoutingRuleSpec, ...]
    teams: Mapping[int, TeamSpec]
    sla: Mapping[str, SlaSpec]
    context: FactContext
    broken: tuple[str, ...] = field(default=())  # rules skipped because they no longer compile
    token: str = ""

    def with_changes(self, *, scoring: Iterable[ScoringRuleSpec] = (),
                     off_scoring: Iterable[int] = (),
                     off_routing: Iterable[int] = (),
                     routing: Iterable[RoutingRuleSpec] = ()) -> RuleSet:
        """An edited copy for try-it and backtests: draft rules added (a draft routing rule is
        tried before the saved ones), chosen rules off."""
        off_s, off_r = set(off_scoring), set(off_routing)
        return RuleSet(
            version=self.version,
            scoring=tuple(r for r in self.scoring if r.id not in off_s) + tuple(scoring),
            tiers=self.tiers,
            routing=tuple(routing) + tuple(r for r in self.routing if r.id not in off_r),
            teams=self.teams, sla=self.sla, context=self.context, broken=self.broken,
            token=self.token,
        )


_cache: dict[str, RuleSet] = {}
VERSION_KEY = "routing.ruleset.version"
_lock = threading.Lock()


def current_version() -> tuple[int, str]:
    """The rule set's (version, token): one query, once per request (capture.memo)."""
    return request_memo.get(VERSION_KEY, _read_version)


def _read_version() -> tuple[int, str]:
    # Plain SQL: the ORM spends about 1 ms of CPU building this one-row read, a tenth of a
    # lead's own work; the cursor takes 0.1 ms.
    table = connection.ops.quote_name(m.RuleSetVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version, token FROM {table} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, "")


def bump_version(**kwargs) -> None:
    """Receiver for every rule model's save/delete: the next lead reloads the rules."""
    token = uuid.uuid4().hex
    request_memo.forget(VERSION_KEY)
    updated = m.RuleSetVersion.objects.filter(pk=1).update(version=F("version") + 1,
                                                           token=token)
    if not updated:
        try:
            with transaction.atomic():
                m.RuleSetVersion.objects.create(pk=1, version=1, token=token)
        except IntegrityError:
            m.RuleSetVersion.objects.filter(pk=1).update(version=F("version") + 1,
                                                         token=token)


def current_ruleset() -> RuleSet:
    """The compiled rules; one query when nothing changed since the last lead."""
    version, token = current_version()
    cached = _cache.get("rules")
    if cached is not None and (cached.version, cached.token) == (version, token):
        return cached
    with _lock:
        ruleset = load_ruleset(version, token)
        _cache["rules"] = ruleset
    return ruleset


def forget_cached_rules() -> None:
    _cache.clear()


def load_ruleset(version: int = 0, token: str = "") -> RuleSet:
    from routing.custom_specs import sync_custom_field_specs

    sync_custom_field_specs()  # custom fields are rule fields too; their changes bump the version
    m.sync_form_answers()  # and so do the forms' answers to the built-in choice fields
    broken: list[str] = []
    scoring = []
    for rule in m.ScoringRule.objects.filter(is_active=True).order_by("position", "id"):
        try:
            condition = compile_condition(rule.field, rule.operator, rule.value, routing=False)
        except ConditionError as exc:
            broken.append(f"Scoring rule “{rule.name}”: {exc}")
            continue
        scoring.append(ScoringRuleSpec(rule.id, rule.name, rule.group, condition, rule.points))

    tiers = tuple(TierSpec(t.name, t.min_score) for t in m.ScoreTier.objects.all())

    conditions: dict[int, list] = {}
    for cond in m.RoutingCondition.objects.filter(rule__is_active=True).order_by("id"):
        try:
            compiled = compile_condition(cond.field, cond.operator, cond.value)
        except ConditionError as exc:
            broken.append(f"Routing rule #{cond.rule_id}: {exc}")
            compiled = None
        conditions.setdefault(cond.rule_id, []).append(compiled)
    rule_tiers: dict[int, set[str]] = {}
    for rule_id, tier_name in m.RoutingRule.tiers.through.objects.filter(
            routingrule__is_active=True).values_list("routingrule_id", "scoretier__name"):
        rule_tiers.setdefault(rule_id, set()).add(tier_name)
    routing = []
    for rule in m.RoutingRule.objects.filter(is_active=True).order_by("position", "id"):
        conds = conditions.get(rule.id, [])
        if None in conds:
            continue  # a broken condition must not widen the rule: skip the whole rule
        routing.append(RoutingRuleSpec(
            id=rule.id, name=rule.name, action=rule.action, conditions=tuple(conds),
            tiers=frozenset(rule_tiers.get(rule.id, ())), min_score=rule.min_score,
            max_score=rule.max_score, rep_id=rule.rep_id, team_id=rule.team_id,
            respect_hours=rule.respect_hours, match_region=rule.match_region,
            match_vertical=rule.match_vertical, min_seniority=rule.min_seniority or 0,
            is_default=rule.is_default,
        ))

    members: dict[int, list[tuple[int, int]]] = {}
    for team_id, user_id, weight in m.TeamMembership.objects.values_list(
            "team_id", "rep__user_id", "weight"):
        members.setdefault(team_id, []).append((user_id, weight))
    teams = {
        t.id: TeamSpec(t.id, t.name, t.lead_id,
                       tuple(sorted(u for u, _ in members.get(t.id, []))),
                       dict(members.get(t.id, [])))
        for t in m.Team.objects.all()
    }

    calendars = _calendars()
    sla = {
        p.tier.name: SlaSpec(p.tier.name, p.target, p.unit, p.warning_percent, p.escalation,
                             calendars.get(p.calendar_id))
        for p in m.SlaPolicy.objects.filter(is_active=True).select_related("tier")
    }
    free_mail = frozenset(m.FreeMailDomain.objects.values_list("domain", flat=True))
    for message in broken:
        logger.warning("Rule skipped: %s", message)
    return RuleSet(version, tuple(scoring), tiers, tuple(routing), teams, sla,
                   FactContext(free_mail_domains=free_mail), tuple(broken), token)


def _calendars() -> dict[int, Calendar]:
    week: dict[int, dict[int, list]] = {}
    for cal_id, weekday, opens, closes in m.OpeningHours.objects.values_list(
            "calendar_id", "weekday", "opens", "closes"):
        week.setdefault(cal_id, {}).setdefault(weekday, []).append((opens, closes))
    holidays: dict[int, set[date]] = {}
    for cal_id, day in m.Holiday.objects.values_list("calendar_id", "day"):
        holidays.setdefault(cal_id, set()).add(day)
    return {
        c.id: Calendar(c.timezone, {d: tuple(v) for d, v in week.get(c.id, {}).items()},
                       frozenset(holidays.get(c.id, ())))
        for c in m.BusinessHours.objects.all()
    }


def calendar_for(calendar_id: int) -> Calendar | None:
    return _calendars().get(calendar_id)


# --- Reps: read fresh for each decision --------------------------------------------------------

def rep_states(user_ids: Iterable[int], on: date, *, lock: bool = False,
               open_counts: Mapping[int, int] | None = None,
               loads: bool = True) -> dict[int, RepState]:
    """The reps' state now: at most three queries whatever the team size, one when nobody is
    away and no count is needed.

    With `lock`, their profile rows stay locked (FOR UPDATE, in id order) until the transaction
    ends, so two leads never both take the last free place of the same rep. The open leads are
    counted after the lock is held, in a statement of their own: a count in the locking
    statement would be read from its snapshot, before the wait, and miss the lead the
    previous lock holder has just given the rep (tests/routing/test_concurrency_postgres.py).

    Open leads are counted only as far as a decision needs them, so the cost stays flat
    however many leads a rep holds: up to the rep's capacity (the capacity check), and, with
    `loads` (least-loaded), up to LOAD_COUNT_LIMIT for reps without one. A round-robin or
    weighted rule over reps without a capacity counts nothing.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    absences = m.OutOfOffice.objects.filter(ends_on__gte=on - _DAY)
    profiles = m.RepProfile.objects.filter(user_id__in=ids).select_related("user").annotate(
        has_absence=Exists(absences.filter(rep=OuterRef("pk"))))
    if lock:
        profiles = profiles.select_for_update(of=("self",)).order_by("id")
    profiles = list(profiles)
    away: dict[int, list[tuple[date, date]]] = {}
    if absent := [p.pk for p in profiles if p.has_absence]:  # most days nobody is away
        for user_id, first, last in absences.filter(rep__in=absent).values_list(
                "rep__user_id", "starts_on", "ends_on"):
            away.setdefault(user_id, []).append((first, last))
    if open_counts is not None:
        counts = dict(open_counts)
    else:
        limits = {p.user_id: p.capacity if p.capacity is not None else
                  (LOAD_COUNT_LIMIT if loads else 0) for p in profiles}
        counts = open_lead_counts_up_to(limits)
    return {
        p.user_id: RepState(
            user_id=p.user_id, name=p.user.get_full_name() or p.user.get_username(),
            is_active=p.user.is_active, is_available=p.is_available, capacity=p.capacity,
            open_leads=counts.get(p.user_id, 0),
            hours=WorkingHours(p.timezone, frozenset(p.work_days or ()), p.work_starts,
                               p.work_ends),
            away=tuple(away.get(p.user_id, ())), regions=p.region_set,
            verticals=p.vertical_set, seniority=p.seniority,
        )
        for p in profiles
    }


def open_lead_counts(user_ids: Iterable[int]) -> dict[int, int]:
    return dict(
        Lead.objects.filter(owner_id__in=list(user_ids), status__in=OPEN_STATUSES)
        .values("owner_id").annotate(n=Count("id")).values_list("owner_id", "n")
    )


# Least-loaded compares open leads up to this many; reps holding more count as this many.
LOAD_COUNT_LIMIT = 1000


def open_lead_counts_up_to(limits: Mapping[int, int]) -> dict[int, int]:
    """Each rep's open leads, counted up to their limit: one statement whose cost is bounded
    by the limits, not by the leads the reps hold (each part stops at its LIMIT)."""
    limits = {user_id: limit for user_id, limit in limits.items() if limit > 0}
    if not limits:
        return {}
    parts, params = [], []
    for n, (user_id, limit) in enumerate(sorted(limits.items())):
        part = (Lead.objects.filter(owner_id=user_id, status__in=OPEN_STATUSES)
                .values_list("owner_id", flat=True).order_by()[:limit])
        sql, part_params = part.query.get_compiler(connection=connection).as_sql()
        parts.append(f"SELECT * FROM ({sql}) AS part{n}")  # noqa: S608 - the ORM's own SQL
        params.extend(part_params)
    union = " UNION ALL ".join(parts)
    query = f"SELECT owner_id, COUNT(*) FROM ({union}) AS loads GROUP BY owner_id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return dict(cursor.fetchall())


def users_by_id(user_ids: Iterable[int]) -> dict[int, models.Model]:
    return get_user_model().objects.in_bulk(list(set(user_ids)))


_DAY = date.resolution
