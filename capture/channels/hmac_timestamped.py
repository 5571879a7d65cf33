"""HMAC-SHA256 over the timestamp and the raw body, with a replay window: Calendly and our own
webhooks sign "<timestamp>.<body>", Slack "v0:<timestamp>:<body>" (sent as "v0=<hex>")."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from django.conf import settings
from django.utils.crypto import constant_time_compare

from capture.channels.base import BadSignature


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of b"<timestamp>." + body (what senders compute too)."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_slack(secret: str, timestamp: int | str, body: bytes) -> str:
    """Slack's request signature: "v0=" + hex HMAC-SHA256 of b"v0:<timestamp>:" + body."""
    message = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None,
           signer: Callable[[str, int, bytes], str] = sign) -> None:
    """Raise BadSignature unless `signature` signs this body at a timestamp inside the window."""
    if not secret:
        raise BadSignature("No signing secret is configured for this source.")
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        raise BadSignature("The signature's timestamp is missing or not a number.") from None
    tolerance = settings.WEBHOOK_TOLERANCE_SECONDS
    if abs((now if now is not None else time.time()) - sent_at) > tolerance:
        raise BadSignature(f"The timestamp is more than {tolerance} seconds away from now: "
                           "a replay or a wrong clock.")
    expected = signer(secret, sent_at, body)
    if not constant_time_compare(expected, (signature or "").strip().lower()):
        raise BadSignature("The signature does not match the body.")
