"""Business-hours clocks and SLA states. Pure: calendars and policies come in as frozen specs.

Opening hours are wall-clock times in the calendar's timezone, built day by day with zoneinfo,
so a day on which the clocks change is as long as it really is, and a holiday is a closed day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import models

MAX_DAYS_AHEAD = 800  # a calendar with no opening hours at all must not loop forever


class Unit(models.TextChoices):
    MINUTES = "minutes", "minutes (around the clock)"
    BUSINESS_MINUTES = "business_minutes", "business minutes"
    BUSINESS_HOURS = "business_hours", "business hours"
    BUSINESS_DAYS = "business_days", "business days"


_ONE = {Unit.MINUTES: "minute (around the clock)", Unit.BUSINESS_MINUTES: "business minute",
        Unit.BUSINESS_HOURS: "business hour", Unit.BUSINESS_DAYS: "business day"}


def describe_target(target: int, unit: str) -> str:
    """A target as sales ops read it: "1 business day", "4 business hours"."""
    return f"{target} {_ONE[Unit(unit)] if target == 1 else Unit(unit).label}"


class Escalation(models.TextChoices):
    NOTIFY_MANAGER = "notify_manager", "Notify the manager"
    REASSIGN = "reassign", "Reassign to the next eligible rep"
    BOTH = "both", "Both"


class SlaState(models.TextChoices):
    DUE = "due", "Due"
    WARNING = "warning", "Warning"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"


class NoOpeningHours(ValueError):
    """The calendar never opens: no deadline can be computed."""


@dataclass(frozen=True)
class Calendar:
    timezone: str
    week: Mapping[int, tuple[tuple[time, time], ...]]  # weekday (0 = Monday) -> open intervals
    holidays: frozenset[date] = frozenset()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return day not in self.holidays and bool(self.week.get(day.weekday()))

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """That day's open intervals as UTC datetimes (closing at 00:00 means midnight)."""
        if not self.is_business_day(day):
            return []
        tz = self.tz
        result = []
        for opens, closes in sorted(self.week[day.weekday()]):
            start = datetime.combine(day, opens, tzinfo=tz).astimezone(UTC)
            end_day = day + timedelta(days=1) if closes == time(0) else day
            end = datetime.combine(end_day, closes, tzinfo=tz).astimezone(UTC)
            if end <= start:
                continue
            if result and start <= result[-1][1]:  # overlapping hours count once
                result[-1] = (result[-1][0], max(result[-1][1], end))
            else:
                result.append((start, end))
        return result

    def is_open(self, moment: datetime) -> bool:
        day = moment.astimezone(self.tz).date()
        return any(s <= moment < e for d in (day - timedelta(days=1), day)
                   for s, e in self.intervals(d))


def add_business_time(start: datetime, amount: timedelta, calendar: Calendar | None) -> datetime:
    """The moment `amount` of open time after `start`; a start outside hours waits for opening.

    With no calendar the clock runs around the clock.
    """
    start = start.astimezone(UTC)  # real elapsed time, whatever zone `start` is written in
    if calendar is None:
        return start + amount
    remaining = amount
    day = start.astimezone(calendar.tz).date() - timedelta(days=1)  # catch a night shift
    for _ in range(MAX_DAYS_AHEAD):
        for opens, closes in calendar.intervals(day):
            if closes <= start:
                continue
            begin = max(opens, start)
            if begin + remaining <= closes:
                return begin + remaining
            remaining -= closes - begin
        day += timedelta(days=1)
    raise NoOpeningHours(f"The calendar is never open in the next {MAX_DAYS_AHEAD} days.")


def business_time_between(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Open time between two moments (zero when end is before start)."""
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    day = start.astimezone(calendar.tz).date() - timedelta(days=1)
    last = end.astimezone(calendar.tz).date()
    while day <= last:
        for opens, closes in calendar.intervals(day):
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def add_business_days(start: datetime, days: int, calendar: Calendar | None) -> datetime:
    """The same local time `days` business days later (clamped into that day's hours).

    The clock starts at the next opening when `start` is outside hours, so a Friday-evening
    lead with "1 business day" is due on Tuesday at opening time, not on Monday morning.
    """
    if calendar is None:
        return start + timedelta(days=days)
    begin = add_business_time(start, timedelta(0), calendar)
    local = begin.astimezone(calendar.tz)
    day = local.date()
    counted = 0
    for _ in range(MAX_DAYS_AHEAD):
        if counted >= days:
            break
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            counted += 1
    else:
        raise NoOpeningHours(f"The calendar is never open in the next {MAX_DAYS_AHEAD} days.")
    intervals = calendar.intervals(day)
    target = datetime.combine(day, local.time(), tzinfo=calendar.tz).astimezone(UTC)
    first_open, last_close = intervals[0][0], intervals[-1][1]
    return min(max(target, first_open), last_close)


@dataclass(frozen=True)
class SlaSpec:
    tier: str
    target: int
    unit: str
    warning_percent: int = 50
    escalation: str = Escalation.NOTIFY_MANAGER
    calendar: Calendar | None = None

    def describe(self) -> str:
        return describe_target(self.target, self.unit)

    def promise(self) -> str:
        """The target as a prospect reads it in an acknowledgement: "within 4 business hours"."""
        n = self.target
        if self.unit in (Unit.BUSINESS_DAYS, Unit.BUSINESS_HOURS):
            return f"within {describe_target(n, self.unit)}"
        hours, minutes = divmod(n, 60)  # minutes read as hours when whole
        span = f"{hours} hour{'s' * (hours != 1)}" if not minutes else \
            f"{n} minute{'s' * (n != 1)}"
        return f"within {span}" + (" during business hours" * (self.unit != Unit.MINUTES))


@dataclass(frozen=True)
class SlaClock:
    started_at: datetime
    warn_at: datetime
    respond_by: datetime


def respond_by_for(received_at: datetime, policy: SlaSpec) -> SlaClock:
    """When the first response is due, and when the warning goes out, for a lead received now."""
    calendar = None if policy.unit == Unit.MINUTES else policy.calendar
    if policy.unit == Unit.BUSINESS_DAYS:
        respond_by = add_business_days(received_at, policy.target, calendar)
    else:
        minutes = policy.target * (60 if policy.unit == Unit.BUSINESS_HOURS else 1)
        respond_by = add_business_time(received_at, timedelta(minutes=minutes), calendar)
    started = add_business_time(received_at, timedelta(0), calendar)
    budget = business_time_between(started, respond_by, calendar)
    warn_at = add_business_time(started, budget * policy.warning_percent / 100, calendar)
    return SlaClock(started, min(warn_at, respond_by), respond_by)


def sla_state(*, respond_by: datetime | None, first_response_at: datetime | None,
              now: datetime, warn_at: datetime | None = None) -> SlaState | None:
    """due / warning / breached / met, or None when the lead has no deadline."""
    if respond_by is None:
        return None
    if first_response_at is not None:
        return SlaState.MET if first_response_at <= respond_by else SlaState.BREACHED
    if now >= respond_by:
        return SlaState.BREACHED
    if warn_at is not None and now >= warn_at:
        return SlaState.WARNING
    return SlaState.DUE


def is_open_now(calendar: Calendar | None, moment: datetime) -> bool:
    return True if calendar is None else calendar.is_open(moment)
