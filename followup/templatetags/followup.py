"""`{% load followup %}{% notifications_for request.user %}`: the unread alerts, as the queue page
shows them (the page itself reads them once through the `notices` context processor)."""

from django import template

from followup.selectors import SHOWN_NOTIFICATIONS, notification_panel

register = template.Library()


@register.inclusion_tag("followup/_notifications.html", takes_context=True)
def notifications_for(context, user, limit: int = SHOWN_NOTIFICATIONS) -> dict:
    return {"notices": notification_panel(user, limit), "request": context.get("request"),
            "csrf_token": context.get("csrf_token")}
