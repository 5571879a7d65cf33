"""Spam and abuse checks for public submissions: rate limit, honeypot, fill time, blocklists."""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import unicodedata

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from capture.forms import HONEYPOT, STARTED, seconds_since_started
from capture.identity import email_domain
from capture.memo import ProcessMemo
from capture.models import BlockRule, IntakeForm

logger = logging.getLogger(__name__)

FRIENDLY = {
    "rate": "Too many submissions from your network. Please try again in a minute.",
    "spam": "We could not accept this submission. If you are a person, please wait a few "
    "seconds and submit again, or write to us directly.",
    # A block rule (an email domain, a phrase) holds however long they wait: not named, so a
    # spammer learns nothing, but a person is not sent to try again in vain.
    "blocked": "We could not accept this submission. Please write to us directly.",
}
BLOCKED = "blocked "  # how blocklist_reason's reasons start


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind proxies (USE_X_FORWARDED_FOR) the X-Forwarded-For entry
    TRUSTED_PROXIES from its end: each proxy appends the address it saw, and whatever the client
    wrote comes first. The first entry was read: behind nginx ($proxy_add_x_forwarded_for) or a
    cloud load balancer, a made-up address per request escaped every rate limit.

    The address goes into IP address columns (the event's, the consent's), which PostgreSQL
    checks: an entry with its port (Azure's Application Gateway sends "203.0.113.7:51234"),
    or none at all ("unknown"), made every request behind such a proxy a 500. The port is
    dropped; an entry that is no address leaves the proxy's own."""
    if settings.USE_X_FORWARDED_FOR:
        entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if address := _bare_address(entries[-min(settings.TRUSTED_PROXIES, len(entries))]):
            return address
    return request.META.get("REMOTE_ADDR") or None


def _bare_address(text: str) -> str:
    """'203.0.113.7', '203.0.113.7:51234', '[2001:db8::7]:443' -> the address; else ''."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 and a port (an IPv6 address has several colons)
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text.partition("%")[0]))  # no zone: PostgreSQL's inet
    except ValueError:
        return ""


def is_rate_limited(request: HttpRequest, scope: str, limit: int, who: str = "") -> bool:
    """Past `limit` requests in the last minute per IP (or per `who`, e.g. a chat visitor)."""
    return over_limit(rate_key(request, scope, who), limit)


def rate_key(request: HttpRequest, scope: str, who: str = "") -> str:
    """The counter is_rate_limited() counts a request on (for seconds_until_allowed)."""
    return f"{scope}:{who or client_ip(request)}"


def over_limit(key: str, limit: int, window: int = 60) -> bool:
    """Count one request against `key` and say whether it is past `limit` a minute (or per
    `window` seconds: an hour for password resets).

    A sliding window in Django's cache (per process without Redis): this minute's counter,
    plus the previous minute's weighted by the part of it still inside the last 60 s. A burst
    that straddles a minute boundary gets `limit` requests, not twice as many as a fixed
    window allows. Refused requests count too, so a client that keeps hammering stays out."""
    return limit > 0 and _requests_in_window(key, window, count=True) > limit


def past_limit(key: str, limit: int) -> bool:
    """Would one more request on `key` be past `limit` a minute? Reads over_limit's counters
    without counting: for limits that count only some requests (failed sign-ins)."""
    return limit > 0 and _requests_in_window(key, 60, count=False) + 1 > limit


def _requests_in_window(key: str, window: int, *, count: bool) -> float:
    """The requests on `key` in the sliding window (this one counted first, with `count`); 0
    while the cache is unreachable: it counts requests and holds no lead, and refusing every
    request until it is back would lose what reached us, so the limits are off meanwhile."""
    this_minute, last_minute, into = _windows(key, window)
    try:
        current = (_count_one(this_minute, timeout=2 * window + 30) if count
                   else cache.get(this_minute, 0))
        previous = cache.get(last_minute, 0)
    except Exception as exc:  # Redis down: any of its client's errors
        cache_unreachable(exc)
        return 0
    return previous * (1 - into / window) + current


_last_warning = 0.0


def cache_unreachable(exc: Exception) -> None:
    """Log an unreachable cache once a minute per process, not once per request (the rate
    limits here, chat presence)."""
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.error("The cache (REDIS_URL) is unreachable; rate limits are off until it is "
                     "back: %r", exc)


def cache_reachable() -> bool:
    """For /healthz: can the cache be written and read?"""
    try:
        cache.set("healthz", 1, timeout=10)
        return cache.get("healthz") == 1
    except Exception as exc:
        cache_unreachable(exc)
        return False


def seconds_until_allowed(key: str, limit: int) -> int:
    """The Retry-After for `key`: whole seconds until one more request fits under `limit`,
    if none is sent meanwhile (the previous minute's weight falls as the window slides)."""
    this_minute, last_minute, into = _windows(key)
    try:
        current = cache.get(this_minute, 0)
        previous = cache.get(last_minute, 0)
    except Exception as exc:
        cache_unreachable(exc)
        return 60
    room = limit - 1 - current  # what the previous minute may still weigh
    if room >= previous:
        return 0
    if room >= 0:  # later in this minute
        return math.ceil(60 * (1 - room / previous) - into)
    # Next minute: this minute's count becomes the previous one and slides out in turn.
    return math.ceil(60 - into + 60 * (1 - (limit - 1) / current))


def _windows(key: str, window: int = 60) -> tuple[str, str, float]:
    """The cache keys of this minute's and the previous minute's counter (or window's), and
    the seconds into this one."""
    slot, into = divmod(time.time(), window)
    if window != 60:
        key = f"{key}:per{window}"
    return f"rl:{key}:{int(slot)}", f"rl:{key}:{int(slot) - 1}", into


def _count_one(key: str, timeout: int = 150) -> int:
    """Add one to a counter that lives through the next window (which still reads it)."""
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


block_rules_memo: ProcessMemo[list[tuple[str, str]]] = ProcessMemo(ttl=30.0)


def active_block_rules() -> list[tuple[str, str]]:
    """The active blocklist, read at most every 30 s per process (not on every submission)."""
    return block_rules_memo.get("active", lambda: list(
        BlockRule.objects.filter(is_active=True).values_list("kind", "value")))


def spam_reason(
    intake_form: IntakeForm, cleaned: dict, raw: dict, *, cross_origin: bool
) -> str | None:
    """Why this submission is spam, for the rejected InboundEvent; None when it looks human."""
    if (raw.get(HONEYPOT) or "").strip():
        return "honeypot field filled"
    if not cross_origin:  # a site's own HTML form cannot carry our signed start time
        elapsed = seconds_since_started(raw.get(STARTED, ""), intake_form.id)
        if elapsed is None:
            return "form start token missing, forged or older than a day"
        if elapsed < intake_form.min_fill_seconds:
            return f"submitted {elapsed:.1f}s after the page loaded (minimum "\
                f"{intake_form.min_fill_seconds}s)"
    return blocklist_reason(cleaned)


def blocklist_reason(cleaned: dict) -> str | None:
    """Which blocked email domain or phrase these values hit (the admin's BlockRule rows)."""
    rules = active_block_rules()
    domain = email_domain(cleaned.get("email", ""))
    for kind, value in rules:
        if kind == BlockRule.Kind.EMAIL_DOMAIN and domain and (
            domain == value or domain.endswith("." + value)
        ):
            return f"{BLOCKED}email domain {value}"
    text = plain(" ".join(str(v) for v in cleaned.values() if isinstance(v, str)))
    for kind, value in rules:
        if kind == BlockRule.Kind.PHRASE and value and plain(value) in text:
            return f"{BLOCKED}phrase “{value}”"
    return None


def plain(text: str) -> str:
    """Text as a phrase rule compares it: compatibility forms folded (a non-breaking space is
    a space, full-width letters plain ones), case folded, invisible characters dropped, every
    run of spaces one space; "CRYPTO   Casino" then holds "crypto casino"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())
