"""Our own side answering on the prospect's platform, as the provider's webhook reports it: a
member of our Slack workspace in the shared channel, our X account's direct message, our
Page's reply to a comment. Replies there are written outside leadcrm, so this is how such a
lead gets its first response: on the lead it answers, never a lead of its own, once per event."""

from __future__ import annotations

import copy

import pytest

from capture.models import InboundEvent, Interaction, Lead
from followup.models import Enrollment, Sequence, SequenceStep
from followup.sequences import enrol_lead
from tests.capture.conftest import load_json
from tests.capture.test_meta import meta_post
from tests.capture.test_social import slack_post, x_post

pytestmark = pytest.mark.django_db

OUR_MEMBER = {"user": "U061F7AUR", "team": "T061EG9R6"}  # the wrapper's team_id: our workspace


def our_slack_answer(**event) -> dict:
    payload = load_json("slack", "message.json")
    payload["event"].update(OUR_MEMBER, **{
        "ts": "1763900300.000400", "text": "Sure: 40 seats at the annual rate, quote follows.",
        **event})
    payload["event"].pop("user_profile")
    payload["event_id"] = "Ev0OURS001"
    return payload


def enrol(lead: Lead) -> None:
    """A sequence that still has a step to send (the person also filled in a form, say)."""
    sequence = Sequence.objects.create(name="Nudges")
    SequenceStep.objects.create(sequence=sequence, delay=2, subject="Hi", body="Hi")
    enrol_lead(lead=lead, sequence=sequence)


def assert_answered_once(lead: Lead, platform_words: str) -> Interaction:
    lead.refresh_from_db()
    assert Lead.objects.count() == 1
    answer = lead.interactions.get(direction=Interaction.Direction.OUTBOUND)
    assert platform_words in answer.summary
    assert lead.first_response_at == answer.occurred_at
    return answer


def test_our_member_answering_in_the_slack_thread_is_the_leads_first_response(client):
    slack_post(client, load_json("slack", "message.json"))
    lead = Lead.objects.get()
    assert lead.first_response_at is None
    answer = our_slack_answer(thread_ts="1763900000.000200")
    assert slack_post(client, answer).status_code == 200
    assert slack_post(client, answer, retry=1).status_code == 200  # Slack's retry: once
    reply = assert_answered_once(lead, "Slack")
    assert "40 seats at the annual rate" in reply.body
    assert reply.occurred_at.timestamp() == pytest.approx(1763900300.0004)
    event = InboundEvent.objects.get(external_id="T061EG9R6:C0SHARED1:1763900300.000400")
    assert (event.status, event.lead_id, event.created_lead) == ("processed", lead.pk, False)


def test_our_member_answering_in_the_channel_itself_answers_the_lead_who_wrote_there(client):
    slack_post(client, load_json("slack", "message.json"))
    slack_post(client, our_slack_answer())
    assert_answered_once(Lead.objects.get(), "Slack")


def test_in_a_channel_of_several_prospects_our_answer_finds_the_one_it_answers(client):
    slack_post(client, load_json("slack", "message.json"))
    katherine = Lead.objects.get()
    dorothy = load_json("slack", "message.json")
    dorothy["event"].update(user="U0PARTNER2", ts="1763900100.000300", text="And for 12 seats?",
                            user_profile={"real_name": "Dorothy Vaughan"})
    dorothy["event_id"] = "Ev0PV52K22"
    slack_post(client, dorothy)
    dorothy = Lead.objects.exclude(pk=katherine.pk).get()
    slack_post(client, our_slack_answer(thread_ts="1763900000.000200"))  # Katherine's thread
    katherine.refresh_from_db()
    assert katherine.first_response_at is not None
    later = our_slack_answer(ts="1763900400.000500", text="Dorothy: 12 seats is fine.")
    slack_post(client, later)  # in the channel: whoever wrote there last
    dorothy.refresh_from_db()
    assert dorothy.first_response_at is not None
    assert dorothy.interactions.filter(direction="outbound").count() == 1


def test_our_answer_in_a_channel_finds_who_wrote_there_though_they_wrote_elsewhere_since(
        client):
    slack_post(client, load_json("slack", "message.json"))
    elsewhere = load_json("slack", "message.json")
    elsewhere["event"].update(channel="C0SHARED2", ts="1763900100.000300", text="Hello?")
    elsewhere["event_id"] = "Ev0PV52K23"
    slack_post(client, elsewhere)  # replies to them go to C0SHARED2 now
    slack_post(client, our_slack_answer())  # answered in C0SHARED1, where they asked
    assert_answered_once(Lead.objects.get(), "Slack")


def test_our_slack_answer_stops_the_leads_follow_up_sequence(client):
    slack_post(client, load_json("slack", "message.json"))
    lead = Lead.objects.get()
    enrol(lead)
    slack_post(client, our_slack_answer())
    assert Enrollment.objects.get(lead=lead).status == Enrollment.Status.STOPPED


def test_our_own_x_direct_message_is_the_first_response_on_the_recipients_lead(client):
    payload = load_json("x", "direct_message.json")
    x_post(client, payload)
    lead = Lead.objects.get()
    enrol(lead)
    ours = copy.deepcopy(payload)
    dm = ours["direct_message_events"][0]
    dm.update(id="954491830116155398", created_timestamp="1763900120000")
    dm["message_create"].update(sender_id="4337869213",
                                target={"recipient_id": "3001969357"},
                                message_data={"text": "Yes, we ship to all of Canada."})
    assert x_post(client, ours).status_code == 200
    assert x_post(client, ours).status_code == 200  # a redelivery: once
    reply = assert_answered_once(lead, "X")
    assert reply.occurred_at.timestamp() == 1763900120
    assert Enrollment.objects.get(lead=lead).status == Enrollment.Status.STOPPED


def test_our_pages_reply_to_the_comment_is_the_first_response_on_the_commenters_lead(client):
    payload = load_json("meta", "page_feed_comment.json")
    meta_post(client, payload)
    lead = Lead.objects.get()
    ours = copy.deepcopy(payload)
    ours["entry"][0]["changes"][0]["value"].update(
        {"from": {"id": "1234567890", "name": "Our Page"}, "comment_id": "555666777_900",
         "parent_id": "555666777_888999000", "created_time": 1763900200,
         "message": "Yes, all of Hamburg! We sent you a message."})
    meta_post(client, ours)
    meta_post(client, ours)  # Meta's redelivery: once
    reply = assert_answered_once(lead, "Facebook")
    assert reply.occurred_at.timestamp() == 1763900200


def test_our_instagram_reply_to_the_comment_is_the_first_response_on_the_commenters_lead(
        client):
    payload = load_json("meta", "instagram_comment.json")
    meta_post(client, payload)
    lead = Lead.objects.get()
    ours = copy.deepcopy(payload)
    ours["entry"][0]["time"] = 1763900300
    ours["entry"][0]["changes"][0]["value"].update(
        {"from": {"id": "17841400008460056", "username": "acme.cloud"},
         "id": "17865799348089100", "parent_id": "17865799348089039",
         "text": "@ada.builds 20 seats are $400 a month: we sent you a DM."})
    meta_post(client, ours)
    meta_post(client, ours)  # Meta's redelivery: once
    reply = assert_answered_once(lead, "Instagram")
    assert reply.occurred_at.timestamp() == 1763900300
    # Our own top-level comment on our media answers nobody: ignored, as before.
    top = copy.deepcopy(ours)
    top["entry"][0]["changes"][0]["value"].update({"id": "17865799348089200",
                                                    "parent_id": ""})
    meta_post(client, top)
    assert InboundEvent.objects.get(external_id="ig-comment:17865799348089200").status == (
        "ignored")


def test_our_answer_that_answers_no_lead_is_still_ignored_and_makes_none(client):
    slack_post(client, our_slack_answer())  # nobody from the channel is a lead yet
    x = load_json("x", "direct_message.json")
    x["direct_message_events"][0]["message_create"].update(
        sender_id="4337869213", target={"recipient_id": "3001969357"})
    x_post(client, x)
    assert not Lead.objects.exists()
    assert set(InboundEvent.objects.values_list("status", flat=True)) == {"ignored"}
