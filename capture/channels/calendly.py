"""Calendly bookings at /inbound/calendly/, signed with Calendly-Webhook-Signature.

The invitee URI is the key: a reschedule arrives as invitee.canceled (rescheduled: true) for
the old invitee and invitee.created for the new one, so each is its own event.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from capture.channels import hmac_timestamped
from capture.channels.base import (
    BadSignature,
    Channel,
    Malformed,
    RawEvent,
    json_body,
    post_only,
    provider_event_id,
    receive,
    unreadable_json,
)
from capture.fields import ATTRIBUTION_FIELDS
from capture.identity import InvalidPhone, normalise_phone, parse_email
from capture.intake import Ignored, IntakeInput, Rejected, event_key
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction

SETTINGS = ChannelSettings.Name.CALENDLY
HANDLED = ("invitee.created", "invitee.canceled")


def verify(request: HttpRequest) -> None:
    header = request.headers.get("Calendly-Webhook-Signature", "")
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        raise BadSignature("Calendly-Webhook-Signature (t=...,v1=...) is missing.")
    if not settings.CALENDLY_SIGNING_KEY:
        raise BadSignature("CALENDLY_SIGNING_KEY is not set on this server.")
    hmac_timestamped.verify(settings.CALENDLY_SIGNING_KEY, parts["t"], request.body, parts["v1"])


def events(request: HttpRequest) -> list[RawEvent]:
    try:
        body = json_body(request)
        kind = body["event"]
        invitee = body["payload"]
        uri = invitee["uri"]
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError, TypeError):
        raise Malformed("Expected a Calendly webhook: {event, payload: {uri, ...}}.") from None
    if problem := unreadable_json(body):
        raise Malformed(problem)
    kind, uri = provider_event_id(kind, "event"), provider_event_id(uri, "payload.uri")
    if kind not in HANDLED:
        return [RawEvent(f"{kind}:{uri}", body, InboundEvent.Status.IGNORED,
                         f"Calendly event {kind!r} is not a booking.")]
    return [RawEvent(external_id=f"{kind}:{uri}", payload=body)]


def _when(value: str) -> datetime | None:
    return parse_datetime(value) if value else None


def normalise(event: InboundEvent) -> IntakeInput:
    try:
        return _normalise(event)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        # A field of the wrong type (a list for a name, a number for a time): retrying
        # cannot help, so the event is rejected with the reason instead of failing forever.
        raise Rejected(f"Malformed Calendly payload: {type(exc).__name__}: {exc}") from None


def _normalise(event: InboundEvent) -> IntakeInput:
    kind = event.payload["event"]
    invitee = event.payload["payload"]
    config = ChannelSettings.for_channel(SETTINGS)
    fields: dict[str, str] = {}
    try:
        fields["email"] = parse_email(invitee.get("email", ""))[1]
    except Exception:
        fields.pop("email", None)
    if number := invitee.get("text_reminder_number"):
        with contextlib.suppress(InvalidPhone):
            fields["phone"] = normalise_phone(number, config.default_region or None)
    if not fields:
        raise Rejected("The invitee has no valid email or phone.")
    first = invitee.get("first_name") or ""
    last = invitee.get("last_name") or ""
    if not first and invitee.get("name"):
        first, _, last = invitee["name"].partition(" ")
    fields.update(first_name=first, last_name=last)
    tracking = invitee.get("tracking") or {}
    fields.update({name: str(tracking[name]) for name in ATTRIBUTION_FIELDS
                   if tracking.get(name)})
    answers = [f"{qa.get('question')}: {qa.get('answer')}"
               for qa in invitee.get("questions_and_answers") or []]
    meeting = invitee.get("scheduled_event") or {}
    title = meeting.get("name") or "a meeting"
    start = _when(meeting.get("start_time", ""))
    at = start.strftime("%Y-%m-%d %H:%M UTC") if start else "an unknown time"
    if kind == "invitee.created":
        summary = f"Booked {title} for {at}"
        if answers:
            fields["message"] = "\n".join(answers)
    elif invitee.get("rescheduled"):
        summary = f"Rescheduled {title} (was {at})"
    else:
        reason = (invitee.get("cancellation") or {}).get("reason") or ""
        summary = f"Cancelled {title} for {at}" + (f": {reason}" if reason else "")
    if kind not in HANDLED:
        raise Ignored(f"Calendly event {kind!r} is not a booking.")
    location = (meeting.get("location") or {}).get("join_url") or (
        meeting.get("location") or {}).get("location") or ""
    body = "\n".join(filter(None, [summary, f"Where: {location}" if location else "",
                                   *answers, invitee.get("cancel_url", "")]))
    return IntakeInput(
        channel=LeadChannel.BOOKING, fields=fields, summary=summary, body=body,
        occurred_at=_when(event.payload.get("created_at", "")) or event.received_at,
        source=config.source or "calendly", kind=Interaction.Kind.MESSAGE,
        notify_prospect=False, lead_id=_booking_lead(kind, invitee),
    )


def _booking_lead(kind: str, invitee: dict) -> int | None:
    """The lead the booking was recorded on, for its cancellation and for the new booking of a
    reschedule (old_invitee). A cancellation carries no phone, so when the booking landed on
    a lead by its phone, matching by email alone would start a new lead."""
    uri = invitee.get("uri") if kind == "invitee.canceled" else invitee.get("old_invitee")
    if not uri or not isinstance(uri, str):
        return None
    # The booking's event is keyed "invitee.created:<uri>" (events() above): the unique
    # (channel, external_id) index finds it.
    return (InboundEvent.objects.filter(channel=channel.name,
                                        external_id=event_key(f"invitee.created:{uri}"),
                                        lead__isnull=False)
            .values_list("lead_id", flat=True).first())


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    from django.http import JsonResponse

    return JsonResponse({"received": len(stored)})


channel = Channel(name="calendly", verify=verify, events=events, normalise=normalise,
                  reply=reply, settings_name=SETTINGS)


@csrf_exempt
@post_only
def calendly_view(request: HttpRequest) -> HttpResponse:
    return receive(request, channel)
