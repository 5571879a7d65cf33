"""Meta: WhatsApp Cloud API, Messenger and Instagram messages, Instagram and Facebook Page
comments, and Lead Ads, at /inbound/meta/.

GET answers the hub.challenge handshake with META_VERIFY_TOKEN; every POST carries
X-Hub-Signature-256 (HMAC-SHA256 of the raw body with META_APP_SECRET). A `leadgen` change
has no answers in it: a django-q2 task fetches them from the Graph API (META_GRAPH_URL).
Delivery statuses (WhatsApp `statuses`, Messenger `delivery` and `read`) are not leads: they
are announced as capture.signals.delivery_reported for the outbox, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from capture.channels.base import (
    PREPARERS,
    BadSignature,
    Channel,
    RawEvent,
    from_epoch,
    json_body,
    method_not_allowed,
    read_json,
    receive,
    set_aside_unreadable_contacts,
)
from capture.channels.http import retrying_session
from capture.identity import InvalidPhone, normalise_phone
from capture.intake import (
    AWAITING_FETCH,
    Ignored,
    IntakeInput,
    OurReply,
    PlatformAccount,
    Rejected,
    process_inbound_event,
)
from capture.models import Channel as LeadChannel
from capture.models import (
    ChannelSettings,
    InboundEvent,
    Interaction,
    Lead,
    LeadIdentity,
    Platform,
)
from capture.signals import delivery_reported

logger = logging.getLogger(__name__)

SETTINGS = ChannelSettings.Name.META
WHATSAPP = "meta-whatsapp"
MESSENGER = "meta-messenger"
LEADGEN = "meta-leadgen"
# Lead Ads' standard question keys -> lead fields (custom questions come from the admin).
LEAD_AD_FIELDS = {
    "email": "email", "phone_number": "phone", "first_name": "first_name",
    "last_name": "last_name", "company_name": "company", "job_title": "job_title",
    "country": "country", "work_email": "email", "work_phone_number": "phone",
}


def verify(request: HttpRequest) -> None:
    secret = settings.META_APP_SECRET
    if not secret:
        raise BadSignature("META_APP_SECRET is not set on this server.")
    header = request.headers.get("X-Hub-Signature-256", "")
    if not header.startswith("sha256="):
        raise BadSignature("X-Hub-Signature-256 is missing.")
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    if not constant_time_compare(expected, header.removeprefix("sha256=").lower()):
        raise BadSignature("X-Hub-Signature-256 does not match the body.")


def _json(request: HttpRequest) -> dict:
    return read_json(request, shape=lambda p: isinstance(p, dict)
                     and isinstance(p.get("entry"), list),
                     shape_error="Expected a Meta webhook object with an 'entry' list.")


def events(request: HttpRequest) -> list[RawEvent]:
    """One RawEvent per message or lead, each with the part of the payload it is.

    A delivery is read item by item: an item that cannot be read (a field missing or of the
    wrong type) is kept as rejected with its reason, and the others are taken in."""
    payload = _json(request)
    found: list[RawEvent] = []
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            found.append(_unreadable("meta", entry, "A Meta entry that is not an object."))
            continue
        for change in _items(entry, "changes"):
            try:
                found += _change_events(payload, entry, change)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                field = change.get("field") if isinstance(change, dict) else None
                kind = UNREADABLE_KINDS.get(field, "meta") if isinstance(field, str) else "meta"
                found.append(_unreadable(kind, change, f"A Meta {kind} item that cannot be "
                                         f"read: {exc}."))
        for item in _items(entry, "messaging"):  # Messenger (and Instagram messaging)
            if raw := _messenger_event(payload, item):
                found.append(raw)
    return found


UNREADABLE_KINDS = {"messages": "whatsapp", "leadgen": "leadgen", "comments": "ig-comment",
                    "feed": "fb-comment"}


def _items(entry: dict, name: str) -> list:
    items = entry.get(name, [])
    return items if isinstance(items, list) else [items]  # a lone object: read, or rejected


def _change_events(payload: dict, entry: dict, change: dict) -> list[RawEvent]:
    value = change.get("value") or {}
    if not isinstance(value, dict):
        raise TypeError("its value is not an object")
    field = change.get("field")
    if field == "messages":  # WhatsApp Cloud API
        messages = value.get("messages", [])
        if not isinstance(messages, list):
            raise TypeError("'messages' is not a list")
        contacts = {c.get("wa_id"): c for c in value.get("contacts", [])
                    if isinstance(c, dict)}
        found = []
        for message in messages:
            if not (isinstance(message, dict) and _is_text_id(message.get("id"))
                    and _is_text_id(message.get("from"))):
                found.append(_unreadable("whatsapp", message, "A WhatsApp message without its "
                                         "id or its sender."))
                continue
            found.append(RawEvent(
                external_id=f"wa:{message['id']}",
                payload={"kind": "whatsapp", "message": message,
                         "contact": contacts.get(message.get("from"), {}),
                         "metadata": value.get("metadata", {})}))
        return found
    if field == "leadgen":
        return [_leadgen_event(value)]
    own = str((value.get("from") or {}).get("id", "")) == str(entry.get("id"))
    if field == "comments" and payload.get("object") == "instagram":
        return [_comment_event(f"ig-comment:{_text_id(value, 'id')}", "ig-comment", entry,
                               value, own=own)]
    if field == "feed" and value.get("item") == "comment" and value.get("verb") == "add":
        # Page feed: new comments only; edits, removals, reactions and posts are not someone
        # asking for something, and are not stored.
        return [_comment_event(f"fb-comment:{_text_id(value, 'comment_id')}", "fb-comment",
                               entry, value, own=own)]
    return []


def _text_id(value: dict, name: str) -> str:
    if not _is_text_id(value.get(name)):
        raise KeyError(name)
    return value[name]


def _messenger_event(payload: dict, item: object) -> RawEvent | None:
    message = item.get("message") if isinstance(item, dict) else None
    if isinstance(item, dict) and not message:
        return None  # deliveries, reads, postbacks: nothing a person wrote
    if not (isinstance(message, dict) and _is_text_id(message.get("mid"))
            and isinstance(item.get("sender"), dict) and is_graph_id(item["sender"].get("id"))):
        # No message id is no key, and no sender is no one to answer: kept as rejected, while
        # the rest of the delivery is taken in.
        return _unreadable("messenger", item, "A Messenger message without its mid or its "
                           "sender id.")
    raw = RawEvent(external_id=f"mid:{message['mid']}",
                   payload={"kind": "messenger", "object": payload.get("object"),
                            "messaging": item})
    if message.get("is_echo"):
        return RawEvent(raw.external_id, raw.payload, InboundEvent.Status.IGNORED,
                        "Our own page's message (echo).")
    return raw


def _is_text_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _unreadable(kind: str, item: object, reason: str) -> RawEvent:
    """One item of a delivery that cannot be read: kept as rejected with its reason, keyed by
    what it holds (Meta's redelivery finds it), while the other items are taken in; a 400 would
    make Meta send the whole delivery again, the good items with it, until it gives up."""
    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
    return RawEvent(f"{kind}-unreadable:{digest[:40]}", {"kind": kind, "item": item},
                    InboundEvent.Status.REJECTED, reason)


# Graph API object ids are decimal digits. A leadgen id becomes a path of the Graph URL the
# worker fetches with our page token, so anything else ("../../me?x=1") is refused, not sent.
GRAPH_ID = re.compile(r"[0-9]{1,32}")
LEADGEN_IDS = ("leadgen_id", "page_id", "form_id")


def is_graph_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and bool(
        GRAPH_ID.fullmatch(str(value)))


def bad_leadgen_ids(change: dict) -> str:
    """Why a leadgen change cannot be fetched (ids that are not Graph ids; leadgen_id is
    required), or "" when it can."""
    bad = [f"{name} {change.get(name)!r}" for name in LEADGEN_IDS
           if (name == "leadgen_id" or change.get(name) not in (None, ""))
           and not is_graph_id(change.get(name))]
    return f"Lead ad ids must be Graph ids (digits): {', '.join(bad)}."[:2000] if bad else ""


def _leadgen_event(value: dict) -> RawEvent:
    raw = RawEvent(external_id=f"leadgen:{value['leadgen_id']}",
                   payload={"kind": "leadgen", "change": value})
    if reason := bad_leadgen_ids(value):
        return RawEvent(raw.external_id, raw.payload, InboundEvent.Status.REJECTED, reason)
    return raw


def _comment_event(external_id: str, kind: str, entry: dict, value: dict, own: bool) -> RawEvent:
    # entry.time: when Meta sent the notification, the comment's time when (as on Instagram)
    # the comment carries no created_time of its own; a retry or a reprocess keeps it.
    raw_payload = {"kind": kind, "account_id": str(entry.get("id", "")), "comment": value,
                   "sent_at": entry.get("time")}
    if own and value.get("parent_id") not in (None, "", value.get("post_id")):
        # Our Page (or Instagram account) answering a comment, its parent (a Page post's own
        # top-level comments name the post as their parent): that commenter's lead was answered.
        return RawEvent(external_id, {**raw_payload, "ours": True})
    if own:
        return RawEvent(external_id, raw_payload, InboundEvent.Status.IGNORED,
                        "Our own account's comment.")
    return RawEvent(external_id, raw_payload)


def delivery_statuses(payload: dict) -> list[dict]:
    """The delivery reports in a verified payload, as delivery_reported's kwargs."""
    reports: list[dict] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue
            for status in _dicts(value.get("statuses")):
                if not isinstance(status.get("id"), str | int) or not status.get("id"):
                    continue
                error = "; ".join(f"{e.get('code', '')} {e.get('title', '')}".strip()
                                  for e in _dicts(status.get("errors")))
                reports.append({"platform": Platform.WHATSAPP, "ids": [str(status["id"])],
                                "status": str(status.get("status", "")), "error": error,
                                "recipient": str(status.get("recipient_id", "")),
                                "before": None})
        network = (Platform.INSTAGRAM if payload.get("object") == "instagram"
                   else Platform.MESSENGER)
        for item in _dicts(entry.get("messaging")):
            sender = item.get("sender")
            who = str(sender.get("id", "")) if isinstance(sender, dict) else ""
            if isinstance(delivery := item.get("delivery"), dict):
                mids = delivery.get("mids")
                reports.append({"platform": network, "status": "delivered", "error": "",
                                "ids": [str(m) for m in mids] if isinstance(mids, list) else [],
                                "recipient": who,
                                "before": from_epoch(delivery.get("watermark"), per_second=1000)})
            if isinstance(read := item.get("read"), dict):
                mid = read.get("mid")
                reports.append({"platform": network, "status": "read", "error": "",
                                "ids": [str(mid)] if isinstance(mid, str | int) and mid else [],
                                "recipient": who,
                                "before": from_epoch(read.get("watermark"), per_second=1000)})
    return reports


def _dicts(value: object) -> list[dict]:
    """The objects in a list that should hold objects (anything else in it is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(message: dict) -> str:
    kind = message.get("type", "text")
    if kind == "text":
        return (message.get("text") or {}).get("body", "")
    if kind in ("image", "video", "audio", "document", "sticker"):
        caption = (message.get(kind) or {}).get("caption", "")
        return f"[{kind}] {caption}".strip()
    if kind == "button":
        return (message.get("button") or {}).get("text", "")
    if kind == "interactive":
        reply = message.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        return chosen.get("title", "")
    return f"[{kind}]"


def normalise(event: InboundEvent) -> IntakeInput | OurReply:
    try:
        return _normalise(event)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        # A signed payload with a field of the wrong type (an object for a message's text):
        # no retry can read it, so it is rejected with the reason instead of failing forever.
        raise Rejected(f"Malformed Meta payload: {type(exc).__name__}: {exc}") from None


def _normalise(event: InboundEvent) -> IntakeInput | OurReply:
    kind = event.payload.get("kind")
    if kind == "whatsapp":
        return _whatsapp(event)
    if kind == "messenger":
        return _messenger(event)
    if kind == "leadgen":
        return _leadgen(event)
    if kind in ("ig-comment", "fb-comment") and event.payload.get("ours"):
        return _our_comment_reply(event)
    if kind in ("ig-comment", "fb-comment"):
        return _comment(event)
    raise Rejected(f"Unknown Meta event kind {kind!r}.")


def _whatsapp(event: InboundEvent) -> IntakeInput:
    message = event.payload["message"]
    profile = (event.payload.get("contact") or {}).get("profile") or {}
    try:
        phone = normalise_phone("+" + str(message.get("from", "")).lstrip("+"))
    except InvalidPhone:
        raise Rejected(f"WhatsApp sender {message.get('from')!r} is not a phone number.") \
            from None
    first, _, last = (profile.get("name") or "").partition(" ")
    text = _text(message)
    metadata = event.payload.get("metadata") or {}
    # Our number's id is where replies are posted ({META_GRAPH_URL}/{id}/messages): a Graph id.
    number_id = str(metadata.get("phone_number_id", ""))
    return IntakeInput(
        channel=LeadChannel.CHAT, fields={"phone": phone, "first_name": first,
                                          "last_name": last, "message": text},
        summary=f"WhatsApp: {text[:80]}", body=text,
        occurred_at=from_epoch(message.get("timestamp")) or event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "whatsapp",
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(Platform.WHATSAPP, str(message.get("from", "")),
                                 profile.get("name") or "",
                                 number_id if is_graph_id(number_id) else ""),
    )


def _messenger(event: InboundEvent) -> IntakeInput:
    item = event.payload["messaging"]
    sender = str((item.get("sender") or {}).get("id", ""))
    text = (item.get("message") or {}).get("text", "") or "[attachment]"
    # Messenger and Instagram give a page- or Instagram-scoped id, no email or phone: the
    # identity (platform, sender id) finds the earlier conversation's lead.
    platform = (Platform.INSTAGRAM if event.payload.get("object") == "instagram"
                else Platform.MESSENGER)
    network = Platform(platform).label
    return IntakeInput(
        channel=LeadChannel.SOCIAL, fields={"message": text},
        summary=f"{network}: {text[:80]}", body=f"{text}\n\n({network} sender id {sender})",
        occurred_at=from_epoch(item.get("timestamp"), per_second=1000) or event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or network.lower(),
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(platform, sender,
                                 address=str((item.get("recipient") or {}).get("id", ""))),
    )


# What makes a comment a request (a "nice post!" is not a lead): a question or one of these.
ASKING = re.compile(
    r"\?|\b(price|prices|pricing|cost|quote|how much|interested|available|info|details|"
    r"contact|call me|dm|message me|book|buy|order|demo|trial|help)\b", re.IGNORECASE)


def asks_for_something(text: str) -> bool:
    return bool(ASKING.search(text or ""))


def _comment(event: InboundEvent) -> IntakeInput:
    """A comment on our Instagram media or Facebook Page post."""
    comment = event.payload["comment"]
    author = comment.get("from") or {}
    author_id = str(author.get("id", ""))
    if event.payload["kind"] == "ig-comment":
        platform, name, text = Platform.INSTAGRAM, author.get("username", ""), comment.get(
            "text", "")
        where = f"media {(comment.get('media') or {}).get('id', '')}"
    else:
        platform, name, text = Platform.FACEBOOK, author.get("name", ""), comment.get(
            "message", "")
        where = f"post {comment.get('post_id', '')}"
    text = str(text or "")
    known = LeadIdentity.objects.filter(platform=platform, external_id=author_id).exists()
    if not known and not asks_for_something(text):
        raise Ignored(f"A comment that asks for nothing ({text[:60]!r}).")
    network = Platform(platform).label.split(" (")[0]
    # The lead is named after the commenter: a Page comment gives a name, an Instagram comment
    # only the @username.
    first, _, last = (name if platform == Platform.FACEBOOK
                      else f"@{name}" if name else "").partition(" ")
    comment_id = str(comment.get("id" if platform == Platform.INSTAGRAM else "comment_id", ""))
    return IntakeInput(
        channel=LeadChannel.SOCIAL,
        fields={"message": text, "first_name": first, "last_name": last},
        summary=f"{network} comment: {text[:80]}",
        body=f"{text}\n\n({network} comment by {name or author_id} on {where})",
        # The comment's own time (a private reply is allowed for 7 days from it), not when
        # we took it in.
        occurred_at=(from_epoch(comment.get("created_time"))
                     or from_epoch(event.payload.get("sent_at")) or event.received_at),
        source=ChannelSettings.for_channel(SETTINGS).source or f"{network.lower()}-comments",
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(platform, author_id, name, event.payload.get("account_id", ""),
                                 comment_id=comment_id),
    )


def _our_comment_reply(event: InboundEvent) -> OurReply:
    """Our Page's (or Instagram account's) reply to a comment: the first response of the lead
    that comment made (or landed on); kept as ignored when it made none (it asked for
    nothing)."""
    kind, comment = event.payload["kind"], event.payload["comment"]
    parent = str(comment["parent_id"])
    lead_id = (InboundEvent.objects.filter(channel=channel.name,
                                           external_id=f"{kind}:{parent}",
                                           lead__erased_at__isnull=True)
               .values_list("lead", flat=True).first())
    instagram = kind == "ig-comment"
    network, ours = ("Instagram", "our account's") if instagram else ("Facebook", "our Page's")
    if lead_id is None:
        raise Ignored(f"{ours.capitalize()} reply to a comment that is no lead's.")
    text = str(comment.get("text" if instagram else "message") or "")
    where = (f"media {(comment.get('media') or {}).get('id', '')}" if instagram
             else f"post {comment.get('post_id', '')}")
    return OurReply(lead=Lead.objects.get(pk=lead_id), channel=LeadChannel.SOCIAL,
                    occurred_at=(from_epoch(comment.get("created_time"))
                                 or from_epoch(event.payload.get("sent_at"))
                                 or event.received_at),
                    summary=f"Answered on {network}: {text[:80]}",
                    body=f"{text}\n\n({ours} reply to comment {parent} on {where})",
                    message_id=str(comment["id" if instagram else "comment_id"]))


def _leadgen(event: InboundEvent) -> IntakeInput:
    lead = event.payload.get("lead")
    if not lead:
        raise RuntimeError("The lead ad's answers are not fetched yet (task fetch_leadgen).")
    config = ChannelSettings.for_channel(SETTINGS)
    mapping = {**LEAD_AD_FIELDS, **(config.field_mapping or {})}
    fields: dict[str, str] = {}
    other: list[str] = []
    for answer in lead.get("field_data", []):
        name = str(answer.get("name", ""))
        value = ", ".join(str(v) for v in answer.get("values") or [])
        target = mapping.get(name)
        if name == "full_name" and value:
            first, _, last = value.partition(" ")
            fields.setdefault("first_name", first)
            fields.setdefault("last_name", last)
        elif target and value:
            fields.setdefault(target, value)
        elif target != "" and value:
            other.append(f"{name.replace('_', ' ')}: {value}")
    set_aside_unreadable_contacts(fields, other, config.default_region or "")
    if not (fields.get("email") or fields.get("phone")):
        raise Rejected("The lead ad form has no valid email or phone.")
    form_id = lead.get("form_id") or event.payload["change"].get("form_id", "")
    return IntakeInput(
        channel=LeadChannel.SOCIAL, fields=fields,
        summary=f"Facebook lead ad (form {form_id})", body="\n".join(other),
        occurred_at=from_epoch(event.payload["change"].get("created_time")) or event.received_at,
        source=config.source or "facebook-lead-ads",
    )


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    """The signature is checked by now: hand the delivery reports to the outbox."""
    reports = delivery_statuses(json_body(request))
    for report in reports:
        delivery_reported.send(sender=InboundEvent, **report)
    return JsonResponse({"received": len(stored), "statuses": len(reports)})


def task_for(event: InboundEvent) -> str:
    return "capture.channels.meta.fetch_leadgen" if event.payload.get("kind") == "leadgen" else ""


channel = Channel(name="meta", verify=verify, events=events, normalise=normalise, reply=reply,
                  settings_name=SETTINGS, max_body=1024 * 1024, task=task_for)


# --- Lead Ads: the answers come from the Graph API -----------------------------------------

class GraphClient:
    """A small Graph API client: base URL from META_GRAPH_URL, retries on 429 and 5xx."""

    def __init__(self, base_url: str | None = None, token: str | None = None):
        self.base_url = (base_url or settings.META_GRAPH_URL).rstrip("/")
        self.token = token if token is not None else settings.META_PAGE_ACCESS_TOKEN
        self.session = retrying_session(attempts=3, backoff=0.5)

    def lead(self, leadgen_id: str) -> dict:
        # The token in a header, never the URL: a failed request's message (stored on the
        # event, logged by the worker) names the URL.
        response = self.session.get(
            f"{self.base_url}/{leadgen_id}",
            params={"fields": "created_time,id,ad_id,form_id,field_data"},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()


AWAITING_FETCH["meta"] = lambda event: (event.payload.get("kind") == "leadgen"
                                        and not event.payload.get("lead"))


def fetch_leadgen(event_id: int) -> bool:
    """django-q2 task: fetch a lead ad's answers (outside any transaction), then process.

    Raises when the Graph API fails, so the queue retries; the event stays stored either way.
    """
    event = InboundEvent.objects.filter(
        id=event_id, status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED]
    ).first()
    if event is None:
        return False
    if not event.payload.get("lead"):
        if reason := bad_leadgen_ids(event.payload["change"]):  # stored before the check
            InboundEvent.objects.filter(id=event.id).update(
                status=InboundEvent.Status.REJECTED, reason=reason)
            return False
        leadgen_id = event.payload["change"]["leadgen_id"]
        fetches = int(event.payload.get("fetch_attempts", 0)) + 1
        try:
            lead = GraphClient().lead(leadgen_id)
        except (requests.RequestException, ValueError) as exc:
            # Counted apart from the intake's attempts: the one-minute sweeper cannot fetch,
            # so its tries must not use up the fetches this channel's schedule makes.
            InboundEvent.objects.filter(id=event.id).update(
                status=InboundEvent.Status.FAILED,
                payload={**event.payload, "fetch_attempts": fetches},
                reason=f"Fetching lead {leadgen_id} from the Graph API failed ({fetches} "
                f"tries): {exc}"[:2000])
            raise
        InboundEvent.objects.filter(id=event.id).update(payload={**event.payload, "lead": lead})
    return process_inbound_event(event.id) is not None


@PREPARERS.register("meta")
def prepare(event: InboundEvent) -> bool:
    """The admin's reprocess fetches first when a lead ad's answers are missing. A fetch that
    fails again is on the event (its reason): the admin says so rather than raising."""
    if event.payload.get("kind") == "leadgen" and not event.payload.get("lead"):
        try:
            return fetch_leadgen(event.id)
        except (requests.RequestException, ValueError):
            return False
    return process_inbound_event(event.id) is not None


MAX_FETCHES = 12  # every five minutes: an hour of Graph API outage


def retry_leadgen_fetches(limit: int = 50) -> int:
    """Schedule: lead ads whose answers could not be fetched yet are tried again."""
    waiting = InboundEvent.objects.filter(
        channel="meta", payload__kind="leadgen",
        status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED],
    ).order_by("received_at").values_list("id", "payload")[: limit * 4]
    ids = [event_id for event_id, payload in waiting
           if not payload.get("lead") and payload.get("fetch_attempts", 0) < MAX_FETCHES]
    done = 0
    for event_id in ids[:limit]:
        try:
            done += fetch_leadgen(event_id)
        except requests.RequestException:
            logger.warning("Lead ad event %s: Graph API still failing", event_id)
    return done


@csrf_exempt
def meta_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if (request.GET.get("hub.mode") == "subscribe" and settings.META_VERIFY_TOKEN
                and constant_time_compare(request.GET.get("hub.verify_token", ""),
                                          settings.META_VERIFY_TOKEN)):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return JsonResponse({"error": "The verify token does not match."}, status=403)
    if request.method != "POST":
        return method_not_allowed("Use GET (verification) or POST.", "GET, POST")
    return receive(request, channel)
