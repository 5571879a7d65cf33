"""The rep's side: the chat on the lead page, replies, the waiting chats on the queue page."""

from __future__ import annotations

import pytest

from capture.models import Lead
from chat.models import Conversation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def chatting(visitor):
    visitor.say('Hello <img src=x onerror="alert(1)">', fields={"first_name": "Ada"})
    lead = Lead.objects.get()
    return lead


def test_the_owner_sees_the_chat_on_the_lead_page_as_text(client, chatting):
    client.force_login(chatting.owner)
    page = client.get(f"/leads/{chatting.pk}/").content.decode()
    assert 'id="chat-panel"' in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert '<img src=x onerror="alert(1)">' not in page
    assert "Visitor waiting" in page


def test_a_reply_from_the_lead_page_reaches_the_visitor(client, chatting, visitor):
    client.force_login(chatting.owner)
    conversation = Conversation.objects.get()
    response = client.post(f"/chat/leads/{chatting.pk}/reply/",
                           {"thread": conversation.thread, "text": "Hi Ada, how can I help?"},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    assert response.json()["message"]["from"] == "rep"
    texts = [m["text"] for m in visitor.poll().json()["messages"]]
    assert texts[-1] == "Hi Ada, how can I help?"
    chatting.refresh_from_db()
    assert chatting.first_response_at is not None
    assert chatting.interactions.filter(direction="outbound", kind="message").count() == 1


def test_an_empty_reply_is_refused_with_a_message(client, chatting):
    client.force_login(chatting.owner)
    thread = Conversation.objects.get().thread
    response = client.post(f"/chat/leads/{chatting.pk}/reply/", {"thread": thread, "text": " "},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and response.json()["error"]


def test_the_panel_polls_new_messages(client, chatting, visitor):
    client.force_login(chatting.owner)
    first = client.get(f"/chat/leads/{chatting.pk}/messages/").json()
    assert [m["from"] for m in first["messages"]] == ["visitor"]
    assert first["waiting_seconds"] is not None
    visitor.say("Are you there?")
    later = client.get(f"/chat/leads/{chatting.pk}/messages/",
                       {"after": first["messages"][-1]["id"]}).json()
    assert [m["text"] for m in later["messages"]] == ["Are you there?"]


def test_another_rep_cannot_read_or_answer_the_chat(client, chatting):
    stranger = UserFactory(username="mallory")
    client.force_login(stranger)
    assert client.get(f"/chat/leads/{chatting.pk}/messages/").status_code == 404
    thread = Conversation.objects.get().thread
    assert client.post(f"/chat/leads/{chatting.pk}/reply/",
                       {"thread": thread, "text": "hi"}).status_code == 404


def test_the_queue_shows_waiting_chats_with_the_waiting_time(client, chatting,
                                                            django_assert_max_num_queries):
    client.force_login(chatting.owner)
    page = client.get("/queue/").content.decode()
    assert "Chats waiting for an answer" in page and "Ada" in page
    with django_assert_max_num_queries(8):
        fragment = client.get("/chat/waiting/").content.decode()
    assert "waiting" in fragment and f"/leads/{chatting.pk}/" in fragment


def test_an_answered_chat_leaves_the_waiting_list(client, chatting):
    client.force_login(chatting.owner)
    thread = Conversation.objects.get().thread
    client.post(f"/chat/leads/{chatting.pk}/reply/", {"thread": thread, "text": "Hello!"})
    assert "Chats waiting" not in client.get("/chat/waiting/").content.decode()


def test_the_admin_shows_the_embed_snippet_and_the_transcript_as_text(admin_client, widget,
                                                                      chatting):
    page = admin_client.get(f"/admin/chat/chatwidget/{widget.pk}/change/").content.decode()
    assert f"data-widget=&quot;{widget.key}&quot;" in page
    assert "static/chat/widget.js" in page
    conversation = Conversation.objects.get()
    page = admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/").content.decode()
    assert "&lt;img src=x" in page and '<img src=x onerror' not in page


def test_the_admin_refuses_a_widget_without_a_valid_origin(admin_client, sales_team):
    response = admin_client.post("/admin/chat/chatwidget/add/", {
        "name": "Bad", "allowed_origins": "www.example.com/path", "greeting": "Hi",
        "prechat_fields": ["email"], "prechat_mode": "before", "offline_message": "Later",
        "no_answer_seconds": 60, "first_response_seconds": 60, "source": "chat",
        "ack_subject": "", "ack_body": ""})
    assert response.status_code == 200
    assert "is not an origin like https://www.example.com" in response.content.decode()
