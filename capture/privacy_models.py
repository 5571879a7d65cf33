"""Privacy records: exports and erasures asked for, retention settings and runs, the access trail.

None of these rows holds a person's data: an erasure keeps counts and salted hashes, an export
keeps the ids of the leads it contained, a trail row keeps a lead id and a staff member.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class PrivacyRequest(models.Model):
    """One export or erasure of a person, as it was carried out (who, when, which leads)."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        ERASURE = "erasure", "Erasure"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    identity_hashes = models.JSONField(
        default=list, blank=True,
        help_text="Salted hashes of the email and phone asked for (never the values).")
    lead_ids = models.JSONField(default=list, blank=True, help_text="The leads it covered.")
    counts = models.JSONField(default=dict, blank=True,
                              help_text="How many rows of each kind were exported or erased.")
    note = models.CharField(max_length=200, blank=True,
                            help_text="A ticket number or the request's channel; no personal data.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "privacy request"
        permissions = [("export_person", "Can export a person's data"),
                       ("erase_person", "Can erase a person's data")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({len(self.lead_ids)} leads)"


class RetentionPolicy(models.Model):
    """How long data is kept (one row, edited in the admin); the daily schedule applies it.
    A century at most: a typo such as 30000 months put the cut-off before the year 1."""

    MAX_DAYS, MAX_MONTHS = 36_500, 1_200

    is_active = models.BooleanField(
        "run every day", default=True,
        help_text="Off: the daily schedule only writes a dry-run report.")
    raw_payload_days = models.PositiveIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text="Raw payloads of processed inbound events are purged after this many days "
        "(the lead they made stays).")
    rejected_event_days = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)],
        help_text="Rejected (spam) and ignored inbound events are deleted after this many days.")
    inactive_lead_months = models.PositiveIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(MAX_MONTHS)],
        help_text="Leads never won are anonymised after this many months without activity.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policy"

    def __str__(self) -> str:
        return (f"payloads {self.raw_payload_days} d, rejected {self.rejected_event_days} d, "
                f"inactive leads {self.inactive_lead_months} months")

    @classmethod
    def current(cls) -> RetentionPolicy:
        return cls.objects.order_by("pk").first() or cls.objects.create()


class RetentionRun(models.Model):
    """What one retention run did (or, for a dry run, would have done)."""

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+",
                                     help_text="Empty: the daily schedule.")
    settings = models.JSONField(default=dict, blank=True, help_text="The policy it applied.")
    report = models.JSONField(default=dict, blank=True,
                              help_text="Counts and ids of what was purged or anonymised.")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "retention run"

    def __str__(self) -> str:
        what = "dry run" if self.dry_run else "run"
        return f"Retention {what} of {self.started_at:%Y-%m-%d %H:%M}"


class LeadAccess(models.Model):
    """Who opened, listed, exported, changed or reassigned a lead, and when."""

    class Action(models.TextChoices):
        VIEWED = "viewed", "Opened the lead page"
        ADMIN_VIEWED = "admin_viewed", "Opened in the admin"
        LISTED = "listed", "Listed in the queue"
        EXPORTED = "exported", "Exported"
        CHANGED = "changed", "Changed"
        REASSIGNED = "reassigned", "Reassigned"
        ERASED = "erased", "Erased"

    lead = models.ForeignKey("capture.Lead", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="access_trail")
    listed_ids = models.TextField(
        blank=True, editable=False,
        help_text="For a queue page: the lead ids it showed, as ',1,2,3,' (one row per page).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    # The user's login as the row is written: deleting the account empties `user`, and the
    # trail must still say who it was. Empty only for the system's own actions.
    actor = models.CharField(max_length=150, blank=True, editable=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "lead access"
        verbose_name_plural = "access trail"
        indexes = [models.Index(fields=["lead", "-at"], name="lead_access_trail_idx"),
                   models.Index(fields=["user", "-at"], name="lead_access_user_idx")]

    def __str__(self) -> str:
        return f"{self.who} {self.get_action_display()} {self.lead_id or ''}"

    # `actor` of rows whose user was deleted before rows kept the login (capture 0025): a
    # person did it, whose name is gone. No login can be "?".
    FORGOTTEN = "?"

    @staticmethod
    def actor_of(user) -> str:
        return user.get_username() if user is not None else ""

    @property
    def who(self) -> str:
        """Who did it, as the trail names them: the login; a deleted user's as kept on the
        row; "system" only for a row no person wrote."""
        if self.user is not None:
            return self.user.get_username()
        if self.actor == self.FORGOTTEN:
            return "a deleted user"
        return f"{self.actor} (deleted)" if self.actor else "system"
