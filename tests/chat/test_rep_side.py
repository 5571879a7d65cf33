"""The rep's side: the chat on the lead page, replies, the waiting chats on the queue page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from capture.models import Lead
from chat.models import Conversation
from tests.chat.conftest import Visitor
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
    # A new lead the rep answered is contacted, as after a call or a reply on their channel.
    assert chatting.status == "contacted"
    assert chatting.interactions.filter(kind="status", actor=chatting.owner).exists()


def test_the_transcript_names_the_rep_as_the_timeline_does(client, chatting):
    """The conversations admin's transcript gave the rep's login ("alice") where the lead page
    and the timeline say "Alice Anders"."""
    from chat.services import transcript

    owner = chatting.owner
    owner.first_name, owner.last_name = "Alice", "Anders"
    owner.save()
    client.force_login(owner)
    conversation = Conversation.objects.get()
    client.post(f"/chat/leads/{chatting.pk}/reply/",
                {"thread": conversation.thread, "text": "Hi Ada!"}, HTTP_ACCEPT="application/json")
    assert transcript(conversation).splitlines()[-1].endswith("] Alice Anders: Hi Ada!")


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


@pytest.fixture
def chat_routed_to_bob(widget, sales_team, alice, bob):
    """Round robin's next turn is bob's, and only alice has leadcrm open."""
    from routing.models import TeamCursor

    TeamCursor.objects.create(team=sales_team, last_user=alice.user)
    alice_browser = Client()
    alice_browser.force_login(alice.user)
    alice_browser.get("/chat/waiting/")  # the queue page's box polls this: alice is present
    visitor = Visitor(widget)
    assert visitor.config().json()["online"] is True
    visitor.say("Is anyone there?", fields={"first_name": "Ada"})
    lead = Lead.objects.get()
    assert lead.owner == bob.user
    return alice_browser, lead


def test_a_present_rep_takes_and_answers_a_chat_routed_to_an_absent_one(chat_routed_to_bob,
                                                                        alice, bob):
    alice_browser, lead = chat_routed_to_bob
    assert alice_browser.get(f"/leads/{lead.pk}/").status_code == 404  # not hers yet
    fragment = alice_browser.get("/chat/waiting/").content.decode()
    assert "Ada" in fragment and "Bob is not online" in fragment
    assert "Take and answer" in fragment
    thread = Conversation.objects.get().thread
    response = alice_browser.post(f"/chat/take/{thread}/")
    assert response.status_code == 302
    assert response["Location"] == f"/leads/{lead.pk}/#chat-panel"
    lead.refresh_from_db()
    assert lead.owner == alice.user
    assert "Reassigned from Bob" in lead.interactions.get(kind="assignment",
                                                         actor=alice.user).summary
    assert alice_browser.get(f"/leads/{lead.pk}/").status_code == 200
    answer = alice_browser.post(f"/chat/leads/{lead.pk}/reply/",
                                {"thread": thread, "text": "Alice here, hi Ada!"},
                                HTTP_ACCEPT="application/json")
    assert answer.status_code == 201


def test_taking_a_chat_and_replying_go_on_the_access_trail(chat_routed_to_bob, alice):
    from capture.models import LeadAccess

    alice_browser, lead = chat_routed_to_bob
    thread = Conversation.objects.get().thread
    alice_browser.post(f"/chat/take/{thread}/")
    alice_browser.post(f"/chat/leads/{lead.pk}/reply/", {"thread": thread, "text": "Hi Ada"},
                       HTTP_ACCEPT="application/json")
    trail = set(LeadAccess.objects.filter(lead=lead, user=alice.user)
                .values_list("action", "detail"))
    assert {("reassigned", "took the chat"), ("changed", "chat reply")} <= trail


def test_a_chat_on_a_known_persons_lead_is_not_offered_to_take(widget, sales_team, alice, bob):
    """The visitor types the email of a lead bob works: nobody verified it, so no teammate may
    take bob's lead through the chat (bob is alerted, as for any message on his lead)."""
    from tests.routing.pages import lead_for

    worked = lead_for(bob.user, sales_team, email="bryce@young.example", status="qualified")
    alice_browser = Client()
    alice_browser.force_login(alice.user)
    alice_browser.get("/chat/waiting/")
    Visitor(widget).say("hi it is me", fields={"email": "bryce@young.example"})
    conversation = Conversation.objects.get()
    assert conversation.lead_id == worked.pk
    assert "hi it is me" not in alice_browser.get("/chat/waiting/").content.decode()
    response = alice_browser.post(f"/chat/take/{conversation.thread}/", follow=True)
    assert "the owner has been told" in response.content.decode()
    worked.refresh_from_db()
    assert worked.owner == bob.user
    assert alice_browser.get(f"/leads/{worked.pk}/").status_code == 404


def test_an_answered_chat_lead_is_not_offered_to_take_when_the_visitor_writes_again(
        chat_routed_to_bob, bob):
    alice_browser, lead = chat_routed_to_bob
    Lead.objects.filter(pk=lead.pk).update(first_response_at=timezone.now())
    thread = Conversation.objects.get().thread
    assert "Ada" not in alice_browser.get("/chat/waiting/").content.decode()
    alice_browser.post(f"/chat/take/{thread}/")
    lead.refresh_from_db()
    assert lead.owner == bob.user


def test_a_chat_nobody_owns_can_be_taken_by_a_rep_of_the_widgets_team(chat_routed_to_bob,
                                                                      alice):
    from routing.models import LeadAssessment

    alice_browser, lead = chat_routed_to_bob
    Lead.objects.update(owner=None)  # a rule sent it to the nurture list: no owner, no team
    LeadAssessment.objects.update(team=None, outcome="nurture")
    fragment = alice_browser.get("/chat/waiting/").content.decode()
    assert "Ada" in fragment and "nobody has it" in fragment
    alice_browser.post(f"/chat/take/{Conversation.objects.get().thread}/")
    lead.refresh_from_db()
    assert lead.owner == alice.user


def test_a_chat_whose_owner_is_online_is_not_offered_to_take(chat_routed_to_bob, bob):
    alice_browser, lead = chat_routed_to_bob
    bob_browser = Client()
    bob_browser.force_login(bob.user)
    bob_browser.get("/chat/waiting/")  # bob has leadcrm open now: the chat is his to answer
    assert "Ada" not in alice_browser.get("/chat/waiting/").content.decode()
    thread = Conversation.objects.get().thread
    response = alice_browser.post(f"/chat/take/{thread}/", follow=True)
    assert "Bob is online and answers this chat" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner == bob.user


def test_a_rep_outside_the_chats_team_cannot_take_it(chat_routed_to_bob, client):
    _alice_browser, lead = chat_routed_to_bob
    client.force_login(UserFactory(username="mallory"))
    assert "Ada" not in client.get("/chat/waiting/").content.decode()
    response = client.post(f"/chat/take/{Conversation.objects.get().thread}/", follow=True)
    assert "Only the reps of the chat&#x27;s team can take it" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner.username == "bob"


def test_the_first_reply_answers_with_the_stopped_clock_for_the_page_header(client, chatting):
    client.force_login(chatting.owner)
    thread = Conversation.objects.get().thread
    assert client.get(f"/chat/leads/{chatting.pk}/messages/").json()["clock"][
        "first_response_at"] is None
    response = client.post(f"/chat/leads/{chatting.pk}/reply/",
                           {"thread": thread, "text": "Hello Ada!"},
                           HTTP_ACCEPT="application/json")
    clock = response.json()["clock"]
    chatting.refresh_from_db()
    assert clock["first_response_at"] == chatting.first_response_at.isoformat()
    assert (clock["sla"], clock["sla_label"]) == ("met", "Met")
    assert clock["first_response_text"] and clock["first_response_after"]
    # Another rep's page learns it at its next poll.
    assert client.get(f"/chat/leads/{chatting.pk}/messages/").json()["clock"]["sla"] == "met"


def test_the_card_stops_counting_once_the_visitor_left_details(client, chatting, visitor,
                                                               widget):
    client.force_login(chatting.owner)
    with time_machine.travel(timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)):
        assert visitor.poll().json()["no_answer"] is True
        assert visitor.leave(email="ada@example.com").status_code == 200
        poll = client.get(f"/chat/leads/{chatting.pk}/messages/").json()
        page = client.get(f"/leads/{chatting.pk}/").content.decode()
    assert (poll["status"], poll["waiting_seconds"]) == ("offline", None)
    assert "Visitor waiting" not in page
    assert 'class="small text-muted mb-2" id="chat-offline"' in page  # shown, not d-none


def test_the_conversations_admin_stops_counting_once_the_visitor_left_details(
        admin_client, chatting, visitor, widget):
    """As the lead page's card does: a handed-over chat is nobody's wait, and a long wait
    reads in minutes, not "658 s"."""
    url = "/admin/chat/conversation/"
    since = Conversation.objects.get().waiting_since
    with time_machine.travel(since + timedelta(seconds=31), tick=False):
        assert ">31 s<" in admin_client.get(url).content.decode()
    with time_machine.travel(since + timedelta(minutes=10, seconds=58), tick=False):
        assert ">10 min 58 s<" in admin_client.get(url).content.decode()
        assert visitor.leave(email="ada@example.com").status_code == 200
        page = admin_client.get(url).content.decode()
    assert "Left contact details" in page and " s<" not in page


def test_a_reply_to_a_chat_waiting_in_the_team_queue_claims_the_lead_first(client, chatting,
                                                                           alice, manager):
    from routing.models import LeadAssessment

    Lead.objects.update(owner=None)  # waiting in the widget team's queue
    LeadAssessment.objects.update(outcome="queued")
    thread = Conversation.objects.get().thread
    client.force_login(manager)  # a manager who is not a rep answers nobody's visitor
    refused = client.post(f"/chat/leads/{chatting.pk}/reply/", {"thread": thread, "text": "Hi"},
                          HTTP_ACCEPT="application/json")
    assert refused.status_code == 403 and "Nobody owns this lead yet" in refused.json()["error"]
    client.force_login(alice.user)
    response = client.post(f"/chat/leads/{chatting.pk}/reply/", {"thread": thread, "text": "Hi"},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    chatting.refresh_from_db()
    assert chatting.owner == alice.user and chatting.first_response_at is not None
