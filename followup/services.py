"""Writes for the outbox: alerts, SLA reminders and acknowledgements as rows; deliver one row.

Rows are written in the transaction of their cause (an assignment, a breach, a submission);
`deliver_outbound` runs on a claimed row only (followup.tasks), checks it is still wanted,
sends it on its channel, and records the outcome on the row and the lead's timeline.
"""

from __future__ import annotations

import functools
import logging
import smtplib
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.template import Context, Template, TemplateSyntaxError
from django.utils import timezone

from capture.identity import email_key
from capture.models import WORKING_STATUSES, Channel, IntakeForm, Interaction, Lead
from capture.privacy import is_suppressed
from capture.services import person_name
from capture.templating import compile_message
from followup.models import (
    EmailTemplate,
    Enrollment,
    Notification,
    OutboundMessage,
    SenderProfile,
)
from followup.platforms import Refused
from followup.replies import record_reply_failed, record_reply_sent, send_reply, unwanted_reason
from followup.sms import send_sms, sms_configured
from followup.suppression import acknowledgement_refused, unsubscribe_url
from followup.windows import next_moment_to_reach

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 5
Kind = OutboundMessage.Kind
Status = OutboundMessage.Status


def render_text(template_text: str, context: dict) -> str:
    """Render a sales-ops template as plain text (no HTML escaping: it is not HTML).

    Template.render() marks its output safe for HTML; this text holds what prospects typed,
    unescaped, so the mark is dropped (str.__str__ gives a plain str): a page that shows it
    (the admin's sequence preview, the lead page's email templates) escapes it like any value.
    A text that does not compile, or was stored with a refused tag such as {% debug %}
    (capture.templating), raises TemplateSyntaxError: its callers show or record the error.
    """
    return str.__str__(_compiled(template_text).render(Context(context, autoescape=False)))


@functools.lru_cache(maxsize=512)
def _compiled(template_text: str) -> Template:
    return compile_message(template_text)


def email_templates_for(lead: Lead) -> list[dict]:
    """The active email templates filled in for this lead (the lead page's Email tab)."""
    templates = list(EmailTemplate.objects.filter(is_active=True))
    if not templates:
        return []
    context = email_template_context(lead)
    filled = []
    for template in templates:
        try:
            filled.append(fill_email_template(template, context))
        except TemplateSyntaxError:  # saved around the admin's check: leave it out
            logger.warning("Email template %s does not render", template.pk)
    return filled


def email_template_context(lead: Lead) -> dict:
    """What a rep's email template may print for this lead (followup.models.STEP_VARIABLES).

    {{ unsubscribe_url }} is the lead's own working link, as in a sequence's emails: a rep's
    email may be a commercial one too, and the prospect who follows it is unsubscribed.
    """
    from followup.sequences import step_context

    return step_context(lead, unsubscribe=unsubscribe_url(lead))  # reads the owner's signature


def fill_email_template(template: EmailTemplate, context: dict) -> dict:
    """One email template filled in (the lead page and the admin's preview show this same text).
    Raises TemplateSyntaxError for a text saved around the admin's check."""
    return {"id": template.pk, "name": template.name,
            "subject": " ".join(render_text(template.subject, context).split())[:200],
            "body": render_text(template.body, context)}


def stale_after() -> timedelta:
    return timedelta(hours=settings.FOLLOWUP_STALE_AFTER_HOURS)


def lead_url(lead: Lead) -> str:
    return settings.SITE_URL.rstrip("/") + lead.get_absolute_url()


def response_promise(lead: Lead, form) -> str:
    """What the acknowledgement promises: the target of the clock the lead is on (its tier's SLA
    policy: a hot lead is answered sooner than a cold one), else the form's own promise."""
    from routing.ruleset import current_ruleset  # read once per request (capture.memo)

    policy = current_ruleset().sla.get(lead.tier) if lead.respond_by else None
    return policy.promise() if policy is not None else form.response_promise


def acknowledgement_for(lead: Lead, interaction: Interaction, *, message: str = "",
                        acknowledge_with: int | None = None,
                        form: IntakeForm | None = None,
                        given: Mapping[str, str] | None = None) -> OutboundMessage | None:
    """The acknowledgement row for one inbound submission, or None when there is nothing to send.

    A web form's submission gets the message of the form it was made on (`form`; the lead's own
    form is that of its first submission, and none for a caller who then filled in a form); a
    partner's API lead or a webhook's, the message of the form its key or source names
    (`acknowledge_with`). One per interaction (a OneToOne),
    rendered now, so the row holds exactly what will be sent. `{{ message }}` is what this
    submission sent (`message`), not the lead's: a person matched to their lead who wrote
    nothing this time is not quoted an earlier submission back. Likewise the message goes to
    and names whoever sent this submission (`given`: its lead fields), the lead's own email and
    names standing in for what it left out: a submission matched by a shared phone to someone
    else's lead is not acknowledged to them.
    """
    to_address, names = acknowledged_person(lead, given)
    form = (form or lead.form) if interaction.channel == Channel.WEB_FORM else None
    if form is None and acknowledge_with:
        form = IntakeForm.objects.filter(pk=acknowledge_with).first()
    if form is None or not to_address or not form.ack_subject.strip():
        return None
    context = {
        **names,
        "message": message,
        "response_promise": response_promise(lead, form),
        "form_title": form.title,
    }
    return acknowledgement_row(
        lead, interaction, (form.ack_subject, form.ack_body), context, what=f"form {form.slug}",
        fallback=("We received your request",
                  f"Thank you. We will get back to you {context['response_promise']}."),
        to_address=to_address)


def acknowledged_person(lead: Lead, given: Mapping[str, str] | None) -> tuple[str, dict]:
    """Whom an acknowledgement goes to and how it names them: whoever sent this submission
    (`given`: its lead fields), the lead's own email and names standing in for what it left
    out. The address, and first_name, last_name and company for the template."""
    given = {name: value for name, value in (given or {}).items() if value}
    to_address = given.get("email") or lead.email
    # Someone else's lead (their own address differs): the lead's names are not theirs either.
    known = lead if email_key(to_address) == lead.email_key else Lead()
    return to_address, {name: given.get(name, getattr(known, name))
                        for name in ("first_name", "last_name", "company")}


def acknowledgement_row(lead: Lead, interaction: Interaction, templates: tuple[str, str],
                        context: dict, *, what: str, fallback: tuple[str, str],
                        to_address: str = "") -> OutboundMessage:
    """The prospect's acknowledgement (a form's, a chat widget's): subject and body rendered
    now, so the row holds exactly what will be sent. A template stored before the engine
    refused its tags (capture.templating) sends the plain `fallback` and is logged."""
    try:
        subject, body = (render_text(text, context) for text in templates)
    except TemplateSyntaxError:
        logger.exception("Acknowledgement template of %s is broken", what)
        subject, body = fallback
    return OutboundMessage.objects.create(
        lead=lead, kind=OutboundMessage.Kind.ACKNOWLEDGEMENT, to_address=to_address or lead.email,
        subject=" ".join(subject.split())[:255], body=body, due_at=timezone.now(),
        interaction=interaction)


# --- alerts to staff ---------------------------------------------------------------------------

def notify(user_id: int, lead: Lead, kind: str, text: str) -> Notification:
    """The in-app notification: shown on the queue page at once, no sending involved."""
    return Notification.objects.create(user_id=user_id, lead=lead, kind=kind, text=text[:255])


def retire_notices_of_lost_lead(lead: Lead, user_id: int) -> int:
    """A lead taken from its owner (a manager's reassignment, an SLA escalation): their unread
    notices of it ("New hot lead: …") would open a page they may no longer see, a "Page not
    found", so they are marked read. Someone who can still open the lead (it is in a team they
    lead) keeps them. Returns how many were marked."""
    from routing.access import visible_leads

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is not None and visible_leads(user).filter(pk=lead.pk).exists():
        return 0
    return Notification.objects.filter(user_id=user_id, lead=lead, read_at__isnull=True).update(
        read_at=timezone.now())


def alert_owner_of_assignment(lead: Lead, owner_id: int,
                              now: datetime | None = None) -> list[OutboundMessage]:
    """A new owner hears at once: a notification, an email, and a text for a hot lead when the
    rep has a mobile number and SMS is configured.

    A lead reassigned by an SLA escalation arrives past its deadline: the alert says since when
    it is overdue, not "answer it by" a time already gone.
    """
    now = now or timezone.now()
    name = lead.display_name
    overdue = lead.respond_by is not None and lead.respond_by <= now
    notify(owner_id, lead, Notification.Kind.ASSIGNED,
           f"New {lead.tier + ' ' if lead.tier else ''}lead: {name}"
           + (f" (overdue since {_clock(lead.respond_by, now)})" if overdue else ""))
    if overdue:
        opening = (f"This lead is now yours. It is overdue since {_when(lead.respond_by)}: "
                   "please answer it now.")
    elif lead.respond_by:
        opening = f"This lead is now yours. Please answer it by {_when(lead.respond_by)}."
    else:
        opening = "This lead is now yours. Please answer it."
    rows = [OutboundMessage(
        lead=lead, kind=Kind.OWNER_ALERT, channel=OutboundMessage.Channel.EMAIL,
        recipient_id=owner_id, due_at=now,
        subject=f"New lead for you: {name}"[:255],
        body=_lead_summary(lead, opening),
    )]
    if lead.tier in settings.FOLLOWUP_SMS_ALERT_TIERS and sms_configured():
        mobile = SenderProfile.objects.filter(user_id=owner_id).values_list(
            "mobile_phone", flat=True).first()
        if mobile:
            rows.append(OutboundMessage(
                lead=lead, kind=Kind.OWNER_ALERT, channel=OutboundMessage.Channel.SMS,
                recipient_id=owner_id, to_address=mobile, due_at=now,
                body=f"Hot lead: {name} {lead.company} {lead.phone}".strip()[:300]
                + f" {lead_url(lead)}",
            ))
    return OutboundMessage.objects.bulk_create(rows)


# What the owner's notice says the prospect did, by the kind of their interaction.
PROSPECT_DID = {
    Interaction.Kind.EMAIL: "replied by email",
    Interaction.Kind.SMS: "texted",
    Interaction.Kind.CALL: "called",
    Interaction.Kind.SUBMISSION: "got in touch again",
}


def prospect_wrote_text(lead: Lead, interaction: Interaction, message: str = "") -> str:
    """The owner's notice of an inbound message: who, how, and its first line ("Kenji replied
    by email: Please call me"). A platform message names its platform, as its summary does
    ("WhatsApp: …"); a call and a booking say what their summary says."""
    name = lead.display_name
    if interaction.channel == Channel.BOOKING:
        return f"{name}: {interaction.summary}"[:255]
    if interaction.kind in PROSPECT_DID:
        did = PROSPECT_DID[interaction.kind]
    else:
        platform, colon, _ = interaction.summary.partition(": ")
        did = f"wrote ({platform})" if colon and len(platform) <= 40 else "wrote"
    line = "" if interaction.kind == Interaction.Kind.CALL else next(
        (text.strip() for text in (message or interaction.body).splitlines() if text.strip()), "")
    text = f"{name} {did}: {line or interaction.summary}"
    return text if len(text) <= 255 else text[:254] + "…"


def notify_once_per_lead(user_id: int, lead: Lead, kind: str, text: str) -> None:
    """A notice of `kind` (one of models.COALESCED_NOTICES) for this lead, coalesced while
    unread: an unread one is brought up to date (its text, and its time, so it is listed as
    new); read, the next gives a new one. One UPDATE when there is a notice to bring up to
    date; an INSERT besides when not.

    Two callers at once (two workers, an email and a text of one lead) could both find none
    and both insert. The intake holds the lead's row lock here, but a sequence ending
    undelivered holds its enrolment's, and taking the lead's here would lock the two in the
    intake's order reversed (a deadlock). So the table's partial unique constraint allows one
    unread notice per user, lead and kind: the second INSERT waits for the first to commit,
    fails (in a savepoint, the caller's transaction goes on), and brings that one up to date.
    """
    text = text[:255]
    unread = Notification.objects.filter(user_id=user_id, lead=lead, kind=kind,
                                         read_at__isnull=True)
    if unread.update(text=text, created_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            notify(user_id, lead, kind, text)
    except IntegrityError:  # a concurrent caller's notice was committed first
        unread.update(text=text, created_at=timezone.now())


def _when(moment: datetime) -> str:
    """A deadline in an alert: in UTC, the one zone every recipient shares."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _clock(moment: datetime, now: datetime) -> str:
    """A deadline in a one-line notification: the time alone when it is today (UTC)."""
    moment = moment.astimezone(UTC)
    return f"{moment:%H:%M} UTC" if moment.date() == now.astimezone(UTC).date() \
        else _when(moment)


def _lead_summary(lead: Lead, opening: str) -> str:
    lines = [opening, "", f"Name: {lead.display_name}"]
    for label, value in (("Company", lead.company), ("Email", lead.email),
                         ("Phone", lead.phone), ("Tier", lead.tier), ("Message", lead.message)):
        if value:
            lines.append(f"{label}: {value}")
    lines += ["", lead_url(lead)]
    return "\n".join(lines)


def schedule_sla_warning(lead: Lead, warn_at: datetime | None = None) -> None:
    """The reminder to the owner at the deadline's warning point: one row per deadline.

    A second call for the same deadline writes nothing (the row's unique dedupe_key; ON
    CONFLICT DO NOTHING, one statement).
    """
    from followup.sequences import write_timers

    write_timers([sla_warning_row(lead, warn_at)])


def sla_warning_row(lead: Lead, warn_at: datetime | None = None) -> OutboundMessage | None:
    """The unsaved warning row of the lead's deadline, or None when no warning is due.

    `warn_at` defaults to the lead's assessment's: the one routing has just written (cached on
    the lead) or, failing that, the stored one.
    """
    from routing.models import LeadAssessment

    if lead.respond_by is None or lead.first_response_at is not None:
        return None
    if warn_at is None:
        if Lead.assessment.related.is_cached(lead):
            warn_at = lead.assessment.warn_at
        else:
            warn_at = LeadAssessment.objects.filter(lead_id=lead.pk).values_list(
                "warn_at", flat=True).first()
    if warn_at is None:
        return None
    return OutboundMessage(
        lead=lead, kind=Kind.SLA_WARNING, channel=OutboundMessage.Channel.EMAIL,
        dedupe_key=f"sla-warning:{lead.pk}:{int(lead.respond_by.timestamp())}", due_at=warn_at,
        subject=f"Answer soon: {lead.display_name}"[:255],
    )


def alert_breach(lead: Lead, *, manager_ids: list[int], reassigned_to_id: int | None,
                 reassign_tried: bool = False) -> list[OutboundMessage]:
    """routing ran the policy's escalation; the breach goes on the timeline, the managers hear
    (a reassigned lead's new owner hears through lead_assigned).

    The text says what happened in a manager's words: whose lead, when it was due, who has it
    now and whether a manager was told — not the policy's setting ("Both").
    """
    now = timezone.now()
    users = {u.pk: u for u in get_user_model().objects.filter(
        pk__in=[i for i in (*manager_ids, reassigned_to_id) if i])}
    text = breach_text(lead, reassign_tried=reassign_tried,
                       reassigned=users.get(reassigned_to_id),
                       manager_alerted=bool(manager_ids), now=now)
    Interaction.objects.create(
        lead=lead, direction=Interaction.Direction.INTERNAL, kind=Interaction.Kind.SYSTEM,
        channel=Channel.MANUAL, occurred_at=now, summary=f"SLA breached. {text}"[:255],
    )
    deadline = int(lead.respond_by.timestamp()) if lead.respond_by else 0
    rows = []
    for manager_id in dict.fromkeys(manager_ids):
        notify(manager_id, lead, Notification.Kind.SLA_BREACH, text)
        key = f"sla-breach:{lead.pk}:{deadline}:{manager_id}"
        if OutboundMessage.objects.filter(dedupe_key=key).exists():
            continue
        rows.append(OutboundMessage.objects.create(
            lead=lead, kind=Kind.SLA_BREACH, channel=OutboundMessage.Channel.EMAIL,
            recipient_id=manager_id, dedupe_key=key, due_at=now,
            subject=f"SLA breached: {lead.display_name}"[:255],
            body=_lead_summary(lead, text),
        ))
    return rows


def breach_text(lead: Lead, *, reassign_tried: bool, reassigned, manager_alerted: bool,
                now: datetime) -> str:
    """E.g. "Deadline missed for lead Grace Hopper (hot, due 14:05 UTC): it was reassigned to
    Bob Brown, and the manager was alerted." `reassigned` is the new owner (a user) or None;
    `reassign_tried` says whether routing looked for another rep at all (not the policy)."""
    facts = [lead.tier] if lead.tier else []
    if lead.respond_by:
        facts.append(f"due {_clock(lead.respond_by, now)}")
    head = f"Deadline missed for lead {lead.display_name}" + (
        f" ({', '.join(facts)})" if facts else "")
    if reassigned is not None:
        outcome = f"it was reassigned to {person_name(reassigned)}"
    else:
        kept = f"{person_name(lead.owner)} still owns it" if lead.owner_id else "it has no owner"
        outcome = f"no other rep could take it, so {kept}" if reassign_tried else kept
    if manager_alerted:
        return f"{head}: {outcome}, and the manager was alerted."
    return f"{head}: {outcome}; there is no team lead to alert."


# --- delivery ----------------------------------------------------------------------------------

def deliver_outbound(message: OutboundMessage, *, connection=None) -> bool:
    """Deliver a claimed row (status sending): True when it went out (or its work was done).

    `connection`: an email backend shared by a batch (one SMTP session for many messages).
    """
    now = timezone.now()
    if message.kind == Kind.ENROLMENT_CHECK:
        from followup.sequences import run_enrolment_check

        return _finish(message, Status.SENT, note=run_enrolment_check(message))
    if message.kind in (Kind.SEQUENCE, Kind.SLA_WARNING) and now - message.due_at > stale_after():
        late = (now - message.due_at).total_seconds() / 3600
        return _finish(message, Status.SKIPPED, note=f"found {late:.1f} hours late "
                       f"(a worker was down); not sent so late.")
    lead = message.lead if _loaded(message, "lead") else Lead.objects.select_related(
        "owner").get(pk=message.lead_id)
    try:
        if message.kind == Kind.SEQUENCE:
            if not _prepare_step(message, lead, now):
                return False
        elif message.kind == Kind.SLA_WARNING:
            reason = _warning_unwanted(message, lead, now)
            if reason:
                return _finish(message, Status.CANCELLED, note=reason)
            message.recipient_id = lead.owner_id
            message.body = _lead_summary(lead, "Nobody has answered this lead yet. It is due "
                                               f"by {_when(lead.respond_by)}.")
        if message.recipient_id and not message.to_address \
                and message.channel == OutboundMessage.Channel.EMAIL:
            message.to_address = (lead.owner.email if message.recipient_id == lead.owner_id
                                  else get_user_model().objects.filter(
                                      pk=message.recipient_id).values_list(
                                          "email", flat=True).first()) or ""
            if not message.to_address:
                return _finish(message, Status.CANCELLED, note="The recipient has no email.")
        if message.kind == Kind.REPLY and (reason := unwanted_reason(message, lead)):
            raise _Unwanted(reason)
        if message.kind == Kind.ACKNOWLEDGEMENT and message.channel == "email" and (
                reason := acknowledgement_refused(message.to_address)):
            raise _Unwanted(f"Not sent: {reason}.")
        _send(message, lead, connection)
    except _Unwanted as unwanted:
        if message.kind == Kind.REPLY:
            record_reply_failed(message, str(unwanted))
        return _finish(message, Status.CANCELLED, note=str(unwanted))
    except Exception as exc:
        if connection is not None:
            connection.close()  # a broken session is not reused: the next message reconnects
        _record_failure(message, exc)
        return False
    _record_sent_across_a_lost_connection(message, lead)
    return True


# Waits (seconds) between tries to record a message that went out, when the database dropped
# the connection meanwhile: about 15 s in all, well within the task's timeout and STALE_AFTER.
RECORD_SENT_RETRY_WAITS = (0.5, 1, 2, 4, 8)


def _record_sent_across_a_lost_connection(message: OutboundMessage, lead: Lead) -> None:
    """The provider has the message: record it even when the database dropped the connection
    while it was being sent (a restart, a failover, a pooler). A row left `sending` is freed
    after STALE_AFTER and sent again, so the person would get it twice. Past the retries (a
    longer outage) it is left to that, as for a worker killed at this point. A try whose COMMIT
    reached the database before the connection dropped is not recorded again (no second
    timeline entry or notification)."""
    tried = False
    for wait in (*RECORD_SENT_RETRY_WAITS, None):
        try:
            if not (tried and OutboundMessage.objects.filter(
                    pk=message.pk, status=Status.SENT).exists()):
                _record_sent(message, lead)
            return
        except (OperationalError, InterfaceError) as exc:
            if wait is None or connection.in_atomic_block:  # an outer one cannot reconnect
                raise
            tried = True
            logger.warning("Recording outbound message %s as sent failed (%s); retrying in "
                           "%s s", message.pk, exc, wait)
            connection.close()
            time.sleep(wait)


def _loaded(instance, field: str) -> bool:
    return instance._state.fields_cache.get(field) is not None


class _Unwanted(Exception):
    """The row should not go out any more (the reason is its text)."""


def _warning_unwanted(message: OutboundMessage, lead: Lead, now: datetime) -> str:
    if lead.first_response_at is not None:
        return "Answered before the warning point."
    if lead.status not in WORKING_STATUSES:  # closed, or resting in nurture: owes no answer
        return f"The lead is {lead.get_status_display().lower()}."
    if lead.respond_by is None or message.dedupe_key != (
            f"sla-warning:{lead.pk}:{int(lead.respond_by.timestamp())}"):
        return "The deadline changed; a new warning is scheduled for it."
    if now >= lead.respond_by:
        return "The deadline has passed: the breach escalation takes over."
    if not lead.owner_id:
        return "The lead has no owner."
    return ""


def _prepare_step(message: OutboundMessage, lead: Lead, now: datetime) -> bool:
    """Check a sequence step may go out now, and render it. False: moved to its window."""
    from followup.sequences import owner_timezone, step_context

    enrollment = Enrollment.objects.select_related("sequence").get(pk=message.enrollment_id)
    if enrollment.status == Enrollment.Status.PAUSED:
        # Paused while this row was being claimed: it waits with the others for the resume.
        OutboundMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
            status=Status.PAUSED, claimed_at=None)
        return False
    if enrollment.status != Enrollment.Status.ACTIVE and not _retried_after_completion(
            enrollment, lead):
        raise _Unwanted(f"The sequence is {enrollment.status}.")
    step = message.step
    if step is None:
        raise _Unwanted("The step was deleted.")
    if message.channel in ("email", "sms") and is_suppressed(lead, message.channel):
        raise _Unwanted("The prospect unsubscribed (or texted STOP, bounced, or was erased).")
    sequence = enrollment.sequence
    opens = next_moment_to_reach(lead, owner_timezone(lead), message.channel, now,
                                 sequence.window_starts, sequence.window_ends,
                                 sequence.send_on_weekends)
    if opens != now.astimezone(UTC):
        # A worker back after downtime must not text at night: wait for the window.
        OutboundMessage.objects.filter(pk=message.pk, status=Status.SENDING).update(
            status=Status.SCHEDULED, claimed_at=None, due_at=opens)
        return False
    link = unsubscribe_url(lead)
    context = step_context(lead, link)
    message.subject = " ".join(render_text(step.subject, context).split())[:255]
    message.body = render_text(step.body, context)
    if message.channel == "email":
        if not lead.email:
            raise _Unwanted("The lead has no email address.")
        message.to_address = lead.email
        message.body = (f"{message.body.rstrip()}\n\n--\n{settings.COMPANY_POSTAL_ADDRESS}\n"
                        f"Unsubscribe: {link}\n")
    elif message.channel == "sms":
        if not lead.phone:
            raise _Unwanted("The lead has no phone number.")
        message.to_address = lead.phone
        message.body = f"{message.body.strip()}\nReply STOP to opt out."  # a line of its own
    elif message.channel == "task":
        if not lead.owner_id:
            raise _Unwanted("The lead has no owner to give the task to.")
        message.recipient_id = lead.owner_id
    return True


# A sequence that ended because its steps had their last word (not a stop).
ENDED_BY_ITS_STEPS = (Enrollment.Status.COMPLETED, Enrollment.Status.UNDELIVERED)


def _retried_after_completion(enrollment: Enrollment, lead: Lead) -> bool:
    """A failed step retried from the outbox after its sequence ended: it failed last, so
    nothing was left and the sequence completed (the lead went to nurture), or ended with
    nothing delivered (the owner was told; sequences.finish_if_done). It still goes out
    unless something since would have stopped the sequence: a word from the prospect, or a rep
    working the lead."""
    if enrollment.status not in ENDED_BY_ITS_STEPS or lead.first_response_at is not None:
        return False
    return not Interaction.objects.filter(
        lead=lead, occurred_at__gte=enrollment.ended_at or timezone.now()).filter(
        Q(direction=Interaction.Direction.INBOUND) | Q(actor__isnull=False)).exists()


def _send(message: OutboundMessage, lead: Lead, connection=None) -> None:
    if message.kind == Kind.REPLY and message.channel != OutboundMessage.Channel.EMAIL:
        # a rep's reply on the prospect's platform (or SMS); a rep's email goes as any email
        receipt = send_reply(message)
        message.provider_id, message.provider_status = receipt.provider_id, receipt.status
    elif message.channel == OutboundMessage.Channel.SMS:
        receipt = send_sms(message.to_address, message.body)
        message.provider_id, message.provider_status = receipt.sid, receipt.status
    elif message.channel == OutboundMessage.Channel.TASK:
        notify(message.recipient_id, lead, Notification.Kind.TASK,
               f"{message.subject or 'Follow up'}: {lead.display_name}")
        message.provider_status = "created"
    else:
        _send_email(message, lead, connection)


class MailServerDown(Exception):
    """An email of a batch not tried, because the server failed the session a moment ago."""


# The server refused this message (its sender, a recipient, its content), and may take the next.
# Any other error on a new session is the server's or the connection's (unreachable, silent
# past EMAIL_TIMEOUT, 421 busy, TLS, authentication): the rest of the batch fails at once with
# the same reason and is retried on the usual backoff, instead of each row waiting out the
# timeout again (a kick takes up to 50 rows, and django-q2 kills it after 60 s, leaving them
# "sending" unexplained).
MESSAGE_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                   smtplib.SMTPDataError)


def _send_email(message: OutboundMessage, lead: Lead, connection=None) -> None:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "localhost"
    message_id = make_msgid(idstring=f"lead{lead.pk}.{message.pk}", domain=domain)
    headers = {"Message-ID": message_id, "X-Leadcrm-Message": str(message.pk)}
    reply_to = None
    if message.kind == Kind.SEQUENCE or (message.kind == Kind.REPLY and message.template_name):
        # Commercial mail (a sequence's, a rep's from a sales-ops template): the mail client's
        # own unsubscribe button, RFC 8058 one-click (Gmail's and Yahoo's bulk-sender rules).
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(lead)}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if message.kind == Kind.SEQUENCE:
        from capture.channels.email import reply_address

        reply_to = [reply_address(lead.pk)]
    elif message.kind == Kind.REPLY:  # the rep's email: answers reach the rep and this lead
        from capture.channels.email import reply_address

        reply_to = [a for a in (getattr(message.sent_by, "email", ""),
                                reply_address(lead.pk)) if a]
    # A header is one line: a name typed with a line break (a form post, an API call) made the
    # alert's Subject a header Django refuses, and the rep's alert failed at every attempt.
    message.subject = " ".join(message.subject.split())
    if connection is not None and (down := getattr(connection, "leadcrm_server_down", "")):
        raise MailServerDown(f"not tried: the mail server failed this batch's previous message "
                             f"({down})")
    email = EmailMessage(
        subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_address], headers=headers, reply_to=reply_to, connection=connection,
    )
    opened = None  # True: a session opened for this message; False: the batch's, reused
    try:
        if connection is not None:
            # once per batch: later messages reuse the session (False then)
            opened = connection.open()
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPServerDisconnected as exc:
            # The server hung up a session it had kept (its messages-per-session limit, an idle
            # limit): smtplib finds out at our next command, before this message's text, so it
            # goes once more on a new session. Not after a timeout: the server may have it.
            if opened is not False or isinstance(exc.__context__, TimeoutError):
                raise
            connection.close()
            opened = connection.open()
            email.send(fail_silently=False)
    except OSError as exc:  # smtplib's errors are OSErrors too
        if connection is not None and opened is not False \
                and not isinstance(exc, MESSAGE_REFUSED):
            connection.leadcrm_server_down = f"{type(exc).__name__}: {exc}"
        raise
    message.message_id = message_id.strip("<>")
    message.provider_status = "accepted"


@transaction.atomic  # one commit for the row, its timeline entry and its notification
def _record_sent(message: OutboundMessage, lead: Lead) -> None:
    now = timezone.now()
    OutboundMessage.objects.filter(id=message.id).update(
        status=Status.SENT, sent_at=now, attempts=message.attempts + 1, last_error="",
        to_address=message.to_address, subject=message.subject, body=message.body,
        recipient_id=message.recipient_id, message_id=message.message_id,
        provider_id=message.provider_id, provider_status=message.provider_status,
    )
    if message.kind == Kind.REPLY:
        record_reply_sent(message, lead, now)
        return
    to_prospect = message.kind in (Kind.ACKNOWLEDGEMENT, Kind.SEQUENCE) \
        and message.channel != OutboundMessage.Channel.TASK
    kind = {"sms": Interaction.Kind.SMS, "email": Interaction.Kind.EMAIL}.get(
        message.channel, Interaction.Kind.SYSTEM)
    verb = {"sms": "texted", "email": "emailed", "task": "task created"}.get(
        message.channel, "done")
    Interaction.objects.create(
        lead_id=message.lead_id,
        direction=Interaction.Direction.OUTBOUND if to_prospect
        else Interaction.Direction.INTERNAL,
        kind=kind if to_prospect else Interaction.Kind.SYSTEM,
        channel={"sms": Channel.SMS, "email": Channel.EMAIL}.get(message.channel,
                                                                 Channel.MANUAL),
        occurred_at=now,
        summary=f"{message.get_kind_display()} {verb}: {message.subject or message.body}"[:255],
        body=message.body,
        message_id=message.message_id,
    )
    if message.kind == Kind.SLA_WARNING and message.recipient_id:
        notify(message.recipient_id, lead, Notification.Kind.SLA_WARNING,
               f"Answer {lead.display_name} by {_clock(lead.respond_by, now)}")
    if message.enrollment_id:
        from followup.sequences import finish_if_done

        finish_if_done(message.enrollment_id)


@transaction.atomic
def _finish(message: OutboundMessage, status: str, note: str) -> bool:
    OutboundMessage.objects.filter(id=message.id).update(status=status, last_error=note[:2000])
    if status == Status.SKIPPED:
        Interaction.objects.create(
            lead_id=message.lead_id, direction=Interaction.Direction.INTERNAL,
            kind=Interaction.Kind.SYSTEM, channel=Channel.MANUAL,
            summary=f"{message.get_kind_display()} skipped: {note}"[:255],
        )
    if message.enrollment_id:
        from followup.sequences import finish_if_done

        finish_if_done(message.enrollment_id)
    return status == Status.SENT


def _record_failure(message: OutboundMessage, exc: Exception) -> None:
    attempts = message.attempts + 1
    # A platform's refusal is a sentence already ("Telegram refused the message (403): ...").
    error = (str(exc) if isinstance(exc, Refused) else f"{type(exc).__name__}: {exc}")[:2000]
    logger.warning("Sending outbound message %s failed (attempt %s): %s", message.id,
                   attempts, error)
    if isinstance(exc, Refused) and exc.permanent:
        attempts = max(attempts, MAX_SEND_ATTEMPTS)  # the platform will say no again
    if isinstance(exc, TemplateSyntaxError):
        # The step's text will not render until sales ops fix it: failed at once (with the
        # reason), so it can be retried from the outbox after the fix.
        attempts = max(attempts, MAX_SEND_ATTEMPTS)
    if attempts >= MAX_SEND_ATTEMPTS:
        status, due_at = Status.FAILED, message.due_at
    else:
        # 1, 2, 4, 8 minutes: the sweeper picks the row up again when it is due.
        status, due_at = Status.SCHEDULED, timezone.now() + timedelta(minutes=2 ** (attempts - 1))
    OutboundMessage.objects.filter(id=message.id).update(
        status=status, attempts=attempts, last_error=error, due_at=due_at, claimed_at=None
    )
    if status == Status.FAILED and message.enrollment_id:
        from followup.sequences import finish_if_done

        finish_if_done(message.enrollment_id)
    if status == Status.FAILED and message.kind == Kind.REPLY:
        record_reply_failed(message, error, blocked=getattr(exc, "blocked", False),
                            window_closed=getattr(exc, "window_closed", False))


# --- unsubscribes and bounces ------------------------------------------------------------------

def unsubscribe_lead(lead: Lead, reason: str = "unsubscribed") -> bool:
    """No more email to this prospect from now on (an unsubscribe, a bounce, a spam complaint),
    and its sequence stops. True when the address is newly suppressed."""
    from followup.models import Suppression
    from followup.sequences import stop_enrollment
    from followup.suppression import suppress

    why = {Suppression.Reason.UNSUBSCRIBED: "the prospect unsubscribed",
           Suppression.Reason.BOUNCE: "the email bounced",
           Suppression.Reason.COMPLAINT: "the prospect marked our email as spam"}[reason]
    with transaction.atomic():
        new = suppress(kind=Suppression.Kind.EMAIL, value=lead.email or "", lead=lead,
                       reason=reason)
        stopped = stop_enrollment(lead=lead, reason=why)
        if new and not stopped:
            Interaction.objects.create(
                lead=lead, direction=Interaction.Direction.INTERNAL,
                kind=Interaction.Kind.SYSTEM, channel=Channel.EMAIL,
                summary=f"No more follow-up emails: {why}"[:255],
            )
    return new
