"""Reads for pages: a staff member's unread notifications (the rep queue page shows them)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from followup.models import Notification


def unread_notifications(user, limit: int = 20) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True).select_related(
        "lead").order_by("-created_at", "-id")[:limit]


def mark_notifications_read(user, ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's notifications read; a write, kept next to its read."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(id__in=ids)
    return unread.update(read_at=timezone.now())
