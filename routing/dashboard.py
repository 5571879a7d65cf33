"""Reads for the manager's dashboard: aggregates in the database, never a loop over leads.

Each date-range figure has its own function, one aggregate query each (the CSV exports and
SQLite use them). On PostgreSQL the dashboard page reads them all in two scans of the range
(range_figures): one GROUPING SETS query for every speed-to-lead grouping (percentile_cont), one
for every count. Speed-to-lead percentiles on SQLite (small installs): the durations of the
chosen range are read and the percentiles taken in Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
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
TOP_VALUES = 50  # the most frequent sources, channels, campaigns
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
        # order_by(): TeamMembership's default ordering would make DISTINCT keep a rep once
        # per team, and the aging list read each of their leads that many times.
        return list(TeamMembership.objects.filter(team_id__in=self.team_id_list)
                    .values_list("rep__user_id", flat=True).order_by().distinct())

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(0), tzinfo=timezone.get_current_timezone())

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0),
                                tzinfo=timezone.get_current_timezone())


def _team_parts(scope: Scope) -> tuple[Q, Q]:
    """Owned by one of the teams' reps; waiting unassigned in one of their queues (disjoint).

    On the lead's own columns (no join to the assessment): the members as a literal list, the
    waiting leads as a small hashed IN-subquery.
    """
    waiting = LeadAssessment.objects.filter(team_id__in=scope.team_id_list,
                                            outcome=Outcome.QUEUED).values("lead_id")
    return Q(owner_id__in=scope.member_ids), Q(owner__isnull=True, pk__in=waiting)


def _in_teams(scope: Scope) -> Q:
    owned, waiting = _team_parts(scope)
    return owned | waiting


def scoped_leads(scope: Scope, *, dated: bool = True) -> QuerySet[Lead]:
    leads = Lead.objects.all()
    if dated:
        leads = leads.filter(created_at__gte=scope.since, created_at__lt=scope.until)
    if scope.team_ids is not None:
        leads = leads.filter(_in_teams(scope))
    return _rep_and_source(leads, scope)


def _rep_and_source(leads: QuerySet[Lead], scope: Scope) -> QuerySet[Lead]:
    if scope.rep_id:
        leads = leads.filter(owner_id=scope.rep_id)
    if scope.source:
        leads = leads.filter(source=scope.source)
    return leads


def scoped_parts(scope: Scope, *, dated: bool = True) -> list[QuerySet[Lead]]:
    """scoped_leads() as disjoint querysets with no OR between them, for a UNION ALL.

    A team's leads are its reps' (each read through lead_owner_created_idx, from the index
    alone on PostgreSQL) plus its waiting unassigned ones; as one OR, PostgreSQL can only
    combine bitmaps and then visit every row of the range in the table.
    """
    if scope.team_ids is None:
        return [scoped_leads(scope, dated=dated)]
    leads = Lead.objects.all()
    if dated:
        leads = leads.filter(created_at__gte=scope.since, created_at__lt=scope.until)
    return [_rep_and_source(leads.filter(part), scope) for part in _team_parts(scope)]


def _percentiles(leads: QuerySet[Lead], group: str | None) -> list[dict]:
    """PostgreSQL: percentile_cont per group in SQL (SQLite: _speed_in_one_pass)."""
    answered = leads.filter(first_response_at__isnull=False)
    if not group:
        row = answered.aggregate(answered=Count("id"), median=Percentile(RESPONSE_TIME, 0.5),
                                 p90=Percentile(RESPONSE_TIME, 0.9))
        return [row] if row["answered"] else []
    return list(answered.values(group).order_by(group)
                .annotate(answered=Count("id"), median=Percentile(RESPONSE_TIME, 0.5),
                          p90=Percentile(RESPONSE_TIME, 0.9)))


def _cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont on sorted values: interpolated between neighbours."""
    position = fraction * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def speed_to_lead(scope: Scope) -> dict[str, list[dict]]:
    leads = scoped_leads(scope)
    if connection.vendor != "postgresql":
        return _speed_in_one_pass(leads)
    by_week = leads.annotate(week=TruncWeek("created_at"))
    overall = _percentiles(leads, None)
    return {
        "overall": overall[0] if overall else None,
        "rep": _label_reps(_percentiles(leads, "owner_id")),
        "source": _percentiles(leads, "source"),
        "tier": _percentiles(leads, "tier"),
        "week": _percentiles(by_week, "week"),
    }


def _speed_in_one_pass(leads: QuerySet[Lead]) -> dict[str, list[dict]]:
    """SQLite (small installs): the answered leads read once, grouped five ways here. Five
    queries that each worked out the durations in SQL (a Python function per row on SQLite)
    took 516 ms for a year of seed_load's 5,000 leads (4,268 answered); this takes 104 ms."""
    zone = timezone.get_current_timezone()
    groups: dict[str, dict] = {name: defaultdict(list) for name in
                               ("overall", "owner_id", "source", "tier", "week")}
    rows = (leads.filter(first_response_at__isnull=False)
            .values_list("owner_id", "source", "tier", "created_at", "first_response_at")
            .order_by()[:200_000])
    for owner_id, source, tier, created, answered in rows:
        took = (answered - created).total_seconds()
        local = timezone.localtime(created, zone)
        monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0),
                                  tzinfo=zone)  # TruncWeek: Monday 00:00 in the site's zone
        for name, key in (("overall", None), ("owner_id", owner_id), ("source", source),
                          ("tier", tier), ("week", monday)):
            groups[name][key].append(took)

    def figures(name: str) -> list[dict]:
        out = []
        for key, values in sorted(groups[name].items(),
                                  key=lambda kv: (kv[0] is None, str(kv[0]))):
            values.sort()
            row = {"answered": len(values), "median": timedelta(seconds=_cont(values, 0.5)),
                   "p90": timedelta(seconds=_cont(values, 0.9))}
            if name != "overall":
                row[name] = key
            out.append(row)
        return out

    overall = figures("overall")
    return {"overall": overall[0] if overall else None,
            "rep": _label_reps(figures("owner_id")), "source": figures("source"),
            "tier": figures("tier"), "week": figures("week")}


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
    return _with_sla_rates(counts)


def _with_sla_rates(counts: dict) -> dict:
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
                .order_by("-leads", field)[:TOP_VALUES])


def conversion_by_source(scope: Scope) -> list[dict]:
    rows = (scoped_leads(scope).values("source").order_by("source").annotate(
        leads=Count("id"),
        contacted=Count("id", filter=Q(first_response_at__isnull=False)),
        qualified=Count("id", filter=Q(status__in=[LeadStatus.QUALIFIED, LeadStatus.WON])),
        won=Count("id", filter=Q(status=LeadStatus.WON)),
    ))
    return [_with_rates(row) for row in rows]


def _with_rates(row: dict) -> dict:
    n = row["leads"] or 1
    row.update({f"{k}_rate": round(100 * row[k] / n) for k in ("contacted", "qualified", "won")})
    return row


def range_figures(scope: Scope, now: datetime | None = None) -> dict:
    """Every figure of the date range, as the dashboard page shows them.

    The same values as the per-figure functions; on PostgreSQL read in two scans of the range
    instead of ten (grouped_range_figures).
    """
    if connection.vendor == "postgresql":
        return grouped_range_figures(scope, now)
    return per_figure_range_figures(scope, now)


def per_figure_range_figures(scope: Scope, now: datetime | None = None) -> dict:
    return {
        "speed": speed_to_lead(scope), "sla": sla_rates(scope, now),
        "over_time": leads_over_time(scope), "by_channel": leads_by(scope, "channel"),
        "by_source": leads_by(scope, "source"), "by_campaign": leads_by(scope, "utm_campaign"),
        "conversion": conversion_by_source(scope),
    }


# PostgreSQL: the range's figures as GROUPING SETS over one scan each ------------------------

# Each query selects only its own columns: PostgreSQL does not prune the columns of a UNION ALL
# (a scope of several parts), and the speed query sorts every answered lead as wide as it is
# read (a million leads, 855,000 answered: ten columns 3.3 s, its five 3.0 s).
SPEED_COLUMNS = ("week", "owner_id", "source", "tier", "took")
COUNT_COLUMNS = ("week", "channel", "source", "utm_campaign", "status", "respond_by",
                 "first_response_at")
SPEED_KEYS = ("owner_id", "source", "tier", "week")  # as in SPEED_SQL's GROUPING()
COUNT_KEYS = ("week", "channel", "source", "utm_campaign")  # as in COUNT_SQL's GROUPING()
# {leads} is the ORM-compiled SELECT of the scope's leads (its parameters passed, never
# interpolated); the rows of each set come in the order of their keys (the database's collation).
SPEED_SQL = (
    "SELECT GROUPING(owner_id, source, tier, week) AS grouping_set, owner_id, source, tier, week,"
    " COUNT(took) AS answered,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY took) AS median,"
    " percentile_cont(0.9) WITHIN GROUP (ORDER BY took) AS p90"
    " FROM ({leads}) AS scoped"
    " GROUP BY GROUPING SETS ((), (owner_id), (source), (tier), (week))"
    " ORDER BY 1, owner_id, source, tier, week")
# Counts add up: the range is counted once per (week, channel, source, campaign), one hash
# aggregate over the scan, and the grouping sets sum those few rows. (Five grouping sets over
# the scan itself sort every lead: 1.35 s against 0.75 s for a million leads in the range.)
COUNT_SQL = (
    "SELECT GROUPING(week, channel, source, utm_campaign) AS grouping_set,"
    " week, channel, source, utm_campaign,"
    " COALESCE(SUM(leads), 0)::bigint AS leads,"
    " COALESCE(SUM(contacted), 0)::bigint AS contacted,"
    " COALESCE(SUM(qualified), 0)::bigint AS qualified,"
    " COALESCE(SUM(won), 0)::bigint AS won,"
    " COALESCE(SUM(total), 0)::bigint AS total,"
    " COALESCE(SUM(met), 0)::bigint AS met,"
    " COALESCE(SUM(breached), 0)::bigint AS breached"
    " FROM (SELECT week, channel, source, utm_campaign,"
    " COUNT(*) AS leads, COUNT(first_response_at) AS contacted,"
    " COUNT(*) FILTER (WHERE status IN (%s, %s)) AS qualified,"
    " COUNT(*) FILTER (WHERE status = %s) AS won,"
    " COUNT(respond_by) AS total,"
    " COUNT(*) FILTER (WHERE first_response_at <= respond_by) AS met,"
    " COUNT(*) FILTER (WHERE first_response_at > respond_by"
    " OR (first_response_at IS NULL AND respond_by < %s)) AS breached"
    " FROM ({leads}) AS scoped GROUP BY week, channel, source, utm_campaign) AS counted"
    " GROUP BY GROUPING SETS ((), (week, channel), (channel), (source), (utm_campaign))"
    " ORDER BY 1, week, channel, source, utm_campaign")


# PostgreSQL cannot know how many weeks an expression on created_at yields, so it takes the
# range counted per (week, channel, source, campaign) for about one group per lead and sorts
# them all. Extended statistics on the ORM's own week expression (it names the time zone) give
# it the real number: then a parallel hash aggregate (a million leads: 0.9 s -> 0.43 s).
WEEK_STATISTICS = "lead_week_channel_source_campaign_stats"


def ensure_week_statistics(using: str = "default") -> bool:
    """Create (or, after a TIME_ZONE change, remake) WEEK_STATISTICS and analyze the leads so
    the planner has them; True when it did. PostgreSQL only; run after every migrate."""
    db = connections[using]
    if db.vendor != "postgresql" or Lead._meta.db_table not in db.introspection.table_names():
        return False
    query = Lead.objects.using(using).annotate(week=TruncWeek("created_at")).values("week").query
    week = db.ops.compose_sql(*query.get_compiler(using).compile(query.annotations["week"]))
    with db.cursor() as cursor:
        cursor.execute("SELECT obj_description(oid, 'pg_statistic_ext') FROM pg_statistic_ext"
                       " WHERE stxname = %s", [WEEK_STATISTICS])
        made = cursor.fetchone()
        if made is not None and made[0] == week:
            return False
        table = db.ops.quote_name(Lead._meta.db_table)
        cursor.execute(f"DROP STATISTICS IF EXISTS {WEEK_STATISTICS}")
        cursor.execute(f"CREATE STATISTICS {WEEK_STATISTICS} (ndistinct) ON ({week}), channel,"
                       f" source, utm_campaign FROM {table}")
        cursor.execute(f"COMMENT ON STATISTICS {WEEK_STATISTICS} IS %s", [week])
        cursor.execute(f"ANALYZE {table}")
    return True


def _range_sql(scope: Scope, columns: tuple[str, ...] = COUNT_COLUMNS, *,
               answered: bool = False) -> tuple[str, list, Callable]:
    """The scope's leads of the range (only the answered ones if asked) as one SELECT of
    `columns`, compiled by the ORM (its parameters kept apart), and what the ORM does to its week
    column (TruncWeek's time zone).

    Raises EmptyResultSet when no lead can match (a team without reps or waiting leads)."""
    parts = [part.filter(first_response_at__isnull=False) if answered else part
             for part in scoped_parts(scope)]
    parts = [part.annotate(week=TruncWeek("created_at"), took=RESPONSE_TIME)
             .values(*columns).order_by() for part in parts]
    leads = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    sql, params = leads.query.sql_with_params()
    week = parts[0].query.annotations["week"]
    converters = connection.ops.get_db_converters(week) + week.get_db_converters(connection)

    def to_week(value):
        for convert in converters:
            value = convert(value, week, connection)
        return value

    return sql, list(params), to_week


def _grouping(keys: tuple[str, ...], grouped: tuple[str, ...]) -> int:
    """What PostgreSQL's GROUPING(keys...) returns for the rows of one grouping set: a bit per
    key, the first key highest, set where the key is not grouped."""
    return sum(1 << (len(keys) - 1 - i) for i, key in enumerate(keys) if key not in grouped)


def _grouped_rows(sql: str, params: list, to_week: Callable) -> dict[int, list[dict]]:
    """Run a GROUPING SETS query whose first column is GROUPING(keys...); rows per set, in the
    order the query returns them (ORDER BY the set, then the keys: the database's collation)."""
    by_set: dict[int, list[dict]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            if row["week"] is not None:
                row["week"] = to_week(row["week"])
            by_set[row.pop("grouping_set")].append(row)
    return by_set


def grouped_range_figures(scope: Scope, now: datetime | None = None) -> dict:
    """range_figures() in two queries on PostgreSQL, each one scan of the range.

    Percentiles cannot be added up, so every speed-to-lead grouping is its own set of one
    query; the counts (SLA, per week and channel, per source, campaign, conversion) are the sets
    of another. The speed query reads only the answered leads, as the per-figure queries do.
    """
    now = now or timezone.now()
    try:
        answered_sql, answered_params, to_week = _range_sql(scope, SPEED_COLUMNS, answered=True)
        leads_sql, leads_params, to_week = _range_sql(scope, COUNT_COLUMNS)
    except EmptyResultSet:
        speed_sets, count_sets = {}, {}
    else:
        speed_sets = _grouped_rows(SPEED_SQL.format(leads=answered_sql), answered_params,
                                   to_week)
        count_sets = _grouped_rows(
            COUNT_SQL.format(leads=leads_sql),
            [LeadStatus.QUALIFIED, LeadStatus.WON, LeadStatus.WON, now, *leads_params], to_week)

    def speed(key: str | None) -> list[dict]:
        rows = speed_sets.get(_grouping(SPEED_KEYS, (key,) if key else ()), [])
        return [{**({key: row[key]} if key else {}), "answered": row["answered"],
                 "median": row["median"], "p90": row["p90"]}
                for row in rows if row["answered"]]

    def counted(*grouped: str) -> list[dict]:
        return count_sets.get(_grouping(COUNT_KEYS, grouped), [])

    def top(field: str) -> list[dict]:
        # The set comes in the field's order; a stable sort by count keeps it among ties,
        # as ORDER BY leads DESC, field does.
        rows = sorted(counted(field), key=lambda row: -row["leads"])[:TOP_VALUES]
        return [{field: row[field], "leads": row["leads"]} for row in rows]

    overall = speed(None)
    total = (counted() or [{"total": 0, "met": 0, "breached": 0}])[0]
    return {
        "speed": {"overall": overall[0] if overall else None,
                  "rep": _label_reps(speed("owner_id")), "source": speed("source"),
                  "tier": speed("tier"), "week": speed("week")},
        "sla": _with_sla_rates({k: total[k] for k in ("total", "met", "breached")}),
        "over_time": [{"week": r["week"], "channel": r["channel"], "leads": r["leads"]}
                      for r in counted("week", "channel")],
        "by_channel": top("channel"), "by_source": top("source"),
        "by_campaign": top("utm_campaign"),
        "conversion": [_with_rates({k: r[k] for k in ("source", "leads", "contacted",
                                                       "qualified", "won")})
                       for r in counted("source")],
    }


def aging_leads(scope: Scope) -> list[Lead]:
    """Open leads nobody has answered, oldest first (whatever the date range)."""
    unanswered = Q(status__in=OPEN_STATUSES, first_response_at__isnull=True)
    few_reps = scope.rep_id or (scope.team_ids is not None and len(scope.member_ids) <= FEW_REPS)
    if few_reps and connection.features.supports_slicing_ordering_in_compound:
        return _oldest_of_few_reps(scope, unanswered)
    oldest_first = "created_at"
    if few_reps:
        # For a few reps, read their unanswered leads through lead_unanswered_idx (owner,
        # created_at) and sort those. Ordering by the bare column would let the database walk
        # lead_created_idx through every lead of all time looking for a small team's 20.
        oldest_first = ExpressionWrapper(F("created_at") + Value(timedelta(0)),
                                         output_field=DateTimeField())
    return list(scoped_leads(scope, dated=False).filter(unanswered)
                .select_related("owner").order_by(oldest_first, "id")[:LIST_LIMIT])


def _oldest_of_few_reps(scope: Scope, unanswered: Q) -> list[Lead]:
    """The oldest 20 of each rep's oldest 20 (and of the teams' waiting leads' oldest 20).

    Each part walks lead_unanswered_idx (owner, created_at) in order and stops after 20, one
    UNION ALL query for all; then the 20 rows. Sorting all of a team's unanswered leads instead
    reads every one of them (25,000 rows for a team of 10 reps at a million leads).
    """
    owned, *waiting = scoped_parts(scope, dated=False)
    owners = [scope.rep_id] if scope.rep_id else scope.member_ids
    parts = [part.filter(unanswered).order_by("created_at", "id")
             .values_list("created_at", "id")[:LIST_LIMIT]
             for part in [owned.filter(owner_id=owner) for owner in owners] + waiting]
    if not parts:
        return []
    if len(parts) > 1:
        parts = parts[0].union(*parts[1:], all=True).order_by("created_at", "id")[:LIST_LIMIT]
    else:
        parts = parts[0]
    ids = [pk for _, pk in parts]
    return list(Lead.objects.filter(pk__in=ids).select_related("owner")
                .order_by("created_at", "id"))


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
    # A literal list of the reps' ids: counted rep by rep, instead of a hash join over every open
    # lead; COUNT(*), not COUNT(id), so PostgreSQL counts from lead_open_due_idx alone.
    open_counts = dict(Lead.objects.filter(
        status__in=OPEN_STATUSES, owner_id__in=[rep.user_id for rep in reps]).values("owner_id")
        .order_by().annotate(n=Count("*")).values_list("owner_id", "n"))
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
