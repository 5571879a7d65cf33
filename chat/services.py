"""Writes and reads of the live chat: visitor messages through the one intake pipeline, rep
replies, the offline hand-over, the visitor token, and whether a widget is online.

Every visitor message is an InboundEvent (channel "chat", external id "<thread>:<client id>",
so a retried send stores nothing twice) taken in by `capture.intake.receive_event`, which makes
or matches the lead and writes the message as an Interaction carrying the conversation's thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.dispatch import receiver
from django.utils import timezone

from capture.abuse import cache_unreachable
from capture.identity import InvalidPhone, email_key, normalise_phone, parse_email
from capture.intake import IntakeInput, Rejected, receive_event, register_normaliser
from capture.models import OPEN_STATUSES, Channel, InboundEvent, Interaction, Lead, LeadStatus
from capture.services import mark_contacted, person_name, record_first_response
from capture.signals import lead_received, lead_touched
from chat.models import PRECHAT_FIELDS, ChatWidget, Conversation

logger = logging.getLogger(__name__)

CHANNEL = "chat"  # the InboundEvent.channel of every chat event
TOKEN_SALT = "chat.visitor"  # noqa: S105  (a signing salt, not a secret)
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
ATTRIBUTION = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid",
               "fbclid")


class ChatRefused(Exception):
    """A visitor request we refuse: answered with `status` and {"error": message}."""

    def __init__(self, message: str, status: int = 400, retry_after: int | None = None,
                 **extra):
        super().__init__(message)
        self.message, self.status, self.extra = message, status, extra
        self.retry_after = retry_after  # seconds, for a 429's Retry-After


# --- the visitor token -----------------------------------------------------------------------

def token_for(conversation: Conversation) -> str:
    """A signed token naming the conversation: a reload of the host page continues it."""
    return signing.dumps({"t": conversation.thread, "w": conversation.widget_id},
                         salt=TOKEN_SALT, compress=True)


def conversation_for(token: str, widget: ChatWidget) -> Conversation | None:
    """The conversation a token names, if the signature holds and it is this widget's."""
    if not token:
        return None
    try:
        data = signing.loads(token, salt=TOKEN_SALT,
                             max_age=timedelta(days=settings.CHAT_TOKEN_DAYS))
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(data, dict) or data.get("w") != widget.pk:
        return None
    return Conversation.objects.filter(thread=str(data.get("t", "")), widget=widget).first()


# --- online? ----------------------------------------------------------------------------------

PRESENCE_SECONDS = 90


def mark_present(user) -> None:
    """A rep with the queue or a chat open counts as online for a while (the pages poll)."""
    try:
        cache.set(f"chat:present:{user.pk}", 1, timeout=PRESENCE_SECONDS)
    except Exception as exc:  # Redis down: presence is a hint, never worth a page
        cache_unreachable(exc)


def present_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Which of these users have leadcrm open right now (one cache read); nobody when the
    cache cannot be read (reps at work by their hours still count: is_online)."""
    keys = {f"chat:present:{user_id}": user_id for user_id in user_ids if user_id}
    if not keys:
        return set()
    try:
        return {keys[key] for key in cache.get_many(list(keys))}
    except Exception as exc:  # Redis down
        cache_unreachable(exc)
        return set()


def is_online(widget: ChatWidget, now: datetime | None = None) -> bool:
    """Inside the widget's business hours, with a rep of its team available and either at
    work by their hours or with leadcrm open right now (the queue or a lead page polling)."""
    from routing.models import TeamMembership
    from routing.ruleset import calendar_for, rep_states

    now = now or timezone.now()
    if widget.business_hours_id:
        calendar = calendar_for(widget.business_hours_id)
        if calendar is None or not calendar.is_open(now):
            return False
    if widget.team_id is None:
        return widget.business_hours_id is not None
    user_ids = TeamMembership.objects.filter(team_id=widget.team_id).values_list(
        "rep__user_id", flat=True)
    today = now.date()
    user_ids = list(user_ids)
    present = present_user_ids(user_ids)
    return any(
        rep.is_active and rep.is_available and rep.away_until(today) is None
        and (rep.hours is None or rep.hours.is_working(now) or rep.user_id in present)
        for rep in rep_states(user_ids, today, open_counts={}).values()
    )


def waiting_seconds(conversation: Conversation, now: datetime | None = None) -> int | None:
    """How long the visitor has waited for an answer; None once answered or handed over (they
    left their details because nobody answered: the lead's follow-up takes it from there)."""
    if conversation.status != Conversation.Status.ACTIVE or conversation.waiting_since is None:
        return None
    return int(((now or timezone.now()) - conversation.waiting_since).total_seconds())


def is_unanswered_too_long(conversation: Conversation, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return (conversation.first_reply_at is None and conversation.waiting_since is not None
            and now - conversation.waiting_since
            >= timedelta(seconds=conversation.widget.no_answer_seconds))


# --- checking what the visitor sent -------------------------------------------------------------

@dataclass(frozen=True)
class VisitorFields:
    fields: dict[str, str]
    errors: dict[str, str]


# What the widget's contact box asks (static/chat/widget.js), whatever the pre-chat fields.
CONTACT_FIELDS = ("first_name", "email", "phone")


def message_fields(widget: ChatWidget) -> list[str]:
    """The fields a visitor's message may carry: the widget's pre-chat fields."""
    return [name for name in widget.prechat_fields or [] if name in PRECHAT_FIELDS]


def contact_fields(widget: ChatWidget) -> list[str]:
    """The fields contact details may carry: the contact box's and the pre-chat fields."""
    return list(dict.fromkeys([*CONTACT_FIELDS, *message_fields(widget)]))


def read_visitor_fields(raw: object, allowed: Iterable[str], region: str = "") -> VisitorFields:
    """The visitor's answers among the `allowed` lead fields (those the widget asks),
    checked like the public form's."""
    from capture.fields import MAX_LENGTHS

    allowed = set(allowed) & set(PRECHAT_FIELDS)
    fields: dict[str, str] = {}
    errors: dict[str, str] = {}
    if raw in (None, ""):
        return VisitorFields(fields, errors)
    if not isinstance(raw, dict):
        return VisitorFields(fields, {"fields": "Expected an object of field names."})
    for name, value in raw.items():
        if name not in allowed:
            errors[str(name)[:40]] = "Not a field this chat asks for."
            continue
        if not isinstance(value, str):
            errors[name] = "Expected text."
            continue
        text = value.replace("\x00", "").strip()
        if len(text) > MAX_LENGTHS[name]:
            errors[name] = f"At most {MAX_LENGTHS[name]} characters."
        elif text:
            fields[name] = text
    if fields.get("email"):
        try:
            fields["email"] = parse_email(fields["email"])[1]
        except Exception:
            errors["email"] = "Enter a valid email address."
            fields.pop("email")
    if fields.get("phone"):
        try:
            fields["phone"] = normalise_phone(fields["phone"],
                                              region or settings.PHONE_DEFAULT_REGION)
        except InvalidPhone as exc:
            errors["phone"] = str(exc)
            fields.pop("phone")
    return VisitorFields(fields, errors)


def read_text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ChatRefused("Write a message.", text="Expected text.")
    text = raw.replace("\x00", "").replace("\r\n", "\n").strip()
    if not text:
        raise ChatRefused("Write a message.", text="The message is empty.")
    if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatRefused(f"A message has at most {settings.CHAT_MAX_MESSAGE_CHARS} characters.",
                          status=413)
    return text


def attribution_from(page: object) -> dict[str, str]:
    """The host page's URL, referrer and UTM parameters, as lead attribution fields; a page
    that is not {"url": text, "referrer": text} is refused, never stored as its repr."""
    from urllib.parse import parse_qsl, urlsplit

    from capture.fields import MAX_LENGTHS

    if page in (None, ""):
        return {}
    wrong = "Expected {\"url\": text, \"referrer\": text}."
    if not isinstance(page, dict):
        raise ChatRefused("`page` must be an object with the page's url and referrer.",
                          fields={"page": wrong})
    for name in ("url", "referrer"):
        if page.get(name) is not None and not isinstance(page[name], str):
            raise ChatRefused(f"`page.{name}` must be text.", fields={"page": wrong})
    url = (page.get("url") or "")[:2000]
    values = {"landing_page": url, "referrer": page.get("referrer") or ""}
    if url:
        query = dict(parse_qsl(urlsplit(url).query))
        values.update({name: query[name] for name in ATTRIBUTION if query.get(name)})
    return {name: value.replace("\x00", "")[: MAX_LENGTHS[name]]
            for name, value in values.items() if value}


# --- the visitor writes ---------------------------------------------------------------------

def receive_visitor_message(
    *, widget: ChatWidget, conversation: Conversation | None, text: str, client_id: str,
    fields: dict[str, str] | None = None, attribution: dict[str, str] | None = None,
    ip: str | None = None, headers: dict | None = None, body: bytes = b"",
) -> tuple[Conversation, InboundEvent | None]:
    """Store the message as an InboundEvent, then take it in: a new conversation's first
    message makes or matches the lead, later ones land on it. A retry of `client_id` is
    answered with what the first try stored, the first message's too: its retry comes
    without a token (the answer that carried it was lost), and finds its conversation by the
    id instead of opening a second one (a second lead, a second owner alerted)."""
    if not CLIENT_ID.match(client_id or ""):
        raise ChatRefused("Each message needs an id (8-64 letters, digits, - or _).")
    if conversation is not None and conversation.status == Conversation.Status.CLOSED:
        raise ChatRefused("This chat has ended. Thank you for writing to us.", status=410)
    fields = dict(fields or {})
    if reason := _blocked(text, fields):
        _store_refused(widget, conversation, client_id, text, reason, ip, fields=fields)
        raise ChatRefused("We could not accept this message.", status=422)
    if conversation is None and (earlier := _first_message_sent(widget, client_id, text)):
        return earlier
    now = timezone.now()
    # Whether anyone was there to answer in seconds: the chat's own target applies then only
    # (offline, the tier's deadline in business hours does). Read before the transaction.
    online = is_online(widget, now)
    try:
        with transaction.atomic():
            if conversation is None:
                attribution = attribution or {}
                conversation = Conversation.objects.create(
                    widget=widget, first_client_id=client_id,
                    page_url=attribution.get("landing_page", "")[:500],
                    referrer=attribution.get("referrer", "")[:500], visitor_ip=ip,
                    started_at=now)
            payload = {"kind": "message", "thread": conversation.thread, "widget": widget.pk,
                       "text": text, "fields": fields, "attribution": attribution or {},
                       "online": online}
            event, created, _ = receive_event(
                channel=CHANNEL, external_id=f"{conversation.thread}:{client_id}",
                payload=payload, body=body, headers=headers or {}, remote_ip=ip)
            if not created:  # a retry answers what the first try stored; another text is no retry
                _same_message(event, text)
    except IntegrityError:
        # The unique (widget, first_client_id): a twin of this first message, sent at the
        # same moment, opened the conversation first (receive_event handles its own).
        if earlier := _first_message_sent(widget, client_id, text):
            return earlier
        raise
    if (event is not None and event.status == InboundEvent.Status.IGNORED
            and conversation.lead_id is None):
        # Set aside on purpose (a person erased on request, with no new opt-in): the chat
        # ends here, so a next message cannot start an anonymous lead; nothing says why. It
        # keeps nothing of them either: without a lead, no erasure or retention reaches it.
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.Status.CLOSED, waiting_since=None, page_url="", referrer="",
            visitor_ip=None)
    conversation.refresh_from_db()
    return conversation, event


def _first_message_sent(widget: ChatWidget, client_id: str,
                        text: str) -> tuple[Conversation, InboundEvent | None] | None:
    """The conversation a first message with this id opened already, and its event; None if
    there is none. The same id with another text is refused (_same_message)."""
    from capture.privacy import erased_event_id

    conversation = Conversation.objects.filter(widget=widget,
                                               first_client_id=client_id).first()
    if conversation is None:
        return None
    external_id = f"{conversation.thread}:{client_id}"
    event = InboundEvent.objects.filter(
        channel=CHANNEL, external_id__in=[external_id, erased_event_id(CHANNEL, external_id)]
    ).first()
    _same_message(event, text)
    return conversation, event


def _same_message(event: InboundEvent | None, text: str) -> None:
    """A message id already stored with another text is no retry: refused (409), not answered
    "stored" while the text is dropped; a first message's id too, so a client that makes weak
    ids never gets someone else's conversation."""
    payload = event.payload if event is not None else {}
    if payload and payload.get("text") != text:  # an erased person's event keeps no text
        raise ChatRefused("This message id was used for another message: send it with a new "
                          "id.", status=409)


@receiver(lead_received, dispatch_uid="chat.visitor_message_taken_in")
def visitor_message_taken_in(sender, *, lead: Lead, interaction: Interaction,
                             created: bool = False, **kwargs) -> None:
    """In the intake transaction (the live path and a reprocess alike): the conversation now
    knows its lead and that the visitor waits; a first message starts the chat's clock."""
    if (interaction.channel != Channel.CHAT or interaction.kind != Interaction.Kind.MESSAGE
            or not interaction.message_id.startswith("chat-")):
        return
    conversation = Conversation.objects.filter(thread=interaction.message_id).select_related(
        "widget").first()
    if conversation is None:
        return
    now = interaction.occurred_at
    first = conversation.lead_id is None
    # Read from the row as the UPDATE finds it, not as read above: a chat the abandoned-chat
    # sweep closes at this very moment (its UPDATE holds the row) opens again and waits.
    Conversation.objects.filter(pk=conversation.pk).update(
        lead=lead, last_visitor_at=now, waiting_since=Coalesce("waiting_since", Value(now)),
        status=Case(When(status=Conversation.Status.ABANDONED,
                         then=Value(Conversation.Status.ACTIVE)), default=F("status")))
    data = kwargs.get("data")
    if (first and not created and lead.first_response_at is None
            and getattr(data, "respond_within", None)):
        # A lead this message created has the chat's deadline already (respond_within); none
        # is set when nobody was online to answer in seconds.
        _start_chat_clock(lead, conversation.widget, now)
    if first and not created and lead.owner_id:
        # A known lead started a chat: routing does not run again, so its owner hears here.
        from followup.models import Notification
        from followup.services import notify

        notify(lead.owner_id, lead, Notification.Kind.TASK,
               f"{lead.display_name} is chatting on {conversation.widget.name}: answer from "
               "the lead page")


def _start_chat_clock(lead: Lead, widget: ChatWidget, now: datetime) -> None:
    """A chat's first-response target is seconds, not business hours: the tighter deadline.
    A lead the chat creates gets it from the intake (IntakeInput.respond_within), before its
    owner is alerted; this moves the deadline of a known lead that starts a chat."""
    from followup.services import schedule_sla_warning
    from routing.models import LeadAssessment

    respond_by = now + timedelta(seconds=widget.first_response_seconds)
    if lead.respond_by is not None and lead.respond_by <= respond_by:
        return
    Lead.objects.filter(pk=lead.pk).update(respond_by=respond_by)
    lead.respond_by = respond_by
    warn_at = now + timedelta(seconds=widget.first_response_seconds / 2)
    LeadAssessment.objects.filter(lead_id=lead.pk).update(sla_started_at=now, warn_at=warn_at)
    schedule_sla_warning(lead, warn_at)


def _blocked(text: str, fields: dict[str, str]) -> str | None:
    from capture.abuse import blocklist_reason

    return blocklist_reason({**fields, "message": text})


def _store_refused(widget, conversation, client_id, text, reason, ip, *,
                   fields: dict[str, str] | None = None, contact_reason: str = "") -> None:
    """A blocked message or contact is kept (rejected, with the reason and all the visitor
    typed: the text, the details), never shown to a rep."""
    from capture.intake import store_inbound_event

    thread = conversation.thread if conversation else f"refused-{widget.pk}"
    payload = {"kind": "contact" if contact_reason else "message", "widget": widget.pk,
               "text": text, "fields": fields or {},
               **({"reason": contact_reason} if contact_reason else {})}
    store_inbound_event(channel=CHANNEL, external_id=f"{thread}:{client_id}", payload=payload,
                        remote_ip=ip, status=InboundEvent.Status.REJECTED, reason=reason)


@register_normaliser(CHANNEL)
def normalise(event: InboundEvent) -> IntakeInput:
    """A stored chat event as the intake's input (the live path and a reprocess alike)."""
    payload = event.payload or {}
    conversation = Conversation.objects.filter(thread=payload.get("thread", "")).select_related(
        "widget").first()
    if conversation is None:
        raise Rejected("The chat conversation of this message is gone.")
    widget = conversation.widget
    fields = {k: v for k, v in (payload.get("fields") or {}).items() if k in PRECHAT_FIELDS}
    fields.update(payload.get("attribution") or {})
    text = str(payload.get("text", ""))
    if payload.get("kind") == "contact":
        return IntakeInput(
            channel=Channel.CHAT, fields=fields, kind=Interaction.Kind.SUBMISSION,
            summary="Left contact details in the chat" + (
                " (nobody answered)" if payload.get("reason") == "offline" else ""),
            body=text, source=widget.source, notify_prospect=False, tell_owner=False,
            lead_id=_contact_target(conversation, fields), occurred_at=event.received_at)
    if conversation.lead_id is None:
        fields["message"] = text
    return IntakeInput(
        channel=Channel.CHAT, fields=fields, kind=Interaction.Kind.MESSAGE,
        summary=f"Chat: {text[:80]}", body=text, source=widget.source, notify_prospect=False,
        tell_owner=False,  # the chat tells the owner itself, and shows the waiting visitor
        lead_id=conversation.lead_id, message_id=conversation.thread,
        occurred_at=event.received_at,
        respond_within=timedelta(seconds=widget.first_response_seconds)
        if payload.get("online", True) else None)


def _contact_target(conversation: Conversation, fields: dict[str, str]) -> int | None:
    """The chat's lead, unless the email or phone given belongs to another open lead: then
    None, and the intake's identity matching finds that lead (the chat moves there)."""
    identity = Q()
    if key := email_key(fields.get("email", "")):
        identity |= Q(email_key=key)
    if fields.get("phone"):
        identity |= Q(phone=fields["phone"])
    if identity and Lead.objects.filter(identity, status__in=OPEN_STATUSES).exclude(
            pk=conversation.lead_id).exists():
        return None
    return conversation.lead_id


# --- contact details: offline, nobody answered, or asked during the chat ----------------------

def leave_contact(*, conversation: Conversation, fields: dict[str, str], ip: str | None = None,
                  reason: str = "offline") -> Lead | None:
    """The visitor left an email or phone. The chat's lead gets them (or the chat moves to the
    visitor's existing lead); when nobody answered, the prospect is acknowledged and the lead
    follows the ordinary follow-up."""
    if not (fields.get("email") or fields.get("phone")):
        raise ChatRefused("Give an email address or a phone number.",
                          fields={"email": "Give an email address or a phone number."})
    contact_id = _contact_id(fields, reason)
    if reason_blocked := _blocked("", fields):
        _store_refused(conversation.widget, conversation, contact_id, "", reason_blocked, ip,
                       fields=fields, contact_reason=reason)
        raise ChatRefused("We could not accept these details.", status=422)
    now = timezone.now()
    first_time = conversation.contact_left_at is None
    with transaction.atomic():
        payload = {"kind": "contact", "thread": conversation.thread, "reason": reason,
                   "widget": conversation.widget_id, "fields": fields,
                   "text": transcript(conversation)}
        event, created, result = receive_event(
            channel=CHANNEL, external_id=f"{conversation.thread}:{contact_id}",
            payload=payload, remote_ip=ip)
        if result is None and event.status == InboundEvent.Status.IGNORED:
            # Set aside on purpose (a person erased on request, with no new opt-in): a final
            # answer, never "try again", and nothing said about why.
            Conversation.objects.filter(pk=conversation.pk).update(contact_left_at=now)
            conversation.contact_left_at = now  # the answer says so, as the next poll will
            return conversation.lead
        if not created and event.status == InboundEvent.Status.PROCESSED:
            # The same details again (a second click, a retry): answered as the first time.
            return Lead.objects.filter(pk=conversation.lead_id).first()
        if result is None:
            # The intake failed: nothing of it is kept (this transaction rolls back) and the
            # visitor is told to send again, as a provider answered 5xx resends; a stored
            # failed event would answer every retry with the same 503 until the sweeper ran.
            raise ChatRefused("Your details could not be saved; please try again.", status=503)
        lead = result.lead
        if conversation.lead_id and conversation.lead_id != lead.pk:
            _move_conversation(conversation, lead)
            _tell_owner_of_move(lead, conversation, reason)
        updates = {"lead": lead, "contact_left_at": now}
        if reason == "offline":
            updates["status"] = Conversation.Status.OFFLINE
        Conversation.objects.filter(pk=conversation.pk).update(**updates)
        for name, value in updates.items():
            setattr(conversation, name, value)
        if reason == "offline" and conversation.first_reply_at is None and first_time:
            _hand_over(lead, conversation, result.interaction, fields)  # acknowledged once
    return lead


def _contact_id(fields: dict[str, str], reason: str) -> str:
    """The details' own id in the chat: the same details left again are the same event."""
    details = json.dumps({"fields": fields, "reason": reason}, sort_keys=True)
    return "contact-" + hashlib.sha256(details.encode()).hexdigest()[:32]


def _move_conversation(conversation: Conversation, lead: Lead) -> None:
    """The visitor turned out to be an existing lead: the chat's messages move to it, and the
    chat-only lead is closed with a pointer (kept, not deleted: its history stays). It is
    marked merged into that lead, as the person's, so an export or erasure of the person
    covers it too (it still holds their first message and the alerts quoting it)."""
    from capture.services import set_lead_status

    old = Lead.objects.filter(pk=conversation.lead_id).first()
    Interaction.objects.filter(message_id=conversation.thread).update(lead=lead)
    InboundEvent.objects.filter(channel=CHANNEL,
                                external_id__startswith=f"{conversation.thread}:").update(lead=lead)
    if old is not None and not (old.email or old.phone):
        Lead.objects.filter(pk=old.pk).update(merged_into=lead)
    if old is not None and old.status in OPEN_STATUSES and not (old.email or old.phone):
        set_lead_status(lead=old, status=LeadStatus.DISQUALIFIED,
                        note=f"The chat moved to lead #{lead.pk}: the visitor gave details "
                        "that lead already has.")


def _tell_owner_of_move(lead: Lead, conversation: Conversation, reason: str) -> None:
    """The chat landed on a known person's lead: routing does not run again, so its owner
    hears here, as when a known lead starts a chat (visitor_message_taken_in)."""
    from followup.models import Notification
    from followup.services import notify

    if lead.owner_id:
        notify(lead.owner_id, lead, Notification.Kind.TASK,
               f"{lead.display_name} left their details in the chat on "
               f"{conversation.widget.name}" + (" (nobody answered)" if reason == "offline"
                                                else "") + ": the chat is on this lead now")


def _hand_over(lead: Lead, conversation: Conversation, interaction: Interaction,
               fields: dict[str, str]) -> None:
    """Nobody answered: acknowledge by email, flag a call-back for a phone, plan follow-up.
    The email goes to and names the visitor (`fields`, the details they left), as a form's
    does: a phone shared with someone else's lead does not send that person the transcript."""
    from capture.privacy import address_suppressed
    from followup.receivers import queue_send_on_commit
    from followup.sequences import plan_enrolment
    from followup.services import acknowledged_person, acknowledgement_row

    lead.refresh_from_db()
    widget = conversation.widget
    to_address, names = acknowledged_person(lead, fields)
    if to_address and widget.ack_subject.strip() and not address_suppressed(
            "email", to_address):
        context = {"first_name": names["first_name"], "last_name": names["last_name"],
                   "transcript": transcript(conversation, visitor_only=True)}
        message = acknowledgement_row(
            lead, interaction, (widget.ack_subject, widget.ack_body), context,
            what=f"chat widget {widget.pk}",
            fallback=("We received your message",
                      "Thank you for your message. We will get back to you shortly."),
            to_address=to_address)
        queue_send_on_commit(message.id)
    elif lead.phone and not lead.needs_callback:
        Lead.objects.filter(pk=lead.pk).update(needs_callback=True)
        lead.needs_callback = True
    plan_enrolment(lead)


# --- the rep answers ----------------------------------------------------------------------------

@transaction.atomic
def reply_to_visitor(*, conversation: Conversation, user, text: str) -> Interaction:
    """A rep's chat message: on the lead's timeline, shown to the visitor at their next poll;
    the first one stamps the lead's first response (the SLA clock stops), and a new lead
    becomes contacted."""
    text = read_text(text)
    if conversation.lead_id is None:
        raise ChatRefused("This chat has no lead yet.", status=409)
    if conversation.status == Conversation.Status.CLOSED:
        raise ChatRefused("This chat has ended: nothing more can be sent in it.", status=409)
    now = timezone.now()
    # Locked before the message is written, as the intake locks it before a visitor's: the
    # chat's messages then commit in the order of their ids, and the widget, which asks for
    # those after the newest it has, cannot pass over a reply still being written.
    lead = Lead.objects.select_for_update().get(pk=conversation.lead_id)
    interaction = Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.OUTBOUND, kind=Interaction.Kind.MESSAGE,
        channel=Channel.CHAT, actor=user, occurred_at=now,
        summary=f"Chat reply: {text[:80]}"[:255], body=text, message_id=conversation.thread)
    record_first_response(lead=lead, at=now)
    mark_contacted(lead=lead, user=user)  # as a call they answered or a reply on their channel
    updates = {"waiting_since": None}
    if conversation.first_reply_at is None:
        updates["first_reply_at"] = now
    Conversation.objects.filter(pk=conversation.pk).update(**updates)
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=now)
    lead_touched.send(sender=Lead, lead=lead, interaction=interaction)
    return interaction


# --- abandoned chats ------------------------------------------------------------------------

def close_abandoned_conversations(now: datetime | None = None, limit: int = 500) -> int:
    """Close as abandoned the open chats whose visitor wrote nothing for CHAT_ABANDONED_MINUTES
    (0: never): they leave the waiting-chats box, where a visitor who left waited for days.
    The lead, its timeline (the transcript) and the conversation stay; the timeline says
    so. Each is claimed with a conditional UPDATE, so a message arriving meanwhile (its
    last_visitor_at moves on) or a second sweep closes nothing. The number closed."""
    minutes = settings.CHAT_ABANDONED_MINUTES
    if minutes <= 0:
        return 0
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=minutes)
    quiet = Conversation.objects.filter(status=Conversation.Status.ACTIVE,
                                        last_visitor_at__lt=cutoff)
    closed = 0
    for conversation in quiet.select_related("widget").order_by("last_visitor_at")[:limit]:
        with transaction.atomic():
            if not quiet.filter(pk=conversation.pk).update(
                    status=Conversation.Status.ABANDONED, waiting_since=None):
                continue
            closed += 1
            if conversation.lead_id is not None:
                Interaction.objects.create(
                    lead_id=conversation.lead_id, direction=Interaction.Direction.INTERNAL,
                    kind=Interaction.Kind.SYSTEM, channel=Channel.CHAT, occurred_at=now,
                    summary=f"Chat on {conversation.widget.name} closed as abandoned: the "
                    f"visitor wrote nothing for {minutes} min"[:255])
    return closed


# --- reads ----------------------------------------------------------------------------------

def messages_after(conversation: Conversation, after_id: int = 0, limit: int = 200) -> list[dict]:
    """The conversation's messages with an id above `after_id`, oldest first, as JSON."""
    rows = (Interaction.objects.filter(message_id=conversation.thread, id__gt=after_id)
            .select_related("actor").order_by("id")[:limit])
    return [message_json(row) for row in rows]


def message_json(row: Interaction) -> dict:
    from_visitor = row.direction == Interaction.Direction.INBOUND
    name = "" if from_visitor or row.actor is None else (
        row.actor.first_name or row.actor.get_username())
    return {"id": row.id, "from": "visitor" if from_visitor else "rep", "name": name,
            "text": row.body, "at": row.occurred_at.isoformat()}


def transcript(conversation: Conversation, visitor_only: bool = False) -> str:
    rows = Interaction.objects.filter(message_id=conversation.thread).select_related(
        "actor").order_by("id")
    lines = []
    for row in rows:
        if row.direction == Interaction.Direction.INBOUND:
            who = "Visitor"
        elif visitor_only:
            continue
        else:
            who = person_name(row.actor, "Rep")  # as the timeline names them
        lines.append(f"[{timezone.localtime(row.occurred_at):%H:%M}] {who}: {row.body}")
    return "\n".join(lines)


def waiting_conversations(user, limit: int = 20) -> list[Conversation]:
    """Chats whose visitor waits for an answer, longest first: on leads this user may open, and
    on their teams' widgets whose lead's owner is not online or who has none (nurtured, say):
    those are marked `can_take` (see take_chat)."""
    from routing.access import member_team_ids, sees_every_lead, visible_leads

    waiting = (Conversation.objects.filter(status=Conversation.Status.ACTIVE,
                                           waiting_since__isnull=False,
                                           lead__status__in=OPEN_STATUSES)
               .select_related("lead", "widget").order_by("waiting_since"))
    visible = visible_leads(user)
    chats = list(waiting.filter(lead__in=visible)[:limit])
    if sees_every_lead(user):
        return chats
    # The team's waiting chats first (few, usually none), then which of them I see already:
    # an exclude(lead__in=visible) made PostgreSQL build the hash of every lead I may see
    # (15,000 for a rep of the bench's million) on each queue page, 38 ms.
    theirs = list(waiting.filter(widget__team_id__in=member_team_ids(user))
                  .select_related("lead__owner")[:limit])
    seen = set(visible.filter(pk__in=[c.lead_id for c in theirs]).values_list(
        "pk", flat=True)) if theirs else set()
    others = [c for c in theirs if c.lead_id not in seen and may_be_taken(c, c.lead)]
    present = present_user_ids({c.lead.owner_id for c in others})
    for conversation in others:
        if conversation.lead.owner_id not in present:
            conversation.can_take = True
            chats.append(conversation)
    return sorted(chats, key=lambda c: c.waiting_since)[:limit]


def may_be_taken(conversation: Conversation, lead: Lead) -> bool:
    """Only a lead this chat brought in, that nobody has answered, changes hands: a known
    person's lead the chat landed on (matched by an email the visitor typed, which nobody
    verified) stays with the rep who works it, who is alerted; so does a lead once answered."""
    return (lead.first_response_at is None and conversation.first_reply_at is None
            and lead.created_at >= conversation.started_at)


@transaction.atomic
def take_chat(*, conversation: Conversation, user) -> Lead:
    """A rep of the chat widget's team takes a waiting chat whose lead's owner is not online
    (no leadcrm open): the lead becomes theirs through routing's reassignment (on the timeline,
    and the new owner is alerted like any), so someone present answers the visitor.

    Routing picks owners by the rules and never by who is online; this is the one correction,
    made by a person who is there. Refused when the owner is online or the chat was answered.
    """
    from routing.models import TeamMembership
    from routing.services import reassign_lead

    lead = Lead.objects.select_for_update().filter(pk=conversation.lead_id).first()
    conversation = Conversation.objects.select_related("widget").get(pk=conversation.pk)
    if lead is None or lead.status not in OPEN_STATUSES:
        raise ChatRefused("This chat has no open lead any more.", status=409)
    if lead.owner_id == user.pk:
        return lead
    widget = conversation.widget
    if widget.team_id is None or not TeamMembership.objects.filter(
            team_id=widget.team_id, rep__user=user).exists():
        raise ChatRefused("Only the reps of the chat's team can take it.", status=403)
    if conversation.status != Conversation.Status.ACTIVE or conversation.waiting_since is None:
        raise ChatRefused("This chat is not waiting for an answer any more.", status=409)
    if not may_be_taken(conversation, lead):
        raise ChatRefused("This chat is on a lead its owner works (it was answered, or the "
                          "visitor is a known lead): the owner has been told.", status=409)
    owner = lead.owner
    name = person_name(owner)
    if owner is not None and present_user_ids([owner.pk]):
        raise ChatRefused(f"{name} is online and answers this chat.", status=409)
    reassign_lead(lead=lead, owner=user, acting_user=user,
                  note=f"Took the waiting chat on {widget.name}: {name} was not online.")
    return lead
