"""The lead's local time and the hours we may reach them in. Pure, apart from reading zone.tab.

The lead's timezone, in this order:
1. the country of its phone number (E.164), when that country has one timezone;
2. its `country` field (a two-letter code), when that country has one timezone;
3. for a country with several timezones (US, CA, AU, ...): the owner's timezone when it lies
   in that country, else the country's principal zone (US: America/New_York);
4. the owner's rep profile timezone;
5. settings.TIME_ZONE.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from django.conf import settings

# TCPA: texts and calls only between 8 a.m. and 9 p.m. at the called party's location.
TCPA_STARTS, TCPA_ENDS = time(8), time(21)

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


def lead_timezone(lead, owner_timezone: str | None = None) -> ZoneInfo:
    """The lead's timezone by the rule in this module's docstring."""
    country = country_of(lead)
    zones = zones_by_country().get(country, ()) if country else ()
    if len(zones) == 1:
        return ZoneInfo(zones[0])
    if zones:
        if owner_timezone in zones:
            return ZoneInfo(owner_timezone)
        return ZoneInfo(PRINCIPAL_ZONES.get(country, zones[0]))
    try:
        return ZoneInfo(owner_timezone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def sending_window(channel: str, starts: time, ends: time) -> tuple[time, time]:
    """SMS and call tasks never outside 8:00-21:00 local, whatever the sequence says."""
    if channel in ("sms", "task"):
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


def in_window(moment: datetime, tz: ZoneInfo, starts: time, ends: time, weekends: bool) -> bool:
    return next_sending_moment(moment, tz, starts, ends, weekends) == moment.astimezone(UTC)


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
