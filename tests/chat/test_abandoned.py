"""Abandoned chats: a visitor who went quiet for CHAT_ABANDONED_MINUTES is gone; the chat
leaves the waiting box (closed as abandoned by the scheduled sweep), while the lead and the
transcript stay; the visitor writing again opens it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django_q.models import Schedule

from capture.models import Lead
from chat.models import Conversation
from chat.tasks import close_abandoned_chats

pytestmark = pytest.mark.django_db


@pytest.fixture
def chatting(visitor) -> Lead:
    visitor.say("Hello, do you deliver to Lyon?", fields={"first_name": "Ada"})
    return Lead.objects.get()


def quiet_for(minutes: int):
    return time_machine.travel(Conversation.objects.get().last_visitor_at
                               + timedelta(minutes=minutes), tick=False)


def test_a_chat_whose_visitor_went_quiet_leaves_the_waiting_box(client, chatting):
    client.force_login(chatting.owner)
    with quiet_for(31):
        assert "Ada" in client.get("/chat/waiting/").content.decode()  # days, before this
        assert close_abandoned_chats() == 1
        assert "Ada" not in client.get("/chat/waiting/").content.decode()
        page = client.get(f"/leads/{chatting.pk}/").content.decode()
    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.waiting_since) == ("abandoned", None)
    # The lead and the transcript stay, on the lead page and its timeline.
    chatting.refresh_from_db()
    assert chatting.status == "new"
    assert "do you deliver to Lyon?" in page and "Visitor waiting" not in page
    assert 'class="small text-muted mb-2" id="chat-abandoned"' in page  # shown, not d-none
    assert chatting.interactions.filter(kind="system", summary__contains="abandoned").count() == 1


def test_a_chat_quiet_for_less_than_the_setting_is_left_open(client, chatting, settings):
    settings.CHAT_ABANDONED_MINUTES = 60
    with quiet_for(45):
        assert close_abandoned_chats() == 0
    assert Conversation.objects.get().status == "active"
    settings.CHAT_ABANDONED_MINUTES = 0  # off
    with quiet_for(24 * 60):
        assert close_abandoned_chats() == 0


def test_a_second_sweep_closes_nothing_more(chatting):
    with quiet_for(31):
        assert close_abandoned_chats() == 1
        assert close_abandoned_chats() == 0
    assert chatting.interactions.filter(summary__contains="abandoned").count() == 1


def test_the_visitor_writing_again_opens_the_chat_again(client, chatting, visitor):
    with quiet_for(40):
        close_abandoned_chats()
        assert visitor.say("Sorry, I was away. Still there?").status_code == 201
        conversation = Conversation.objects.get()
        assert (conversation.status, conversation.waiting_since is not None) == ("active", True)
        client.force_login(chatting.owner)
        assert "Ada" in client.get("/chat/waiting/").content.decode()


def test_the_sweep_runs_on_the_existing_schedules():
    schedule = Schedule.objects.get(name="chat: close abandoned chats")
    assert schedule.func == "chat.tasks.close_abandoned_chats" and schedule.minutes == 5
