"""Reads for the rep's queue: the tabs, their order, capped counts, and what arrived since.

Every query here is bounded and runs on indexed columns: a rep's own leads through
lead_queue_idx (owner, status, respond_by), a team's unassigned ones through
assessment_queue_idx (team, outcome). Counts stop at COUNT_CAP, so a tab never counts a
million rows on a poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from capture.models import OPEN_STATUSES, WORKING_STATUSES, Lead, LeadStatus
from routing.access import led_team_ids, member_team_ids

COUNT_CAP = 100  # a tab shows "99+" beyond this


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    help: str


TABS = (
    Tab("all", "All open", "Every open lead you own, what to do next first."),
    Tab("new", "New", "Nobody has contacted them yet."),
    Tab("due", "Due today", "A call back is owed, or the answer is due before midnight."),
    Tab("waiting", "Waiting for prospect", "You answered; the next move is theirs."),
    Tab("team", "Team unassigned", "Waiting in your teams' queues: claim one to own it."),
    Tab("snoozed", "Snoozed", "Put off until later: each comes back by itself at its time, "
        "or at once when the prospect writes."),
)
TAB_SLUGS = frozenset(t.slug for t in TABS)


def end_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)


def my_team_ids(user) -> list[int]:
    """The teams I am in or lead: one query per request (kept on the user object), then a
    literal list in every team query, which PostgreSQL plans better than two IN-subqueries."""
    ids = getattr(user, "_queue_team_ids", None)
    if ids is None:
        ids = sorted(set(member_team_ids(user).order_by().union(led_team_ids(user).order_by())
                         .values_list("team_id", flat=True)))
        user._queue_team_ids = ids
    return ids


def tab_leads(user, tab: str, now: datetime | None = None) -> QuerySet[Lead]:
    """The leads of one tab, unordered (filters are applied before ordering)."""
    now = now or timezone.now()
    if tab == "team":
        return Lead.objects.filter(assessment__team_id__in=my_team_ids(user),
                                   owner__isnull=True, status__in=OPEN_STATUSES)
    mine = Lead.objects.filter(owner=user, status__in=OPEN_STATUSES)
    if tab == "snoozed":
        return mine.filter(snoozed_until__gt=now)
    mine = mine.exclude(snoozed_until__gt=now)  # a snoozed lead is out of every other tab
    if tab == "new":
        return mine.filter(status=LeadStatus.NEW, first_response_at__isnull=True)
    if tab == "due":
        callback, owed = due_halves(now)
        return mine.filter(callback | owed)
    if tab == "waiting":
        return mine.filter(status__in=[LeadStatus.CONTACTED, LeadStatus.QUALIFIED],
                           needs_callback=False)
    return mine


def due_halves(now: datetime) -> tuple[Q, Q]:
    """The Due today tab as two disjoint halves: a call back owed; else unanswered and due
    before midnight. Each has its own index (lead_callback_idx, lead_unanswered_due_idx); their
    OR has none, so its count is taken per half (tab_counts)."""
    return Q(needs_callback=True), Q(needs_callback=False, first_response_at__isnull=True,
                                     status__in=WORKING_STATUSES, respond_by__lt=end_of_today(now))


def breached(now: datetime) -> Q:
    """Unanswered and past its deadline (a lead in long-term nurture is not owed an answer)."""
    return Q(first_response_at__isnull=True, status__in=WORKING_STATUSES, respond_by__lte=now)


def running(now: datetime) -> Q:
    """Unanswered, its deadline still ahead (or none set)."""
    return Q(first_response_at__isnull=True, status__in=WORKING_STATUSES) & (
        Q(respond_by__gt=now) | Q(respond_by__isnull=True))


# Answered, or resting in long-term nurture: no deadline is owed (lead_later_idx's condition).
LATER = Q(first_response_at__isnull=False) | Q(status=LeadStatus.NURTURE)
BY_DEADLINE = (F("respond_by").asc(nulls_last=True), "created_at", "id")
# A call back owed first, then the lead nobody has touched for longest.
BY_NEXT_TOUCH = ("-needs_callback", "last_activity_at", "id")


def in_queue_order(leads: QuerySet[Lead], now: datetime | None = None) -> QuerySet[Lead]:
    """What to do next first: breached (unanswered past the deadline), then the unanswered by
    deadline, then the answered and nurtured (a call back owed first, then the longest
    untouched). An answered lead's past deadline no longer puts it ahead of one still owed.

    One ordered queryset, for small lists (tests, exports); the queue page reads the same order
    with queue_page(), which never sorts a rep's whole list."""
    now = now or timezone.now()
    answered = Case(When(LATER, then=Value(1)), default=Value(0), output_field=IntegerField())
    return leads.annotate(
        queue_group=Case(When(breached(now), then=Value(0)), When(running(now), then=Value(1)),
                         default=Value(2), output_field=IntegerField()),
        queue_later=answered,
    ).order_by(
        "queue_group",
        # the unanswered by deadline, created, id; the rest by the next touch, id
        Case(When(queue_later=0, then=F("respond_by"))).asc(nulls_last=True),
        Case(When(queue_later=0, then=F("created_at"))).asc(nulls_last=True),
        Case(When(queue_later=1, needs_callback=True, then=Value(0)), default=Value(1),
             output_field=IntegerField()),
        Case(When(queue_later=1, then=F("last_activity_at"))).asc(nulls_last=True),
        "id",
    )


def capped_count(leads: QuerySet[Lead]) -> str:
    """"7", or "99+" once there are COUNT_CAP: a bounded COUNT over a LIMIT subquery."""
    n = leads.order_by()[:COUNT_CAP].count()
    return f"{COUNT_CAP - 1}+" if n >= COUNT_CAP else str(n)


def tab_counts(user, now: datetime | None = None) -> dict[str, str]:
    now = now or timezone.now()
    return {tab.slug: capped_count(_countable(user, tab.slug, now)) for tab in TABS}


def _countable(user, tab: str, now: datetime) -> QuerySet[Lead]:
    """A tab's leads as counted: the Due today tab as a UNION ALL of its halves, each read
    through its own index. As one OR, PostgreSQL expected many matches, read the table in order
    to stop at COUNT_CAP, and for a rep with nothing due read all of it (250-450 ms for a rep
    with 100,000 open leads in a million)."""
    if tab != "due":
        return tab_leads(user, tab, now)
    mine = tab_leads(user, "all", now).order_by().values("id")
    callback, owed = due_halves(now)
    return mine.filter(callback).union(mine.filter(owed), all=True)


def assigned_since(user, after_id: int, handed_over: QuerySet | None = None,
                   upto: int | None = None) -> list[int]:
    """The open leads I own that my page may not show (their ids, capped): those newer than
    its baseline (up to `upto`, the newest the poll answers), and the older ones handed to me
    since it loaded (`handed_over`: their ids, read in the same statement)."""
    news = Q(id__gt=after_id) if upto is None else Q(id__gt=after_id, id__lte=upto)
    if handed_over is not None:
        news |= Q(id__in=handed_over)
    return list(Lead.objects.filter(news, owner=user, status__in=OPEN_STATUSES)
                .order_by().values_list("id", flat=True)[:COUNT_CAP])


@dataclass
class Page:
    """Offset pagination that fetches one row more instead of counting the whole list."""

    rows: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_of(leads: QuerySet[Lead], number: int, size: int) -> Page:
    number = max(1, number)
    start = (number - 1) * size
    rows = list(leads[start:start + size + 1])
    return Page(rows[:size], number, len(rows) > size)


def queue_page(leads: QuerySet[Lead], number: int, size: int,
               now: datetime | None = None) -> Page:
    """One page in queue order, read as up to three index-ordered slices instead of one sort.

    The breached leads by deadline, then the rest of the unanswered by deadline (both through
    lead_unanswered_due_idx), then the answered and nurtured by their next touch
    (lead_later_idx). Each slice walks its index from the start and stops after the page, so a
    rep with 10,000 open leads costs what a rep with 30 does. A page past the start of a slice
    counts the slices before it (one bounded COUNT each) to know where it begins.
    """
    now = now or timezone.now()
    number = max(1, number)
    want = size + 1
    skip = (number - 1) * size
    slices = (leads.filter(breached(now)).order_by(*BY_DEADLINE),
              leads.filter(running(now)).order_by(*BY_DEADLINE),
              leads.filter(LATER).order_by(*BY_NEXT_TOUCH))
    rows: list = []
    for part in slices:
        if len(rows) >= want:
            break
        got = list(part[skip:skip + want - len(rows)])
        if not got and skip:
            skip = max(0, skip - part.order_by().count())  # this slice lies before the page
            continue
        rows += got
        skip = 0
    return Page(rows[:size], number, len(rows) > size)
