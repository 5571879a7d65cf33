"""Writes on leads by staff (the intake's writes live in capture.intake)."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q

from capture.fields import LEAD_FIELDS
from capture.models import Channel, Interaction, Lead


def person_name(user, nobody: str = "nobody") -> str:
    """How the timeline, alerts and pages name a user: the full name, else the username."""
    return (user.get_full_name() or user.get_username()) if user is not None else nobody


def person_sort_key(user) -> list:
    """People in the order their names read: by `person_name`, any case, numbers in it as
    numbers ("Rep 2" before "Rep 10"). re.split keeps text and digits alternating, so the
    lists always compare text with text and numbers with numbers."""
    parts = re.split(r"(\d+)", person_name(user).casefold())
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


@transaction.atomic
def record_staff_edit(*, lead: Lead, changed_fields: list[str], user) -> None:
    """Remember which lead fields staff set (public submissions never overwrite them)."""
    fields = [f for f in changed_fields if f in LEAD_FIELDS or f.startswith("cf_")]
    if not fields:
        return
    lead.staff_set_fields = sorted(set(lead.staff_set_fields or []) | set(fields))
    lead.save(update_fields=["staff_set_fields"])
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.NOTE,
        channel=Channel.MANUAL, actor=user,
        summary=f"{person_name(user)} edited {', '.join(fields)}"[:255],
    )


@transaction.atomic
def set_custom_values(*, lead: Lead, values: dict, user) -> list[str]:
    """Staff set a lead's custom field values (checked by Lead.save against the definitions);
    the keys changed are kept from public submissions like any staff edit."""
    locked = Lead.objects.select_for_update().only("id", "custom_fields").get(pk=lead.pk)
    before = locked.custom_fields or {}
    changed = sorted(k for k in set(before) | set(values) if before.get(k) != values.get(k))
    if not changed:
        return []
    lead.custom_fields = values
    lead.save(update_fields=["custom_fields", "updated_at"])
    record_staff_edit(lead=lead, changed_fields=[f"cf_{k}" for k in changed], user=user)
    return changed


# --- first response and status (followup and the lead pages call these) --------------------

HUMAN_CONTACT_KINDS = {
    Interaction.Kind.CALL: "Logged a call",
    Interaction.Kind.EMAIL: "Emailed the prospect",
    Interaction.Kind.SMS: "Texted the prospect",
    Interaction.Kind.MESSAGE: "Messaged the prospect",
}


def record_first_response(*, lead: Lead, at=None) -> bool:
    """Stamp the first human contact once: the SLA clock stops here. A later call is a no-op.

    A conditional UPDATE, so two reps answering at the same moment stamp it once.
    """
    from django.utils import timezone

    at = at or timezone.now()
    stamped = Lead.objects.filter(pk=lead.pk, first_response_at__isnull=True).update(
        first_response_at=at)
    if stamped:
        lead.first_response_at = at
    return bool(stamped)


@transaction.atomic
def log_rep_contact(*, lead: Lead, user, kind: str, summary: str = "", body: str = "",
                    at=None, channel: str = "", reached: bool = True) -> Interaction:
    """A rep called, emailed or texted the prospect: on the timeline, and it stops the clock.

    `reached=False` is an attempt that did not reach them (a call nobody answered, a wrong
    number): on the timeline only. The response clock runs on and the follow-up goes on, since
    nobody has spoken to the prospect yet."""
    from django.utils import timezone

    from capture.signals import lead_touched

    if kind not in HUMAN_CONTACT_KINDS:
        raise ValueError(f"{kind!r} is not a contact (call, email, sms or message).")
    at = at or timezone.now()
    interaction = Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.OUTBOUND, kind=kind,
        channel=channel or {Interaction.Kind.CALL: Channel.CALL,
                            Interaction.Kind.SMS: Channel.SMS}.get(kind, Channel.EMAIL),
        actor=user, occurred_at=at, summary=(summary or HUMAN_CONTACT_KINDS[kind])[:255],
        body=body,
    )
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=at)
    if reached:
        record_first_response(lead=lead, at=at)
        lead_touched.send(sender=Lead, lead=lead, interaction=interaction)
    return interaction


def _refuse_a_second_open_lead(lead_id: int, key: str, phone: str) -> None:
    """Reopening a closed lead whose person came back since (the intake then made a new lead,
    linked to it): one person has one open lead (the constraints uniq_open_lead_email and
    _phone), so the rep works the newer lead or closes it first."""
    from capture.models import OPEN_STATUSES

    same = Q(pk__in=[])
    if key:
        same |= Q(email_key=key)
    if phone:
        same |= Q(phone=phone)
    twin = (Lead.objects.filter(same, status__in=OPEN_STATUSES).exclude(pk=lead_id)
            .values_list("pk", "email_key").first())
    if twin is not None:
        what = "email address" if key and twin[1] == key else "phone number"
        raise ValueError(f"Lead #{twin[0]} is open for the same person (the same {what}): work "
                         "that lead, or close it before reopening this one.")


def mark_contacted(*, lead: Lead, user) -> bool:
    """A new lead a rep reached is contacted now (the timeline shows the status change): a
    connected call, a reply on their channel, an email, a chat answer. The system (no user)
    contacts nobody."""
    from capture.models import LeadStatus

    if user is None or lead.status != LeadStatus.NEW:
        return False
    return set_lead_status(lead=lead, status=LeadStatus.CONTACTED, user=user)


@transaction.atomic
def set_lead_status(*, lead: Lead, status: str, user=None, note: str = "", at=None) -> bool:
    """Move a lead to another status (checked against the allowed transitions), on the timeline.

    A rep moving a lead to "contacted" or "qualified" (which nobody does without having spoken
    to the prospect) is a first human contact. `user` None is the system
    (a finished sequence moving the lead to nurture). `at` backdates it (the demo's history).
    """
    from django.utils import timezone

    from capture.models import ALLOWED_TRANSITIONS, OPEN_STATUSES, LeadStatus
    from capture.signals import lead_touched

    row = Lead.objects.select_for_update().filter(pk=lead.pk).values_list(
        "status", "first_response_at", "respond_by", "email_key", "phone").first()
    current, answered_at, respond_by, key, phone = row or (None, None, None, "", "")
    if current is None or current == status:
        return False
    if status not in ALLOWED_TRANSITIONS.get(current, ()):
        raise ValueError(f"A {current} lead cannot become {status}.")
    if current not in OPEN_STATUSES and status in OPEN_STATUSES:
        _refuse_a_second_open_lead(lead.pk, key, phone)
    now = at or timezone.now()
    changes = {"status": status, "last_activity_at": now}
    if status not in OPEN_STATUSES and answered_at is None and respond_by and respond_by > now:
        # Closed before its deadline (spam, a duplicate, lost): nobody is left to answer, so
        # the lead leaves the response clock instead of breaching it later. A deadline already
        # missed stays missed.
        changes["respond_by"] = lead.respond_by = None
    Lead.objects.filter(pk=lead.pk).update(**changes)
    lead.status = status
    who = person_name(user, "Follow-up")
    interaction = Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.STATUS,
        channel=Channel.MANUAL, actor=user, occurred_at=now,
        summary=f"{who}: {LeadStatus(current).label} → {LeadStatus(status).label}"[:255],
        body=note,
    )
    if user is not None and status in (LeadStatus.CONTACTED, LeadStatus.QUALIFIED):
        record_first_response(lead=lead, at=now)
    lead_touched.send(sender=Lead, lead=lead, interaction=interaction)
    return True
