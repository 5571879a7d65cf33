"""The widget's API: a conversation is the lead's thread, made through the intake pipeline."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from capture.models import BlockRule, InboundEvent, Interaction, Lead
from chat.models import Conversation
from chat.services import reply_to_visitor
from followup.models import OutboundMessage
from tests.chat.conftest import Visitor
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_first_message_makes_a_lead_with_the_page_as_attribution(visitor, widget):
    response = visitor.say("Do you migrate Exchange to M365?", fields={"first_name": "Ada"})
    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "https://www.acme.test"
    lead = Lead.objects.get()
    assert lead.channel == "chat" and lead.first_name == "Ada"
    assert lead.source == "website-chat"
    assert lead.utm_source == "google" and lead.utm_campaign == "spring"
    assert lead.referrer == "https://www.google.com/"
    assert lead.landing_page.startswith("https://www.acme.test/pricing")
    event = InboundEvent.objects.get()
    assert event.channel == "chat" and event.status == "processed" and event.lead == lead
    message = lead.interactions.get(kind="message")
    assert message.body == "Do you migrate Exchange to M365?"
    assert lead.owner is not None  # routed like any lead


def test_a_retried_send_stores_one_message(visitor):
    visitor.say("Hello", client_id="retry-1234")
    visitor.say("Hello", client_id="retry-1234")
    assert Interaction.objects.filter(kind="message").count() == 1
    assert InboundEvent.objects.count() == 1


def test_a_later_message_id_used_again_for_another_text_is_refused_not_dropped(visitor):
    visitor.say("Hello")  # the chat's first message: the visitor has a token now
    first = visitor.say("retry me", client_id="later-msg-0001")
    retry = visitor.say("retry me", client_id="later-msg-0001")
    assert (first.status_code, retry.status_code) == (201, 201)
    other = visitor.say("retry me different", client_id="later-msg-0001")
    assert other.status_code == 409 and "new id" in other.json()["error"]
    assert [m["text"] for m in visitor.poll().json()["messages"]] == ["Hello", "retry me"]
    assert InboundEvent.objects.count() == 2


def test_a_first_message_retried_after_its_answer_was_lost_opens_one_chat(visitor, widget):
    first = visitor.say("Do you ship to Norway?", client_id="first-message-1")
    assert first.status_code == 201
    retry = Visitor(widget)  # the 201 never arrived: the widget has no token to send
    again = retry.say("Do you ship to Norway?", client_id="first-message-1")
    assert again.status_code == 201
    assert Conversation.objects.count() == 1 and Lead.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert Interaction.objects.filter(kind="message").count() == 1
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.OWNER_ALERT).count() == 1
    retry.say("And to Iceland?")  # the retry's token continues the same chat
    assert [m["text"] for m in retry.poll().json()["messages"]] == [
        "Do you ship to Norway?", "And to Iceland?"]


def test_a_twin_of_a_first_message_that_opened_its_chat_meanwhile_joins_it(visitor, widget,
                                                                           monkeypatch):
    import chat.services

    visitor.say("Do you ship to Norway?", client_id="first-message-1")
    looked = []
    real = chat.services._first_message_sent

    def not_yet_committed(*args):  # the twin committed between the look and the insert
        looked.append(args)
        return None if len(looked) == 1 else real(*args)

    monkeypatch.setattr(chat.services, "_first_message_sent", not_yet_committed)
    twin = Visitor(widget).say("Do you ship to Norway?", client_id="first-message-1")
    assert twin.status_code == 201 and len(looked) == 2  # the unique constraint caught it
    assert Conversation.objects.count() == 1 and Lead.objects.count() == 1
    assert InboundEvent.objects.count() == 1


def test_a_first_message_id_used_again_for_another_text_is_refused(visitor, widget):
    visitor.say("Hello from Ada", client_id="weak-id-0001")
    stranger = Visitor(widget, ip="198.51.100.9")
    refused = stranger.say("Hello from Bob", client_id="weak-id-0001")
    assert refused.status_code == 409 and "new id" in refused.json()["error"]
    assert "token" not in refused.json()  # Ada's chat stays hers
    assert Conversation.objects.count() == 1 and InboundEvent.objects.count() == 1


def test_the_token_continues_the_conversation_after_a_reload(visitor, widget):
    visitor.say("First")
    reloaded = Visitor(widget)
    reloaded.token = visitor.token
    reloaded.say("Second")
    assert Conversation.objects.count() == 1
    assert Lead.objects.count() == 1
    texts = [m["text"] for m in reloaded.poll().json()["messages"]]
    assert texts == ["First", "Second"]


def test_a_forged_token_is_refused(visitor):
    visitor.say("First")
    visitor.token = visitor.token[:-4] + "AAAA"
    assert visitor.poll().status_code == 404
    assert visitor.say("Second").status_code == 404


def test_a_visitor_who_gives_a_known_email_lands_on_that_lead(visitor):
    known = LeadFactory(email="ada@example.com", first_name="Ada")
    visitor.say("It's me again", fields={"email": "Ada@Example.com"})
    assert Lead.objects.count() == 1
    assert known.interactions.filter(kind="message", body="It's me again").exists()


def test_an_email_given_later_moves_the_chat_to_the_known_lead(visitor):
    known = LeadFactory(email="ada@example.com", first_name="Ada")
    visitor.say("Hi, anonymous for now")
    anonymous = Lead.objects.exclude(pk=known.pk).get()
    assert visitor.leave(reason="details", email="ada@example.com").status_code == 200
    assert known.interactions.filter(body="Hi, anonymous for now").exists()
    anonymous.refresh_from_db()
    assert anonymous.status == "disqualified"
    assert Conversation.objects.get().lead == known


def test_erasing_the_person_a_chat_moved_to_erases_its_chat_only_lead_too(visitor):
    """The chat-only lead keeps the visitor's first message, and the owner's alert quoted it:
    exporting or erasing the person the chat moved to must reach it."""
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    known = LeadFactory(email="ada@example.com", first_name="Ada")
    visitor.say("Ada here: a quote for the zeppelin hangar")
    anonymous = Lead.objects.exclude(pk=known.pk).get()
    assert visitor.leave(reason="details", email="ada@example.com").status_code == 200
    person = find_person(email="ada@example.com")
    assert anonymous.pk in person.lead_ids
    erase_person(person, UserFactory(username="olivia"))
    anonymous.refresh_from_db()
    assert anonymous.erased_at is not None and anonymous.message == ""
    assert not Interaction.objects.filter(body__icontains="zeppelin").exists()
    assert not OutboundMessage.objects.filter(body__icontains="zeppelin").exists()
    assert not Lead.objects.filter(message__icontains="zeppelin").exists()


def test_a_disallowed_origin_is_refused_without_cors_headers(widget):
    stranger = Visitor(widget, origin="https://evil.test")
    for response in (stranger.config(), stranger.say("hi")):
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response
        assert "evil.test" in response.json()["error"]
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(("typed", "sent"), [
    ("https://Bücher.example:443/", "https://xn--bcher-kva.example"),
    ("HTTPS://WWW.ACME.TEST", "https://www.acme.test"),
    ("http://shop.example:80", "http://shop.example"),
])
def test_an_origin_typed_with_accents_capitals_or_its_default_port_is_allowed(widget, typed,
                                                                           sent):
    # The browser sends the ASCII host, lower case, without :443: as typed, the site never
    # matched and the widget silently did not appear.
    widget.allowed_origins = typed
    widget.full_clean()
    widget.save()
    assert Visitor(widget, origin=sent).config().status_code == 200


def test_the_preflight_answers_only_allowed_origins(widget, client):
    url = f"/chat/w/{widget.key}/messages/"
    ok = client.options(url, HTTP_ORIGIN="https://www.acme.test")
    assert ok.status_code == 204 and "X-Chat-Token" in ok["Access-Control-Allow-Headers"]
    assert client.options(url, HTTP_ORIGIN="https://evil.test").status_code == 403


def test_an_inactive_widget_answers_404(widget, visitor):
    widget.is_active = False
    widget.save()
    assert visitor.config().status_code == 404


def test_the_rep_reply_reaches_the_visitor_and_stamps_the_first_response(visitor, alice):
    visitor.say("Anyone there?")
    conversation = Conversation.objects.get()
    assert conversation.waiting_since is not None
    reply_to_visitor(conversation=conversation, user=alice.user, text="Yes! Alice here.")
    lead = Lead.objects.get()
    assert lead.first_response_at is not None
    messages = visitor.poll().json()["messages"]
    assert [(m["from"], m["text"]) for m in messages] == [
        ("visitor", "Anyone there?"), ("rep", "Yes! Alice here.")]
    assert messages[1]["name"] == "Alice"
    conversation.refresh_from_db()
    assert conversation.waiting_since is None


def test_the_chat_target_sets_a_deadline_in_seconds(visitor, widget):
    before = timezone.now()
    visitor.say("Quick question")
    lead = Lead.objects.get()
    assert lead.respond_by <= before + timedelta(seconds=widget.first_response_seconds + 5)


def test_a_new_chat_lead_keeps_the_deadline_and_the_one_warning_it_was_made_with(visitor,
                                                                                 widget):
    visitor.say("Quick question")
    lead = Lead.objects.get()
    assert lead.respond_by == lead.created_at + timedelta(seconds=widget.first_response_seconds)
    warnings = OutboundMessage.objects.filter(lead=lead, kind=OutboundMessage.Kind.SLA_WARNING)
    assert [(w.status, w.due_at) for w in warnings] == [
        (OutboundMessage.Status.SCHEDULED,
         lead.created_at + timedelta(seconds=widget.first_response_seconds / 2))]


@pytest.mark.parametrize("tier_deadline", [True, False])
def test_the_owners_alert_names_the_chats_deadline(visitor, widget, request, tier_deadline):
    if tier_deadline:
        request.getfixturevalue("sla_policies")  # the cold tier's: one business day
    visitor.say("Quick question", fields={"first_name": "Ada"})
    lead = Lead.objects.get()
    assert lead.respond_by <= timezone.now() + timedelta(seconds=widget.first_response_seconds)
    alert = OutboundMessage.objects.get(kind=OutboundMessage.Kind.OWNER_ALERT)
    deadline = f"{lead.respond_by.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    assert alert.body.startswith(f"This lead is now yours. Please answer it by {deadline}.")


def test_nobody_answering_in_time_turns_the_chat_into_an_acknowledged_lead(visitor, widget):
    visitor.say("I need a quote for 40 laptops")
    assert visitor.poll().json()["no_answer"] is False
    with time_machine.travel(timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)):
        assert visitor.poll().json()["no_answer"] is True
        assert visitor.leave(email="grace@example.com", first_name="Grace").status_code == 200
    lead = Lead.objects.get()
    assert lead.email == "grace@example.com"
    ack = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert ack.to_address == "grace@example.com"
    assert "40 laptops" in ack.body
    contact = lead.interactions.get(kind="submission")
    assert "40 laptops" in contact.body  # the transcript
    assert Conversation.objects.get().status == "offline"


def test_a_visitor_writing_on_after_the_hand_over_keeps_the_follow_up(visitor, widget):
    """Nobody answered, the visitor left their email, then wrote again: that answers nobody,
    so the follow-up planned at the hand-over still enrols the lead."""
    from followup.demo import seed_followup
    from followup.models import Enrollment
    from followup.tasks import dispatch_due_messages

    seed_followup()  # the default sequence: no human response within 24 hours
    visitor.say("I need a quote for 40 laptops")
    later = timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)
    with time_machine.travel(later):
        assert visitor.poll().json()["no_answer"] is True
        assert visitor.leave(email="grace@example.com", first_name="Grace").status_code == 200
        assert visitor.say("Also 5 docking stations").status_code == 201
    timer = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ENROLMENT_CHECK)
    assert timer.status == "scheduled"
    with time_machine.travel(timer.due_at + timedelta(minutes=1), tick=False):
        dispatch_due_messages()
    assert Enrollment.objects.get(lead=Lead.objects.get()).status == "active"


def test_a_widget_template_with_a_refused_tag_is_an_error_and_a_stored_one_acks_plainly(
        visitor, widget):
    widget.ack_body = "Hi {% debug %}"
    with pytest.raises(ValidationError, match="is not allowed here"):
        widget.full_clean()
    type(widget).objects.filter(pk=widget.pk).update(ack_body="Hi {% load static %}")
    visitor.say("I need a quote for 40 laptops")
    with time_machine.travel(timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)):
        visitor.poll()
        assert visitor.leave(email="grace@example.com", first_name="Grace").status_code == 200
    ack = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert ack.body == "Thank you for your message. We will get back to you shortly."


def test_an_offline_widget_says_so(visitor, widget, alice, bob):
    from routing.models import RepProfile

    RepProfile.objects.update(is_available=False)
    assert visitor.config().json()["online"] is False


def test_leaving_no_email_or_phone_is_refused(visitor):
    visitor.say("hi")
    response = visitor.leave(first_name="Ada")
    assert response.status_code == 400
    assert "email" in response.json()["fields"]


def test_blocked_phrases_are_refused_and_kept_as_rejected(visitor):
    BlockRule.objects.create(kind="phrase", value="crypto bonus")
    response = visitor.say("Get your CRYPTO BONUS now")
    assert response.status_code == 422
    assert not Lead.objects.exists()
    assert InboundEvent.objects.get().status == "rejected"


def test_blocked_domains_are_refused(visitor):
    BlockRule.objects.create(kind="email_domain", value="spam.test")
    assert visitor.say("hello", fields={"email": "x@spam.test"}).status_code == 422
    assert InboundEvent.objects.get().payload["fields"] == {"email": "x@spam.test"}


def test_refused_contact_details_are_kept_as_typed_on_the_rejected_event(visitor):
    visitor.say("hello")
    BlockRule.objects.create(kind="email_domain", value="spam.test")
    assert visitor.leave(email="x@spam.test", first_name="Max").status_code == 422
    event = InboundEvent.objects.get(status="rejected")
    assert event.payload["kind"] == "contact" and event.payload["reason"] == "offline"
    assert event.payload["fields"] == {"email": "x@spam.test", "first_name": "Max"}
    assert "spam.test" in event.reason


def test_too_long_messages_are_refused(visitor, settings):
    assert visitor.say("x" * (settings.CHAT_MAX_MESSAGE_CHARS + 1)).status_code == 413
    assert not InboundEvent.objects.exists()


def test_a_visitor_is_rate_limited(visitor, settings):
    settings.CHAT_RATE_PER_VISITOR = 3
    answers = [visitor.say(f"message {n}") for n in range(6)]
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [201] * 4  # the first message opens the chat; then 3 a minute
    assert 429 in statuses[4:]
    assert Interaction.objects.filter(kind="message").count() == 4
    # Like every other 429 here: how long to wait, for a client that reads it.
    refused = next(a for a in answers if a.status_code == 429)
    assert 1 <= int(refused["Retry-After"]) <= 120


def test_an_ip_is_rate_limited_across_visitors(widget, settings):
    settings.CHAT_RATE_PER_IP = 2
    answers = [Visitor(widget).say("hi") for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 429, 429]
    assert int(answers[-1]["Retry-After"]) >= 1


def test_bad_input_gets_a_clear_4xx(visitor, widget):
    bad = visitor.client.post(visitor.base + "messages/", "{not json",
                              content_type="application/json", HTTP_ORIGIN=visitor.origin)
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    assert visitor.say("").status_code == 400
    assert visitor.say("hi", fields={"email": "not-an-email"}).status_code == 400
    assert visitor.say("hi", fields={"password": "x"}).status_code == 400
    no_id = visitor.say("hi", client_id="!")
    assert no_id.status_code == 400


def test_a_field_the_widget_does_not_ask_is_refused(visitor, widget):
    assert widget.prechat_fields == ["first_name", "email"]
    refused = visitor.say("hi", fields={"phone": "+14155552671"})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"phone": "Not a field this chat asks for."}
    assert not InboundEvent.objects.exists()
    widget.prechat_fields = ["first_name", "email", "phone"]
    widget.save()
    assert visitor.say("hi", fields={"phone": "+14155552671"}).status_code == 201
    assert Lead.objects.get().phone == "+14155552671"


def test_contact_details_take_what_the_contact_box_asks_and_no_more(visitor):
    visitor.say("hi")
    refused = visitor.leave(email="ada@example.com", company="Acme")
    assert refused.status_code == 400 and list(refused.json()["fields"]) == ["company"]
    assert visitor.leave(first_name="Ada", phone="+14155552671").status_code == 200
    assert Lead.objects.get().phone == "+14155552671"


@pytest.mark.parametrize("page", [{"url": ["a"]}, {"url": "https://www.acme.test/", "referrer": 7},
                                  {"url": {"href": "x"}}, ["https://www.acme.test/"]])
def test_a_page_that_is_not_text_is_refused_not_stored_as_its_repr(visitor, page):
    refused = visitor.say("hi", page=page)
    assert refused.status_code == 400 and "page" in refused.json()["fields"]
    assert not InboundEvent.objects.exists() and not Lead.objects.exists()
    fine = visitor.say("hi", page={"url": "https://www.acme.test/", "referrer": None})
    assert fine.status_code == 201
    assert Lead.objects.get().landing_page == "https://www.acme.test/"
    assert visitor.say("and again", page={"url": ["a"]}).status_code == 400


def test_markup_is_stored_and_returned_as_text(visitor):
    payload = '<img src=x onerror="alert(1)">'
    visitor.say(payload)
    assert visitor.poll().json()["messages"][0]["text"] == payload


def test_details_left_twice_are_acknowledged_once(visitor, widget, alice, bob):
    from routing.models import RepProfile

    RepProfile.objects.update(is_available=False)
    visitor.say("Call me back please", fields={"email": "ada@example.com"})
    assert visitor.leave(email="ada@example.com").status_code == 200
    assert visitor.leave(email="ada@example.com", phone="+14155552671").status_code == 200
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT).count() == 1
    assert Lead.objects.get().phone == "+14155552671"


def test_the_same_details_left_again_store_nothing_new(visitor):
    visitor.say("Can someone call me?")
    answers = [visitor.leave(reason="details", email="dupo@example.org") for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert answers[1].json() == answers[2].json() == answers[0].json()
    lead = Lead.objects.get()
    assert lead.email == "dupo@example.org"
    assert [i.summary for i in lead.interactions.filter(kind="submission")] == [
        "Left contact details in the chat"]
    assert InboundEvent.objects.count() == 2  # the message and the details, once each


def test_details_that_could_not_be_saved_are_saved_when_sent_again(visitor, monkeypatch):
    import capture.intake

    visitor.say("Can someone call me?")
    real = capture.intake._take_in

    def hiccup(event, data=None):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(capture.intake, "_take_in", hiccup)
    assert visitor.leave(reason="details", email="dupo@example.org").status_code == 503
    monkeypatch.setattr(capture.intake, "_take_in", real)
    assert visitor.leave(reason="details", email="dupo@example.org").status_code == 200
    assert Lead.objects.get().interactions.filter(kind="submission").count() == 1


@pytest.mark.parametrize("known", [False, True])
def test_a_chat_begun_while_nobody_is_online_gets_no_deadline_in_seconds(visitor, widget,
                                                                          sla_policies, known):
    """The widget is offline (out of hours, nobody around): the visitor is asked for their
    details, so the chat's seconds target would only breach; the tier's deadline applies."""
    from datetime import time

    from routing.models import BusinessHours, OpeningHours

    if known:
        LeadFactory(email="ada@example.com")
    calendar = BusinessHours.objects.create(name="Office", timezone="UTC")
    OpeningHours.objects.create(calendar=calendar, weekday=2, opens=time(9), closes=time(17))
    widget.business_hours = calendar
    widget.save()
    with time_machine.travel("2026-12-02T22:00:00+00:00", tick=False):
        assert visitor.config().json()["online"] is False
        visitor.say("Anyone there?", fields={"email": "ada@example.com"})
        lead = Lead.objects.get()
        assert lead.respond_by is None or lead.respond_by > timezone.now() + timedelta(hours=1)
        assert not OutboundMessage.objects.filter(
            lead=lead, kind=OutboundMessage.Kind.SLA_WARNING,
            due_at__lt=timezone.now() + timedelta(hours=1)).exists()
    with time_machine.travel("2026-12-02T12:00:00+00:00", tick=False):  # online: seconds
        Visitor(widget).say("And now?", fields={"email": "bea@example.com"})
        online = Lead.objects.get(email="bea@example.com")
        assert online.respond_by == online.created_at + timedelta(
            seconds=widget.first_response_seconds)


def test_outside_the_widgets_business_hours_it_is_offline(visitor, widget):
    from datetime import time

    from routing.models import BusinessHours, OpeningHours

    calendar = BusinessHours.objects.create(name="Office", timezone="UTC")
    OpeningHours.objects.create(calendar=calendar, weekday=2, opens=time(9), closes=time(17))
    widget.business_hours = calendar
    widget.save()
    wednesday_noon = "2026-12-02T12:00:00+00:00"
    wednesday_night = "2026-12-02T22:00:00+00:00"
    with time_machine.travel(wednesday_noon, tick=False):
        assert visitor.config().json()["online"] is True
    with time_machine.travel(wednesday_night, tick=False):
        assert visitor.config().json()["online"] is False


def test_a_rep_with_leadcrm_open_makes_the_widget_online_outside_their_hours(
        visitor, widget, alice, bob, client):
    from datetime import time

    from routing.models import RepProfile

    RepProfile.objects.update(work_days=[], work_starts=time(9), work_ends=time(17))
    assert visitor.config().json()["online"] is False
    client.force_login(alice.user)
    client.get("/chat/waiting/")  # the queue page's box polls this
    assert visitor.config().json()["online"] is True


def test_opening_the_queue_page_makes_the_rep_present_at_once(visitor, alice, bob, client):
    from datetime import time

    from routing.models import RepProfile

    RepProfile.objects.update(work_days=[], work_starts=time(9), work_ends=time(17))
    assert visitor.config().json()["online"] is False
    client.force_login(alice.user)
    assert client.get("/queue/").status_code == 200  # before its box's first refresh
    assert visitor.config().json()["online"] is True


def test_the_owner_of_a_known_lead_hears_when_it_starts_a_chat(visitor, alice):
    from followup.models import Notification

    known = LeadFactory(email="ada@example.com", owner=alice.user)
    visitor.say("Hi again", fields={"email": "ada@example.com"})
    note = Notification.objects.get(user=alice.user, lead=known)
    assert "is chatting on Acme site" in note.text


def test_the_owner_of_a_known_lead_hears_when_the_chat_moves_to_it(visitor, alice, bob):
    """Nobody answered, and the visitor's email is a lead of alice's: the chat (and the
    acknowledgement's promise) moves there, so alice hears of it, not only the rep whose
    chat-only lead it closed."""
    from followup.models import Notification

    known = LeadFactory(email="ada@example.com", owner=alice.user)
    visitor.say("Anyone there?")
    assert visitor.leave(email="ada@example.com").status_code == 200
    assert Conversation.objects.get().lead == known
    note = Notification.objects.get(user=alice.user, lead=known)
    assert "left their details in the chat on Acme site" in note.text
    assert "nobody answered" in note.text
    visitor.leave(email="ada@example.com")  # the same details again: no second notice
    assert Notification.objects.filter(user=alice.user, lead=known).count() == 1


def test_an_erased_person_leaving_details_gets_a_final_answer_not_try_again(visitor):
    from capture.privacy import erase_person, find_person
    from tests.factories import LeadFactory, UserFactory

    LeadFactory(email="olga@example.com", phone="+442079460958")
    erase_person(find_person(email="olga@example.com"), UserFactory(username="olivia"))
    leads = Lead.objects.count()
    visitor.say("Hello?")
    for _ in range(2):
        answer = visitor.leave(phone="+44 20 7946 0958", email="olga@example.com")
        assert answer.status_code == 200 and answer.json()["saved"] is True
        assert answer.json()["contact_left"] is True  # as the next poll says
    assert not Lead.objects.filter(phone="+442079460958", erased_at__isnull=True).exists()
    assert Lead.objects.count() == leads + 1  # the anonymous chat's own lead only


def test_an_erased_person_starting_a_chat_leaves_no_page_referrer_or_ip_on_the_chat(visitor,
                                                                                     widget):
    """The ended chat has no lead, so no erasure or retention would ever reach what it kept."""
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    LeadFactory(email="zelda@example.org")
    erase_person(find_person(email="zelda@example.org"), UserFactory(username="olivia"))
    visitor.say("Hello", fields={"email": "zelda@example.org"})
    chat = Conversation.objects.get()
    assert chat.status == "closed" and chat.lead_id is None
    assert (chat.page_url, chat.referrer, chat.visitor_ip) == ("", "", None)


def test_an_erased_person_starting_a_chat_ends_it_and_no_anonymous_lead_follows(visitor,
                                                                                widget):
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    widget.prechat_fields = ["first_name", "email"]
    widget.save()
    LeadFactory(email="zelda@example.org")
    erase_person(find_person(email="zelda@example.org"), UserFactory(username="olivia"))
    leads = Lead.objects.count()
    first = visitor.say("Hello", fields={"email": "zelda@example.org"})
    assert first.status_code == 201 and first.json()["status"] == "closed"
    later = visitor.say("my number is +14155550188")
    assert later.status_code == 410 and "ended" in later.json()["error"]
    assert Lead.objects.count() == leads  # nothing new, no anonymous lead
    assert not any("+14155550188" in str(e.payload) for e in InboundEvent.objects.all())
    chat = Conversation.objects.get()
    with pytest.raises(Exception, match=r"no lead yet|ended"):
        reply_to_visitor(conversation=chat, user=UserFactory(username="rita"), text="Hi")


@pytest.mark.parametrize("path", ["config/", "messages/", "contact/"])
def test_a_widget_key_with_a_nul_byte_is_a_404_not_a_500(client, widget, path):
    # Found fuzzing gunicorn on PostgreSQL, which cannot even compare a text with a NUL byte:
    # /chat/w/%00/config/ was a 500.
    response = client.get(f"/chat/w/{widget.key}%00/{path}", HTTP_ORIGIN="https://www.acme.test")
    assert response.status_code == 404
    assert response.json()["error"] == "No active chat widget has this key."


def test_the_hand_over_acknowledges_the_visitor_not_a_lead_their_phone_matched(visitor, widget):
    # A visitor (Bob) left his email and an office phone that Ann's open lead has: the chat
    # moved to Ann's lead, and the acknowledgement went to Ann, "Hi Ann", with Bob's transcript.
    LeadFactory(first_name="Ann", email="ann@office.example", phone="+14155552671")
    visitor.say("I need a quote for 40 laptops")
    with time_machine.travel(timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)):
        assert visitor.poll().json()["no_answer"] is True
        assert visitor.leave(email="bob@office.example", phone="+14155552671",
                             first_name="Bob").status_code == 200
    ack = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert ack.to_address == "bob@office.example"
    assert "Bob" in ack.body and "Ann" not in ack.body and "40 laptops" in ack.body


def test_the_hand_over_does_not_email_a_visitor_who_unsubscribed(visitor, widget):
    # The visitor's address unsubscribed earlier (as typed then, in other capitals): the
    # hand-over checks the address they left, not a lead's, and sends nothing to it.
    from followup.suppression import suppress

    suppress(kind="email", value="Grace@Example.com", reason="unsubscribed")
    visitor.say("I need a quote for 40 laptops")
    with time_machine.travel(timezone.now() + timedelta(seconds=widget.no_answer_seconds + 1)):
        assert visitor.poll().json()["no_answer"] is True
        assert visitor.leave(email="grace@example.com", first_name="Grace").status_code == 200
    assert not OutboundMessage.objects.filter(
        kind=OutboundMessage.Kind.ACKNOWLEDGEMENT).exists()
    assert Lead.objects.get().email == "grace@example.com"  # the lead is still taken in
