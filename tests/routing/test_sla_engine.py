"""Business-hours clocks, without a database: weekends, holidays, DST, the four SLA states."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from routing.sla import (
    Calendar,
    NoOpeningHours,
    SlaSpec,
    SlaState,
    Unit,
    add_business_time,
    business_time_between,
    is_open_now,
    respond_by_for,
    sla_state,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_17 = {d: ((time(9), time(17)),) for d in range(5)}


def at(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def calendar(tz="Europe/Berlin", holidays=()) -> Calendar:
    return Calendar(tz, WEEKDAYS_9_17, frozenset(holidays))


def test_four_business_hours_from_friday_afternoon_end_on_monday():
    start = at(BERLIN, 2026, 11, 27, 15, 0)  # Friday 15:00
    due = add_business_time(start, timedelta(hours=4), calendar())
    assert due == at(BERLIN, 2026, 11, 30, 11, 0)


def test_a_lead_arriving_at_night_starts_its_clock_at_opening():
    start = at(BERLIN, 2026, 11, 24, 22, 30)  # Tuesday night
    assert add_business_time(start, timedelta(minutes=15), calendar()) == \
        at(BERLIN, 2026, 11, 25, 9, 15)


def test_holidays_are_closed_days():
    christmas = calendar(holidays=[date(2026, 12, 24), date(2026, 12, 25)])
    start = at(BERLIN, 2026, 12, 23, 16, 0)  # Wednesday 16:00
    assert add_business_time(start, timedelta(hours=2), christmas) == \
        at(BERLIN, 2026, 12, 28, 10, 0)  # Thursday, Friday off; weekend; Monday 10:00


def test_the_spring_forward_night_does_not_stretch_business_hours():
    # Europe's clocks go forward on Sunday 2027-03-28; Friday 16:00 + 2 business hours.
    due = add_business_time(at(BERLIN, 2027, 3, 26, 16, 0), timedelta(hours=2), calendar())
    assert due == at(BERLIN, 2027, 3, 29, 10, 0)
    assert due.astimezone(UTC).hour == 8  # now UTC+2


def test_an_around_the_clock_calendar_on_the_autumn_day_has_25_hours():
    always = Calendar("America/New_York", {d: ((time(0), time(0)),) for d in range(7)})
    start = at(NEW_YORK, 2026, 11, 1, 0, 0)  # DST ends at 02:00 that night
    due = add_business_time(start, timedelta(hours=24), always)
    assert due == start.astimezone(UTC) + timedelta(hours=24)  # 24 real hours
    assert due.astimezone(NEW_YORK).hour == 23  # 25-hour day: still 1 November


def test_business_days_keep_the_local_time_and_skip_the_weekend_and_holidays():
    policy = SlaSpec("cold", 1, Unit.BUSINESS_DAYS, calendar=calendar(holidays=[date(2026, 11,
                                                                                      30)]))
    clock = respond_by_for(at(BERLIN, 2026, 11, 27, 11, 30), policy)  # Friday 11:30
    assert clock.respond_by == at(BERLIN, 2026, 12, 1, 11, 30)  # Monday is a holiday


def test_business_days_from_the_evening_start_at_next_opening():
    policy = SlaSpec("cold", 1, Unit.BUSINESS_DAYS, calendar=calendar())
    clock = respond_by_for(at(BERLIN, 2026, 11, 27, 20, 0), policy)  # Friday evening
    assert clock.started_at == at(BERLIN, 2026, 11, 30, 9, 0)
    assert clock.respond_by == at(BERLIN, 2026, 12, 1, 9, 0)


def test_business_days_across_the_dst_change_keep_the_wall_clock_time():
    policy = SlaSpec("cold", 1, Unit.BUSINESS_DAYS, calendar=calendar())
    clock = respond_by_for(at(BERLIN, 2026, 10, 23, 14, 0), policy)  # Friday before DST ends
    assert clock.respond_by == at(BERLIN, 2026, 10, 26, 14, 0)
    assert clock.respond_by - clock.started_at == timedelta(days=3, hours=1)


def test_clock_minutes_ignore_the_calendar():
    policy = SlaSpec("hot", 15, Unit.MINUTES, calendar=calendar())
    start = at(BERLIN, 2026, 11, 28, 3, 0)  # Saturday night
    assert respond_by_for(start, policy).respond_by == start + timedelta(minutes=15)


def test_the_warning_point_is_a_share_of_the_business_time():
    policy = SlaSpec("warm", 4, Unit.BUSINESS_HOURS, warning_percent=50, calendar=calendar())
    clock = respond_by_for(at(BERLIN, 2026, 11, 27, 16, 0), policy)  # Friday 16:00
    assert clock.warn_at == at(BERLIN, 2026, 11, 30, 10, 0)
    assert clock.respond_by == at(BERLIN, 2026, 11, 30, 12, 0)
    assert business_time_between(clock.started_at, clock.respond_by, policy.calendar) == \
        timedelta(hours=4)


def test_a_calendar_that_never_opens_is_an_error_not_a_hang():
    with pytest.raises(NoOpeningHours):
        add_business_time(at(BERLIN, 2026, 1, 1, 9), timedelta(hours=1), Calendar("UTC", {}))


def test_is_open():
    assert is_open_now(calendar(), at(BERLIN, 2026, 11, 24, 10, 0))
    assert not is_open_now(calendar(), at(BERLIN, 2026, 11, 28, 10, 0))


def test_sla_states():
    due = at(BERLIN, 2026, 11, 24, 12, 0)
    warn = due - timedelta(hours=1)
    state = lambda now, first=None: sla_state(respond_by=due, warn_at=warn,  # noqa: E731
                                              first_response_at=first, now=now)
    assert state(warn - timedelta(minutes=1)) == SlaState.DUE
    assert state(warn) == SlaState.WARNING
    assert state(due) == SlaState.BREACHED
    assert state(due + timedelta(hours=3), first=due) == SlaState.MET
    assert state(due + timedelta(hours=3), first=due + timedelta(seconds=1)) == \
        SlaState.BREACHED
    assert sla_state(respond_by=None, first_response_at=None, now=due) is None
