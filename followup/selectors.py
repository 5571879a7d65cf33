"""Reads for pages: a staff member's unread notifications (the queue page and menu show them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet, Window
from django.utils import timezone

from followup.models import Notification

SHOWN_NOTIFICATIONS = 20


@dataclass(frozen=True)
class NotificationPanel:
    items: list[Notification]  # the newest unread, at most SHOWN_NOTIFICATIONS
    total: int  # every unread one

    @property
    def more(self) -> int:
        return self.total - len(self.items)


def unread_notifications(user, limit: int = SHOWN_NOTIFICATIONS) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user, read_at__isnull=True).select_related(
        "lead").order_by("-created_at", "-id")[:limit]


def notification_panel(user, limit: int = SHOWN_NOTIFICATIONS) -> NotificationPanel:
    """The newest unread notifications and how many there are, in one query (the count is a
    window over every unread row, worked out before the limit): the queue page's query count
    stays the same however many there are."""
    if not user.is_authenticated:
        return NotificationPanel([], 0)
    items = list(unread_notifications(user, limit).annotate(unread=Window(Count("id"))))
    return NotificationPanel(items, items[0].unread if items else 0)


def mark_notifications_read(user, ids: list[int] | None = None,
                            up_to_id: int | None = None, seen_at: datetime | None = None) -> int:
    """Mark some (or all) of the user's notifications read; a write, kept next to its read.
    `up_to_id`: only those no newer than that one (the newest the page showed), so "mark all
    read" leaves a notification that arrived after the page was drawn unread. `seen_at`: the
    time the page showed on it (or on the one of `ids`): a notice brought up to date since
    (a team queue's, a prospect's next message) is news the page did not show, and stays."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(id__in=ids)
        if seen_at is not None:
            unread = unread.filter(created_at__lte=seen_at)
    if up_to_id is not None:
        shown = Notification.objects.filter(user=user, pk=up_to_id).values_list(
            "created_at", "id").first()
        if shown is None:
            return 0
        shown_at = min(shown[0], seen_at) if seen_at is not None else shown[0]
        unread = unread.filter(Q(created_at__lt=shown_at) | Q(created_at=shown_at,
                                                              id__lte=shown[1]))
    return unread.update(read_at=timezone.now())
