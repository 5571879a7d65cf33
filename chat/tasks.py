"""chat's django-q2 tasks (scheduled by chat.schedules)."""

from __future__ import annotations

from chat.services import close_abandoned_conversations


def close_abandoned_chats() -> int:
    """The schedule's sweep: chats whose visitor went quiet leave the waiting box."""
    return close_abandoned_conversations()
