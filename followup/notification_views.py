"""Marking notifications read, from the queue page's list: one, or every one the page showed.
A user reaches only their own: someone else's notification is a 404, as a lead is."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from followup.models import Notification
from followup.selectors import mark_notifications_read


def _seen_at(request: HttpRequest) -> datetime | None:
    """The notice's time as the page showed it (`seen`, ISO 8601); none or unreadable: None."""
    try:
        seen = datetime.fromisoformat(request.POST.get("seen", ""))
    except ValueError:
        return None
    return seen if seen.tzinfo is not None else None


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()},
                                       require_https=request.is_secure()):
        return redirect(target)
    return redirect(reverse("routing:queue") + "#notifications")


@login_required
@require_POST
def mark_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    if not Notification.objects.filter(pk=notification_id, user=request.user).exists():
        raise Http404("No notification here.")
    mark_notifications_read(request.user, ids=[notification_id], seen_at=_seen_at(request))
    return _back(request)


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    """Up to the newest the page showed (`up_to`): one that came in since stays unread."""
    try:
        up_to = int(request.POST.get("up_to", ""))
    except ValueError:
        up_to = None
    mark_notifications_read(request.user, up_to_id=up_to, seen_at=_seen_at(request))
    return _back(request)
