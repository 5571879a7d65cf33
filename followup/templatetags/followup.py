"""`{% load followup %}{% notifications_for request.user %}`: the unread alerts, for the queue."""

from django import template

from followup.selectors import unread_notifications

register = template.Library()


@register.inclusion_tag("followup/_notifications.html")
def notifications_for(user, limit: int = 20) -> dict:
    items = list(unread_notifications(user, limit)) if user.is_authenticated else []
    return {"notifications": items}
