"""X (Twitter) direct messages through the Account Activity API at /inbound/x/.

GET with crc_token is the challenge-response check: answered {"response_token": "sha256=" +
base64(HMAC-SHA256(X_CONSUMER_SECRET, crc_token))}. Every POST carries
x-twitter-webhooks-signature, "sha256=" + base64 HMAC-SHA256 of the raw body with the same
secret. Each `message_create` in direct_message_events is one event keyed by its id; our own
account's messages (sender = for_user_id) make no lead: each is the first response of its
recipient's lead (kept as ignored when the recipient is none); other activity is not stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from capture.channels.base import (
    BadSignature,
    Channel,
    Malformed,
    RawEvent,
    from_epoch,
    method_not_allowed,
    platform_id,
    platform_text,
    read_json,
    receive,
)
from capture.intake import Ignored, IntakeInput, OurReply, PlatformAccount, Rejected
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction, LeadIdentity, Platform

SETTINGS = ChannelSettings.Name.X

def signature_of(secret: str, message: bytes) -> str:
    """X's signature and CRC response: "sha256=" + base64 of the HMAC-SHA256."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def verify(request: HttpRequest) -> None:
    secret = settings.X_CONSUMER_SECRET
    if not secret:
        raise BadSignature("X_CONSUMER_SECRET is not set on this server.")
    given = request.headers.get("X-Twitter-Webhooks-Signature", "")
    if not given.startswith("sha256="):
        raise BadSignature("x-twitter-webhooks-signature is missing.")
    if not constant_time_compare(signature_of(secret, request.body), given.strip()):
        raise BadSignature("x-twitter-webhooks-signature does not match the body.")


def events(request: HttpRequest) -> list[RawEvent]:
    body = read_json(request, shape=lambda b: isinstance(b, dict) and "for_user_id" in b,
                     shape_error="Expected an Account Activity event with 'for_user_id'.")
    ours = str(body["for_user_id"])
    users = body.get("users") if isinstance(body.get("users"), dict) else {}
    found = []
    items = body.get("direct_message_events") or []
    if not isinstance(items, list):
        raise Malformed("'direct_message_events' is not a list.")
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "message_create":
            continue
        try:
            sender = platform_id(item["message_create"]["sender_id"], "sender_id")
            external_id = f"dm:{platform_id(item['id'], 'id')}"
        except (KeyError, TypeError, ValueError):
            raise Malformed("A direct message event without id or sender_id.") from None
        payload = {"for_user_id": ours, "event": item, "sender": users.get(sender) or {}}
        # Our own account's message: the answer of the lead it was sent to (_our_answer).
        found.append(RawEvent(external_id, {**payload, "ours": True} if sender == ours
                              else payload))
    return found


def _our_answer(event: InboundEvent) -> OurReply:
    """Our account's direct message: the first response of the lead of its recipient."""
    try:
        item = event.payload["event"]
        create = item["message_create"]
        recipient = platform_id((create.get("target") or {}).get("recipient_id"),
                                "recipient_id")
        text = platform_text((create.get("message_data") or {}).get("text"),
                             "text").strip() or "[media]"
        when = from_epoch(item.get("created_timestamp", 0), per_second=1000)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed X direct message: {type(exc).__name__}: {exc}") from None
    identity = (LeadIdentity.objects.filter(platform=Platform.X, external_id=recipient,
                                            lead__erased_at__isnull=True)
                .select_related("lead").first())
    if identity is None:
        raise Ignored("Our own account's direct message, to nobody who is a lead.")
    return OurReply(lead=identity.lead, channel=LeadChannel.SOCIAL,
                    occurred_at=when if item.get("created_timestamp") else event.received_at,
                    summary=f"Answered on X: {text[:80]}",
                    body=f"{text}\n\n(our X account's direct message to {recipient})",
                    message_id=str(item["id"]))


def normalise(event: InboundEvent) -> IntakeInput | OurReply:
    if event.payload.get("ours"):
        return _our_answer(event)
    try:
        item = event.payload["event"]
        create = item["message_create"]
        sender = platform_id(create["sender_id"], "sender_id")
        text = platform_text((create.get("message_data") or {}).get("text"),
                             "text").strip() or "[media]"
        profile = event.payload.get("sender") or {}
        when = from_epoch(item.get("created_timestamp", 0), per_second=1000)
        if when is None:
            raise ValueError(f"created_timestamp {item.get('created_timestamp')!r}")
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed X direct message: {type(exc).__name__}: {exc}") from None
    name = str(profile.get("name") or "")
    handle = f"@{profile['screen_name']}" if profile.get("screen_name") else ""
    first, _, last = name.partition(" ")
    return IntakeInput(
        channel=LeadChannel.SOCIAL, fields={"message": text, "first_name": first,
                                            "last_name": last},
        summary=f"X direct message: {text[:80]}",
        body=f"{text}\n\n(X {handle or 'user'} {sender})",
        occurred_at=when if item.get("created_timestamp") else event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "x",
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(Platform.X, sender, handle or name),
    )


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    return JsonResponse({"received": len(stored)})


channel = Channel(name="x", verify=verify, events=events, normalise=normalise,
                  reply=reply, settings_name=SETTINGS)


@csrf_exempt
def x_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        token = request.GET.get("crc_token", "")
        if not settings.X_CONSUMER_SECRET:
            return JsonResponse({"error": "X_CONSUMER_SECRET is not set on this server."},
                                status=403)
        if not token:
            return JsonResponse({"error": "crc_token is missing."}, status=400)
        return JsonResponse({"response_token": signature_of(settings.X_CONSUMER_SECRET,
                                                            token.encode())})
    if request.method != "POST":
        return method_not_allowed("Use GET (CRC) or POST.", "GET, POST")
    return receive(request, channel)
