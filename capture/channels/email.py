"""Email to lead: django-anymail's inbound webhooks, the IMAP poller and `ingest_email` all end
in receive_email(): the Message-ID is the key; auto-replies, bounces, lists and our own mail
are stored as ignored events with the reason; a reply to our mail joins that lead."""

from __future__ import annotations

import contextlib
import email
import email.parser
import email.policy
import functools
import hashlib
import imaplib
import json
import logging
import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import html2text
from anymail.exceptions import AnymailAPIError
from django.conf import settings
from django.core import signing
from django.core.exceptions import (
    ImproperlyConfigured,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.dispatch import receiver
from django.http import JsonResponse
from mailparser_reply import EmailReplyParser

from capture.channels.base import PREPARERS, over_webhook_rate
from capture.identity import email_key, parse_email
from capture.intake import (
    Ignored,
    IntakeInput,
    Rejected,
    process_inbound_event,
    receive_event,
    register_normaliser,
)
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction

logger = logging.getLogger(__name__)

CHANNEL = "email"
SETTINGS = ChannelSettings.Name.EMAIL
MAX_EMAIL_BYTES = 10 * 1024 * 1024  # stored raw up to the intake's limit; parsed in full
REPLY_SALT = "capture.email-reply"
PLUS_RE = re.compile(r"\+lead-([A-Za-z0-9_:-]+)@")


def reply_address(lead_id: int, mailbox: str | None = None) -> str:
    """A signed plus-address for Reply-To: sales+lead-<signed id>@example.com."""
    mailbox = mailbox or parse_email(settings.DEFAULT_FROM_EMAIL)[1]
    local, _, domain = mailbox.partition("@")
    token = signing.Signer(salt=REPLY_SALT).sign(str(lead_id)).replace(":", "-")
    return f"{local}+lead-{token}@{domain}"


def _lead_from_plus_address(addresses: list[str]) -> int | None:
    for address in addresses:
        if match := PLUS_RE.search(address):
            token = match.group(1)
            value, _, signature = token.partition("-")  # the id is digits; the rest is signed
            try:
                return int(signing.Signer(salt=REPLY_SALT).unsign(f"{value}:{signature}"))
            except (signing.BadSignature, ValueError):
                continue
    return None


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


# Header fields every email carries some of (RFC 5322 3.6, and what mail servers add). A file
# with none of them in its header block is no email: a picture, a note, an empty file.
EMAIL_HEADERS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id",
    "in-reply-to", "references", "received", "return-path", "delivered-to", "mime-version",
})


def not_an_email(raw: bytes) -> str:
    """Why `raw` is no email message, or "" when it is one (its header block, only, is read)."""
    if not raw.strip():
        return "the file is empty"
    headers = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        raw, headersonly=True)
    if not {name.lower() for name in headers} & EMAIL_HEADERS:
        return "no From:, To:, Subject: or Date: header"
    return ""


def message_id(message: EmailMessage, provider_id: str = "") -> str:
    """The message's key: its Message-ID; without one, the ESP's own id for it, else a hash of
    what the sender wrote (content_key)."""
    value = str(message.get("Message-ID", "") or "").strip().strip("<>").strip()
    return value or provider_id or content_key(message)


def content_key(message: EmailMessage) -> str:
    """A key for mail without a Message-ID that is the same on every delivery of it: a hash of
    the sender, date, subject and text, not of the MIME bytes, which an ESP rebuilding the
    message (anymail from Postmark's JSON) writes with a new random boundary each time."""
    part = message.get_body(preferencelist=("plain", "html"))
    text = _content(part) if part is not None else ""
    words = [" ".join(str(message.get(name, "")).split()) for name in ("From", "Date", "Subject")]
    canonical = "\n".join([*words, "\n".join(line.rstrip() for line in text.splitlines())])
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", errors="replace")).hexdigest()


# ESPs whose inbound event id names the message, the same on every retry: Postmark's
# MessageID, Amazon SES's messageId, Postal's message id, MailerSend's and Brevo's inbound ids,
# Mailtrap's inbox/message and Resend's svix-id. (Mailgun's is the request's signing token.)
ESP_MESSAGE_IDS = {"Postmark", "Amazon SES", "Postal", "MailerSend", "Brevo", "SendinBlue",
                   "Mailtrap", "Resend"}


def provider_message_id(esp_name: str, event_id: object) -> str:
    """The ESP's own id of an inbound message as a key ("postmark:73e6d360-..."), or ""."""
    if esp_name not in ESP_MESSAGE_IDS or not isinstance(event_id, str) or not event_id.strip():
        return ""
    return f"{esp_name.lower().replace(' ', '-')}:{event_id.strip()}"


def own_addresses() -> list[str]:
    """Our addresses ("sales@x.com") and domains ("@x.com"), case-folded."""
    found = [*settings.EMAIL_OWN_ADDRESSES, *ChannelSettings.for_channel(SETTINGS).own_address_list]
    for sender in (settings.DEFAULT_FROM_EMAIL, settings.SERVER_EMAIL, settings.IMAP_USER):
        address = parseaddr(sender or "")[1]
        if "@" in address:
            found.append(address)
    return [a.strip().casefold() for a in found if a.strip()]


def ignore_reason(message: EmailMessage) -> str:
    """Why this message is not a person writing to us (RFC 3834, RFC 2369, RFC 3464), or ""."""
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"auto-reply (Auto-Submitted: {auto})"
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return "auto-reply (X-Autoreply)"
    if message.get("List-Id") or message.get("List-Unsubscribe"):
        return f"mailing list ({message.get('List-Id') or 'List-Unsubscribe'})"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"bulk or auto-reply (Precedence: {precedence})"
    if message.get_content_type() == "multipart/report" or str(
        message.get("Return-Path", "")
    ).strip() == "<>":
        return "bounce or delivery report"
    sender = parse_email_safe(str(message.get("From", "")))
    local = sender.partition("@")[0].lower()
    if local in ("mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply"):
        return f"automatic sender {sender}"
    if not sender:
        return "no sender address"
    key = email_key(sender)
    for own in own_addresses():
        if key.endswith(own) if own.startswith("@") else key == email_key(own):
            return f"our own address {sender}"
    return ""


def parse_email_safe(raw: str) -> str:
    try:
        return parse_email(raw)[1]
    except Exception:
        return ""


def _content(part) -> str:
    """A text part's text: in its declared charset when its bytes are that, else in UTF-8
    when they are valid UTF-8 (many mailers send UTF-8 as 8bit naming no charset, or ASCII),
    else the declared charset with U+FFFD for what it cannot read."""
    raw = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    for encoding in (charset, "utf-8"):
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeError):
            continue
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


def text_of(message: EmailMessage) -> str:
    """The plain-text body (HTML converted), with quoted replies and signatures trimmed. An
    empty text part does not hide the HTML (an ESP building the message from an HTML-only
    mail, as anymail does for Postmark, adds one)."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = _content(part)
    if part.get_content_type() == "text/plain" and not content.strip():
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            part, content = html, _content(html)
    if part.get_content_type() == "text/html":
        converter = html2text.HTML2Text()
        converter.body_width = 0
        converter.ignore_images = True
        content = converter.handle(content)
    try:
        latest = EmailReplyParser(languages=["en", "de", "fr", "es", "nl"]).parse_reply(content)
    except Exception:  # the trimming is a nicety; never lose the mail over it
        latest = None
    return _without_signature(latest or content).strip()


# A signed mail's signature is a part of its own; no person attached it.
SIGNATURE_TYPES = {"application/pgp-signature", "application/pkcs7-signature",
                   "application/x-pkcs7-signature"}


def attachment_names(message: EmailMessage) -> list[str]:
    """The files that came with a message, by name (else their type): its timeline entry says
    so, as an SMS's says its media. Every part is looked at, not only the top level's (anymail
    builds Postmark's and SendGrid's attachments into a multipart/related); a nameless part
    that is not marked an attachment is text (the body, a list's footer), and an inline part
    with a Content-ID is a picture inside the HTML (a signature's logo)."""
    names: list[str] = []

    def leaves(part):
        if part.get_content_maintype() == "multipart":
            for sub in part.iter_parts():
                yield from leaves(sub)
        else:
            yield part

    try:
        for part in leaves(message):
            name = " ".join(str(part.get_filename() or "").split())[:100]
            disposition = part.get_content_disposition()
            if (part.get_content_type() in SIGNATURE_TYPES
                    or not (name or disposition == "attachment")
                    or (disposition == "inline" and str(part.get("Content-ID") or "").strip())):
                continue
            names.append(name or part.get_content_type())
    except Exception:  # a nicety, like the reply trimming: never lose the mail over it
        logger.warning("Could not list the attachments of an inbound email", exc_info=True)
    return names


def with_attachments(text: str, names: list[str]) -> str:
    """The text with "(2 attachment(s): plan.pdf, desks.png)" below it, as SMS entries say."""
    if not names:
        return text
    listed = ", ".join(names[:10]) + (f", and {len(names) - 10} more" if len(names) > 10 else "")
    return f"{text}\n\n({len(names)} attachment(s): {listed})".strip()


def _without_signature(text: str) -> str:
    """Cut at the signature delimiter ("-- " by RFC 3676; many clients send "--")."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.rstrip() == "--" and index > 0:
            return "\n".join(lines[:index])
    return text


def receive_email(raw: bytes, *, via: str, provider_id: str = "") -> tuple[InboundEvent, bool]:
    """Store one raw RFC 5322 message first, then process it (or keep it as ignored).

    `provider_id` is the ESP's own id of the message (provider_message_id()), the key when the
    message has no Message-ID."""
    message = parse(raw)
    try:
        reason = ignore_reason(message)
        key = message_id(message, provider_id)
        summary = {"subject": str(message.get("Subject", ""))[:500],
                   "from": str(message.get("From", ""))[:500]}
    except Exception:  # a broken header: keep the message, let processing record the error
        logger.warning("Could not read the headers of an inbound email", exc_info=True)
        reason, key, summary = "", provider_id or "sha256:" + hashlib.sha256(raw).hexdigest(), {}
    event, created, _ = receive_event(
        channel=CHANNEL, external_id=key, body=raw,
        payload={"via": via, **summary, **({"provider_id": provider_id} if provider_id else {})},
        headers={"Message-ID": str(summary and message.get("Message-ID", ""))[:500]},
        status=InboundEvent.Status.IGNORED if reason else InboundEvent.Status.RECEIVED,
        reason=reason,
    )
    return event, created


@register_normaliser(CHANNEL)
def normalise(event: InboundEvent) -> IntakeInput:
    message = parse(bytes(event.body))
    try:
        name, address = parse_email(str(message.get("From", "")))
    except Exception:
        raise Rejected(f"The sender {message.get('From')!r} is not an email address.") from None
    if not address:  # a message stored without one is ignored; this one's body was purged
        raise Rejected("The message has no sender address (its raw email may have been "
                       "purged by the retention policy).")
    first, _, last = name.partition(" ")
    subject = " ".join(str(message.get("Subject", "")).split())
    text = text_of(message)
    referenced = [r.strip("<>") for r in " ".join(
        [str(message.get("In-Reply-To", "")), str(message.get("References", ""))]).split()
        if r.strip("<>")]
    threads = Interaction.objects.filter(message_id__in=referenced).exclude(lead__isnull=True)
    # Our alerts to staff (a new lead, an SLA warning or breach) carry a Message-ID on the
    # timeline too, but only staff ever saw them: an answer to one is a rep or a manager
    # pressing Reply, not the prospect writing (it stopped their sequence and told the rep
    # "Grace replied by email: can Bob take this?").
    thread = (threads.exclude(direction=Interaction.Direction.INTERNAL).order_by(
        "-occurred_at").first() if referenced else None)
    if thread is None and referenced and threads.exists():
        raise Ignored("A reply to one of our alerts to staff (a rep or a manager answering "
                      "it), not a message from the prospect.")
    recipients = [a for _, a in getaddresses(
        [str(message.get(h, "")) for h in ("To", "Cc", "Delivered-To")])]
    lead_id = thread.lead_id if thread else _lead_from_plus_address(recipients)
    try:
        sent_at = parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError):
        sent_at = None
    if sent_at is not None and sent_at.tzinfo is None:
        sent_at = None
    is_reply = bool(lead_id)
    return IntakeInput(
        channel=LeadChannel.EMAIL,
        fields={"email": address, "first_name": first, "last_name": last,
                **({} if is_reply else {"message": text})},
        summary=(f"Replied: {subject}" if is_reply else f"Email: {subject}")[:255]
        if subject else "Email",
        body=with_attachments(text, attachment_names(message)),
        occurred_at=sent_at or event.received_at,
        source=ChannelSettings.for_channel(SETTINGS).source or "email",
        kind=Interaction.Kind.EMAIL,
        notify_prospect=False,
        follow_up=True,  # the person wrote to us: unanswered, they are followed up
        lead_id=lead_id,
        message_id=message_id(message, event.payload.get("provider_id", "")),
    )


PREPARERS.register(CHANNEL)(lambda event: process_inbound_event(event.id) is not None)


# --- django-anymail inbound webhooks (Mailgun, SendGrid, Postmark, SES, ...) -------------

try:
    from anymail.signals import inbound as anymail_inbound
except ImportError:  # pragma: no cover - anymail is a dependency
    anymail_inbound = None

if anymail_inbound is not None:

    @receiver(anymail_inbound, dispatch_uid="capture.email.anymail_inbound")
    def anymail_message(sender, event, esp_name: str, **kwargs) -> None:
        raw = event.message.as_bytes()  # an unreadable message is the ESP's payload error
        try:
            receive_email(raw, via=f"anymail:{esp_name}",
                          provider_id=provider_message_id(esp_name, event.event_id))
        except Exception as exc:  # ours: a 500, so the ESP retries
            raise IntakeFailed(str(exc)) from exc


class IntakeFailed(Exception):
    """Storing an inbound email failed on our side (not a payload the ESP library refused)."""


# What django-anymail raises on a payload it cannot read (bad JSON, missing keys, non-ASCII
# signature fields, deep nesting): the sender's error, a 400, never a 500.
UNREADABLE_PAYLOAD = (ValueError, LookupError, TypeError, AttributeError, RecursionError)


def _aws_errors() -> tuple[type[Exception], ...]:
    """What boto3 raises when anymail's Amazon SES webhook calls AWS (none without boto3)."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - the amazon-ses extra is installed
        return ()
    return (BotoCoreError, ClientError)


# AWS refusing our credentials (or their rights): a setting to fix, not a moment to wait out.
AWS_AUTH_ERRORS = {"AccessDenied", "AuthorizationError", "InvalidClientTokenId",
                   "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken"}


def _aws_refusal(request, exc: Exception) -> JsonResponse:
    """Amazon SES through anymail calls AWS with boto3: to confirm the SNS subscription, and to
    read a message SES keeps in S3. No AWS credentials (or refused ones) is a setting missing,
    a 403 that says what to set and the token to confirm the subscription by hand; AWS out of
    reach is a 503, which SNS retries. Either was a 500."""
    from botocore.exceptions import ClientError, NoCredentialsError, ParamValidationError

    if isinstance(exc, ParamValidationError):  # a TopicArn or Token AWS cannot take
        return JsonResponse({"error": "The ESP's payload could not be read."}, status=400)
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if isinstance(exc, NoCredentialsError) or code in AWS_AUTH_ERRORS:
        token = ""
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            token = str(json.loads(request.body).get("Token") or "")[:200]
        return JsonResponse({"error": (
            "Amazon SES needs AWS credentials on this server, allowed to confirm the SNS "
            "subscription (and to read mail SES keeps in S3): set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY" + (f", or confirm the subscription in the SNS console "
                                       f"with the token {token}" if token else "") + ".")},
            status=403)
    logger.warning("Amazon SES inbound: AWS could not be reached: %r", exc)
    response = JsonResponse({"error": "Amazon Web Services could not be reached just now; "
                             "retry later."}, status=503)
    response["Retry-After"] = "60"
    return response


def anymail_urls() -> tuple[list, str]:
    """django-anymail's webhook URLs (inbound mail here; tracking events for followup's
    bounce handling), answering refusals as JSON like every other channel."""
    from anymail import urls
    from django.urls import URLPattern

    patterns = [URLPattern(p.pattern, _json_refusals(p.callback), p.default_args, p.name)
                for p in urls.urlpatterns]
    return patterns, "anymail"


def refusal_message(exc: Exception) -> str:
    """Anymail's own words for a refusal, without what its str() adds: the exception it was
    raised from ("django.utils.datastructures.MultiValueDictKeyError: 'token'")."""
    message = " ".join(str(arg) for arg in exc.args).strip()
    return message.splitlines()[0] if message else "Refused."


def _json_refusals(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if limited := over_webhook_rate(request, "email"):
            return limited
        if not ChannelSettings.for_channel(SETTINGS).is_active:
            return JsonResponse({"error": "This channel is switched off."}, status=404)
        if not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
            # Without basic auth anyone could post mail as leads: refuse, as the other
            # channels refuse without their provider secret.
            return JsonResponse({"error": "Inbound email is not configured on this server "
                                 "(ANYMAIL_WEBHOOK_SECRET)."}, status=403)
        try:
            response = view(request, *args, **kwargs)
        except RequestDataTooBig:
            return JsonResponse({"error": "The message is larger than this server accepts "
                                 "(DATA_UPLOAD_MAX_MEMORY_SIZE)."}, status=413)
        except SuspiciousOperation as exc:  # anymail: bad basic auth or ESP signature
            return JsonResponse({"error": refusal_message(exc)}, status=400)
        except ImproperlyConfigured:  # e.g. MAILGUN_WEBHOOK_SIGNING_KEY not set
            return JsonResponse({"error": "Inbound email from this provider is not "
                                 "configured on this server."}, status=403)
        except IntakeFailed:
            raise
        except _aws_errors() as exc:
            return _aws_refusal(request, exc)
        except UNREADABLE_PAYLOAD as exc:
            logger.warning("Unreadable inbound email payload from the ESP: %r", exc)
            return JsonResponse({"error": "The ESP's payload could not be read."}, status=400)
        except AnymailAPIError as exc:
            if type(exc) is not AnymailAPIError:  # its boto3 kinds: S3 could not be read
                raise
            # The Amazon SES webhook's word for an SNS post it cannot read (no SNS envelope, as
            # with SNS's raw message delivery on; a type SNS does not send; a Message that is
            # not JSON): the sender's error, which no retry mends.
            return JsonResponse({"error": refusal_message(exc)[:500]}, status=400)
        if response.status_code == 405:  # Django's empty HTML 405: a GET, say
            allowed = response.get("Allow", "POST")
            response = JsonResponse({"error": "Use POST."}, status=405)
            response["Allow"] = allowed  # anymail's: HEAD and OPTIONS too (ESPs' checks)
        return response

    return wrapper


# --- IMAP poller (a django-q2 schedule) ------------------------------------------------------

def poll_imap(limit: int = 200) -> int:
    """Fetch unseen messages; each is marked seen only after it is stored. Returns how many."""
    if not settings.IMAP_HOST:
        return 0
    if not ChannelSettings.for_channel(SETTINGS).is_active:
        return 0  # switched off: the mail stays unseen in the mailbox until it is on again
    cls = imaplib.IMAP4_SSL if settings.IMAP_SSL else imaplib.IMAP4
    stored = 0
    with cls(settings.IMAP_HOST, settings.IMAP_PORT, timeout=30) as imap:
        imap.login(settings.IMAP_USER, settings.IMAP_PASSWORD)
        status, _ = imap.select(settings.IMAP_FOLDER)
        if status != "OK":
            raise RuntimeError(f"IMAP folder {settings.IMAP_FOLDER!r} cannot be opened.")
        status, data = imap.uid("SEARCH", None, "UNSEEN")
        uids = (data[0] or b"").split()[:limit] if status == "OK" else []
        for uid in uids:
            status, parts = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple)), None)
            if status != "OK" or raw is None:
                logger.warning("IMAP message %s could not be fetched", uid)
                continue
            receive_email(raw, via="imap")
            imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            stored += 1
    return stored
