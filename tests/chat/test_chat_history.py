"""The lead page's chat card shows every chat of the lead, newest first, each with its date
and status: the latest live (polled, answered), the earlier ones' transcripts a page at a
time, so a returning visitor's first chat stays readable where the rep answers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.models import Interaction, Lead
from chat.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(visitor) -> Lead:
    visitor.say("Newest chat: is the offer still on?", fields={"first_name": "Ada"})
    return Lead.objects.get()


def earlier_chat(lead: Lead, days_ago: int, text: str, status: str = "closed") -> Conversation:
    """A chat the same person had before (their email brought it to this lead)."""
    started = Conversation.objects.get(lead=lead, first_client_id__gt="").started_at \
        - timedelta(days=days_ago)
    conversation = Conversation.objects.create(
        widget=Conversation.objects.first().widget, lead=lead, status=status,
        started_at=started, last_visitor_at=started)
    Interaction.objects.create(lead=lead, direction="inbound", kind="message", channel="chat",
                               occurred_at=started, summary=f"Chat: {text}", body=text,
                               message_id=conversation.thread)
    return conversation


def card(client, lead: Lead, **params) -> str:
    client.force_login(lead.owner)
    page = client.get(f"/leads/{lead.pk}/", params).content.decode()
    return page[page.index('id="chat-panel"'):page.index("<h2 class=\"h6\">Act</h2>")]


def test_every_chat_of_the_lead_shows_newest_first_with_its_date_and_status(client, lead):
    earlier_chat(lead, 3, "Second chat: what does delivery cost?", status="abandoned")
    earlier_chat(lead, 40, "First chat: do you deliver to Lyon?", status="offline")
    shown = card(client, lead)
    texts = [shown.index(t) for t in ("Newest chat", "Second chat", "First chat")]
    assert texts == sorted(texts)
    assert "Abandoned (the visitor left)" in shown
    assert "Left contact details (nobody answered)" in shown
    first = Conversation.objects.order_by("started_at").first()
    assert first.started_at.date().isoformat() in shown  # each says when it was


def test_earlier_chats_come_a_page_at_a_time_with_the_same_queries(client, lead):
    for day in range(1, 8):
        earlier_chat(lead, day, f"Chat number {day}.")
    first_page = card(client, lead)
    assert re.findall(r"Chat number (\d)\.", first_page) == ["1", "2", "3", "4", "5"]
    assert "?chats=2" in first_page
    second_page = card(client, lead, chats=2)
    assert "Newest chat" in second_page  # the live chat stays on top, answerable
    assert re.findall(r"Chat number (\d)\.", second_page) == ["6", "7"]
    client.force_login(lead.owner)
    with CaptureQueriesContext(connection) as seven:
        client.get(f"/leads/{lead.pk}/")
    for day in range(8, 30):
        earlier_chat(lead, day, f"Chat number {day}.")
    with CaptureQueriesContext(connection) as thirty:
        client.get(f"/leads/{lead.pk}/")
    assert len(thirty) == len(seven)
