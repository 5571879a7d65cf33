"""What the signed-in pages' layout needs to know about the user, asked only when drawn."""

from __future__ import annotations

from django.http import HttpRequest

from routing.access import may_see_dashboard


def pages(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    # A callable: the template calls it only where the menu is drawn (not on public pages).
    return {"shows_dashboard": lambda: user is not None and may_see_dashboard(user)}
