"""Writes from the rep's pages: claim a lead, log a call, add a note.

Emails and texts to the prospect are replies through the outbox (followup.replies).

Status changes and contacts go through capture.services (set_lead_status, log_rep_contact),
reassignment through routing.services.reassign_lead: one place for each rule.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from capture.models import Channel, Interaction, Lead
from capture.services import log_rep_contact, mark_contacted, person_name
from capture.signals import lead_touched
from routing.access import is_rep
from routing.queue import tab_leads
from routing.signals import lead_assigned


class CallOutcome:
    CONNECTED = "connected"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    choices = [
        (CONNECTED, "Spoke with them"),
        (VOICEMAIL, "Left a voicemail"),
        (NO_ANSWER, "No answer"),
        (WRONG_NUMBER, "Wrong number"),
    ]
    labels = dict(choices)


@transaction.atomic
def snooze_lead(*, lead: Lead, user, until, note: str = "") -> datetime:
    """Put the lead out of its owner's queue until `until`; it comes back by itself then (the
    queue filters on the time: no timer), or at once when the prospect writes (the intake
    clears it). The SLA clock is not stopped."""
    Lead.objects.filter(pk=lead.pk).update(snoozed_until=until)
    lead.snoozed_until = until
    local = timezone.localtime(until)
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=Channel.MANUAL, actor=user,
        summary=(f"Snoozed by {person_name(user)} until {local:%a %d %b %Y, %H:%M} "
                 f"{local.tzname()}")[:255], body=note)
    return until


@transaction.atomic
def wake_lead(*, lead: Lead, user) -> bool:
    """End a snooze now. False if the lead was not snoozed."""
    woken = Lead.objects.filter(pk=lead.pk, snoozed_until__gt=timezone.now()).update(
        snoozed_until=None)
    lead.snoozed_until = None
    if woken:
        Interaction.objects.create(
            lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
            channel=Channel.MANUAL, actor=user,
            summary=f"Back in the queue: {person_name(user)} ended the snooze"[:255])
    return bool(woken)


NOT_A_REP_TO_WORK = ("Nobody owns this lead yet: give it to one of your reps with Reassign, "
                     "and they contact the prospect.")
TAKEN = "Someone else has taken this lead already."


def claim_to_work(*, lead: Lead, user) -> str | None:
    """Working a lead waiting in a team queue (contacting the prospect, moving its status, a
    chat reply) claims it first, as the queue's Claim does: that work is the owner's, and the
    lead must leave the queue. None once it is the user's; else why not (not a rep, or gone
    from their teams' queues, or claimed by another rep just now)."""
    if not is_rep(user):
        return NOT_A_REP_TO_WORK
    if not tab_leads(user, "team").filter(pk=lead.pk).exists() or not claim_lead(
            lead_id=lead.pk, user=user):
        return TAKEN
    lead.owner = user
    return None


@transaction.atomic
def claim_lead(*, lead_id: int, user) -> bool:
    """Take an unassigned lead. A conditional UPDATE (owner IS NULL), so when two reps click at
    once exactly one gets it; the other is told it is gone. The caller checks the team."""
    claimed = Lead.objects.filter(pk=lead_id, owner__isnull=True).update(owner=user)
    if not claimed:
        return False
    lead = Lead.objects.get(pk=lead_id)
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.ASSIGNMENT,
        channel=Channel.MANUAL, actor=user,
        summary=f"Claimed from the team queue by {person_name(user)}"[:255])
    lead_assigned.send(sender=Lead, lead=lead, owner_id=user.pk, previous_owner_id=None,
                       decision=None, acting_user=user)
    return True


@transaction.atomic
def log_call(*, lead: Lead, user, outcome: str, notes: str = "") -> Interaction:
    """A call the rep made, on the timeline. One that reached the prospect (they answered, or
    heard a voicemail) stamps the first response; one they answered also clears "call back"
    and makes a new lead contacted. No answer or a wrong number contacts nobody: the response
    clock and the follow-up run on."""
    interaction = log_rep_contact(
        lead=lead, user=user, kind=Interaction.Kind.CALL, body=notes,
        summary=f"Call by {person_name(user)}: {CallOutcome.labels.get(outcome, outcome)}",
        reached=outcome in (CallOutcome.CONNECTED, CallOutcome.VOICEMAIL))
    if outcome == CallOutcome.CONNECTED:
        if lead.needs_callback:
            Lead.objects.filter(pk=lead.pk).update(needs_callback=False)
            lead.needs_callback = False
        mark_contacted(lead=lead, user=user)
    return interaction


@transaction.atomic
def add_note(*, lead: Lead, user, body: str) -> Interaction:
    """An internal note: on the timeline, never a contact with the prospect."""
    now = timezone.now()
    interaction = Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.NOTE,
        channel=Channel.MANUAL, actor=user, occurred_at=now,
        summary=f"Note by {person_name(user)}"[:255], body=body)
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=now)
    lead_touched.send(sender=Lead, lead=lead, interaction=interaction)
    return interaction
