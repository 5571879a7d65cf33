"""The lead's local time and the hours we may reach them in. Pure, apart from reading zone.tab.

The lead's timezone (delays, emails, the preview), in this order:
1. the time zone of its phone number (phonenumbers' data: +1 808 is Honolulu), when it has one;
2. its `country` field (a two-letter code), when that country has one timezone;
3. among several (a number or a country spanning zones: +1 605, a US toll-free number, US,
   CA, AU, ...): the owner's timezone when it is one of them, else the country's principal
   zone (US: America/New_York) when it is, else the first;
4. the owner's rep profile timezone;
5. settings.TIME_ZONE.

SMS and call tasks (the TCPA: 8 a.m. to 9 p.m. where the called party is) must be inside the
window in every zone of the number, not in that one guess: see `next_moment_to_reach`.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings
from phonenumbers.timezone import time_zones_for_number

# TCPA: texts and calls only between 8 a.m. and 9 p.m. at the called party's location.
TCPA_STARTS, TCPA_ENDS = time(8), time(21)
TCPA_CHANNELS = ("sms", "task")

PRINCIPAL_ZONES = {
    "US": "America/New_York", "CA": "America/Toronto", "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo", "MX": "America/Mexico_City", "RU": "Europe/Moscow",
    "AR": "America/Argentina/Buenos_Aires", "ES": "Europe/Madrid", "PT": "Europe/Lisbon",
    "CL": "America/Santiago", "ID": "Asia/Jakarta", "KZ": "Asia/Almaty",
    "CN": "Asia/Shanghai", "DE": "Europe/Berlin", "NZ": "Pacific/Auckland",
    "UA": "Europe/Kyiv", "EC": "America/Guayaquil", "MY": "Asia/Kuala_Lumpur",
}


@functools.cache
def zones_by_country() -> dict[str, tuple[str, ...]]:
    zones: dict[str, list[str]] = {}
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / "zone.tab"
        if path.exists():
            for line in path.read_text().splitlines():
                if line and not line.startswith("#"):
                    parts = line.split("\t")
                    if len(parts) >= 3:
                        zones.setdefault(parts[0], []).append(parts[2])
            break
    for code, zone in PRINCIPAL_ZONES.items():  # without zone.tab, at least these
        zones.setdefault(code, [zone])
    return {code: tuple(names) for code, names in zones.items()}


def country_of(lead) -> str:
    if lead.phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(lead.phone))
        except phonenumbers.NumberParseException:
            region = None
        if region and region != "ZZ":
            return region
    country = (lead.country or "").strip().upper()
    return country if len(country) == 2 else ""


def number_zones(phone: str) -> tuple[str, ...]:
    """The time zones the number may ring in, by its area code or prefix ("+1 808": Honolulu;
    a US toll-free number: all of the +1 area's); () when unknown or unreadable."""
    if not phone:
        return ()
    try:
        names = time_zones_for_number(phonenumbers.parse(phone))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(name for name in names if _known_zone(name))


@functools.cache
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False  # "Etc/Unknown", or a zone this machine's tzdata lacks
    return True


def lead_timezone(lead, owner_timezone: str | None = None) -> ZoneInfo:
    """The lead's timezone by the rule in this module's docstring."""
    country = country_of(lead)
    zones = number_zones(lead.phone) or (zones_by_country().get(country, ()) if country else ())
    if len(zones) == 1:
        return ZoneInfo(zones[0])
    if zones:
        if owner_timezone in zones:
            return ZoneInfo(owner_timezone)
        principal = PRINCIPAL_ZONES.get(country)
        return ZoneInfo(principal if principal in zones else zones[0])
    try:
        return ZoneInfo(owner_timezone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def sending_window(channel: str, starts: time, ends: time) -> tuple[time, time]:
    """SMS and call tasks never outside 8:00-21:00 local, whatever the sequence says."""
    if channel in TCPA_CHANNELS:
        return max(starts, TCPA_STARTS), min(ends, TCPA_ENDS)
    return starts, ends


def next_sending_moment(moment: datetime, tz: ZoneInfo, starts: time, ends: time,
                        weekends: bool) -> datetime:
    """`moment` if the lead may be reached then, else the next opening of the window (UTC)."""
    local = moment.astimezone(tz)
    day = local.date()
    for offset in range(15):
        current = day + timedelta(days=offset)
        if not weekends and current.weekday() >= 5:
            continue
        opens = datetime.combine(current, starts, tzinfo=tz)
        closes = datetime.combine(current, ends, tzinfo=tz)
        if local < closes:
            return max(local, opens).astimezone(UTC)
    raise ValueError("The sending window never opens.")


def next_moment_in_every_zone(moment: datetime, zones: Sequence[ZoneInfo], starts: time,
                              ends: time, weekends: bool) -> datetime | None:
    """The first moment from `moment` inside the window in every one of `zones` (UTC), or None
    when they share none within a fortnight (a toll-free number's zones, from Samoa to Guam,
    share no hour of 9:00-18:00)."""
    candidate = moment.astimezone(UTC)
    limit = candidate + timedelta(days=15)
    while candidate <= limit:
        try:
            later = max(next_sending_moment(candidate, tz, starts, ends, weekends) for tz in zones)
        except ValueError:
            return None
        if later == candidate:
            return candidate
        candidate = later  # the opening in the zone that was closed; check the others again
    return None


def next_moment_to_reach(lead, owner_timezone: str | None, channel: str, moment: datetime,
                         starts: time, ends: time, weekends: bool) -> datetime:
    """`moment` if a step on `channel` may reach the lead then, else the next time it may (UTC).

    Email: the sequence's window in the lead's timezone. SMS and call tasks: the window cut to
    8:00-21:00, in every time zone of the lead's number (a Honolulu number with a New York
    owner: Honolulu's hours; +1 605, Denver and Chicago: the hours both are in; a US toll-free
    number, from Samoa to Guam: 17:00-19:30 New York time). When those zones share no hour of
    the window (the toll-free number with 9:00-18:00), its zones in the lead's country (the
    US's, New York to Hawaii: 14:00-18:00 New York time); when even those share none (a window
    of an hour or two), the lead's timezone alone, as for email.
    """
    return reach(lead, owner_timezone, channel, moment, starts, ends, weekends).at


class Reach(NamedTuple):
    """When a step may reach the lead, and in which zones its window was kept."""

    at: datetime  # UTC
    zones: tuple[str, ...]  # where the window holds: the number's zones, or the lead's one


def reach(lead, owner_timezone: str | None, channel: str, moment: datetime, starts: time,
          ends: time, weekends: bool) -> Reach:
    """next_moment_to_reach, and the zones whose window it keeps: the sequence preview names
    them (a text to a +1 605 number: Denver's zone and Central time, not one guess)."""
    starts, ends = sending_window(channel, starts, ends)
    if channel in TCPA_CHANNELS and (zones := number_zones(lead.phone)):
        home = zones_by_country().get(country_of(lead), ())
        for names in (zones, tuple(name for name in zones if name in home)):
            if names and (found := next_moment_in_every_zone(
                    moment, [ZoneInfo(name) for name in names], starts, ends, weekends)):
                return Reach(found, names)
    tz = lead_timezone(lead, owner_timezone)
    return Reach(next_sending_moment(moment, tz, starts, ends, weekends), (tz.key,))


def add_delay(start: datetime, amount: int, unit: str, tz: ZoneInfo) -> datetime:
    """`amount` hours, days (same local time) or business days (Monday to Friday) later."""
    if unit == "hours":
        return start + timedelta(hours=amount)
    local = start.astimezone(tz)
    day: date = local.date()
    if unit == "business_days":
        counted = 0
        while counted < amount:
            day += timedelta(days=1)
            if day.weekday() < 5:
                counted += 1
    else:
        day += timedelta(days=amount)
    return datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=tz).astimezone(UTC)
