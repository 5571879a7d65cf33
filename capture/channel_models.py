"""Per-channel configuration sales ops edit in the admin: API keys, signed webhook sources, and
the non-secret settings of each provider channel (provider secrets live in the environment)."""

from __future__ import annotations

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import models

from capture.fields import LEAD_FIELDS, RegionField

API_KEY_PREFIX = "lcrm_"


def hash_api_key(key: str) -> str:
    """Keys are 32 random bytes, so a plain SHA-256 is enough (nothing to brute-force)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_field_mapping(mapping: object) -> None:
    """A mapping is {"their field name": "lead field name"}; raises ValidationError."""
    if not isinstance(mapping, dict):
        raise ValidationError('Write a JSON object like {"FirstName": "first_name"}.')
    from capture.custom_fields import definitions

    custom = definitions(active_only=True)
    unknown = sorted({str(v) for v in mapping.values()
                      if v not in LEAD_FIELDS and v not in custom and v != ""})
    if unknown:
        raise ValidationError(
            f"Unknown lead fields: {', '.join(unknown)}. Use one of: {', '.join(LEAD_FIELDS)}"
            f"{', the custom field keys ' + ', '.join(custom) if custom else ''}, "
            'or "" to drop a field.'
        )


def acknowledge_with_field(sender: str) -> models.ForeignKey:
    """The form whose acknowledgement a partner's or a webhook's leads get (IntakeInput.
    acknowledge_with; followup.services.acknowledgement_for)."""
    return models.ForeignKey(
        "capture.IntakeForm", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text=f"Each lead with an email address that {sender} sends gets the "
        "acknowledgement email of this form (its subject, text and promise; the lead's tier "
        "sets the promise when it has an SLA policy). Empty: no acknowledgement.")


class ApiKey(models.Model):
    """One partner or website posting leads to /api/v1/leads/: one key per source."""

    name = models.CharField(max_length=100, unique=True)
    source = models.SlugField(
        max_length=100, unique=True, help_text="Recorded on every lead this key sends."
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    is_active = models.BooleanField(default=True)
    field_mapping = models.JSONField(
        default=dict, blank=True, validators=[check_field_mapping],
        help_text='Their field names to lead fields, e.g. {"FirstName": "first_name"}; "" '
        "drops a field. Lead field names are always accepted as they are.",
    )
    accepts_form_posts = models.BooleanField(
        default=False,
        help_text="Accept HTML form posts at /api/v1/forms/<source>/ (no key: a browser cannot "
        "keep one secret), e.g. an existing Salesforce Web-to-Lead form with a new action URL.",
    )
    return_origins = models.TextField(
        blank=True, help_text="Sites (one origin per line) a form post may send the visitor "
        "back to with retURL.",
    )
    default_region = RegionField(help_text="Region for phone numbers without +country code.")
    rate_limit_per_minute = models.PositiveIntegerField(default=120)
    acknowledge_with = acknowledge_with_field("this key")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, name: str, source: str = "", **fields) -> tuple[ApiKey, str]:
        """Make a key; the plain key is returned once and only its hash is stored."""
        from django.utils.text import slugify

        api_key = cls(name=name, source=source or slugify(name)[:100], **fields)
        key = api_key.set_new_key()
        api_key.source = api_key.source or api_key.prefix
        api_key.save()
        return api_key, key

    def set_new_key(self) -> str:
        """Give this row a new key (unsaved); returns the plain key, shown once."""
        self.prefix = secrets.token_hex(4)
        key = f"{API_KEY_PREFIX}{self.prefix}_{secrets.token_urlsafe(32)}"
        self.key_hash = hash_api_key(key)
        return key

    @property
    def origin_list(self) -> list[str]:
        from capture.models import canonical_origins

        return canonical_origins(self.return_origins)


class WebhookSource(models.Model):
    """A sender of signed JSON webhooks to /inbound/webhook/<slug>/ (Zapier, chat widgets, ...)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=100)
    secret = models.CharField(
        max_length=100, default=new_webhook_secret,
        help_text="Shared with the sender to sign each request; give it only to them.",
    )
    field_mapping = models.JSONField(
        default=dict, blank=True, validators=[check_field_mapping],
        help_text='Their keys (dotted for nested JSON, e.g. "contact.email") to lead fields. '
        "Lead field names are accepted as they are; other keys go into the message.",
    )
    default_region = RegionField(help_text="Region for phone numbers without +country code.")
    acknowledge_with = acknowledge_with_field("this source")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "signed webhook source"

    def __str__(self) -> str:
        return f"{self.name} (/inbound/webhook/{self.slug}/)"


class ChannelSettings(models.Model):
    """What sales ops may change about a provider channel; its secrets stay in the environment."""

    class Name(models.TextChoices):
        EMAIL = "email", "Email"
        TWILIO = "twilio", "Twilio calls and SMS"
        META = "meta", "Meta: WhatsApp, Messenger, Instagram, Page comments, Lead Ads"
        CALENDLY = "calendly", "Calendly bookings"
        IMPORT = "import", "Imports"
        LINKEDIN = "linkedin", "LinkedIn Lead Gen Forms"
        TELEGRAM = "telegram", "Telegram bot"
        SLACK = "slack", "Slack Events API"
        X = "x", "X direct messages"

    channel = models.CharField(max_length=16, choices=Name.choices, unique=True)
    is_active = models.BooleanField(
        default=True, help_text="Off: the channel's webhooks answer 404 and store nothing."
    )
    source = models.CharField(
        max_length=100, blank=True, help_text="Recorded as the source of leads from this channel."
    )
    default_region = RegionField(help_text="Region for phone numbers without +country code.")
    forward_to = models.CharField(
        max_length=32, blank=True,
        help_text="Twilio: forward incoming calls to this number (E.164). Empty: the caller "
        "hears the greeting and the call is flagged for a call-back.",
    )
    greeting = models.CharField(
        max_length=500, blank=True,
        help_text="Twilio: what a caller hears first. Empty: nothing before the forward; with "
        "no number to forward to, that we will call them back.",
    )
    reply_text = models.CharField(
        max_length=500, blank=True,
        help_text="Twilio: automatic SMS answer to the first text of a conversation (none "
        "within 24 h of an earlier text); empty sends none."
    )
    own_addresses = models.TextField(
        blank=True, help_text="Email: our own addresses or domains (one per line, e.g. "
        "sales@example.com or @example.com); mail from them is ignored, not a lead.",
    )
    field_mapping = models.JSONField(
        default=dict, blank=True, validators=[check_field_mapping],
        help_text='Meta Lead Ads: question names to lead fields, e.g. {"what_service": '
        '"service"}. Standard questions (full_name, email, phone_number, ...) map already.',
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["channel"]
        verbose_name = "channel settings"
        verbose_name_plural = "channel settings"

    def __str__(self) -> str:
        return self.get_channel_display()

    @classmethod
    def for_channel(cls, name: str) -> ChannelSettings:
        """The stored settings, or unsaved defaults when sales ops have not made any."""
        return cls.objects.filter(channel=name).first() or cls(channel=name)

    @property
    def own_address_list(self) -> list[str]:
        return [a.strip().casefold() for a in self.own_addresses.splitlines() if a.strip()]


class LinkedInForm(models.Model):
    """A LinkedIn Lead Gen Form and how its questions read as lead fields.

    A form response from the Lead Sync API carries answers keyed by question id only, so each
    form sales ops sync needs its mapping here: {"<questionId>": "<lead field>"}.
    """

    form_id = models.CharField(
        max_length=64, unique=True,
        help_text="The number in the form's URN urn:li:leadGenForm:<number> (Campaign Manager "
        "shows it in the form's URL).")
    name = models.CharField(max_length=200)
    question_mapping = models.JSONField(
        default=dict, blank=True, validators=[check_field_mapping],
        help_text='Question ids to lead fields, e.g. {"1": "first_name", "2": "email", '
        '"3": "company"}; "" drops an answer. Unmapped answers go into the lead\'s timeline.')
    source = models.CharField(max_length=100, default="linkedin-lead-gen",
                              help_text="Recorded as the source of this form's leads.")
    default_region = RegionField(help_text="Region for phone numbers without +country code.")
    is_active = models.BooleanField(default=True, help_text="Off: its responses are ignored.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "LinkedIn lead gen form"

    def __str__(self) -> str:
        return f"{self.name} (form {self.form_id})"

    def clean(self) -> None:
        if not str(self.form_id).isdigit():
            raise ValidationError({"form_id": "Write the form's number, e.g. 123456."})
