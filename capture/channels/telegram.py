"""Telegram bot updates at /inbound/telegram/ (setWebhook with a secret_token).

Every update carries X-Telegram-Bot-Api-Secret-Token, compared with TELEGRAM_WEBHOOK_SECRET;
update_id is the idempotency key. "/start" (with the deep-link parameter, if any) starts a lead
with the sender's name; a shared contact of the sender's own gives its phone number. The
Telegram user id is the lead's identity; the chat id is where replies go. A `my_chat_member`
update saying the prospect blocked the bot marks the identity blocked (replies say why).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from capture.channels.base import (
    BadSignature,
    Channel,
    Malformed,
    RawEvent,
    from_epoch,
    json_body,
    platform_id,
    platform_text,
    post_only,
    read_json,
    receive,
)
from capture.identity import InvalidPhone, normalise_phone
from capture.intake import Ignored, IntakeInput, PlatformAccount, Rejected
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction, LeadIdentity, Platform

SETTINGS = ChannelSettings.Name.TELEGRAM
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what Telegram allows in ?start=


def verify(request: HttpRequest) -> None:
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    if not secret:
        raise BadSignature("TELEGRAM_WEBHOOK_SECRET is not set on this server.")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not given:
        raise BadSignature("X-Telegram-Bot-Api-Secret-Token is missing.")
    if not constant_time_compare(given, secret):
        raise BadSignature("X-Telegram-Bot-Api-Secret-Token does not match.")


def _update(request: HttpRequest) -> dict:
    return read_json(request, shape=lambda u: isinstance(u, dict)
                     and isinstance(u.get("update_id"), int),
                     shape_error="Expected a Telegram Update with an integer 'update_id'.")


def events(request: HttpRequest) -> list[RawEvent]:
    update = _update(request)
    message = update.get("message")
    if not isinstance(message, dict):
        return []  # edits, callbacks, membership changes: nothing a prospect wrote
    if not isinstance(message.get("from"), dict) or "id" not in message["from"]:
        raise Malformed("A Telegram message without 'from.id'.")
    raw = RawEvent(external_id=f"update:{update['update_id']}", payload=update)
    if message["from"].get("is_bot"):
        raw = RawEvent(raw.external_id, update, InboundEvent.Status.IGNORED,
                       "A message from a bot.")
    return [raw]


def normalise(event: InboundEvent) -> IntakeInput:
    try:
        return _normalise(event)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed Telegram update: {type(exc).__name__}: {exc}") from None


def _normalise(event: InboundEvent) -> IntakeInput:
    message = event.payload["message"]
    sender = message["from"]
    user_id = platform_id(sender["id"], "from.id")
    fields = {"first_name": platform_text(sender.get("first_name"), "first_name"),
              "last_name": platform_text(sender.get("last_name"), "last_name")}
    text = (platform_text(message.get("text"), "text")
            or platform_text(message.get("caption"), "caption")).strip()
    notes: list[str] = []
    summary = f"Telegram: {text[:80]}" if text else "Telegram message"
    if text.split(" ", 1)[0].split("@", 1)[0] == "/start":
        parameter = text.partition(" ")[2].strip()
        summary = "Started the Telegram bot"
        if parameter and START_PARAMETER.match(parameter):
            fields["utm_campaign"] = parameter
            summary += f" (link {parameter})"
        text = ""
    contact = message.get("contact")
    if isinstance(contact, dict):
        number = str(contact.get("phone_number") or "")
        own = str(contact.get("user_id", "")) == user_id
        if own:
            try:
                fields["phone"] = normalise_phone("+" + number.lstrip("+"))
            except InvalidPhone:
                notes.append(f"Shared a phone number that is not valid: {number}")
            else:
                summary = "Shared their phone number on Telegram"
            fields["first_name"] = str(contact.get("first_name") or fields["first_name"])
            fields["last_name"] = str(contact.get("last_name") or fields["last_name"])
        else:  # someone else's card: a referral, not this prospect's number
            name = f"{contact.get('first_name', '')} {contact.get('last_name', '')}".strip()
            notes.append(f"Shared a contact card: {name} {number}".strip())
            summary = "Shared someone else's contact on Telegram"
    if text:
        fields["message"] = text
    elif not isinstance(contact, dict) and summary == "Telegram message":
        kinds = [k for k in ("photo", "document", "voice", "video", "sticker", "location")
                 if k in message]
        if not kinds:
            raise Ignored("A Telegram service message (nothing written).")
        summary = f"Telegram: [{kinds[0]}]"
    handle = f"@{sender['username']}" if sender.get("username") else ""
    name = " ".join(p for p in (fields["first_name"], fields["last_name"]) if p)
    chat_id = str((message.get("chat") or {}).get("id", user_id))
    return IntakeInput(
        channel=LeadChannel.CHAT, fields=fields, summary=summary,
        body="\n".join([text, *notes, f"(Telegram {handle or 'user'} {user_id})"]).strip(),
        occurred_at=from_epoch(message.get("date")) or event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "telegram",
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(Platform.TELEGRAM, user_id, handle or name, chat_id),
    )


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    """Verified by now: a prospect who blocked (or unblocked) the bot is remembered."""
    member = json_body(request).get("my_chat_member")
    sender = member.get("from") if isinstance(member, dict) else None
    new = member.get("new_chat_member") if isinstance(member, dict) else None
    if isinstance(sender, dict) and isinstance(new, dict):
        user_id = str(sender.get("id", ""))
        status = str(new.get("status", ""))
        rows = LeadIdentity.objects.filter(platform=Platform.TELEGRAM, external_id=user_id)
        if status == "kicked":
            rows.update(blocked_at=timezone.now(),
                        blocked_reason="The prospect blocked the Telegram bot.")
        elif status == "member":
            rows.update(blocked_at=None, blocked_reason="")
    return JsonResponse({"received": len(stored)})


channel = Channel(name="telegram", verify=verify, events=events, normalise=normalise,
                  reply=reply, settings_name=SETTINGS)


@csrf_exempt
@post_only
def telegram_view(request: HttpRequest) -> HttpResponse:
    return receive(request, channel)
