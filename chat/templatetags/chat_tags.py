"""The chat's parts of the lead page and the queue page, rendered from their own templates."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.utils import timezone

from chat import services

register = template.Library()


@register.inclusion_tag("routing/_chat.html", takes_context=True)
def chat_panel(context, lead) -> dict:
    conversation = lead.chat_conversations.select_related("widget").order_by(
        "-started_at").first()
    rows = services.messages_after(conversation) if conversation else []
    waiting = services.waiting_seconds(conversation) if conversation else None
    return {"lead": lead, "conversation": conversation, "chat_messages": rows,
            "waiting_seconds": waiting, "csrf_token": context.get("csrf_token"),
            "chat_poll_seconds": settings.CHAT_POLL_SECONDS,
            "abandoned_minutes": settings.CHAT_ABANDONED_MINUTES,
            "last_id": rows[-1]["id"] if rows else 0}


@register.inclusion_tag("chat/_waiting.html", takes_context=True)
def waiting_chats(context) -> dict:
    user = context["request"].user
    # The queue page's box: opening it is being there, as each of its refreshes is (else the
    # widget said "offline" until the first refresh, a few seconds after the page loaded).
    services.mark_present(user)
    return {"waiting_chats": services.waiting_conversations(user), "now": timezone.now(),
            "chat_poll_seconds": settings.CHAT_POLL_SECONDS, "poll": True,
            "csrf_token": context.get("csrf_token")}


@register.filter
def seconds_since(moment, now=None) -> int:
    return int(((now or timezone.now()) - moment).total_seconds()) if moment else 0


@register.filter
def waited(seconds) -> str:
    """42 s, 3 min 5 s, 1 h 2 min."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
