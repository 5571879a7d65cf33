"""The outbox and what fills it: alerts, sequences, enrolments, suppressions, notifications.

Every message that must go out is a row with a due time before it is a task (DESIGN.md).
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone

from capture.models import IntakeForm, Interaction, Lead
from capture.templating import template_problem
from routing.models import ScoreTier


class Sequence(models.Model):
    """Follow-up steps for leads nobody has answered, edited by sales ops in the admin."""

    class Trigger(models.TextChoices):
        NO_RESPONSE = "no_response", "No human response within N hours"
        ON_ARRIVAL = "on_arrival", "At once, when the lead arrives"

    name = models.CharField(max_length=120, unique=True)
    is_active = models.BooleanField("on", default=True)
    position = models.PositiveIntegerField(
        default=100, help_text="The first active sequence (lowest position) whose conditions "
        "match enrols the lead; a lead is in at most one active sequence.")
    trigger = models.CharField(max_length=16, choices=Trigger.choices,
                               default=Trigger.NO_RESPONSE)
    no_response_hours = models.PositiveIntegerField(
        default=24, help_text="For “no human response”: enrol when nobody answered this long.")
    tiers = models.ManyToManyField(ScoreTier, blank=True, related_name="+",
                                   help_text="Only leads in these tiers (none: any tier).")
    forms = models.ManyToManyField(IntakeForm, blank=True, related_name="+",
                                   help_text="Only leads from these forms (none: any form).")
    sources = models.CharField(
        max_length=255, blank=True,
        help_text="Only leads with one of these sources, separated by commas (empty: any).")
    window_starts = models.TimeField(
        default=time(9), help_text="Emails go out from this local time of the lead.")
    window_ends = models.TimeField(
        default=time(18), help_text="…until this local time. SMS and call tasks are always "
        "kept between 8:00 and 21:00 local time as well (TCPA).")
    send_on_weekends = models.BooleanField(default=False)
    then_nurture = models.BooleanField(
        "then long-term nurture", default=True,
        help_text="After the last step the lead moves to the nurture list (status nurture).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.window_starts and self.window_ends and self.window_ends <= self.window_starts:
            errors["window_ends"] = "The window must end after it starts."
        if (self.no_response_hours or 0) > MAX_DELAY[SequenceStep.Unit.HOURS]:
            errors["no_response_hours"] = (f"Keep the wait within a year: at most "
                                           f"{MAX_DELAY[SequenceStep.Unit.HOURS]} hours.")
        if errors:
            raise ValidationError(errors)

    def window_problem(self, channel: str) -> str:
        """Why a step on `channel` could never go out in this sequence's window, or ""."""
        from followup.windows import TCPA_ENDS, TCPA_STARTS, sending_window

        if None in (self.window_starts, self.window_ends):
            return ""
        if self.window_ends <= self.window_starts:
            return ""  # the window itself is wrong: clean() says so, for every channel
        starts, ends = sending_window(channel, self.window_starts, self.window_ends)
        if ends > starts:
            return ""
        return (f"SMS and call tasks go out only between {TCPA_STARTS:%H:%M} and "
                f"{TCPA_ENDS:%H:%M} in the lead's local time, and this sequence's window "
                f"({self.window_starts:%H:%M}-{self.window_ends:%H:%M}) has no time in "
                "there: widen the window or make the step an email.")

    @property
    def source_set(self) -> frozenset[str]:
        return frozenset(s.strip().casefold() for s in self.sources.split(",") if s.strip())


def template_errors(obj, names: tuple[str, ...]) -> dict[str, str]:
    """A message per field whose text is not a valid template, uses a tag that reads outside
    the lead's details such as {% debug %} or {% load %}, or prints a variable a step or email
    template does not have (sales ops see it in the admin)."""
    return {name: problem for name in names
            if (problem := template_problem(getattr(obj, name) or "", STEP_VARIABLES))}


# What a step or an email template may print (followup.sequences.step_context).
STEP_VARIABLES = ("first_name", "last_name", "company", "owner_name", "owner_signature",
                  "unsubscribe_url")


# Built from STEP_VARIABLES, so the help text names exactly what a template may print.
TEMPLATE_VARIABLES = ("Variables: " + ", ".join(f"{{{{ {name} }}}}" for name in STEP_VARIABLES)
                      + ". {{ unsubscribe_url }} is the prospect's own unsubscribe link: a rep's "
                      "email carries one only where the template prints it.")


class EmailTemplate(models.Model):
    """An email a rep sends from the lead page, written once by sales ops. The rep picks it,
    sees it filled in for the lead, edits it if they like, and sends it as their own."""

    name = models.CharField(max_length=100, unique=True, help_text="What the rep picks.")
    subject = models.CharField(max_length=200, help_text=TEMPLATE_VARIABLES)
    body = models.TextField(help_text=TEMPLATE_VARIABLES)
    is_active = models.BooleanField(default=True, help_text="Offered on the lead page.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "email template"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if errors := template_errors(self, ("subject", "body")):
            raise ValidationError(errors)


class SequenceStep(models.Model):
    class Unit(models.TextChoices):
        HOURS = "hours", "hours"
        DAYS = "days", "days"
        BUSINESS_DAYS = "business_days", "business days (Monday to Friday)"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email to the prospect"
        SMS = "sms", "SMS to the prospect"
        TASK = "task", "Task for the owner (e.g. call)"

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField(default=1)
    delay = models.PositiveIntegerField(
        default=1, help_text="After the previous step (the first step: after enrolment).")
    delay_unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.DAYS)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    subject = models.CharField(
        max_length=200, blank=True, help_text="Email subject, or the task's title.")
    body = models.TextField(
        help_text="Variables: {{ first_name }}, {{ last_name }}, {{ company }}, "
        "{{ owner_name }}, {{ owner_signature }}, {{ unsubscribe_url }}. Every email gets the "
        "postal address and an unsubscribe link appended.")

    class Meta:
        ordering = ["sequence", "position", "id"]
        verbose_name = "sequence step"
        constraints = [models.UniqueConstraint(fields=["sequence", "position"],
                                               name="uniq_step_position")]

    def __str__(self) -> str:
        return f"{self.sequence} #{self.position}: {self.get_channel_display()} after {self.wait}"

    @property
    def wait(self) -> str:
        """The delay as people say it: 1 day, 2 days, 1 business day."""
        one, many = {self.Unit.HOURS: ("hour", "hours"), self.Unit.DAYS: ("day", "days"),
                     self.Unit.BUSINESS_DAYS: ("business day", "business days")}.get(
            self.delay_unit, (self.delay_unit, self.delay_unit))
        return f"{self.delay} {one if self.delay == 1 else many}"

    def clean(self) -> None:
        errors = template_errors(self, ("subject", "body"))
        most = MAX_DELAY.get(self.delay_unit)
        if most is not None and (self.delay or 0) > most:
            errors["delay"] = (f"Keep the delay within a year: at most {most} "
                               f"{self.Unit(self.delay_unit).label.split(' (')[0]}.")
        if self.channel == self.Channel.EMAIL and not (self.subject or "").strip():
            errors["subject"] = "An email needs a subject."
        # The admin's form hands in the sequence as it is being edited (its new window).
        sequence = self.sequence if self.sequence_id or SequenceStep.sequence.is_cached(
            self) else None
        if sequence is not None and (problem := sequence.window_problem(self.channel)):
            errors["channel"] = problem
        if errors:
            raise ValidationError(errors)


# A year in each unit: a wait past any calendar (2,000,000,000 days) would fail every matching
# lead's intake when its due time is computed (OverflowError), so the admin refuses it.
MAX_DELAY = {SequenceStep.Unit.HOURS: 8760, SequenceStep.Unit.DAYS: 365,
             SequenceStep.Unit.BUSINESS_DAYS: 260}


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        # Every step failed, was skipped or could not go (a bounced address, a refusing mail
        # server, a suppressed address): nothing reached the prospect, so no nurture.
        UNDELIVERED = "undelivered", "Ended: nothing could be delivered"
        STOPPED = "stopped", "Stopped"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    sequence = models.ForeignKey(Sequence, on_delete=models.PROTECT, related_name="enrollments")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    enrolled_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(
        "why it ended", max_length=255, blank=True,
        help_text="Why it stopped, or why nothing of it could be delivered.")
    paused_at = models.DateTimeField(
        null=True, blank=True, help_text="While paused: since when (resuming moves the unsent "
        "steps on by the time it was paused).")

    class Meta:
        ordering = ["-enrolled_at"]
        constraints = [
            # Paused counts as running: a paused lead is not enrolled in a second sequence.
            models.UniqueConstraint(fields=["lead"],
                                    condition=Q(status__in=["active", "paused"]),
                                    name="one_active_enrollment_per_lead",
                                    violation_error_message="The lead is already in a sequence."),
        ]

    def __str__(self) -> str:
        return f"{self.lead} in {self.sequence} ({self.status})"


class OutboundMessage(models.Model):
    class Kind(models.TextChoices):
        ACKNOWLEDGEMENT = "ack", "Acknowledgement to the prospect"
        OWNER_ALERT = "owner_alert", "Alert to the owner"
        SLA_WARNING = "sla_warning", "SLA warning to the owner"
        SLA_BREACH = "sla_breach", "SLA breach to the manager"
        SEQUENCE = "sequence", "Sequence step"
        ENROLMENT_CHECK = "enrol_check", "Enrolment check (no response yet?)"
        REPLY = "reply", "Reply by a rep on the prospect's channel"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"
        TASK = "task", "Task for the owner"
        INTERNAL = "internal", "Internal timer"
        WHATSAPP = "whatsapp", "WhatsApp"
        MESSENGER = "messenger", "Messenger"
        INSTAGRAM = "instagram", "Instagram"
        TELEGRAM = "telegram", "Telegram"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped (too late)"
        PAUSED = "paused", "Held (its sequence is paused)"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="outbound_messages")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="The staff member an alert is for (empty: the prospect).")
    to_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, help_text="The last error, or why it was skipped.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    interaction = models.OneToOneField(
        Interaction, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="outbound_message", help_text="The inbound touch this message answers.",
    )
    enrollment = models.ForeignKey(Enrollment, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="messages")
    step = models.ForeignKey(SequenceStep, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="messages")
    dedupe_key = models.CharField(
        max_length=120, blank=True, editable=False,
        help_text="One row per key: the same timer is never written twice.")
    message_id = models.CharField(max_length=255, blank=True,
                                  help_text="The email Message-ID (without <>).")
    provider_id = models.CharField(
        max_length=255, blank=True,
        help_text="The platform's message id: Twilio's SID, a WhatsApp wamid, a Messenger mid.")
    provider_status = models.CharField(
        max_length=32, blank=True,
        help_text="What the platform last reported: sent, delivered, read, failed.")
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="The rep who wrote a reply.")
    template_name = models.CharField(
        "from email template", max_length=100, blank=True,
        help_text="A rep's email started from this email template (as it was named then): it "
        "carries the List-Unsubscribe headers. Empty for an email the rep typed.")
    identity = models.ForeignKey(
        "capture.LeadIdentity", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="outbound_messages", help_text="The prospect's account a reply goes to.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbound message"
        indexes = [
            models.Index(
                fields=["due_at"], name="outbound_due_idx",
                condition=Q(status="scheduled"),
            ),
            models.Index(fields=["status", "claimed_at"], name="outbound_status_claimed_idx"),
            models.Index(fields=["lead", "kind"], name="outbound_lead_kind_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="uniq_enrollment_step"),
            models.UniqueConstraint(fields=["dedupe_key"], condition=~Q(dedupe_key=""),
                                    name="uniq_outbound_dedupe_key"),
        ]

    def __str__(self) -> str:
        who = self.to_address or self.recipient_id
        return f"{self.get_kind_display()} to {who} ({self.status})"


# The kinds followup.services.notify_once_per_lead keeps to one unread notice per lead.
COALESCED_NOTICES = ("prospect_wrote", "followup_failed")


class Notification(models.Model):
    """An in-app alert for a staff member; the rep's queue page shows the unread ones."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "New lead assigned"
        SLA_WARNING = "sla_warning", "Answer soon"
        SLA_BREACH = "sla_breach", "Deadline missed"
        TASK = "task", "Follow-up task"
        QUEUED = "queued", "Waiting in the team queue"
        REPLY_FAILED = "reply_failed", "A reply could not be delivered"
        PROSPECT_WROTE = "prospect_wrote", "Prospect got in touch"
        FOLLOWUP_UNDELIVERED = "followup_failed", "Follow-up could not reach the prospect"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_unread_idx",
                                condition=Q(read_at__isnull=True))]
        constraints = [
            # Two messages of one lead taken in at once give its owner one notice, not two.
            models.UniqueConstraint(
                fields=["user", "lead", "kind"], name="one_unread_notice_per_lead",
                condition=Q(read_at__isnull=True, kind__in=COALESCED_NOTICES),
                violation_error_message="This user has an unread notice of this kind for this "
                "lead already: it is brought up to date instead of another being added."),
        ]

    def __str__(self) -> str:
        return self.text


class SenderProfile(models.Model):
    """How a staff member is reached and signs: mobile for hot-lead SMS, email signature."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="sender_profile")
    mobile_phone = models.CharField(
        max_length=32, blank=True, help_text="E.164, e.g. +14155552671: hot leads are texted "
        "here when SMS is configured.")
    signature = models.TextField(blank=True, help_text="Used as {{ owner_signature }}.")

    class Meta:
        verbose_name = "alert and signature settings"
        verbose_name_plural = "alert and signature settings"

    def __str__(self) -> str:
        return str(self.user)

    def clean(self) -> None:
        """Stored in E.164 as Twilio takes it ("(212) 555-0143" is +12125550143); a number it
        could not read would fail every hot-lead text."""
        from capture.identity import InvalidPhone, normalise_phone

        try:
            self.mobile_phone = normalise_phone(self.mobile_phone)
        except InvalidPhone as exc:
            raise ValidationError({"mobile_phone": str(exc)}) from None


class Suppression(models.Model):
    """An address we never message again: an unsubscribe, an SMS STOP, a bounce, a complaint."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email address"
        PHONE = "phone", "Phone number"
        ACCOUNT = "account", "Platform account (an erased person's)"

    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        STOP = "stop", "Texted STOP"
        BOUNCE = "bounce", "Bounced"
        COMPLAINT = "complaint", "Marked as spam"
        MANUAL = "manual", "Added by staff"
        ERASED = "erased", "Erased on request (only a new opt-in through a form lifts it)"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(
        max_length=254, blank=True,
        help_text="An email address, or a phone number with its +country code (one without is "
        "read in the server's default country); empty once the person is erased.")
    value_hash = models.CharField(
        max_length=64, blank=True, editable=False, db_index=True,
        help_text="Salted hash of the value (capture/privacy.py: identity_hash): what is kept "
        "of an erased person, and what every check compares.")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "suppressed address"
        verbose_name_plural = "suppressed addresses (unsubscribes, STOP, bounces)"
        constraints = [models.UniqueConstraint(fields=["kind", "value"],
                                               condition=~Q(value=""),
                                               name="uniq_suppression"),
                       models.UniqueConstraint(fields=["kind", "value_hash"],
                                               condition=~Q(value_hash=""),
                                               name="uniq_suppression_hash")]

    def __str__(self) -> str:
        shown = self.value or f"erased ({self.value_hash[:10]}…)"
        return f"{shown} ({self.get_reason_display()})"

    def save(self, *args, **kwargs) -> None:
        from capture.privacy import identity_hash  # the hash always follows the value

        if self.value:
            self.value_hash = identity_hash(self.kind, self.value)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """An address typed in the admin is stored as the checks compare it (the phone in E.164,
        the email as its match key): as typed, "(415) 555-2671" was listed and never stopped a
        text, and "not-an-email" was listed as an email."""
        from capture.identity import InvalidPhone, email_key, normalise_phone
        from capture.privacy import identity_hash

        value = (self.value or "").strip()
        if not value:
            return  # an erased person's row, or a missing value the form reports
        if self.kind == self.Kind.EMAIL:
            try:
                validate_email(value)
            except ValidationError:
                raise ValidationError({"value": f"“{value}” is not an email address."}) from None
            value = email_key(value)
        elif self.kind == self.Kind.PHONE:
            try:
                value = normalise_phone(value)
            except InvalidPhone as exc:
                raise ValidationError({"value": exc.args[0]}) from None
        self.value = value
        # An erased person's row keeps only the hash, which the form's unique check cannot see.
        if Suppression.objects.filter(kind=self.kind, value_hash=identity_hash(self.kind, value)
                                      ).exclude(pk=self.pk).exists():
            raise ValidationError({"value": "This address is already on the list."})
