"""seed_demo's social leads: prospects known only by a Telegram and an Instagram account, so
the lead page's reply panel has something to show (and, without tokens, says why not)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from capture.intake import IntakeInput, PlatformAccount, receive_lead
from capture.models import Channel, Interaction, LeadIdentity, Platform

SOCIAL_LEADS = (
    (Platform.TELEGRAM, "5566778899", "@mcurie", "5566778899", Channel.CHAT, "telegram",
     {"first_name": "Marie", "last_name": "Curie",
      "message": "Can you quote a lab fit-out for 12 people?"}, "Telegram: a lab fit-out?"),
    (Platform.INSTAGRAM, "1254459154682919", "ada.builds", "17841400008460056", Channel.SOCIAL,
     "instagram", {"message": "Hi! How much is the spring package?"},
     "Instagram: How much is the spring package?"),
)


def seed_social_leads() -> int:
    """Idempotent: an account already in the database is left alone."""
    made = 0
    now = timezone.now()
    for platform, external_id, name, address, channel, source, fields, summary in SOCIAL_LEADS:
        if LeadIdentity.objects.filter(platform=platform, external_id=external_id).exists():
            continue
        receive_lead(IntakeInput(
            channel=channel, fields=fields, summary=summary, body=fields["message"],
            occurred_at=now - timedelta(hours=2), source=source, notify_prospect=False,
            kind=Interaction.Kind.MESSAGE,
            identity=PlatformAccount(platform, external_id, name, address)))
        made += 1
    return made
