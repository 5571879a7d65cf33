"""Twilio calls and SMS: /inbound/twilio/voice/, /sms/ and /status/, signed with the auth token.

A caller or texter is matched by their E.164 number (so a call from someone who filled in the
web form lands on their lead); CallSid / MessageSid are the idempotency keys. A call that is
not answered flags the lead for a priority call-back; STOP-style words mark it not-to-text.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from capture.channels.base import BadSignature, Channel, Malformed, RawEvent, post_only, receive
from capture.identity import InvalidPhone, normalise_phone
from capture.intake import Ignored, IntakeInput, Rejected
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction, Lead
from capture.privacy import is_suppressed

SETTINGS = ChannelSettings.Name.TWILIO
# Twilio's own opt-out and opt-in keywords (Messaging Services "Advanced Opt-Out" defaults).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE",
              "STOP ALL"}
START_WORDS = {"START", "UNSTOP", "YES", "OPTIN"}
MISSED = {"no-answer", "busy", "failed", "canceled"}


def verify(request: HttpRequest) -> None:
    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token:
        raise BadSignature("TWILIO_AUTH_TOKEN is not set on this server.", status=403)
    if not signature:
        raise BadSignature("X-Twilio-Signature is missing.")
    url = request.build_absolute_uri()
    if settings.TWILIO_WEBHOOK_BASE_URL:  # behind a proxy that rewrites the host or scheme
        url = settings.TWILIO_WEBHOOK_BASE_URL.rstrip("/") + request.get_full_path()
    algorithm = get_signature_algorithm(
        request.headers.get("X-Twilio-Webhooks-Signature-Settings", "")
    )
    if not RequestValidator(token).validate(url, request.POST, signature, algorithm):
        raise BadSignature("The X-Twilio-Signature does not match this request.")


def _post(request: HttpRequest, *required: str) -> dict[str, str]:
    data = {key: request.POST.get(key, "") for key in request.POST}
    if missing := [name for name in required if not data.get(name)]:
        raise Malformed(f"Missing Twilio parameters: {', '.join(missing)}.")
    return data


def voice_events(request: HttpRequest) -> list[RawEvent]:
    data = _post(request, "CallSid", "From")
    return [RawEvent(external_id=data["CallSid"], payload=data)]


def sms_events(request: HttpRequest) -> list[RawEvent]:
    data = _post(request, "MessageSid", "From")
    return [RawEvent(external_id=data["MessageSid"], payload=data)]


def status_events(request: HttpRequest) -> list[RawEvent]:
    data = _post(request, "CallSid")
    status = data.get("DialCallStatus") or data.get("CallStatus")
    if not status:
        raise Malformed("Missing Twilio parameters: CallStatus or DialCallStatus.")
    return [RawEvent(external_id=f"{data['CallSid']}:{status}", payload=data)]


def _caller(payload: dict, who: str = "caller") -> str:
    region = ChannelSettings.for_channel(SETTINGS).default_region or None
    try:
        return normalise_phone(payload.get("From", ""), region)
    except InvalidPhone:
        raise Rejected(f"The {who}'s number {payload.get('From')!r} is withheld or not a "
                       "phone number.") from None


def _where(payload: dict) -> str:
    place = ", ".join(p for p in (payload.get("FromCity"), payload.get("FromState"),
                                  payload.get("FromCountry")) if p)
    return f" from {place}" if place else ""


def normalise_voice(event: InboundEvent) -> IntakeInput:
    payload = event.payload
    if payload.get("Direction", "inbound").startswith("outbound"):
        raise Ignored("An outbound call we made.")
    phone = _caller(payload)
    config = ChannelSettings.for_channel(SETTINGS)
    forwarded = bool(config.forward_to)
    caller_name = payload.get("CallerName", "")
    return IntakeInput(
        channel=LeadChannel.CALL,
        fields={"phone": phone},
        summary=f"Incoming call{_where(payload)}"
        + ("" if forwarded else " (no one to forward to: call back)"),
        body=f"Caller ID name: {caller_name}" if caller_name else "",
        occurred_at=event.received_at,
        source=config.source or "twilio",
        kind=Interaction.Kind.CALL,
        notify_prospect=False,
        flags={} if forwarded else {"needs_callback": True},
    )


def normalise_sms(event: InboundEvent) -> IntakeInput:
    payload = event.payload
    phone = _caller(payload, "sender")
    text = payload.get("Body", "").strip()
    # Twilio posts WhatsApp messages to the same webhook, from "whatsapp:+<number>", with the
    # sender's WhatsApp profile name: recorded as WhatsApp (a chat, as Meta's are), named.
    whatsapp = str(payload.get("From", "")).startswith("whatsapp:")
    network = "WhatsApp" if whatsapp else "SMS"
    first, _, last = (str(payload.get("ProfileName", "")).strip() if whatsapp
                      else "").partition(" ")
    names = {name: value for name, value in (("first_name", first), ("last_name", last))
             if value}
    # "Stop.", "stop!" are STOP too: the keyword alone, whatever its case and punctuation.
    word = _keyword(text)
    flags = {}
    if word in STOP_WORDS:
        flags = {"do_not_text": True}
    elif word in START_WORDS:
        flags = {"do_not_text": False}
    count = str(payload.get("NumMedia") or "0").strip()
    media = int(count) if count.isascii() and count.isdigit() else 0
    return IntakeInput(
        channel=LeadChannel.CHAT if whatsapp else LeadChannel.SMS,
        fields={"phone": phone, **names,
                **({"message": text} if text and not flags else {})},
        summary=("Texted STOP: do not text" if flags.get("do_not_text") else
                 "Texted START again" if flags else
                 f"{network}: {text[:80]}" if text else network),
        body=text + (f"\n({media} attachment(s))" if media else ""),
        occurred_at=event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "twilio",
        kind=Interaction.Kind.MESSAGE if whatsapp else Interaction.Kind.SMS,
        notify_prospect=False,
        flags=flags,
    )


def normalise_status(event: InboundEvent) -> IntakeInput:
    payload = event.payload
    if payload.get("Direction", "inbound").startswith("outbound"):
        raise Ignored("A status of an outbound call we made.")
    status = payload.get("DialCallStatus") or payload.get("CallStatus")
    if status not in MISSED and status != "completed":
        raise Ignored(f"Call status {status!r}: nothing to record.")
    phone = _caller(payload)
    dialled = "DialCallStatus" in payload
    forwarding = bool(ChannelSettings.for_channel(SETTINGS).forward_to)
    if forwarding and not dialled and InboundEvent.objects.filter(
            channel=event.channel, external_id__startswith=f"{payload.get('CallSid')}:",
    ).exclude(pk=event.pk).exists():
        # The call's own "completed" after a forward: the dial's outcome (answered or not,
        # which Twilio reports first) is what happened, and it is on the timeline already.
        raise Ignored("The forwarded call's outcome came with its dial status.")
    missed = status in MISSED or not dialled
    seconds = payload.get("DialCallDuration") or payload.get("CallDuration") or "0"
    if status in MISSED:
        summary = f"Missed call ({status}): call back"
    elif missed and forwarding:
        summary = f"Call ended before it was put through ({seconds} s): call back"
    elif missed:
        summary = f"Call ended after the greeting ({seconds} s), nobody to answer: call back"
    else:
        summary = f"Answered call, {seconds} s"
    return IntakeInput(
        channel=LeadChannel.CALL,
        fields={"phone": phone},
        summary=summary,
        occurred_at=event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "twilio",
        kind=Interaction.Kind.CALL,
        notify_prospect=False,
        # "answered" is no lead flag: it tells followup a conversation took place.
        flags={"needs_callback": True} if missed else {"answered": True},
    )


# What a caller hears when sales ops set neither a greeting nor a number to forward to.
CALL_BACK_SENTENCE = "Thank you for calling. We have your number and will call you back shortly."


def voice_reply(request: HttpRequest, events: list[InboundEvent]) -> HttpResponse:
    config = ChannelSettings.for_channel(SETTINGS)
    response = VoiceResponse()
    if config.greeting:
        response.say(config.greeting)
    elif not config.forward_to:  # a bare hang-up sounds like a dead line to the caller
        response.say(CALL_BACK_SENTENCE)
    if config.forward_to:
        # The dial's outcome comes back to /status/: unanswered means a call-back.
        response.dial(config.forward_to, action=reverse("capture:twilio-status"),
                      method="POST", timeout=20)
    else:
        response.hangup()
    return HttpResponse(str(response), content_type="text/xml")


def sms_reply(request: HttpRequest, events: list[InboundEvent]) -> HttpResponse:
    """The reply text, in TwiML, to the first text of a lead on its channel. A retry of a
    stored text (Twilio resends the MessageSid when our answer was slow or failed) gets an
    empty <Response/>, and so does every later text of the conversation: the texter is
    acknowledged once, and a rep's thread is not interrupted by the robot."""
    response = MessagingResponse()
    config = ChannelSettings.for_channel(SETTINGS)
    text = " ".join(request.POST.get("Body", "").upper().split())
    lead_ids = [e.lead_id for e in events if e.lead_id and e.stored_now
                and not _texted_before(e)] if config.reply_text else []
    if config.reply_text and text not in STOP_WORDS and lead_ids and not any(
        is_suppressed(lead, "sms") for lead in Lead.objects.filter(pk__in=lead_ids)
    ):
        response.message(config.reply_text)
    return HttpResponse(str(response), content_type="text/xml")


# Texts this close together are one conversation: acknowledged once.
CONVERSATION = timedelta(hours=24)


def _keyword(text: str) -> str:
    """STOP, START and their kin as the carriers read them: the word alone, any case and
    punctuation ("Stop." is STOP); "" for any other text."""
    word = " ".join(re.sub(r"[^\w\s]", " ", text.upper()).split())
    return word if word in STOP_WORDS or word in START_WORDS else ""


def _texted_before(event: InboundEvent) -> bool:
    """Whether the event's lead is in a conversation on the event's channel (SMS, or WhatsApp
    through Twilio) already: a text of theirs in the last CONVERSATION other than a STOP or
    START keyword, or any text of ours."""
    interaction = (Interaction.objects.filter(inbound_event=event)
                   .values("channel", "occurred_at").first())
    if interaction is None:
        return False
    earlier = (Interaction.objects.filter(
        lead_id=event.lead_id, channel=interaction["channel"],
        kind__in=[Interaction.Kind.SMS, Interaction.Kind.MESSAGE],
        occurred_at__gte=interaction["occurred_at"] - CONVERSATION,
        direction__in=[Interaction.Direction.INBOUND, Interaction.Direction.OUTBOUND],
    ).exclude(inbound_event=event).values_list("direction", "body").order_by("-occurred_at"))
    return any(direction == Interaction.Direction.OUTBOUND or not _keyword(body)
               for direction, body in earlier[:50])


def status_reply(request: HttpRequest, events: list[InboundEvent]) -> HttpResponse:
    return HttpResponse(str(VoiceResponse()), content_type="text/xml")


voice = Channel(name="twilio-voice", verify=verify, events=voice_events,
                normalise=normalise_voice, reply=voice_reply, settings_name=SETTINGS)
sms = Channel(name="twilio-sms", verify=verify, events=sms_events, normalise=normalise_sms,
              reply=sms_reply, settings_name=SETTINGS)
status = Channel(name="twilio-status", verify=verify, events=status_events,
                 normalise=normalise_status, reply=status_reply, settings_name=SETTINGS)


@csrf_exempt
@post_only
def voice_view(request: HttpRequest) -> HttpResponse:
    return receive(request, voice)


@csrf_exempt
@post_only
def sms_view(request: HttpRequest) -> HttpResponse:
    return receive(request, sms)


@csrf_exempt
@post_only
def status_view(request: HttpRequest) -> HttpResponse:
    return receive(request, status)


# --- delivery of the texts we send (followup's outbox) ---------------------------------------

TWILIO_DELIVERY = {"queued": "", "accepted": "", "sending": "", "scheduled": "",
                   "sent": "sent", "delivered": "delivered", "read": "read",
                   "undelivered": "failed", "failed": "failed", "canceled": "failed"}


@csrf_exempt
@post_only
def message_status_view(request: HttpRequest) -> HttpResponse:
    """Twilio's message status callback (TWILIO_STATUS_CALLBACK_URL points here): signed like
    every Twilio request; announced to the outbox, not stored (a status is not a lead).

    Twilio does not retry a status callback, so a 429 would lose the status: the signature is
    checked first and only requests that fail it are counted and, past the limit, refused."""
    from capture.channels.base import ChannelError, over_webhook_rate
    from capture.signals import delivery_reported

    try:
        verify(request)
    except BadSignature as exc:
        return over_webhook_rate(request, "twilio-message-status") or exc.response()
    try:
        data = _post(request, "MessageSid", "MessageStatus")
        if "\x00" in data["MessageSid"]:  # in no SID, and PostgreSQL cannot compare it
            raise Malformed("MessageSid is not a Twilio message SID.")
    except ChannelError as exc:
        return exc.response()
    status = TWILIO_DELIVERY.get(data["MessageStatus"], "")
    if status:
        error = f"Twilio error {data['ErrorCode']}" if data.get("ErrorCode") else ""
        delivery_reported.send(sender=InboundEvent, platform="sms", ids=[data["MessageSid"]],
                               status=status, error=error, recipient=data.get("To", ""),
                               before=None)
    return HttpResponse(status=204)
