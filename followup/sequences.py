"""Enrol leads in sequences, schedule every step as an outbox row, stop and finish them.

A lead is in at most one running (active or paused) sequence (a partial unique constraint).
Enrolling writes one row per step at once — unique per (enrollment, step), so no step can be
written or sent twice — each due at its delay after the previous step, moved into the lead's
sending window. A paused sequence holds its unsent rows until it is resumed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from capture.models import OPEN_STATUSES, Channel, Interaction, Lead, LeadStatus
from followup.models import Enrollment, OutboundMessage, Sequence, SequenceStep
from followup.windows import add_delay, lead_timezone, next_moment_to_reach
from routing.models import RepProfile

logger = logging.getLogger(__name__)


def owner_timezone(lead: Lead) -> str | None:
    if not lead.owner_id:
        return None
    return RepProfile.objects.filter(user_id=lead.owner_id).values_list(
        "timezone", flat=True).first()


@dataclass(frozen=True)
class _SequenceSpec:
    sequence: Sequence  # read-only: enrolling reads its steps afresh
    tiers: frozenset[str]
    forms: frozenset[int]
    sources: frozenset[str]


_cache: dict[str, tuple[tuple[int, str], tuple[_SequenceSpec, ...]]] = {}


def active_sequences() -> tuple[_SequenceSpec, ...]:
    """The active sequences with their conditions, kept in the process like the rule set.

    A save or delete of a sequence (or of its tiers and forms) moves the rule set's version
    (followup/apps.py), so this costs the one version query when nothing changed.
    """
    from routing.ruleset import current_version

    version = current_version()
    cached = _cache.get("active")
    if cached is not None and cached[0] == version:
        return cached[1]
    specs = tuple(
        _SequenceSpec(sequence, frozenset(t.name for t in sequence.tiers.all()),
                      frozenset(f.pk for f in sequence.forms.all()), sequence.source_set)
        for sequence in Sequence.objects.filter(is_active=True).prefetch_related(
            "tiers", "forms")
    )
    _cache["active"] = (version, specs)
    return specs


def matching_sequence(lead: Lead) -> Sequence | None:
    """The first active sequence whose tier, form and source conditions the lead meets."""
    for spec in active_sequences():
        if spec.tiers and lead.tier not in spec.tiers:
            continue
        if spec.forms and lead.form_id not in spec.forms:
            continue
        if spec.sources and (lead.source or "").casefold() not in spec.sources:
            continue
        return spec.sequence
    return None


def plan_enrolment(lead: Lead, now: datetime | None = None, *,
                   timers: Iterable[OutboundMessage | None] = ()) -> Enrollment | None:
    """For a new lead: enrol at once (the enrolment is returned), or write the "no response
    within N hours" timer row (None is returned: the row may have existed already).

    `timers` are the lead's other unsaved timer rows (its SLA warning), written in the same
    statement: one INSERT whatever the sequence asks for.
    """
    rows = list(timers)
    enrollment = None
    sequence = matching_sequence(lead) if lead.status == LeadStatus.NEW else None
    if sequence is not None:
        now = now or timezone.now()
        if sequence.trigger == Sequence.Trigger.ON_ARRIVAL:
            enrollment = enrol_lead(lead=lead, sequence=sequence, now=now)
        else:
            rows.append(OutboundMessage(
                lead=lead, kind=OutboundMessage.Kind.ENROLMENT_CHECK,
                channel=OutboundMessage.Channel.INTERNAL,
                dedupe_key=f"enrol-check:{lead.pk}:{sequence.pk}",
                subject=f"Enrol in “{sequence.name}” if nobody answered",
                body=str(sequence.pk), due_at=now + timedelta(hours=sequence.no_response_hours),
            ))
    write_timers(rows)
    return enrollment


def write_timers(rows: Iterable[OutboundMessage | None]) -> None:
    """Write timer rows in one statement (None, a timer not due, is left out). Each has a
    unique dedupe_key: a second plan of the same timer hits it and writes nothing (ON CONFLICT
    DO NOTHING / INSERT OR IGNORE)."""
    if rows := [row for row in rows if row is not None]:
        OutboundMessage.objects.bulk_create(rows, ignore_conflicts=True)


def run_enrolment_check(message: OutboundMessage) -> str:
    """The timer fired: enrol the lead if nobody has answered it. Returns what happened."""
    lead = Lead.objects.get(pk=message.lead_id)
    sequence = Sequence.objects.filter(pk=int(message.body or 0), is_active=True).first()
    if sequence is None:
        return "The sequence is gone or switched off."
    if lead.first_response_at is not None:
        return "Somebody answered the lead in time."
    if lead.status != LeadStatus.NEW:
        return f"The lead is {lead.get_status_display().lower()}."
    enrollment = enrol_lead(lead=lead, sequence=sequence, now=message.due_at)
    return f"Enrolled in “{sequence.name}”." if enrollment else "Already in a sequence."


def enrol_lead(*, lead: Lead, sequence: Sequence, now: datetime | None = None) -> Enrollment | None:
    """Put the lead in the sequence with all its steps as rows; None if it is in one already
    (or was in this one before)."""
    now = now or timezone.now()
    if Enrollment.objects.filter(lead=lead, sequence=sequence).exists():
        return None
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(lead=lead, sequence=sequence, enrolled_at=now)
            steps = list(sequence.steps.order_by("position", "id"))
            owner_tz = owner_timezone(lead)
            tz = lead_timezone(lead, owner_tz)
            planned = now
            rows = []
            for step in steps:
                planned = add_delay(planned, step.delay, step.delay_unit, tz)
                rows.append(OutboundMessage(
                    lead=lead, kind=OutboundMessage.Kind.SEQUENCE, channel=step.channel,
                    enrollment=enrollment, step=step, subject=step.subject[:255],
                    due_at=next_moment_to_reach(lead, owner_tz, step.channel, planned,
                                                sequence.window_starts, sequence.window_ends,
                                                sequence.send_on_weekends),
                ))
            OutboundMessage.objects.bulk_create(rows)
    except IntegrityError:  # another active sequence (a concurrent enrolment) got there first
        return None
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=Channel.MANUAL, occurred_at=now,
        summary=f"Enrolled in the sequence “{sequence.name}” ({len(rows)} steps)"[:255],
    )
    if not rows:
        finish_if_done(enrollment.pk)
    return enrollment


RUNNING = (Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED)
UNSENT = (OutboundMessage.Status.SCHEDULED, OutboundMessage.Status.PAUSED)


def stop_enrollment(*, lead: Lead, reason: str) -> bool:
    """Stop the lead's running (active or paused) sequence now: its unsent steps are cancelled;
    the timeline says why. Also drops a pending "no response" enrolment timer. True if
    something stopped."""
    now = timezone.now()
    enrollment = Enrollment.objects.filter(lead=lead, status__in=RUNNING).first()
    OutboundMessage.objects.filter(
        lead=lead, kind=OutboundMessage.Kind.ENROLMENT_CHECK,
        status=OutboundMessage.Status.SCHEDULED,
    ).update(status=OutboundMessage.Status.CANCELLED, last_error=reason[:2000])
    if enrollment is None:
        return False
    stopped = Enrollment.objects.filter(pk=enrollment.pk, status__in=RUNNING).update(
        status=Enrollment.Status.STOPPED, ended_at=now, paused_at=None, stop_reason=reason[:255])
    if not stopped:
        return False
    OutboundMessage.objects.filter(enrollment=enrollment, status__in=UNSENT).update(
        status=OutboundMessage.Status.CANCELLED, last_error=f"Sequence stopped: {reason}")
    _on_timeline(lead, f"Sequence “{enrollment.sequence}” stopped: {reason}", now)
    return True


def stop_on_prospect_reply(*, lead: Lead, reason: str) -> bool:
    """The prospect wrote or called (unanswered): that answers our follow-up once some of it
    reached them (an email or SMS step was sent), and it stops so a person takes over. Before
    that, what they wrote answers nobody — a chat visitor writing on after leaving their
    email, a second WhatsApp before anyone replied — so the "no response" timer and the
    sequence go on: the timer still enrols only a lead nobody answered and that is still
    new, and a rep's answer stops both. A booking or an answered call is a conversation and
    calls stop_enrollment itself (followup.receivers). True if something stopped."""
    replied_to = OutboundMessage.objects.filter(
        lead=lead, kind=OutboundMessage.Kind.SEQUENCE, enrollment__status__in=RUNNING,
        channel__in=[OutboundMessage.Channel.EMAIL, OutboundMessage.Channel.SMS],
        status=OutboundMessage.Status.SENT).exists()
    return replied_to and stop_enrollment(lead=lead, reason=reason)


@transaction.atomic
def pause_enrollment(*, lead: Lead, who: str) -> bool:
    """Hold the lead's active sequence: its unsent steps wait (status paused) until it is
    resumed. A step already being sent goes back to waiting too (services._prepare_step).
    True if it was running and is paused now."""
    now = timezone.now()
    enrollment = _move(lead, Enrollment.Status.ACTIVE, status=Enrollment.Status.PAUSED,
                       paused_at=now)
    if enrollment is None:
        return False
    OutboundMessage.objects.filter(
        enrollment=enrollment, status=OutboundMessage.Status.SCHEDULED,
    ).update(status=OutboundMessage.Status.PAUSED, last_error=f"Paused by {who}.")
    _on_timeline(lead, f"Sequence “{enrollment.sequence}” paused by {who}", now)
    return True


@transaction.atomic
def resume_enrollment(*, lead: Lead, who: str) -> bool:
    """Run a paused sequence again: every held step moves on by the time the sequence was
    paused, so the gaps between steps stay as planned (the sending window is checked again
    when each goes out). True if it was paused and runs again."""
    now = timezone.now()
    enrollment = _move(lead, Enrollment.Status.PAUSED, status=Enrollment.Status.ACTIVE,
                       paused_at=None)
    if enrollment is None:
        return False
    held = now - (enrollment.paused_at or now)
    OutboundMessage.objects.filter(
        enrollment=enrollment, status=OutboundMessage.Status.PAUSED,
    ).update(status=OutboundMessage.Status.SCHEDULED, claimed_at=None, last_error="",
             due_at=F("due_at") + held)
    _on_timeline(lead, f"Sequence “{enrollment.sequence}” resumed by {who}", now)
    return True


def _move(lead: Lead, current: str, **changes) -> Enrollment | None:
    """The lead's enrolment in status `current`, changed by a conditional UPDATE (two clicks at
    once change it once); None if there is none or another click got there first. The
    returned instance keeps its fields as they were (resume reads the old paused_at)."""
    enrollment = Enrollment.objects.filter(lead=lead, status=current).first()
    if enrollment is None or not Enrollment.objects.filter(
            pk=enrollment.pk, status=current).update(**changes):
        return None
    return enrollment


def _on_timeline(lead: Lead, summary: str, at: datetime) -> None:
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=Channel.MANUAL, occurred_at=at, summary=summary[:255],
    )


@transaction.atomic  # the enrolment's end, its timeline entry, the notice and the status
def finish_if_done(enrollment_id: int) -> bool:
    """After a step's last word (sent, skipped, failed, not sent): with nothing left, the
    sequence has ended. When some of it reached the prospect it is complete, and the lead goes
    to the long-term nurture list. When nothing did (a bounced address, a mail server refusing
    every message, steps skipped after downtime, a suppressed address), it ends as undelivered
    with why, the lead stays where it is, and its owner is told: nobody has followed it up.

    A failed step retried from the outbox after the sequence ended undelivered completes it
    once it goes out (services._retried_after_completion)."""
    from capture.services import set_lead_status

    # The enrolment's row lock orders two workers sending its last two steps at once: each
    # had marked its own step sent, uncommitted, and read the other's as still sending, so
    # neither ended the sequence. The second now reads the steps after the first commits.
    list(Enrollment.objects.select_for_update().filter(pk=enrollment_id).values_list("pk"))
    steps = OutboundMessage.objects.filter(enrollment_id=enrollment_id)
    if steps.filter(status__in=[*UNSENT, OutboundMessage.Status.SENDING]).exists():
        return False
    following_up = _following_up(steps)
    reached = reached_prospect(following_up)
    ended = Enrollment.objects.filter(
        pk=enrollment_id, status__in=[Enrollment.Status.ACTIVE, *(
            [Enrollment.Status.UNDELIVERED] if reached else [])],
    ).update(status=Enrollment.Status.COMPLETED if reached else Enrollment.Status.UNDELIVERED,
             ended_at=timezone.now(),
             stop_reason="" if reached else why_undelivered(following_up))
    if not ended:
        return False
    enrollment = Enrollment.objects.select_related("sequence", "lead").get(pk=enrollment_id)
    lead = enrollment.lead
    if not reached:
        _on_timeline(lead, f"Sequence “{enrollment.sequence}” ended: nothing could be "
                           f"delivered ({enrollment.stop_reason})", enrollment.ended_at)
        _tell_owner_undelivered(enrollment)
        return True
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=Channel.MANUAL,
        summary=f"Sequence “{enrollment.sequence}” completed"[:255],
    )
    if enrollment.sequence.then_nurture and lead.status in OPEN_STATUSES \
            and lead.status != LeadStatus.NURTURE:
        try:
            set_lead_status(lead=lead, status=LeadStatus.NURTURE,
                            note=f"No answer after the sequence “{enrollment.sequence}”.")
        except ValueError:
            logger.info("Lead %s could not move to nurture from %s", lead.pk, lead.status)
    return True


# The steps that reach the prospect; a task step is for the owner.
TO_PROSPECT = (OutboundMessage.Channel.EMAIL, OutboundMessage.Channel.SMS)


def _following_up(steps) -> list[dict]:
    """The steps that follow the lead up, read once, latest first: its emails and SMS, or, in
    a sequence of owner tasks alone, the tasks (it follows up through the owner)."""
    rows = list(steps.order_by("-due_at", "-id").values("channel", "status", "last_error"))
    to_prospect = [row for row in rows if row["channel"] in TO_PROSPECT]
    return to_prospect or rows


def reached_prospect(following_up: list[dict]) -> bool:
    """Whether a sequence's steps (_following_up) followed the lead up: one of its emails or
    SMS went out (a task-only sequence: a task was given). A sequence without steps had
    nothing to deliver."""
    return not following_up or any(
        row["status"] == OutboundMessage.Status.SENT for row in following_up)


def why_undelivered(following_up: list[dict]) -> str:
    """E.g. "3 failed (SMTPRecipientsRefused: …), 1 skipped (found 30.0 hours late …)": how
    many steps ended each way, with the latest one's reason."""
    parts = []
    for status, said in ((OutboundMessage.Status.FAILED, "failed"),
                         (OutboundMessage.Status.SKIPPED, "skipped"),
                         (OutboundMessage.Status.CANCELLED, "not sent")):
        ended = [row for row in following_up if row["status"] == status]
        if ended:
            error = " ".join(ended[0]["last_error"].split())
            parts.append(f"{len(ended)} {said}" + (f" ({error[:90]})" if error else ""))
    return ("; ".join(parts) or "no step went out")[:255]


def _tell_owner_undelivered(enrollment: Enrollment) -> None:
    """The owner hears once per lead (an unread notice is brought up to date): nobody has
    followed the lead up, and it stays theirs to reach another way."""
    from followup.models import Notification
    from followup.services import notify_once_per_lead

    lead = enrollment.lead
    if lead.owner_id:
        notify_once_per_lead(
            lead.owner_id, lead, Notification.Kind.FOLLOWUP_UNDELIVERED,
            f"Follow-up could not reach {lead.display_name}: nothing of “"
            f"{enrollment.sequence}” was delivered ({enrollment.stop_reason})")


def step_context(lead: Lead, unsubscribe: str) -> dict:
    owner = lead.owner
    owner_name = (owner.get_full_name() or owner.get_username()) if owner else "The sales team"
    signature = ""
    if owner is not None:
        profile = getattr(owner, "sender_profile", None)
        signature = profile.signature if profile and profile.signature else owner_name
    return {
        "first_name": lead.first_name, "last_name": lead.last_name, "company": lead.company,
        "owner_name": owner_name, "owner_signature": signature or owner_name,
        "unsubscribe_url": unsubscribe,
    }


def sequence_step_ids(enrollment: Enrollment) -> list[int]:
    return list(SequenceStep.objects.filter(sequence_id=enrollment.sequence_id)
                .values_list("id", flat=True))
