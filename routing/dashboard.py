"""Reads for the manager's dashboard: every figure is one aggregate query in the database.

Speed-to-lead percentiles use PostgreSQL's percentile_cont; on SQLite (small installs) the
durations of the chosen range are read and the percentiles taken in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone

from capture.models import OPEN_STATUSES, Lead, LeadStatus
from routing.models import LeadAssessment, RepProfile, TeamMembership
from routing.routing import Outcome

RESPONSE_TIME = ExpressionWrapper(F("first_response_at") - F("created_at"),
                                  output_field=DurationField())
LIST_LIMIT = 20
FEW_REPS = 10  # up to this many, the aging list reads the reps' own leads (see aging_leads)


class Percentile(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class Scope:
    start: date
    end: date  # included
    team_ids: QuerySet | list[int] | None = None  # None: every team
    rep_id: int | None = None
    source: str = ""

    @cached_property
    def team_id_list(self) -> list[int]:
        """The teams as literal ids, read once per dashboard (the planner picks the
        (team, outcome) index for a literal list, a sequential scan for a subquery)."""
        return list(self.team_ids) if isinstance(self.team_ids, list) else list(
            self.team_ids.values_list("pk", flat=True))

    @cached_property
    def member_ids(self) -> list[int]:
        """The teams' reps, read once per dashboard (a literal list in every figure's query:
        PostgreSQL then reads each rep's leads through lead_owner_created_idx)."""
        return list(TeamMembership.objects.filter(team_id__in=self.team_id_list)
                    .values_list("rep__user_id", flat=True).distinct())

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=timezone.get_current_timezone())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0),
                                tzinfo=timezone.get_current_timezone())


def _in_teams(scope: Scope) -> Q:
    """Owned by one of the teams' reps, or waiting unassigned in one of their queues.

    On the lead's own columns (no join to the assessment): the members as a literal list, the
    waiting leads as a small hashed IN-subquery.
    """
    waiting = LeadAssessment.objects.filter(team_id__in=scope.team_id_list,
                                            outcome=Outcome.QUEUED).values("lead_id")
    return Q(owner_id__in=scope.member_ids) | Q(owner__isnull=True, pk__in=waiting)


def scoped_leads(scope: Scope, *, dated: bool = True) -> QuerySet[Lead]:
    leads = Lead.objects.all()
    if dated:
        leads = leads.filter(created_at__gte=scope.since, created_at__lt=scope.until)
    if scope.team_ids is not None:
        leads = leads.filter(_in_teams(scope))
    if scope.rep_id:
        leads = leads.filter(owner_id=scope.rep_id)
    if scope.source:
        leads = leads.filter(source=scope.source)
    return leads


def _percentiles(leads: QuerySet[Lead], group: str | None) -> list[dict]:
    answered = leads.filter(first_response_at__isnull=False)
    keys = [group] if group else []
    if connection.vendor == "postgresql":
        if not group:
            row = answered.aggregate(answered=Count("id"), median=Percentile(RESPONSE_TIME, 0.5),
                                     p90=Percentile(RESPONSE_TIME, 0.9))
            return [row] if row["answered"] else []
        rows = (answered.values(*keys).order_by(*keys)
                .annotate(answered=Count("id"), median=Percentile(RESPONSE_TIME, 0.5),
                          p90=Percentile(RESPONSE_TIME, 0.9)))
        return list(rows)
    groups: dict = defaultdict(list)
    for key, seconds in answered.annotate(took=RESPONSE_TIME).values_list(
            group or "id", "took").order_by()[:200_000]:
        groups[key if group else None].append(seconds.total_seconds())
    rows = []
    for key, values in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0]))):
        values.sort()
        row = {"answered": len(values), "median": timedelta(seconds=_cont(values, 0.5)),
               "p90": timedelta(seconds=_cont(values, 0.9))}
        if group:
            row[group] = key
        rows.append(row)
    return rows


def _cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont on sorted values: interpolated between neighbours."""
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def speed_to_lead(scope: Scope) -> dict[str, list[dict]]:
    leads = scoped_leads(scope)
    by_week = leads.annotate(week=TruncWeek("created_at"))
    overall = _percentiles(leads, None)
    return {
        "overall": overall[0] if overall else None,
        "rep": _label_reps(_percentiles(leads, "owner_id")),
        "source": _percentiles(leads, "source"),
        "tier": _percentiles(leads, "tier"),
        "week": _percentiles(by_week, "week"),
    }


def _label_reps(rows: list[dict]) -> list[dict]:
    from django.contrib.auth import get_user_model

    ids = [r["owner_id"] for r in rows if r.get("owner_id")]
    users = {u.pk: u.get_full_name() or u.get_username()
             for u in get_user_model().objects.filter(pk__in=ids)}
    for row in rows:
        row["rep"] = users.get(row["owner_id"], "Unassigned")
    return rows


def sla_rates(scope: Scope, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    with_deadline = scoped_leads(scope).filter(respond_by__isnull=False)
    counts = with_deadline.aggregate(
        total=Count("id"),
        met=Count("id", filter=Q(first_response_at__lte=F("respond_by"))),
        breached=Count("id", filter=Q(first_response_at__gt=F("respond_by"))
                       | Q(first_response_at__isnull=True, respond_by__lt=now)),
    )
    decided = counts["met"] + counts["breached"]
    counts["pending"] = counts["total"] - decided
    counts["met_rate"] = round(100 * counts["met"] / decided) if decided else None
    counts["breached_rate"] = 100 - counts["met_rate"] if decided else None
    return counts


def leads_over_time(scope: Scope) -> list[dict]:
    """Leads per week and channel."""
    rows = (scoped_leads(scope).annotate(week=TruncWeek("created_at"))
            .values("week", "channel").order_by("week", "channel").annotate(leads=Count("id")))
    return list(rows)


def leads_by(scope: Scope, field: str) -> list[dict]:
    return list(scoped_leads(scope).values(field).order_by().annotate(leads=Count("id"))
                .order_by("-leads", field)[:50])


def conversion_by_source(scope: Scope) -> list[dict]:
    rows = (scoped_leads(scope).values("source").order_by("source").annotate(
        leads=Count("id"),
        contacted=Count("id", filter=Q(first_response_at__isnull=False)),
        qualified=Count("id", filter=Q(status__in=[LeadStatus.QUALIFIED, LeadStatus.WON])),
        won=Count("id", filter=Q(status=LeadStatus.WON)),
    ))
    result = []
    for row in rows:
        n = row["leads"] or 1
        row.update({f"{k}_rate": round(100 * row[k] / n) for k in ("contacted", "qualified",
                                                                    "won")})
        result.append(row)
    return result


def aging_leads(scope: Scope) -> list[Lead]:
    """Open leads nobody has answered, oldest first (whatever the date range)."""
    oldest_first = "created_at"
    if scope.rep_id or (scope.team_ids is not None and len(scope.member_ids) <= FEW_REPS):
        # For a few reps, read their unanswered leads through lead_unanswered_idx (owner,
        # created_at) and sort those. Ordering by the bare column would let PostgreSQL walk
        # lead_created_idx through every lead of all time looking for a small team's 20.
        oldest_first = ExpressionWrapper(F("created_at") + Value(timedelta(0)),
                                         output_field=DateTimeField())
    return list(scoped_leads(scope, dated=False).filter(
        status__in=OPEN_STATUSES, first_response_at__isnull=True)
        .select_related("owner").order_by(oldest_first, "id")[:LIST_LIMIT])


def unassigned_leads(scope: Scope) -> list[Lead]:
    leads = Lead.objects.filter(status__in=OPEN_STATUSES, owner__isnull=True)
    if scope.team_ids is not None:  # waiting in one of the teams' queues (few rows)
        leads = leads.filter(pk__in=LeadAssessment.objects.filter(
            team_id__in=scope.team_id_list, outcome=Outcome.QUEUED).values("lead_id"))
    if scope.rep_id:
        return []  # a rep's own leads are never unassigned
    if scope.source:
        leads = leads.filter(source=scope.source)
    return list(leads.select_related("assessment__team")
                .order_by("respond_by", "created_at")[:LIST_LIMIT])


def rep_load(scope: Scope) -> list[dict]:
    reps = RepProfile.objects.select_related("user")
    if scope.team_ids is not None:
        reps = reps.filter(memberships__team_id__in=scope.team_id_list).distinct()
    reps = list(reps)
    # A literal list of the reps' ids: counted through lead_queue_idx, rep by rep, instead of a
    # hash join over every open lead.
    open_counts = dict(Lead.objects.filter(
        status__in=OPEN_STATUSES, owner_id__in=[rep.user_id for rep in reps]).values("owner_id")
        .order_by().annotate(n=Count("id")).values_list("owner_id", "n"))
    rows = []
    for rep in reps:
        n = open_counts.get(rep.user_id, 0)
        rows.append({"rep": str(rep), "user_id": rep.user_id, "open": n,
                     "capacity": rep.capacity, "available": rep.is_available,
                     "load": round(100 * n / rep.capacity) if rep.capacity else None})
    return rows


def bars(rows: list[dict], value: str, label: str) -> list[dict]:
    """Rows for a server-rendered SVG bar chart: label, value and the bar's share of the max."""
    peak = max((_number(r[value]) for r in rows), default=0) or 1
    return [{"label": r[label], "value": r[value], "pct": round(100 * _number(r[value]) / peak, 1)}
            for r in rows]


def _number(value) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value or 0)
