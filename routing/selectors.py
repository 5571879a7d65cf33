"""Reads about leads' clocks and queues (what followup and the dashboards ask routing)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from capture.models import OPEN_STATUSES, WORKING_STATUSES, Lead
from routing.routing import Outcome


def _unanswered() -> QuerySet[Lead]:
    # An erased person's lead is not chased: there is nobody left to answer. Nor is a lead
    # resting in long-term nurture: it owes no answer (the queue never shows it breached).
    return Lead.objects.filter(status__in=WORKING_STATUSES, first_response_at__isnull=True,
                               respond_by__isnull=False, erased_at__isnull=True)


def leads_breaching(now: datetime | None = None, *,
                    since: datetime | None = None) -> QuerySet[Lead]:
    """Open, unanswered leads past their deadline whose escalation has not run yet; with
    `since`, only those whose deadline passed after it (a short read of lead_breach_due_idx,
    however many old breaches stay unanswered)."""
    due = _unanswered().filter(respond_by__lte=now or timezone.now(),
                               assessment__escalated_at__isnull=True)
    return due.filter(respond_by__gt=since) if since is not None else due


def leads_past_warning(now: datetime | None = None) -> QuerySet[Lead]:
    """Open, unanswered leads past their warning point and not yet breached."""
    now = now or timezone.now()
    return _unanswered().filter(assessment__warn_at__lte=now, respond_by__gt=now)


def unassigned_queue(team_id: int) -> QuerySet[Lead]:
    """The team's unassigned queue: open leads routed to it that nobody could take, oldest
    deadline first."""
    return Lead.objects.filter(
        assessment__team_id=team_id, assessment__outcome=Outcome.QUEUED, owner__isnull=True,
        status__in=OPEN_STATUSES,
    ).order_by("respond_by", "created_at")
