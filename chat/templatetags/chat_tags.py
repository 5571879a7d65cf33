"""The chat's parts of the lead page and the queue page, rendered from their own templates."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.core.paginator import Paginator
from django.utils import timezone

from chat import services

register = template.Library()


# Earlier chats a page of the lead page's card shows, each with its transcript: one query per
# chat shown, however many the lead has (?chats=N pages through the rest).
EARLIER_CHATS_PER_PAGE = 5


@register.inclusion_tag("routing/_chat.html", takes_context=True)
def chat_panel(context, lead) -> dict:
    """The latest chat live (polled, answered here), then the earlier ones, newest first, so a
    returning visitor's first chats stay readable beside the one they are in now."""
    chats = lead.chat_conversations.select_related("widget").order_by("-started_at", "-id")
    conversation = chats.first()
    rows = services.messages_after(conversation) if conversation else []
    waiting = services.waiting_seconds(conversation) if conversation else None
    earlier = None
    if conversation is not None:
        request = context.get("request")
        earlier = Paginator(chats.exclude(pk=conversation.pk), EARLIER_CHATS_PER_PAGE).get_page(
            request.GET.get("chats") if request is not None else 1)
        for chat in earlier:
            chat.transcript = services.messages_after(chat)
    return {"lead": lead, "conversation": conversation, "chat_messages": rows,
            "earlier_chats": earlier,
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
