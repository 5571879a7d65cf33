"""Texts through Twilio's REST API with the `twilio` library (a local stub in tests)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class SmsReceipt:
    sid: str
    status: str


def sms_configured() -> bool:
    return bool(settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
                and settings.TWILIO_FROM_NUMBER)


def send_sms(to: str, body: str) -> SmsReceipt:
    """Hand one text to Twilio; raises on any refusal (the outbox retries with backoff)."""
    from twilio.rest import Client

    if not sms_configured():
        raise RuntimeError("SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, "
                           "TWILIO_FROM_NUMBER).")
    client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)
    if settings.TWILIO_API_BASE_URL:
        client.api.base_url = settings.TWILIO_API_BASE_URL
    callback = settings.TWILIO_STATUS_CALLBACK_URL or None
    message = client.messages.create(to=to, from_=settings.TWILIO_FROM_NUMBER, body=body,
                                      **({"status_callback": callback} if callback else {}))
    return SmsReceipt(sid=message.sid or "", status=str(message.status or ""))
