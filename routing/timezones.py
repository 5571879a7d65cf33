"""Each rep's own time zone on the staff pages: "today", snooze times and every time shown.

The zone is read once, at login, from the rep's profile (RepProfile.timezone) into the session;
the middleware then activates it for each of their requests without a query. A change to the
profile takes effect at the rep's next login. People without a rep profile see the site's
TIME_ZONE, as before.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

SESSION_KEY = "rep_timezone"


def remember_zone(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: the rep's zone into their session."""
    from routing.models import RepProfile

    zone = RepProfile.objects.filter(user=user).values_list("timezone", flat=True).first()
    if request is not None and hasattr(request, "session"):
        if zone:
            request.session[SESSION_KEY] = zone
        else:
            request.session.pop(SESSION_KEY, None)


class RepTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # No session cookie (the public form, the API, webhooks): nothing is read at all.
        zone = request.session.get(SESSION_KEY) if request.COOKIES else None
        if zone:
            try:
                timezone.activate(ZoneInfo(zone))
            except (ZoneInfoNotFoundError, ValueError):
                zone = None
        try:
            return self.get_response(request)
        finally:
            if zone:
                timezone.deactivate()
