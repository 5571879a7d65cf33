"""Leads, their timeline, the raw inbound events they came from, and the public intake forms."""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from capture.fields import (
    ATTRIBUTION_LABELS,
    CHOICE_FIELDS,
    DEFAULT_CHOICES,
    FORM_FIELDS,
    MAX_LENGTHS,
    LeadField,
    RegionField,
    answer_list,
    answers_differing_in_case,
)
from capture.templating import template_problem


class Channel(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    EMAIL = "email", "Email"
    CALL = "call", "Call"
    SMS = "sms", "SMS"
    CHAT = "chat", "Chat"
    SOCIAL = "social", "Social"
    BOOKING = "booking", "Booking"
    API = "api", "API"
    IMPORT = "import", "Import"
    MANUAL = "manual", "Manual"


MAX_FILL_SECONDS = 600  # a visitor slower than this never gets through; ten minutes is plenty
FILL_SECONDS_MESSAGE = f"Choose at most {MAX_FILL_SECONDS} seconds (10 minutes)."


def origin_problem(line_number: int, line: str) -> str | None:
    """Why a line of allowed origins is not a web origin (scheme://host[:port]), or None."""
    parts = urlsplit(line)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number from 0 to 65535)
    except ValueError:
        return f"Line {line_number}, “{line}”, has a port that is not a number up to 65535."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (f"Line {line_number}, “{line}”, is not an origin: write scheme://host[:port], "
                "e.g. https://www.example.com.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return (f"Line {line_number}, “{line}”, has more than scheme, host and port: write "
                f"only {parts.scheme}://{parts.netloc.rpartition('@')[2]}.")
    return None


def canonical_origin(text: str) -> str:
    """An origin as a browser's Origin header gives it: lower case, the host in its ASCII
    (IDNA) form, no default port, no trailing slash. Sales ops may type "https://Bücher.example:443/"
    for the site that sends "https://xn--bcher-kva.example"; text that is no origin comes back
    as typed (the admin refuses it)."""
    text = text.strip().rstrip("/")
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return text
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return text
    host = parts.hostname
    with contextlib.suppress(UnicodeError):  # a label IDNA refuses stays as typed
        host = host.encode("idna").decode("ascii")
    if ":" in host:  # IPv6
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    netloc = host if port in (None, {"http": 80, "https": 443}[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def canonical_origins(text: str) -> list[str]:
    """A box of allowed origins, one a line, as canonical_origin() gives each."""
    return [canonical_origin(line) for line in (text or "").splitlines() if line.strip()]


def _default_fields() -> list[str]:
    return ["first_name", "last_name", "email", "phone", "company", "message"]


def _default_required() -> list[str]:
    return ["first_name", "email"]


def default_company_size_choices() -> str:
    return "\n".join(DEFAULT_CHOICES["company_size"])


def default_budget_choices() -> str:
    return "\n".join(DEFAULT_CHOICES["budget"])


def default_urgency_choices() -> str:
    return "\n".join(DEFAULT_CHOICES["urgency"])


# What an acknowledgement's subject and text may print (followup.services.acknowledgement_for).
ACK_VARIABLES = ("first_name", "last_name", "company", "message", "response_promise",
                 "form_title")


class IntakeForm(models.Model):
    """A public quote-request page at /q/<slug>/, configured by sales ops in the admin."""

    slug = models.SlugField(unique=True, help_text="The page lives at /q/<slug>/.")
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, help_text="Shown above the form.")
    fields = models.JSONField(
        default=_default_fields,
        help_text="Lead fields the form shows, in this order.",
    )
    required_fields = models.JSONField(
        default=_default_required, blank=True, help_text="Fields the visitor must fill."
    )
    company_size_choices = models.TextField(
        default=default_company_size_choices, blank=True, help_text="One choice per line."
    )
    budget_choices = models.TextField(
        default=default_budget_choices, blank=True, help_text="One choice per line."
    )
    urgency_choices = models.TextField(
        default=default_urgency_choices, blank=True, help_text="One choice per line."
    )
    service_choices = models.TextField(
        blank=True, help_text="One choice per line; empty means a free-text answer."
    )
    industry_choices = models.TextField(
        blank=True, help_text="One choice per line; empty means a free-text answer."
    )
    consent_text = models.TextField(
        blank=True,
        help_text="The consent checkbox's exact wording; empty hides the box. Never pre-ticked.",
    )
    consent_required = models.BooleanField(default=False)
    submit_label = models.CharField(max_length=60, default="Request a quote")
    thank_you_text = models.TextField(
        default="Thank you! We have your request and will get back to you shortly."
    )
    redirect_url = models.URLField(
        blank=True, help_text="Send visitors here after submitting instead of the thank-you page."
    )
    response_promise = models.CharField(
        max_length=100,
        default="within one business hour",
        help_text='How soon we answer, as the form page says it: "within one business hour". '
        "The acknowledgement email promises the target of the lead's tier's SLA policy when "
        "it has one, and this otherwise.",
    )
    ack_subject = models.CharField(
        max_length=200,
        blank=True,
        default="We received your request",
        help_text="Acknowledgement email subject; empty sends no acknowledgement.",
    )
    ack_body = models.TextField(
        blank=True,
        default=(
            "Hi {{ first_name|default:'there' }},\n\n"
            "Thank you for contacting us. A specialist will get back to you "
            "{{ response_promise }}.\n\n"
            "{% if message %}What you sent us:\n{{ message }}\n{% endif %}"
        ),
        help_text=(
            "Plain text. Variables: {{ first_name }}, {{ last_name }}, {{ company }}, "
            "{{ message }}, {{ response_promise }}, {{ form_title }}."
        ),
    )
    default_region = RegionField(
        help_text="Two-letter country code used to read phone numbers typed without +code "
        "(e.g. GB). Empty uses PHONE_DEFAULT_REGION.",
    )
    min_fill_seconds = models.PositiveSmallIntegerField(
        default=3, help_text="Submissions faster than this after the page loaded are rejected."
    )
    allowed_origins = models.TextField(
        blank=True,
        help_text="Sites (one origin per line, e.g. https://www.example.com) whose own HTML "
        "forms may post to this form without our CSRF token.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        verbose_name = "intake form"

    def __str__(self) -> str:
        return f"{self.title} (/q/{self.slug}/)"

    def get_absolute_url(self) -> str:
        return reverse("capture:form", kwargs={"slug": self.slug})

    def clean(self) -> None:
        known = set(FORM_FIELDS)
        errors = {}
        if not isinstance(self.fields, list) or not self.fields:
            errors["fields"] = "Choose at least one field."
        elif unknown := [f for f in self.fields if f not in known]:
            errors["fields"] = f"Unknown fields: {', '.join(map(str, unknown))}."
        elif not {"email", "phone"} & set(self.fields):
            errors["fields"] = "A form needs an email or a phone field to reach the prospect."
        required = self.required_fields or []
        if isinstance(self.fields, list) and (extra := [f for f in required
                                                        if f not in self.fields]):
            labels = dict(LeadField.choices)  # as the boxes name them: "Budget range", not budget
            errors["required_fields"] = ("Required fields must be on the form: tick "
                                         f"{', '.join(str(labels.get(f, f)) for f in extra)} "
                                         "under Fields too, or untick "
                                         f"{'them' if len(extra) > 1 else 'it'} here.")
        if self.consent_required and not self.consent_text.strip():
            errors["consent_text"] = "Write the consent text the visitor must agree to."
        lines = [line.strip() for line in (self.allowed_origins or "").splitlines()]
        if problems := [p for n, line in enumerate(lines, 1)
                        if line and (p := origin_problem(n, line))]:
            errors["allowed_origins"] = " ".join(problems)
        if self.min_fill_seconds is not None and self.min_fill_seconds > MAX_FILL_SECONDS:
            errors["min_fill_seconds"] = FILL_SECONDS_MESSAGE
        for name in CHOICE_FIELDS:
            if repeated := answers_differing_in_case(self.choices_for(name)):
                errors[f"{name}_choices"] = repeated
        for name in ("ack_subject", "ack_body"):
            if problem := template_problem(getattr(self, name), ACK_VARIABLES):
                errors[name] = problem
        if errors:
            raise ValidationError(errors)

    def choices_for(self, field: str) -> list[str]:
        if field not in CHOICE_FIELDS:
            return []
        return answer_list(getattr(self, f"{field}_choices", ""))

    @property
    def origin_list(self) -> list[str]:
        return canonical_origins(self.allowed_origins)


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    WON = "won", "Won"
    LOST = "lost", "Lost"
    NURTURE = "nurture", "Nurture"
    DISQUALIFIED = "disqualified", "Disqualified"


OPEN_STATUSES = (
    LeadStatus.NEW,
    LeadStatus.CONTACTED,
    LeadStatus.QUALIFIED,
    LeadStatus.NURTURE,
)
# Open and working (not resting in long-term nurture): an unanswered one is owed an answer.
WORKING_STATUSES = tuple(s for s in OPEN_STATUSES if s != LeadStatus.NURTURE)
CLOSED_STATUSES = (LeadStatus.WON, LeadStatus.LOST, LeadStatus.DISQUALIFIED)

ALLOWED_TRANSITIONS = {
    LeadStatus.NEW: {LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.NURTURE,
                     LeadStatus.LOST, LeadStatus.DISQUALIFIED},
    LeadStatus.CONTACTED: {LeadStatus.QUALIFIED, LeadStatus.NURTURE, LeadStatus.WON,
                           LeadStatus.LOST, LeadStatus.DISQUALIFIED},
    LeadStatus.QUALIFIED: {LeadStatus.CONTACTED, LeadStatus.NURTURE, LeadStatus.WON,
                           LeadStatus.LOST, LeadStatus.DISQUALIFIED},
    LeadStatus.NURTURE: {LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.LOST,
                         LeadStatus.DISQUALIFIED},
    LeadStatus.WON: {LeadStatus.NEW},
    LeadStatus.LOST: {LeadStatus.NEW},
    LeadStatus.DISQUALIFIED: {LeadStatus.NEW},
}


def _char(name: str, **kwargs) -> models.CharField:
    return models.CharField(
        max_length=MAX_LENGTHS[name], blank=True, verbose_name=_label(name), **kwargs
    )


def _label(name: str) -> str:
    try:
        return LeadField(name).label
    except ValueError:
        return ATTRIBUTION_LABELS.get(name, name.replace("_", " "))


class Lead(models.Model):
    """One person or company showing interest: the unit reps work and managers count."""

    Channel = Channel
    Status = LeadStatus

    first_name = _char("first_name")
    last_name = _char("last_name")
    email = _char("email", help_text="As the prospect wrote it (display name removed).")
    email_key = models.CharField(
        max_length=254, blank=True, editable=False,
        help_text="Case-folded local part @ IDNA domain: the match key.",
    )
    phone = _char("phone", help_text="E.164, e.g. +14155552671: the match key.")
    company = _char("company")
    job_title = _char("job_title")
    company_size = _char("company_size")
    industry = _char("industry")
    country = _char("country")
    budget = _char("budget")
    urgency = _char("urgency")
    service = _char("service")
    message = models.TextField(blank=True, max_length=MAX_LENGTHS["message"])

    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.MANUAL)
    form = models.ForeignKey(
        IntakeForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    source = models.CharField(max_length=100, blank=True, help_text="Form slug, API key, ...")
    utm_source = _char("utm_source")
    utm_medium = _char("utm_medium")
    utm_campaign = _char("utm_campaign")
    utm_term = _char("utm_term")
    utm_content = _char("utm_content")
    gclid = _char("gclid")
    fbclid = _char("fbclid")
    referrer = _char("referrer")
    landing_page = _char("landing_page")

    has_consent = models.BooleanField(default=False)
    consent_text = models.TextField(blank=True, help_text="The exact wording the prospect saw.")
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)

    status = models.CharField(max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        # No index of its own: every owner query is served by a composite index that starts
        # with owner (Meta.indexes). A lone owner index misled PostgreSQL into reading all of a
        # rep's leads for a queue search (127 ms against 16 ms on a million leads).
        db_index=False,
    )
    score = models.IntegerField(default=0)
    tier = models.CharField(max_length=32, blank=True)
    previous_lead = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="later_leads",
        help_text="The closed lead of the same person this one follows.",
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="merged_leads",
        help_text="The lead this one was merged into (the same person, found later).",
    )
    do_not_text = models.BooleanField(
        default=False, help_text="The prospect texted STOP: send no SMS or WhatsApp messages."
    )
    needs_callback = models.BooleanField(
        default=False, help_text="A missed or unanswered call: call back first."
    )
    snoozed_until = models.DateTimeField(
        null=True, blank=True,
        help_text="Out of the owner's queue until then (the rep's snooze); a new message "
        "from the prospect wakes it at once.")
    custom_fields = models.JSONField(
        default=dict, blank=True,
        help_text="Values of the custom lead fields, by key; checked against their "
        "definitions on every save.",
    )
    staff_set_fields = models.JSONField(
        default=list, blank=True, editable=False,
        help_text="Fields staff have edited; public submissions never overwrite them.",
    )

    created_at = models.DateTimeField(default=timezone.now)  # indexed in Meta.indexes
    updated_at = models.DateTimeField(auto_now=True)
    respond_by = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    erased_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When the person's data was erased or anonymised (capture/privacy.py).")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["email_key"], name="lead_email_key_idx"),
            models.Index(fields=["phone"], name="lead_phone_idx"),
            models.Index(fields=["owner", "status", "respond_by"], name="lead_queue_idx"),
            models.Index(fields=["status", "created_at"], name="lead_status_created_idx"),
            models.Index(fields=["channel", "created_at"], name="lead_channel_created_idx"),
            # The dashboard's date ranges: all leads, and a team's reps' leads.
            models.Index(fields=["created_at"], name="lead_created_idx"),
            # On PostgreSQL it also INCLUDEs the dashboard's columns (migration 0010).
            models.Index(fields=["owner", "created_at"], name="lead_owner_created_idx"),
            # The aging list: open leads nobody has answered, oldest first, per owner.
            models.Index(fields=["owner", "created_at"], name="lead_unanswered_idx",
                         condition=Q(first_response_at__isnull=True, status__in=OPEN_STATUSES)),
            # The queue's ordered reads (routing/queue.py: queue_page), per owner: the
            # unanswered by deadline (breached first), then the answered and nurtured by their
            # next touch.
            models.Index(fields=["owner", "respond_by"], name="lead_unanswered_due_idx",
                         condition=Q(first_response_at__isnull=True,
                                     status__in=WORKING_STATUSES)),
            models.Index(fields=["owner", "-needs_callback", "last_activity_at", "id"],
                         name="lead_later_idx",
                         condition=Q(status__in=OPEN_STATUSES)
                         & (Q(first_response_at__isnull=False) | Q(status=LeadStatus.NURTURE))),
            # The Snoozed tab: the few snoozed leads of a rep, the next to come back first.
            models.Index(fields=["owner", "snoozed_until"], name="lead_snoozed_idx",
                         condition=Q(snoozed_until__isnull=False)),
            models.Index(fields=["owner", "respond_by"], name="lead_open_due_idx",
                         condition=Q(status__in=OPEN_STATUSES)),
            # The dashboard's unassigned list: open leads without an owner by deadline.
            models.Index(fields=["respond_by", "created_at", "id"], name="lead_unassigned_due_idx",
                         condition=Q(owner__isnull=True, status__in=OPEN_STATUSES)),
            # The team tab: unassigned leads owed an answer by deadline, whatever their team
            # (the queue walks it in order and keeps its teams' leads until the page is full).
            # Its condition is the queue slices' filter exactly (see docs/queue.md, "Speed").
            models.Index(fields=["respond_by", "created_at", "id"], name="lead_unassigned_owed_idx",
                         condition=Q(owner__isnull=True, first_response_at__isnull=True,
                                     status__in=WORKING_STATUSES)),
            # A rep's call backs owed (the Due today tab): few rows, so a small index.
            models.Index(fields=["owner"], name="lead_callback_idx",
                         condition=Q(needs_callback=True, status__in=OPEN_STATUSES)),
        ]
        constraints = [
            # One open lead per person: concurrent duplicates collide here, not in Python.
            models.UniqueConstraint(
                fields=["email_key"],
                condition=Q(status__in=OPEN_STATUSES) & ~Q(email_key=""),
                name="uniq_open_lead_email",
                violation_error_message="Another open lead already has this email address.",
            ),
            models.UniqueConstraint(
                fields=["phone"],
                condition=Q(status__in=OPEN_STATUSES) & ~Q(phone=""),
                name="uniq_open_lead_phone",
                violation_error_message="Another open lead already has this phone number.",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs) -> None:
        from capture.identity import email_key  # the key always follows the address

        self.email_key = email_key(self.email)
        fields = kwargs.get("update_fields")
        if self.custom_fields and (fields is None or "custom_fields" in fields):
            from capture.custom_fields import check_values

            self.custom_fields = check_values(self.custom_fields)
        elif not self.custom_fields:
            self.custom_fields = {}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("routing:lead", kwargs={"lead_id": self.pk})  # the rep's lead page

    @property
    def display_name(self) -> str:
        if self.erased_at:
            return f"Erased lead #{self.pk}"
        name = f"{self.first_name} {self.last_name}".strip()
        return name or self.company or self.email or self.phone or f"Lead #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class Interaction(models.Model):
    """One touch on a lead's timeline: a submission, an email, a call, a note, a status change."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"
        INTERNAL = "internal", "Internal"

    class Kind(models.TextChoices):
        SUBMISSION = "submission", "Form submission"
        MESSAGE = "message", "Message"
        EMAIL = "email", "Email"
        CALL = "call", "Call"
        SMS = "sms", "SMS"
        NOTE = "note", "Note"
        STATUS = "status", "Status change"
        ASSIGNMENT = "assignment", "Assignment"
        SYSTEM = "system", "System"

    # Indexed by interaction_timeline_idx (lead, occurred_at), not on its own.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="interactions",
                             db_index=False)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="interactions",
        help_text="The staff member; empty for the prospect or the system.",
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=255)
    body = models.TextField(blank=True)
    inbound_event = models.ForeignKey(
        "InboundEvent", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="interactions",
    )
    message_id = models.CharField(
        max_length=255, blank=True,
        help_text="The email Message-ID (without <>), so replies thread onto this lead; for a "
        "message sent on a platform, the platform's message id.",
    )
    delivery_status = models.CharField(
        max_length=16, blank=True,
        help_text="A message we sent: what the platform last reported (sent, delivered, read, "
        "failed).",
    )
    # What the prospect gave that the lead does not hold (it keeps its own): said in the body
    # for the rep, kept here for privacy — the person's export lists it, their erasure
    # suppresses it, and staff find the person by it.
    other_email = models.CharField(
        "email also given", max_length=254, blank=True,
        help_text="The email (match key) this submission gave besides the lead's own.")
    other_phone = models.CharField(
        "phone also given", max_length=32, blank=True,
        help_text="The phone (E.164) this submission gave besides the lead's own.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-occurred_at"], name="interaction_timeline_idx"),
            models.Index(fields=["message_id"], name="interaction_message_id_idx",
                         condition=~Q(message_id="")),
            models.Index(fields=["other_email"], name="interaction_other_email_idx",
                         condition=~Q(other_email="")),
            models.Index(fields=["other_phone"], name="interaction_other_phone_idx",
                         condition=~Q(other_phone="")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"


class InboundEvent(models.Model):
    """A raw inbound payload, stored before anything else so nothing that arrived is lost."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        REJECTED = "rejected", "Rejected"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    channel = models.CharField(max_length=32, help_text="The adapter: web_form, twilio-sms, ...")
    external_id = models.CharField(
        max_length=255, help_text="The provider's own id for this event: the idempotency key."
    )
    form = models.ForeignKey(
        IntakeForm, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(blank=True, default=b"", help_text="The raw request body.")
    payload = models.JSONField(default=dict, blank=True, help_text="The parsed body.")
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    reason = models.TextField(blank=True, help_text="Why it was rejected, or the last error.")
    attempts = models.PositiveIntegerField(default=0)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_events"
    )
    created_lead = models.BooleanField(
        null=True, blank=True, help_text="Whether processing made a new lead (else matched one)."
    )
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Not stored: set by a channel's receive() on the events of the request that stored them.
    # False on a provider's retry of a stored event, whose answer must not act again (no
    # second auto-reply to a texter).
    stored_now = False

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound event"
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], name="uniq_inbound_event_per_channel"
            )
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="event_status_received_idx"),
            models.Index(fields=["channel", "received_at"], name="event_channel_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.external_id} ({self.status})"

    @property
    def body_text(self) -> str:
        return bytes(self.body or b"").decode("utf-8", errors="replace")


class BlockRule(models.Model):
    """A phrase or email domain that marks a public submission as spam."""

    class Kind(models.TextChoices):
        PHRASE = "phrase", "Phrase in any field"
        EMAIL_DOMAIN = "email_domain", "Email domain"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    value = models.CharField(max_length=200)
    note = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = "blocked phrase or domain"
        verbose_name_plural = "blocked phrases and domains"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="uniq_block_rule")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    def save(self, *args, **kwargs) -> None:
        self.value = self.value.strip().casefold()
        if self.kind == self.Kind.EMAIL_DOMAIN:
            self.value = self.value.lstrip("@")
        super().save(*args, **kwargs)


from capture.channel_models import (  # noqa: E402,F401
    ApiKey,
    ChannelSettings,
    LinkedInForm,
    WebhookSource,
)
from capture.custom_field_models import CustomField, FormCustomField  # noqa: E402,F401
from capture.identity_models import LeadIdentity, Platform  # noqa: E402,F401
from capture.privacy_models import (  # noqa: E402,F401
    LeadAccess,
    PrivacyRequest,
    RetentionPolicy,
    RetentionRun,
)
