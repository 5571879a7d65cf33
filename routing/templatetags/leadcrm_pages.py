"""Small filters for the rep and manager pages."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from capture.services import person_name

register = template.Library()


@register.filter
def person(user, nobody: str = "") -> str:
    """A user as the pages name people: the full name, else the login (never the login alone
    beside a header or a rep load that says "Alice Anders")."""
    return person_name(user, nobody)


@register.filter
def first_line(text: str, length: int = 90) -> str:
    """The first non-empty line of a message, cut to `length` characters."""
    line = next((s.strip() for s in (text or "").splitlines() if s.strip()), "")
    return line if len(line) <= length else line[: length - 1] + "…"


@register.filter
def duration(value: timedelta | None) -> str:
    """1 h 05 min, 12 min, 40 s."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


@register.filter
def time_left(deadline) -> str:
    """"12 min left" or "2 h 05 min overdue": what the countdown script shows, before it runs
    (Django's timeuntil says "0 minutes" for a deadline already past)."""
    if deadline is None:
        return ""
    left = deadline - timezone.now()
    if left >= timedelta(0):
        return f"{duration(left)} left"
    return f"{duration(-left)} overdue"


@register.filter
def age(value) -> str:
    """"2 hours", "3 days": timesince's largest unit, for a phone-width queue row."""
    return timesince(value, depth=1) if value else ""


@register.filter
def iso(value) -> str:
    return value.isoformat() if value else ""
