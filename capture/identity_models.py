"""A lead's accounts on messaging platforms: how a prospect known only by an Instagram-scoped,
Telegram, Slack or X user id is found again, and where a reply to them goes."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Platform(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    FACEBOOK = "facebook", "Facebook (comments)"
    TELEGRAM = "telegram", "Telegram"
    SLACK = "slack", "Slack"
    X = "x", "X (Twitter)"


class LeadIdentity(models.Model):
    """One account of one person on one platform, on the lead it belongs to.

    The intake matches (platform, external_id) before anything else, so the next message from
    the same account lands on the same lead even before an email or phone is known.
    """

    Platform = Platform

    lead = models.ForeignKey("capture.Lead", on_delete=models.CASCADE, related_name="identities")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    external_id = models.CharField(
        max_length=128, help_text="The platform's id of the person: Instagram-scoped id, "
        "Messenger page-scoped id, WhatsApp id, Telegram / Slack / X user id.")
    display_name = models.CharField(max_length=200, blank=True,
                                    help_text="Name or @handle as the platform shows it.")
    address = models.CharField(
        max_length=128, blank=True,
        help_text="Where a reply goes when it is not the person's id: the Telegram chat, our "
        "WhatsApp phone number id, our Page or Instagram account that was written to.")
    last_inbound_at = models.DateTimeField(
        null=True, blank=True,
        help_text="The prospect's last message: WhatsApp's and Messenger's 24-hour windows "
        "count from here (a comment is no message: it moves last_comment_at).")
    last_comment_id = models.CharField(
        max_length=128, blank=True,
        help_text="The prospect's latest comment on our Instagram media or Page post. A comment "
        "opens no messaging window: Instagram allows one private reply to it, within 7 days.")
    last_comment_at = models.DateTimeField(
        null=True, blank=True, help_text="When that comment was written (the 7 days count "
        "from here).")
    window_closed_at = models.DateTimeField(
        null=True, blank=True, help_text="The platform refused a reply as outside its messaging "
        "window (its clock, not ours): closed until the prospect writes again (a new message "
        "from them clears it).")
    blocked_at = models.DateTimeField(
        null=True, blank=True, help_text="The platform refused a reply: the prospect blocked us "
        "(a new message from them clears it).")
    blocked_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["platform", "external_id"]
        verbose_name = "platform identity"
        verbose_name_plural = "platform identities"
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"],
                                    name="uniq_lead_identity_per_platform"),
        ]

    def __str__(self) -> str:
        shown = self.display_name or self.external_id
        return f"{self.get_platform_display()}: {shown}"
