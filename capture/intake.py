"""The intake pipeline every channel calls: store the raw event, normalise, resolve, write.

    store_inbound_event()  -> committed InboundEvent (unique per channel + provider id)
    process_inbound_event() -> normalise (the channel's function) -> receive_lead()
    receive_lead()          -> match or create the Lead, add an Interaction, send lead_received
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from capture.fields import LEAD_FIELDS, MAX_LENGTHS
from capture.identity import country_code, country_of_phone, email_key
from capture.models import (
    OPEN_STATUSES,
    InboundEvent,
    IntakeForm,
    Interaction,
    Lead,
    LeadIdentity,
    LeadStatus,
)
from capture.privacy import erased_event_id, erased_identity, is_new_opt_in, lift_erasure
from capture.services import log_rep_contact
from capture.signals import lead_creating, lead_received

logger = logging.getLogger(__name__)

MAX_RAW_BODY = 1024 * 1024  # bytes of a raw payload we keep; larger requests are refused earlier
MAX_PROCESS_ATTEMPTS = 5


@dataclass(frozen=True)
class Consent:
    text: str
    given_at: datetime
    ip: str | None = None


@dataclass(frozen=True)
class PlatformAccount:
    """The sender's account on a messaging platform (a LeadIdentity once taken in)."""

    platform: str  # a LeadIdentity.Platform value
    external_id: str
    display_name: str = ""
    address: str = ""  # where replies go, when it is not external_id (a Telegram chat id)
    # A public comment, not a message: it opens no messaging window (Meta allows one private
    # reply to the comment instead), so it moves last_comment_*, not last_inbound_at.
    comment_id: str = ""


@dataclass(frozen=True)
class IntakeInput:
    """One sign of interest, normalised: what every channel turns its payload into."""

    channel: str  # a Lead.Channel value
    fields: Mapping[str, str]  # lead field name -> value; email as typed, phone in E.164
    summary: str
    body: str = ""
    occurred_at: datetime | None = None
    form_id: int | None = None
    source: str = ""
    consent: Consent | None = None
    notify_prospect: bool = True  # False for imports and demo data: no acknowledgement email
    # A new lead's follow-up sequence (None: as notify_prospect). True for a request emailed
    # to us: it gets no acknowledgement, but nobody answering it is followed up like a form's.
    follow_up: bool | None = None
    kind: str = Interaction.Kind.SUBMISSION
    # Optional, for channels: attach to this lead instead of matching (a reply to our email,
    # a Messenger sender we know), the message id recorded on the Interaction for threading,
    # and lead flags a channel may set ("do_not_text", "needs_callback"; "answered", set on
    # no lead, says a call was put through, which stops the follow-up).
    lead_id: int | None = None
    message_id: str = ""
    # The IntakeForm row itself when the channel has it loaded (saves the listeners a query).
    form: IntakeForm | None = field(default=None, compare=False, repr=False)
    flags: Mapping[str, bool] = field(default_factory=dict)
    # Custom lead field values by key, already checked by the channel (capture.custom_fields);
    # Lead.save() checks them again against the definitions.
    custom: Mapping[str, object] = field(default_factory=dict)
    # The sender's platform account: matched before email and phone, stored on the lead.
    identity: PlatformAccount | None = None
    # A channel's own first-response target (a live chat's, in seconds): a new lead's deadline
    # is the sooner of it and its tier's, so the owner's alert names the right one.
    respond_within: timedelta | None = None
    # A partner's key or a webhook source may acknowledge its leads with a form's message
    # (the form's id; ApiKey/WebhookSource.acknowledge_with). A web form uses its own.
    acknowledge_with: int | None = None
    # Whether the owner of a lead this matches hears of it (followup's reply notice). False
    # where nobody wrote (an import) or the channel tells the owner itself (the live chat).
    tell_owner: bool = True


@dataclass(frozen=True)
class OurReply:
    """Our own side answering on the prospect's platform, as its webhook reports it (a member of
    our Slack workspace in the channel, our X account's direct message, our Page's reply to a
    comment). Replies there are written outside leadcrm: this is how such a lead is answered.
    A channel's normaliser finds the lead it answers (or raises Ignored); it makes no lead."""

    lead: Lead
    channel: str  # a Lead.Channel value
    summary: str
    body: str = ""
    occurred_at: datetime | None = None
    message_id: str = ""  # the platform's id of our message


class Rejected(Exception):
    """The payload is authentic but not a lead (spam, no way to reach the person, ...)."""


class Ignored(Rejected):
    """Authentic and expected, but nothing to act on (an auto-reply, a delivery receipt)."""


class Erased(Ignored):
    """The person asked to be erased: nothing of theirs is stored again (not even the raw
    payload) until they opt in anew through a form (capture/privacy.py)."""


# What an event of an erased person keeps: that it came, not what it said.
ERASED_EVENT = {"body": b"", "payload": {}, "headers": {}, "remote_ip": None}


LEAD_FLAGS = ("do_not_text", "needs_callback")


@dataclass
class IntakeResult:
    lead: Lead
    created: bool
    interaction: Interaction
    filled: list[str] = field(default_factory=list)


def clean_text(value: object) -> str:
    """Text safe for every database: NUL characters removed (PostgreSQL refuses them)."""
    return str(value).replace("\x00", "").strip() if value is not None else ""


EVENT_KEY_LENGTH = 255  # InboundEvent.external_id


def event_key(external_id: object) -> str:
    """The key a provider's id is stored under: the id itself when it fits the column, else
    its start and a hash of the whole (cut short, two ids sharing their first 255 characters
    were one event, and the second delivery was dropped as a retry of the first)."""
    key = clean_text(external_id)
    if len(key) <= EVENT_KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:EVENT_KEY_LENGTH - len(digest) - 8]}~sha256:{digest}"


def clean_payload(value: object) -> object:
    """A JSON-able copy of a parsed payload with NUL characters removed from keys and values."""
    if isinstance(value, Mapping):
        return {clean_text(k): clean_payload(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_payload(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


def _event_row(
    *,
    channel: str,
    external_id: str,
    body: bytes = b"",
    payload: object = None,
    headers: Mapping[str, str] | None = None,
    remote_ip: str | None = None,
    form: IntakeForm | None = None,
    status: str = InboundEvent.Status.RECEIVED,
    reason: str = "",
    attempts: int = 0,
) -> InboundEvent:
    return InboundEvent(
        channel=channel,
        external_id=event_key(external_id),
        body=bytes(body[:MAX_RAW_BODY]),
        payload=clean_payload(payload or {}),
        headers=clean_payload(dict(headers or {})),
        remote_ip=remote_ip,
        form=form,
        status=status,
        reason=reason,
        attempts=attempts,
    )


def store_inbound_event(**fields) -> tuple[InboundEvent, bool]:
    """Commit a raw event on its own; a retry of the same provider id finds the stored one.

    For events processed later (a task, a rejected submission kept with its reason);
    receive_event() stores and processes in one go.
    """
    event = _event_row(**fields)
    try:
        with transaction.atomic():  # a savepoint inside a caller's transaction
            event.save()
    except IntegrityError:  # a retry, or the same event arriving concurrently
        return InboundEvent.objects.get(channel=event.channel,
                                        external_id=event.external_id), False
    return event, True


def receive_event(
    *,
    channel: str,
    external_id: str,
    data: IntakeInput | None = None,
    process: bool = True,
    **stored,
) -> tuple[InboundEvent, bool, IntakeResult | None]:
    """Store an inbound event and take it in: what every channel calls.

    The event row is written first and everything it causes (lead, interaction, scoring,
    routing, outbox rows, their tasks) commits with it in one transaction. A retried provider
    id or a double-clicked submit finds its event and creates nothing. If taking it in fails,
    the transaction rolls back and the event is stored on its own as *failed* (or rejected,
    or ignored) with the reason, so whatever the provider is answered 2xx for is kept, and
    the sweeper and the admin's reprocess run it again. A concurrent twin (the same event, or
    the same person through another request) surfaces as an IntegrityError: the transaction
    is rolled back and tried again, and the second try finds what the twin committed.

    `data` is the input when the channel already normalised it (the web form validated it);
    else the channel's registered normaliser reads the stored event. `process=False` only
    stores (a task processes it later).
    """
    external_id = event_key(external_id)
    processing = process and stored.get("status", InboundEvent.Status.RECEIVED) == (
        InboundEvent.Status.RECEIVED)
    failure: Exception | None = None
    for attempt in range(3):
        try:
            with transaction.atomic():
                # The first try just inserts: a retried provider id collides with the stored
                # event on its unique (channel, external_id), and the next try returns it.
                if attempt:
                    existing = InboundEvent.objects.filter(
                        channel=channel, external_id=external_id).first()
                    if existing is not None:
                        return existing, False, None
                event = _event_row(channel=channel, external_id=external_id,
                                   attempts=1 if processing else 0, **stored)
                event.save()
                return event, True, _take_in(event, data) if processing else None
        except (IntegrityError, OperationalError) as exc:
            failure = exc
            if isinstance(exc, OperationalError) and not _twins_deadlocked(exc):
                break
            logger.debug("%s %s collided (a retry of a stored event, or a concurrent twin); "
                        "looking again (%s)", channel, external_id, attempt)
        except Exception as exc:
            failure = exc
            break
    outcome = _outcome_of(failure, f"{channel} {external_id}")
    if isinstance(failure, Erased):  # even a Message-ID can name the person
        stored, external_id = {**stored, **ERASED_EVENT}, erased_event_id(channel, external_id)
    stored = {**stored, **outcome}
    event, created = store_inbound_event(channel=channel, external_id=external_id, attempts=1,
                                         **stored)
    return event, created, None


DEADLOCKED = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure


def _twins_deadlocked(exc: OperationalError) -> bool:
    """Two twins of one person inserting their email and phone in the other order into the
    unique indexes: PostgreSQL aborts one. Like a collision, the next try finds the other's."""
    return getattr(exc.__cause__, "sqlstate", None) in DEADLOCKED


# channel adapter name -> function(event) -> IntakeInput (filled by capture.channels)
NORMALISERS: dict[str, Callable[[InboundEvent], IntakeInput | OurReply]] = {}


def register_normaliser(channel: str):
    def decorator(func):
        NORMALISERS[channel] = func
        return func

    return decorator


def process_inbound_event(event_id: int) -> IntakeResult | None:
    """Take in an event stored earlier (a task, the sweeper, the admin's reprocess).

    Safe to call again: an event that is already processed or rejected is left alone.
    """
    event = InboundEvent.objects.filter(
        id=event_id, status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED]
    ).first()
    if event is None:
        return None
    # The claim: only the caller whose conditional UPDATE moves `attempts` on goes ahead.
    claimed = InboundEvent.objects.filter(
        id=event.id, status=event.status, attempts=event.attempts
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        return None
    event.attempts += 1
    try:
        with transaction.atomic():
            return _take_in(event)
    except Exception as exc:
        outcome = _outcome_of(exc, f"event {event.id}")
        if isinstance(exc, Erased):
            outcome = {**outcome, **ERASED_EVENT,
                       "external_id": erased_event_id(event.channel, event.external_id)}
        InboundEvent.objects.filter(id=event.id).update(processed_at=timezone.now(), **outcome)
        for name, value in outcome.items():
            setattr(event, name, value)
        return None


def _take_in(event: InboundEvent, data: IntakeInput | None = None) -> IntakeResult:
    """Normalise (unless given) and receive one event; mark it processed. Raises on failure."""
    if data is None:
        data = NORMALISERS[event.channel](event)
    result = (record_our_reply(data, event=event) if isinstance(data, OurReply)
              else receive_lead(data, event=event))
    outcome = {"status": InboundEvent.Status.PROCESSED, "reason": "", "lead": result.lead,
               "created_lead": result.created, "processed_at": timezone.now()}
    InboundEvent.objects.filter(id=event.id).update(**outcome)
    for name, value in outcome.items():
        setattr(event, name, value)
    return result


def _outcome_of(exc: Exception | None, what: str) -> dict[str, str]:
    """How a failed intake is recorded on its event."""
    if isinstance(exc, Ignored):
        return {"status": InboundEvent.Status.IGNORED, "reason": str(exc)}
    if isinstance(exc, Rejected):
        return {"status": InboundEvent.Status.REJECTED, "reason": str(exc)}
    logger.error("Taking in %s failed", what, exc_info=exc)
    return {"status": InboundEvent.Status.FAILED, "reason": f"{type(exc).__name__}: {exc}"[:2000]}


# channel -> whether a stored event still waits for that channel's own step (a lead ad or a
# LinkedIn form response fetched from the provider): the channel's schedule does that step;
# the sweeper leaves the event alone, so its reason (why the fetch failed) and attempts stay.
AWAITING_FETCH: dict[str, Callable[[InboundEvent], bool]] = {}


def retry_failed_events(limit: int = 100) -> int:
    """The sweeper: reprocess events that failed (or were stored and never processed)."""
    stale = timezone.now() - timedelta(minutes=1)
    due = InboundEvent.objects.filter(
        Q(status=InboundEvent.Status.FAILED, attempts__lt=MAX_PROCESS_ATTEMPTS)
        | Q(status=InboundEvent.Status.RECEIVED, received_at__lt=stale)
    ).order_by("received_at", "id")
    # Page through the due events until `limit` of them do not wait for a fetch: however long
    # the backlog of lead ads during a provider outage, none of them is reprocessed here.
    ids: list[int] = []
    page = max(limit, 1) * 4
    for start in itertools.count(0, page):
        rows = list(due.values_list("id", "channel")[start:start + page])
        maybe_waiting = [event_id for event_id, channel in rows if channel in AWAITING_FETCH]
        waiting = {event.id for event in InboundEvent.objects.filter(id__in=maybe_waiting)
                   .only("id", "channel", "payload") if AWAITING_FETCH[event.channel](event)}
        ids += [event_id for event_id, _ in rows if event_id not in waiting][:limit - len(ids)]
        if len(ids) >= limit or len(rows) < page:
            break
    return sum(1 for event_id in ids if process_inbound_event(event_id))


def lead_country(country: str, phone: str) -> str:
    """The country a lead is stored with, as rules compare it: the ISO code ("United Kingdom"
    and "uk" are GB). A call, an SMS or a form without a country still says where the person
    is, by the country code of their phone number (E.164)."""
    if country:
        return country_code(country)
    return country_of_phone(phone) if phone else ""


@transaction.atomic(savepoint=False)  # the caller's transaction, if there is one
def receive_lead(data: IntakeInput, *, event: InboundEvent | None = None) -> IntakeResult:
    """The one place a lead is created or matched. Every channel ends here.

    "A new lead unless it is already in the database": an open lead with the same email key
    or E.164 phone gets an Interaction and its empty fields filled; a closed one is linked to
    a new lead (or reopened, by CLOSED_LEAD_MATCH). A platform account (data.identity) seen
    before finds its lead even without an email or phone; when an email or phone arrives that
    belongs to another open lead, that lead wins and the account moves to it. Concurrent
    duplicates collide on the partial unique constraints (or the identity's); receive_event()
    retries the loser, which then matches.
    """
    values = {
        name: clean_text(data.fields.get(name, ""))[: MAX_LENGTHS[name]]
        for name in LEAD_FIELDS
        if data.fields.get(name)
    }
    key = email_key(values.get("email", ""))
    phone = values.get("phone", "")
    if country := lead_country(values.get("country", ""), phone):
        values["country"] = country
    now = timezone.now()
    account = (data.identity.platform, clean_text(data.identity.external_id)[:128]) \
        if data.identity else None
    if erased_identity(key, phone, account=account):
        if not is_new_opt_in(data.channel, data.consent):
            raise Erased("This person's data was erased on request; only a new opt-in "
                         "through a form with its consent box ticked brings them back.")
        lift_erasure(key, phone)
    if data.lead_id and Lead.objects.filter(pk=data.lead_id, erased_at__isnull=False).exists():
        data = replace(data, lead_id=None)  # never thread new data onto an erased lead

    # A concurrent twin raises IntegrityError on the partial unique constraints here; the
    # caller's transaction is rolled back and receive_event() tries again, as a match.
    lead, created, filled = _match_or_create(data, values, key, phone, now)
    if lead.snoozed_until is not None:  # the prospect wrote: back in the owner's queue now
        Lead.objects.filter(pk=lead.pk).update(snoozed_until=None)
        lead.snoozed_until = None
    if data.identity is not None:
        _remember_identity(lead, data, now, created=created)

    body = clean_text(data.body)
    notes, kept_apart = _contacts_kept_apart(lead, values, key, phone) if not created \
        else ([], {})
    if notes:
        body = "\n".join([body, *notes]) if body else "\n".join(notes)
    interaction = Interaction.objects.create(
        lead=lead,
        direction=Interaction.Direction.INBOUND,
        kind=data.kind,
        channel=data.channel,
        occurred_at=data.occurred_at or now,
        summary=clean_text(data.summary)[:255] or "Inbound",
        body=body,
        inbound_event=event,
        message_id=clean_text(data.message_id)[:255],
        **kept_apart,
    )
    if flags := {k: bool(v) for k, v in data.flags.items() if k in LEAD_FLAGS}:
        Lead.objects.filter(pk=lead.pk).update(**flags)
        for name, value in flags.items():
            setattr(lead, name, value)
    lead_received.send(
        sender=Lead, lead=lead, interaction=interaction, created=created, data=data
    )
    return IntakeResult(lead=lead, created=created, interaction=interaction, filled=filled)


def record_our_reply(reply: OurReply, *, event: InboundEvent) -> IntakeResult:
    """Our answer on the platform, on the lead it answers: the rep contact a reply sent from
    leadcrm is (log_rep_contact: the first one stamps the first response and stops the clock,
    and the follow-up stops), with no actor, since the platform names no user of ours. The
    event's unique key makes a redelivery add nothing. The lead keeps its status: moving it
    is a rep's call, and the system contacts nobody (mark_contacted)."""
    lead = Lead.objects.select_for_update().get(pk=reply.lead.pk)
    interaction = log_rep_contact(
        lead=lead, user=None, kind=Interaction.Kind.MESSAGE, channel=reply.channel,
        summary=clean_text(reply.summary)[:255], body=clean_text(reply.body),
        at=reply.occurred_at or timezone.now())
    Interaction.objects.filter(pk=interaction.pk).update(
        inbound_event=event, message_id=clean_text(reply.message_id)[:255])
    return IntakeResult(lead=lead, created=False, interaction=interaction)


def _match_or_create(data: IntakeInput, values: dict, key: str, phone: str, now: datetime):
    if data.lead_id and (
        lead := Lead.objects.select_for_update().filter(pk=data.lead_id).first()
    ):
        return lead, False, _fill_empty_fields(lead, data, values, now)
    known = _lead_of_account(data)
    identity = Q()
    if key:
        identity |= Q(email_key=key)
    if phone:
        identity |= Q(phone=phone)
    if known is not None and known.status in OPEN_STATUSES:
        # The account's lead, unless the email or phone now given is another open lead's:
        # that lead is the person's, as for every channel, and the account moves to it.
        other = (Lead.objects.select_for_update().filter(identity, status__in=OPEN_STATUSES)
                 .exclude(pk=known.pk).order_by("-created_at").first() if identity else None)
        lead = other or known
        return lead, False, _fill_empty_fields(lead, data, values, now)
    if not identity and known is None:
        return _create(data, values, now), True, []

    # One query: the open leads of this person first, then their latest closed one.
    matches = list(
        Lead.objects.select_for_update()
        .filter(identity)
        .order_by(Case(When(status__in=OPEN_STATUSES, then=0), default=1), "-created_at")[:3]
    ) if identity else []
    candidates = [m for m in matches if m.status in OPEN_STATUSES]
    if candidates:
        # An email match beats a phone match: people share office phones more than inboxes.
        lead = next((c for c in candidates if key and c.email_key == key), candidates[-1])
        filled = _fill_empty_fields(lead, data, values, now)
        return lead, False, filled

    closed = matches[0] if matches else known
    if closed and settings.CLOSED_LEAD_MATCH == "reopen":
        closed.status = LeadStatus.NEW
        filled = _fill_empty_fields(closed, data, values, now, extra_fields=["status"])
        Interaction.objects.create(
            lead=closed, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.STATUS,
            channel=data.channel, summary="Reopened: the prospect got in touch again",
        )
        return closed, False, filled
    lead = _create(data, values, now, previous=closed)
    return lead, True, []


def _lead_of_account(data: IntakeInput) -> Lead | None:
    """The lead a known platform account belongs to (locked), or None."""
    account = data.identity
    if account is None or not account.external_id:
        return None
    return (Lead.objects.select_for_update()
            .filter(identities__platform=account.platform,
                    identities__external_id=account.external_id).first())


def _remember_identity(lead: Lead, data: IntakeInput, now: datetime, *,
                       created: bool = False) -> None:
    """Store or refresh the sender's account on `lead`; a first insert racing a twin raises
    IntegrityError on the unique (platform, external_id), and receive_event() tries again."""
    account = data.identity
    external_id = clean_text(account.external_id)[:128]
    if not external_id:
        return
    at = data.occurred_at or now
    row = LeadIdentity.objects.filter(platform=account.platform,
                                      external_id=external_id).first()
    name = clean_text(account.display_name)[:200]
    address = clean_text(account.address)[:128]
    comment_id = clean_text(account.comment_id)[:128]
    if row is None:
        LeadIdentity.objects.create(lead=lead, platform=account.platform,
                                    external_id=external_id, display_name=name,
                                    address=address, last_inbound_at=None if comment_id else at,
                                    last_comment_id=comment_id,
                                    last_comment_at=at if comment_id else None, created_at=now)
        return
    earlier = (Lead.objects.select_for_update().filter(pk=row.lead_id, status__in=OPEN_STATUSES)
               .first() if row.lead_id != lead.pk else None)
    if earlier is not None and created:
        # This transaction made a new lead because it saw no account; a twin's commit has put
        # the account on an open lead since. Not a merge: the same first contact, twice. Roll
        # back, and receive_event() tries again and finds the twin's lead.
        raise IntegrityError(f"{account.platform} account {external_id} was taken in by a "
                             "concurrent request")
    if earlier is not None:
        _merge_account_lead(earlier, into=lead, platform=row.get_platform_display(), now=now)
    if comment_id:  # the latest comment, whatever order Meta delivers them in
        latest = row.last_comment_at is None or at >= row.last_comment_at
        moved = {"last_comment_id": comment_id, "last_comment_at": at} if latest else {}
    else:  # a message: the window a refused reply closed is open again
        moved = {"last_inbound_at": max(at, row.last_inbound_at) if row.last_inbound_at
                 else at, "window_closed_at": None}
    LeadIdentity.objects.filter(pk=row.pk).update(
        lead=lead, display_name=name or row.display_name, address=address or row.address,
        blocked_at=None, blocked_reason="", **moved)


def _merge_account_lead(earlier: Lead, *, into: Lead, platform: str, now: datetime) -> None:
    """A platform account's open lead turned out to be the person of another open lead (their
    email or phone arrived). A lead known only through platform accounts (no email, no
    phone) is merged: its timeline, events and accounts move, its empty-elsewhere fields fill
    the other lead, and it is closed as merged. One with an email or phone of its own may be
    someone else's (a shared device): it stays, with a note, and only this account moves."""
    if earlier.email or earlier.phone:
        Interaction.objects.create(
            lead=earlier, direction=Interaction.Direction.INTERNAL,
            kind=Interaction.Kind.SYSTEM, channel=earlier.channel, occurred_at=now,
            summary=f"Same person as lead #{into.pk} (their email or phone): {platform} "
            "messages go there now"[:255])
        return
    Interaction.objects.filter(lead=earlier).update(lead=into)
    InboundEvent.objects.filter(lead=earlier).update(lead=into)
    LeadIdentity.objects.filter(lead=earlier).update(lead=into)
    protected = set(into.staff_set_fields or [])
    filled = [name for name in LEAD_FIELDS if name not in ("email", "phone")
              and name not in protected and not getattr(into, name) and getattr(earlier, name)]
    for name in filled:
        setattr(into, name, getattr(earlier, name))
    if filled:
        into.save(update_fields=[*filled, "updated_at"])
    if earlier.first_response_at and not into.first_response_at:
        Lead.objects.filter(pk=into.pk, first_response_at__isnull=True).update(
            first_response_at=earlier.first_response_at)
        into.first_response_at = earlier.first_response_at
    Lead.objects.filter(pk=earlier.pk).update(status=LeadStatus.DISQUALIFIED,
                                              last_activity_at=now, merged_into=into)
    Interaction.objects.create(
        lead=earlier, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.STATUS,
        channel=earlier.channel, occurred_at=now,
        summary=f"Merged into lead #{into.pk}: the same person (their email or phone, given "
        f"on {platform}); its timeline moved there"[:255])
    Interaction.objects.create(
        lead=into, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=earlier.channel, occurred_at=now,
        summary=f"Lead #{earlier.pk} ({platform}) merged in: the same person"[:255])


def _create(data: IntakeInput, values: dict, now: datetime, previous: Lead | None = None) -> Lead:
    lead = Lead(
        channel=data.channel,
        form_id=data.form_id,
        **({"form": data.form} if data.form is not None else {}),
        source=clean_text(data.source)[:100],
        previous_lead=previous,
        created_at=now,
        last_activity_at=now,
        custom_fields=dict(data.custom or {}),
        **values,
    )
    _apply_consent(lead, data)
    lead_creating.send(sender=Lead, lead=lead, data=data)
    lead.save()
    return lead


def _apply_consent(lead: Lead, data: IntakeInput) -> bool:
    if data.consent and not lead.has_consent:
        lead.has_consent = True
        lead.consent_text = clean_text(data.consent.text)  # an API's wording may hold a NUL
        lead.consent_at = data.consent.given_at
        lead.consent_ip = data.consent.ip
        return True
    return False


def _fill_empty_fields(
    lead: Lead, data: IntakeInput, values: dict, now: datetime, extra_fields=()
) -> list[str]:
    """Fill what the lead lacks; never overwrite a value, least of all one staff have set."""
    protected = set(lead.staff_set_fields or [])
    filled = []
    for name, value in values.items():
        if name in protected or getattr(lead, name):
            continue
        if name in ("email", "phone") and _key_taken(lead, name, value):
            continue  # another open lead owns that address: leave both as they are
        setattr(lead, name, value)
        filled.append(name)
    if _apply_consent(lead, data):
        filled += ["has_consent", "consent_text", "consent_at", "consent_ip"]
    custom = dict(lead.custom_fields or {})
    for key, value in (data.custom or {}).items():
        if f"cf_{key}" in protected or key in custom or value in (None, "", []):
            continue
        custom[key] = value
        filled.append(f"cf_{key}")
    if custom != (lead.custom_fields or {}):
        lead.custom_fields = custom
        extra_fields = [*extra_fields, "custom_fields"]
    lead.last_activity_at = now
    update = [*{n: None for n in filled if not n.startswith("cf_")}, *extra_fields,
              "last_activity_at", "updated_at"]
    if "email" in filled:
        update.append("email_key")
    lead.save(update_fields=update)
    return filled


def _contacts_kept_apart(lead: Lead, values: dict, key: str,
                         phone: str) -> tuple[list[str], dict[str, str]]:
    """The email or phone this event gave that its lead does not hold: notes for the timeline,
    and the Interaction's other_email / other_phone values that keep them for privacy (the
    person's export and erasure, capture/privacy.py).

    The lead keeps its own (never overwritten), and one another open lead holds stays there:
    two leads of one person are for a rep to merge, not for the intake to guess. Nothing the
    prospect gave is dropped unseen, and the rep is told where the other lead is."""
    notes, kept = [], {}
    for name, given, held, lookup in (("email", key, lead.email_key, {"email_key": key}),
                                      ("phone", phone, lead.phone, {"phone": phone})):
        if not given or given == held:
            continue
        kept[f"other_{name}"] = given
        other = (Lead.objects.filter(status__in=OPEN_STATUSES, **lookup).exclude(pk=lead.pk)
                 .values_list("pk", flat=True).first())
        where = (f"open lead #{other} has it: the same person?" if other
                 else "this lead keeps its own")
        notes.append(f"Also gave the {name} {values[name]} ({where})")
    return notes, kept


def _key_taken(lead: Lead, name: str, value: str) -> bool:
    lookup = {"email_key": email_key(value)} if name == "email" else {"phone": value}
    return (
        Lead.objects.filter(status__in=OPEN_STATUSES, **lookup).exclude(pk=lead.pk).exists()
    )
