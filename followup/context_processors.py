"""The signed-in pages' menu and queue show the user's unread notifications: read only when a
template draws them (the admin and the public pages never do)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def notifications(request: HttpRequest) -> dict:
    from followup.selectors import notification_panel

    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"notices": SimpleLazyObject(lambda: notification_panel(user))}
