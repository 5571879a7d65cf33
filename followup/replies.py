"""Replies by a rep on the channel the prospect used: WhatsApp, Messenger, Instagram, Telegram,
SMS, and the lead page's Email action. Each reply is an outbox row (kind "reply"), sent by the
same task, sweeper and retries as every message; once a platform (or the email backend)
accepts it, it is the rep's contact on the timeline (the first one stamps the first response),
and the platform's status callbacks move its delivery status.

What each platform allows (checked before the rep writes, and again when the row is sent):
- WhatsApp: free text within 24 hours of the prospect's last message (the customer-service
  window); after that only the approved template WHATSAPP_TEMPLATE_NAME.
- Messenger and Instagram: a reply within 24 hours; up to 7 days with the HUMAN_AGENT tag
  (also when Meta refused an ordinary reply as outside its window); after that nothing until
  the prospect writes again.
- An Instagram comment opens no messaging window: only one private reply to the comment
  (recipient comment_id), within 7 days of when it was written.
- Telegram: any time, unless the prospect blocked the bot.
- SMS and WhatsApp: never to a prospect who texted STOP.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import capfirst

from capture.models import Channel as LeadChannel
from capture.models import Interaction, Lead, LeadIdentity, Platform
from capture.privacy import is_suppressed
from capture.services import mark_contacted, person_name
from followup.models import OutboundMessage
from followup.platforms import (
    Receipt,
    Refused,
    says_window_closed,
    send_messenger,
    send_telegram,
    send_whatsapp,
)
from followup.sms import sms_configured

logger = logging.getLogger(__name__)

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
PRIVATE_REPLY_WINDOW = timedelta(days=7)  # from the comment's own time
OutChannel = OutboundMessage.Channel
PLATFORM_CHANNELS = {Platform.WHATSAPP: OutChannel.WHATSAPP,
                     Platform.MESSENGER: OutChannel.MESSENGER,
                     Platform.INSTAGRAM: OutChannel.INSTAGRAM,
                     Platform.TELEGRAM: OutChannel.TELEGRAM}
MAX_LENGTH = {OutChannel.WHATSAPP: 4096, OutChannel.MESSENGER: 2000,
              OutChannel.INSTAGRAM: 1000, OutChannel.TELEGRAM: 4096, OutChannel.SMS: 1600}
NOT_FROM_HERE = {
    Platform.FACEBOOK: "Facebook comments are answered on Facebook: leadcrm does not post "
                       "comment replies.",
    Platform.SLACK: "Slack messages are answered in Slack (the shared channel).",
    Platform.X: "X direct messages are answered on X: leadcrm does not send them.",
}
DELIVERY_RANK = {"": 0, "sent": 1, "delivered": 2, "read": 3}


@dataclass(frozen=True)
class ReplyOption:
    """One way to answer this lead, and whether (and how) it is allowed now."""

    key: str  # the form value: "<channel>" or "<channel>:<identity id>"
    channel: str  # an OutboundMessage.Channel value, or a platform we do not send on
    label: str
    to: str
    allowed: bool
    reason: str  # why not, or the rule that applies (a template, the HUMAN_AGENT tag)
    mode: str = "text"  # "text", "template", "human_agent", "private_reply"
    identity_id: int | None = None
    comment_id: str = ""  # the comment a private reply answers
    closes_at: datetime | None = None
    max_length: int = 1600


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def reply_options(lead: Lead, now: datetime | None = None,
                  identities: list[LeadIdentity] | None = None) -> list[ReplyOption]:
    """Every channel this lead wrote on (and SMS when it has a phone), allowed or not, with
    the reason: the page shows them before the rep writes."""
    now = now or timezone.now()
    options = []
    rows = identities if identities is not None else list(
        lead.identities.order_by("-last_inbound_at", "id"))
    for identity in rows:
        options.append(_identity_option(lead, identity, now))
    if lead.phone:
        options.append(_sms_option(lead))
    return options


def _identity_option(lead: Lead, identity: LeadIdentity, now: datetime) -> ReplyOption:
    platform = identity.platform
    label = identity.get_platform_display()
    to = identity.display_name or identity.external_id
    common = {"label": label, "to": to, "identity_id": identity.pk}
    if platform in NOT_FROM_HERE:
        return ReplyOption(key=f"{platform}:{identity.pk}", channel=platform, allowed=False,
                           reason=NOT_FROM_HERE[platform], **common)
    channel = PLATFORM_CHANNELS[platform]
    common |= {"key": f"{channel}:{identity.pk}", "channel": channel,
               "max_length": MAX_LENGTH[channel]}
    if identity.blocked_at:
        return ReplyOption(allowed=False, reason=identity.blocked_reason
                           or f"The prospect blocked us on {label}.", **common)
    if platform == Platform.WHATSAPP and is_suppressed(lead, "sms"):
        return ReplyOption(allowed=False, reason="The prospect opted out (texted STOP): no "
                           "WhatsApp messages.", **common)
    if problem := _not_configured(platform, identity):
        return ReplyOption(allowed=False, reason=problem, **common)
    if platform == Platform.TELEGRAM:
        return ReplyOption(allowed=True, reason="", **common)
    last = identity.last_inbound_at
    if platform == Platform.INSTAGRAM and identity.last_comment_id and (
            last is None or now >= last + HUMAN_AGENT_WINDOW):  # no message window is open
        return _private_reply_option(identity, now, common)
    if last is None:
        return ReplyOption(allowed=False, reason=f"The prospect has not written on {label} "
                           "yet: a first message needs their opt-in.", **common)
    closes = last + CUSTOMER_SERVICE_WINDOW
    # The platform's clock has the last word: a reply it refused as outside the window closes
    # the window here too, until the prospect writes again (their message clears it).
    refused = identity.window_closed_at
    if now < closes and refused is None:
        return ReplyOption(allowed=True, closes_at=closes,
                           reason=f"Inside the 24-hour window (until {_at(closes)}).", **common)
    return _closed_window_option(identity, now, common)


def _closed_window_option(identity: LeadIdentity, now: datetime, common: dict) -> ReplyOption:
    """Meta's 24-hour window is closed (by the clock, or by the platform refusing a reply):
    WhatsApp sends only its approved template; Messenger and Instagram allow a reply tagged
    HUMAN_AGENT for 7 days after the prospect's last message, unless one was refused too."""
    platform, label, last = identity.platform, common["label"], identity.last_inbound_at
    closes, refused = last + CUSTOMER_SERVICE_WINDOW, identity.window_closed_at
    closed = (f"{label} refused a reply at {_at(refused)} as outside the 24-hour window, "
              "which has closed until the prospect writes again" if refused
              else f"The 24-hour window closed at {_at(closes)}")
    if platform == Platform.WHATSAPP:
        template = settings.WHATSAPP_TEMPLATE_NAME
        if not template:
            return ReplyOption(allowed=False, reason=f"{closed}, and no approved template is "
                               "configured (WHATSAPP_TEMPLATE_NAME): wait until the prospect "
                               "writes again.", **common)
        return ReplyOption(allowed=True, mode="template", closes_at=closes,
                           reason=f"{closed}: only the approved template “{template}” can be "
                           "sent, not your text.", **common)
    human_until = last + HUMAN_AGENT_WINDOW
    # A refused ordinary reply leaves the tagged one (7 days): only a tagged reply refused
    # too (written since their last message, refused after) closes it as well.
    if refused is not None and (now >= human_until or OutboundMessage.objects.filter(
            identity=identity, kind=OutboundMessage.Kind.REPLY, subject="tag:HUMAN_AGENT",
            status=OutboundMessage.Status.FAILED, created_at__gte=last,
            created_at__lte=refused).exists()):
        return ReplyOption(allowed=False, reason=f"{closed}.", **common)
    if now < human_until:
        return ReplyOption(allowed=True, mode="human_agent", closes_at=human_until,
                           reason=f"{closed if refused else 'Outside the 24-hour window'}: "
                           "sent as a person's reply (HUMAN_AGENT tag), allowed until "
                           f"{_at(human_until)}.", **common)
    return ReplyOption(allowed=False, reason=f"The prospect last wrote more than 7 days ago "
                       f"({_at(last)}): {label} allows no reply until they write again.",
                       **common)


def _private_reply_option(identity: LeadIdentity, now: datetime, common: dict) -> ReplyOption:
    """Someone who commented, with no message window open (no message from them, or none in
    7 days): Instagram allows one private reply to their latest comment, within 7 days of
    when it was written. A comment opens no 24-hour window for messages."""
    commented = identity.last_comment_at
    closes = commented + PRIVATE_REPLY_WINDOW
    if private_reply_used(identity.pk, identity.last_comment_id):
        return ReplyOption(allowed=False, reason=f"Their comment of {_at(commented)} has had "
                           "its private reply: Instagram allows one per comment, and a comment "
                           "opens no message window. Wait until they comment again or send "
                           "a message.", **common)
    if now >= closes:
        return ReplyOption(allowed=False, reason=f"Their last comment ({_at(commented)}) is "
                           "more than 7 days old, the time Instagram allows a private reply to "
                           "it, and a comment opens no message window. Wait until they write "
                           "again.", **common)
    return ReplyOption(allowed=True, mode="private_reply", closes_at=closes,
                       comment_id=identity.last_comment_id,
                       reason=f"They commented (at {_at(commented)}) and no message window is "
                       "open: one private reply to that comment, allowed until "
                       f"{_at(closes)}.", **common)


def private_reply_used(identity_id: int, comment_id: str) -> bool:
    """Has this comment had its one private reply (sent, or on its way)?"""
    return OutboundMessage.objects.filter(
        kind=OutboundMessage.Kind.REPLY, identity_id=identity_id,
        subject=f"comment:{comment_id}").exclude(
        status__in=[OutboundMessage.Status.FAILED, OutboundMessage.Status.CANCELLED]).exists()


def _not_configured(platform: str, identity: LeadIdentity) -> str:
    if platform == Platform.WHATSAPP and not (
            settings.WHATSAPP_ACCESS_TOKEN
            and (identity.address or settings.WHATSAPP_PHONE_NUMBER_ID)):
        return "WhatsApp replies are not configured (WHATSAPP_ACCESS_TOKEN)."
    if platform == Platform.MESSENGER and not settings.META_PAGE_ACCESS_TOKEN:
        return "Messenger replies are not configured (META_PAGE_ACCESS_TOKEN)."
    if platform == Platform.INSTAGRAM and not (settings.INSTAGRAM_ACCESS_TOKEN
                                               or settings.META_PAGE_ACCESS_TOKEN):
        return "Instagram replies are not configured (INSTAGRAM_ACCESS_TOKEN)."
    if platform == Platform.TELEGRAM and not settings.TELEGRAM_BOT_TOKEN:
        return "Telegram replies are not configured (TELEGRAM_BOT_TOKEN)."
    return ""


def _sms_option(lead: Lead) -> ReplyOption:
    common = {"key": OutChannel.SMS, "channel": OutChannel.SMS, "label": "SMS",
              "to": lead.phone, "max_length": MAX_LENGTH[OutChannel.SMS]}
    if is_suppressed(lead, "sms"):
        return ReplyOption(allowed=False, reason="The prospect opted out (texted STOP).",
                           **common)
    if not sms_configured():
        return ReplyOption(allowed=False, reason="SMS is not configured (TWILIO_ACCOUNT_SID, "
                           "TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER).", **common)
    return ReplyOption(allowed=True, reason="", **common)


class ReplyNotAllowed(ValueError):
    """The chosen channel does not allow a reply now (the message says why)."""


class DuplicateReply(Exception):
    """The same reply was written a moment ago: that row is the reply."""

    def __init__(self, message: OutboundMessage | None):
        super().__init__("This reply was sent a moment ago; it is not sent twice.")
        self.message = message


DUPLICATE_WITHIN = timedelta(minutes=1)


@transaction.atomic
def queue_reply(*, lead: Lead, user, key: str, body: str) -> OutboundMessage:
    """Write the reply's outbox row, checked against what the platform allows now."""
    option = next((o for o in reply_options(lead) if o.key == key), None)
    if option is None:
        raise ReplyNotAllowed("Choose a channel this prospect wrote on.")
    if not option.allowed:
        raise ReplyNotAllowed(option.reason)
    body = body.replace("\r\n", "\n").strip()  # a browser's line breaks, as platforms take them
    if option.mode != "template" and not body:
        raise ReplyNotAllowed("Write the reply.")
    if len(body) > option.max_length:
        raise ReplyNotAllowed(f"{option.label} allows at most {option.max_length} characters "
                              f"(this is {len(body)}).")
    # Locked: two reps answering one comment at once give it one private reply, not two.
    identity = LeadIdentity.objects.select_for_update().filter(pk=option.identity_id).first() \
        if option.identity_id else None
    if option.mode == "private_reply" and private_reply_used(option.identity_id,
                                                             option.comment_id):
        raise ReplyNotAllowed("Their comment has just had its private reply: Instagram allows "
                              "one per comment.")
    to = (identity.address if identity and option.channel == OutChannel.TELEGRAM
          else identity.external_id if identity else lead.phone)
    subject = {"template": f"template:{settings.WHATSAPP_TEMPLATE_NAME}",
               "human_agent": "tag:HUMAN_AGENT",
               "private_reply": f"comment:{option.comment_id}"}.get(option.mode, "")
    return _write_reply(lead=lead, user=user, channel=option.channel, to=to, subject=subject,
                        body=body if option.mode != "template" else "", identity=identity,
                        fingerprint=f"{option.key}\n{body}")


@transaction.atomic
def queue_email(*, lead: Lead, user, subject: str, body: str,
                template_id: int | None = None) -> OutboundMessage:
    """The lead page's Email action: an outbox row like any reply, so a down mail server
    means retries (and the rep is told if it never goes), not a lost email. Its Message-ID
    goes on the timeline entry once sent, so the prospect's answer threads onto this lead.

    An email started from a sales-ops template (`template_id`) is the company's commercial
    mail, sent to many prospects: it carries the one-click List-Unsubscribe headers as a
    sequence's emails do (services._send_email); one the rep typed is one person's mail."""
    from followup.models import EmailTemplate

    if not lead.email:
        raise ReplyNotAllowed("This lead has no email address.")
    if is_suppressed(lead, "email"):
        raise ReplyNotAllowed("This prospect unsubscribed: no email is sent.")
    template_name = ""
    if template_id is not None:
        template_name = EmailTemplate.objects.filter(pk=template_id).values_list(
            "name", flat=True).first()
        if template_name is None:
            raise ReplyNotAllowed("That email template was deleted: pick another, or write "
                                  "your own.")
    return _write_reply(lead=lead, user=user, channel=OutChannel.EMAIL, to=lead.email,
                        subject=subject.strip(), body=body.strip(), identity=None,
                        fingerprint=f"email\n{subject.strip()}\n{body.strip()}",
                        template_name=template_name)


def _write_reply(*, lead: Lead, user, channel: str, to: str, subject: str, body: str,
                 identity: LeadIdentity | None, fingerprint: str,
                 template_name: str = "") -> OutboundMessage:
    """Write a reply's outbox row and queue its send once committed; the sweeper covers a
    lost kick. A double-clicked send (or a resubmitted page) is one message: the same text to
    the same place by the same rep within a minute is the row already written."""
    from followup.receivers import queue_send_on_commit

    now = timezone.now()
    digest = hashlib.sha256(f"{fingerprint}\n{getattr(user, 'pk', '')}".encode()
                            ).hexdigest()[:24]
    stem = f"reply:{lead.pk}:{digest}:"
    earlier = OutboundMessage.objects.filter(
        lead=lead, kind=OutboundMessage.Kind.REPLY, dedupe_key__startswith=stem,
        created_at__gte=now - DUPLICATE_WITHIN).first()
    if earlier is not None:
        raise DuplicateReply(earlier)
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                lead=lead, kind=OutboundMessage.Kind.REPLY, channel=channel, to_address=to,
                subject=subject, body=body, sent_by=user, identity=identity, due_at=now,
                template_name=template_name, dedupe_key=f"{stem}{int(now.timestamp() // 60)}")
    except IntegrityError:  # the twin click committed first
        raise DuplicateReply(OutboundMessage.objects.filter(dedupe_key__startswith=stem)
                             .order_by("-id").first()) from None
    queue_send_on_commit(message.id)
    return message


# --- sending (called by followup.services.deliver_outbound for kind "reply") ---------------

def send_reply(message: OutboundMessage) -> Receipt:
    """Hand one reply to its platform; raises Refused or a network error."""
    if message.channel == OutChannel.SMS:
        from twilio.base.exceptions import TwilioRestException

        from followup.sms import send_sms

        try:
            receipt = send_sms(message.to_address, message.body)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise
            raise Refused(f"Twilio refused the text ({exc.code}): {exc.msg}"[:500],
                          permanent=True) from None
        return Receipt(provider_id=receipt.sid, status=receipt.status or "queued")
    identity = message.identity
    if identity is None:
        raise Refused("The prospect's account was removed.", permanent=True)
    if identity.blocked_at:
        raise Refused(identity.blocked_reason or "The prospect blocked us.", permanent=True,
                      blocked=False)
    if message.channel == OutChannel.WHATSAPP:
        template = message.subject.removeprefix("template:") \
            if message.subject.startswith("template:") else ""
        return send_whatsapp(to=identity.external_id,
                             phone_number_id=identity.address
                             or settings.WHATSAPP_PHONE_NUMBER_ID,
                             body=message.body, template=template,
                             language=settings.WHATSAPP_TEMPLATE_LANGUAGE)
    if message.channel in (OutChannel.MESSENGER, OutChannel.INSTAGRAM):
        return send_messenger(to=identity.external_id, body=message.body,
                              instagram=message.channel == OutChannel.INSTAGRAM,
                              human_agent=message.subject == "tag:HUMAN_AGENT",
                              comment_id=message.subject.removeprefix("comment:")
                              if message.subject.startswith("comment:") else "")
    if message.channel == OutChannel.TELEGRAM:
        return send_telegram(chat_id=identity.address or identity.external_id,
                             body=message.body)
    raise Refused(f"No sender for {message.channel}.", permanent=True)


def unwanted_reason(message: OutboundMessage, lead: Lead) -> str:
    """Checked again when the row is sent (a retry hours later): why not to send any more."""
    if message.channel in (OutChannel.SMS, OutChannel.WHATSAPP) and is_suppressed(lead, "sms"):
        return "The prospect opted out (texted STOP) before the reply went out."
    if message.channel == OutChannel.EMAIL and is_suppressed(lead, "email"):
        return "The prospect unsubscribed (or bounced, or was erased) before the email went out."
    return ""


def record_reply_sent(message: OutboundMessage, lead: Lead, now: datetime) -> None:
    """The platform took it: the rep's contact on the timeline (first response, stops the
    sequence, a new lead becomes contacted)."""
    from capture.services import log_rep_contact

    if message.channel == OutChannel.EMAIL:
        interaction = log_rep_contact(
            lead=lead, user=message.sent_by, kind=Interaction.Kind.EMAIL,
            channel=LeadChannel.EMAIL,
            summary=f"Email by {person_name(message.sent_by, 'a rep')}: {message.subject}"[:255],
            body=message.body, at=now)
        # The Message-ID on the timeline entry: the prospect's answer threads onto this lead.
        Interaction.objects.filter(pk=interaction.pk).update(
            message_id=message.message_id[:255], delivery_status="sent")
        mark_contacted(lead=lead, user=message.sent_by)
        return
    label = message.get_channel_display()
    what = (f"template “{message.subject.removeprefix('template:')}”"
            if message.subject.startswith("template:") else message.body)
    interaction = log_rep_contact(
        lead=lead, user=message.sent_by,
        kind=Interaction.Kind.SMS if message.channel == OutChannel.SMS
        else Interaction.Kind.MESSAGE,
        channel={OutChannel.SMS: LeadChannel.SMS, OutChannel.WHATSAPP: LeadChannel.CHAT,
                 OutChannel.TELEGRAM: LeadChannel.CHAT}.get(message.channel,
                                                            LeadChannel.SOCIAL),
        summary=f"{label} reply by {person_name(message.sent_by, 'a rep')}: {what}"[:255],
        body=message.body, at=now)
    Interaction.objects.filter(pk=interaction.pk).update(
        message_id=message.provider_id[:255], delivery_status="sent")
    mark_contacted(lead=lead, user=message.sent_by)


def record_reply_failed(message: OutboundMessage, error: str, *, blocked: bool = False,
                        window_closed: bool = False) -> None:
    """A reply that will not go out: on the timeline and told to the rep, never dropped. A
    refusal for a closed window closes it on the page too, until the prospect writes again."""
    from followup.services import notify

    label = message.get_channel_display()
    what = "email" if message.channel == OutChannel.EMAIL else f"{label} reply"
    if blocked and message.identity_id:
        LeadIdentity.objects.filter(pk=message.identity_id).update(
            blocked_at=timezone.now(), blocked_reason=error[:255])  # names the platform
    if window_closed and message.identity_id:
        LeadIdentity.objects.filter(pk=message.identity_id).update(
            window_closed_at=timezone.now())
    Interaction.objects.create(
        lead_id=message.lead_id, direction=Interaction.Direction.INTERNAL,
        kind=Interaction.Kind.SYSTEM, channel=LeadChannel.MANUAL, actor=message.sent_by,
        summary=(f"{capfirst(what)} by {person_name(message.sent_by, 'a rep')} failed: "
                 f"{error}")[:255],
        body=message.body)
    if message.sent_by_id:
        from followup.models import Notification

        lead = Lead.objects.only("id", "first_name", "last_name", "company", "email",
                                 "phone").get(pk=message.lead_id)
        notify(message.sent_by_id, lead, Notification.Kind.REPLY_FAILED,
               f"Your {what} to {lead.display_name} was not delivered: {error}")


# --- delivery reports (capture.signals.delivery_reported) ----------------------------------

def record_delivery(*, platform: str, ids: list[str], status: str, error: str = "",
                    recipient: str = "", before: datetime | None = None) -> int:
    """Move our rows' delivery status forward (sent → delivered → read), or to failed.
    Reports come more than once and out of order: a row never moves back."""
    channel = OutChannel.SMS if platform == "sms" else PLATFORM_CHANNELS.get(platform)
    if channel is None or status not in (*DELIVERY_RANK, "failed"):
        return 0
    rows = OutboundMessage.objects.filter(channel=channel).exclude(provider_id="")
    if ids:
        rows = rows.filter(provider_id__in=ids)
    elif before is not None and recipient:  # a read watermark: everything sent before it
        rows = rows.filter(to_address=recipient, sent_at__lte=before)
    else:
        return 0
    moved = 0
    for message in rows.select_related("sent_by")[:200]:
        current = message.provider_status
        if current == "failed" or (status != "failed" and DELIVERY_RANK.get(status, 0)
                                   <= DELIVERY_RANK.get(current, 0)):
            continue
        with transaction.atomic():
            update = {"provider_status": status}
            if status == "failed":
                update |= {"status": OutboundMessage.Status.FAILED,
                           "last_error": (error or "The platform reported it undelivered.")}
            changed = OutboundMessage.objects.filter(
                pk=message.pk, provider_status=current).update(**update)
            if not changed:
                continue
            Interaction.objects.filter(lead_id=message.lead_id,
                                       message_id=message.provider_id).update(
                delivery_status=status)
            if status == "failed" and message.kind == OutboundMessage.Kind.REPLY:
                record_reply_failed(message, error or "reported undelivered by the platform",
                                    window_closed=says_window_closed(error))
            moved += 1
    return moved
