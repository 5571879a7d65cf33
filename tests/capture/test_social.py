"""Social to lead: Instagram (messages, comments) and Facebook Page comments through the Meta
webhook, Telegram, Slack and X. For each: the handshake, a signed event becomes a lead once
(retries included), a forged or stale signature is refused with nothing stored, and a second
message from the same account lands on the same lead."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time

import pytest

from capture.intake import IntakeInput, receive_lead
from capture.models import InboundEvent, Lead, LeadIdentity, LeadStatus
from tests.capture.conftest import load_json
from tests.capture.test_meta import meta_post

pytestmark = pytest.mark.django_db
TELEGRAM_SECRET = "telegram-webhook-secret"
SLACK_SECRET = "slack-signing-secret"
X_SECRET = "x-consumer-secret"


def only_lead() -> Lead:
    return Lead.objects.get()


# --- Instagram ------------------------------------------------------------------------------

def test_an_instagram_message_becomes_a_social_lead_with_its_instagram_identity(client):
    assert meta_post(client, load_json("meta", "instagram_message.json")).status_code == 200
    lead = only_lead()
    assert (lead.channel, lead.source) == ("social", "instagram")
    assert "spring package" in lead.interactions.get().summary
    identity = lead.identities.get()
    assert (identity.platform, identity.external_id, identity.address) == (
        "instagram", "1254459154682919", "17841400008460056")


def test_a_second_instagram_message_from_the_same_account_lands_on_the_same_lead(client):
    payload = load_json("meta", "instagram_message.json")
    meta_post(client, payload)
    assert meta_post(client, payload).status_code == 200  # Meta's retry: nothing new
    second = copy.deepcopy(payload)
    second["entry"][0]["messaging"][0]["message"] = {"mid": "aWdfZAG1faXRlbToy", "text": "Ok!"}
    meta_post(client, second)
    lead = only_lead()
    assert lead.interactions.count() == 2 and InboundEvent.objects.count() == 2


def test_a_forged_instagram_signature_stores_nothing(client):
    response = meta_post(client, load_json("meta", "instagram_message.json"), secret="guess")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists() and not Lead.objects.exists()


def test_an_instagram_comment_that_asks_becomes_a_lead_and_our_own_is_ignored(client):
    payload = load_json("meta", "instagram_comment.json")
    meta_post(client, payload)
    lead = only_lead()
    assert "team of 20" in lead.message
    assert lead.identities.get().display_name == "ada.builds"
    own = copy.deepcopy(payload)
    change = own["entry"][0]["changes"][0]["value"]
    change.update(id="1786999", text="Thanks! We sent you a DM?",
                  **{"from": {"id": "17841400008460056", "username": "ourbrand"}})
    meta_post(client, own)
    assert Lead.objects.count() == 1
    assert InboundEvent.objects.get(external_id="ig-comment:1786999").status == "ignored"


def test_a_comment_that_asks_for_nothing_is_not_a_lead(client):
    payload = load_json("meta", "instagram_comment.json")
    payload["entry"][0]["changes"][0]["value"]["text"] = "Love this 😍"
    meta_post(client, payload)
    assert not Lead.objects.exists()
    assert InboundEvent.objects.get().status == "ignored"


# --- Facebook Page comments -----------------------------------------------------------------

def test_a_new_page_comment_becomes_a_lead_named_after_the_commenter(client):
    assert meta_post(client, load_json("meta", "page_feed_comment.json")).status_code == 200
    lead = only_lead()
    assert (lead.first_name, lead.last_name, lead.source) == (
        "Linus", "Meyer", "facebook-comments")
    assert lead.identities.get().platform == "facebook"


def test_edits_and_the_pages_own_comments_create_nothing(client):
    payload = load_json("meta", "page_feed_comment.json")
    edit = copy.deepcopy(payload)
    edit["entry"][0]["changes"][0]["value"]["verb"] = "edited"
    meta_post(client, edit)
    assert not InboundEvent.objects.exists()
    own = copy.deepcopy(payload)
    own["entry"][0]["changes"][0]["value"]["from"] = {"id": "1234567890", "name": "Our Page"}
    meta_post(client, own)
    assert not Lead.objects.exists()
    assert InboundEvent.objects.get().status == "ignored"


def test_a_second_comment_by_the_same_person_is_an_interaction_on_their_lead(client):
    payload = load_json("meta", "page_feed_comment.json")
    meta_post(client, payload)
    later = copy.deepcopy(payload)
    later["entry"][0]["changes"][0]["value"].update(comment_id="555666777_1", message="Thanks")
    meta_post(client, later)  # asks for nothing, but they are a lead already
    assert only_lead().interactions.count() == 2


# --- Telegram -------------------------------------------------------------------------------

def telegram_post(client, payload: dict, *, secret: str = TELEGRAM_SECRET):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret else {}
    return client.post("/inbound/telegram/", json.dumps(payload),
                       content_type="application/json", **headers)


def test_start_begins_a_lead_with_the_name_and_the_deep_link(client):
    assert telegram_post(client, load_json("telegram", "start.json")).status_code == 200
    lead = only_lead()
    assert (lead.first_name, lead.last_name, lead.utm_campaign, lead.channel) == (
        "Marie", "Curie", "spring_promo", "chat")
    identity = lead.identities.get()
    assert (identity.platform, identity.external_id, identity.display_name) == (
        "telegram", "5566778899", "@mcurie")
    assert lead.interactions.get().summary == "Started the Telegram bot (link spring_promo)"


def test_telegram_messages_and_a_shared_contact_fill_the_same_lead(client):
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_post(client, load_json("telegram", "text.json"))
    assert telegram_post(client, load_json("telegram", "text.json")).status_code == 200  # retry
    telegram_post(client, load_json("telegram", "contact.json"))
    lead = only_lead()
    assert lead.phone == "+33612345678"
    assert "lab fit-out" in lead.message
    assert lead.interactions.count() == 3


def test_a_shared_phone_of_an_existing_lead_merges_the_telegram_lead_into_it(client):
    earlier = receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678", "email": "marie@example.org"}, summary="Form",
        notify_prospect=False)).lead
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_lead = Lead.objects.exclude(pk=earlier.pk).get()
    assert telegram_lead.phone == "" and telegram_lead.identities.count() == 1

    telegram_post(client, load_json("telegram", "contact.json"))

    assert LeadIdentity.objects.get().lead_id == earlier.pk
    earlier.refresh_from_db()
    telegram_lead.refresh_from_db()
    assert (earlier.first_name, earlier.last_name, earlier.utm_campaign) == (
        "Marie", "Curie", "spring_promo")  # filled from the Telegram lead
    summaries = list(earlier.interactions.values_list("summary", flat=True))
    assert "Started the Telegram bot (link spring_promo)" in summaries  # moved over
    assert "Shared their phone number on Telegram" in summaries
    assert telegram_lead.status == "disqualified"
    assert telegram_lead.interactions.get().summary.startswith(f"Merged into lead #{earlier.pk}")
    telegram_post(client, load_json("telegram", "text.json"))
    assert earlier.interactions.filter(summary__startswith="Telegram: Can you quote").exists()
    assert Lead.objects.filter(status="new").count() == 1


def test_an_account_lead_with_its_own_email_is_not_merged_only_the_account_moves(client):
    earlier = receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678"}, summary="Form", notify_prospect=False)).lead
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_lead = Lead.objects.exclude(pk=earlier.pk).get()
    Lead.objects.filter(pk=telegram_lead.pk).update(email="someone@example.org")
    telegram_post(client, load_json("telegram", "contact.json"))
    telegram_lead.refresh_from_db()
    assert telegram_lead.status == "new" and LeadIdentity.objects.get().lead_id == earlier.pk
    assert "messages go there now" in telegram_lead.interactions.order_by("-id").first().summary


@pytest.mark.parametrize(("where", "value"), [("from.id", {"a": 1}), ("from.id", True),
                                               ("text", {"a": 1}), ("first_name", ["x"])])
def test_a_telegram_update_with_ids_or_text_of_the_wrong_type_makes_no_lead(client, where,
                                                                           value):
    update = load_json("telegram", "start.json")
    if where == "from.id":
        update["message"]["from"]["id"] = value
    elif where == "first_name":
        update["message"]["from"]["first_name"] = value
    else:
        update["message"]["text"] = value
    assert telegram_post(client, update).status_code == 200  # authentic: kept, not retried
    assert InboundEvent.objects.get().status == "rejected"
    assert not Lead.objects.exists()


def test_a_wrong_or_missing_telegram_secret_stores_nothing(client):
    assert telegram_post(client, load_json("telegram", "start.json"), secret="guess"
                         ).status_code == 403
    assert telegram_post(client, load_json("telegram", "start.json"), secret=""
                         ).status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_prospect_blocking_the_bot_is_remembered_on_the_identity(client):
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_post(client, load_json("telegram", "blocked.json"))
    identity = LeadIdentity.objects.get()
    assert identity.blocked_at is not None and "blocked" in identity.blocked_reason
    assert InboundEvent.objects.count() == 1


def test_a_closed_lead_s_telegram_account_writing_again_starts_a_linked_lead(client):
    telegram_post(client, load_json("telegram", "start.json"))
    first = only_lead()
    Lead.objects.filter(pk=first.pk).update(status=LeadStatus.LOST)
    telegram_post(client, load_json("telegram", "text.json"))
    second = Lead.objects.exclude(pk=first.pk).get()
    assert second.previous_lead_id == first.pk
    assert LeadIdentity.objects.get().lead_id == second.pk


# --- Slack ----------------------------------------------------------------------------------

def slack_post(client, payload: dict, *, secret: str = SLACK_SECRET,
               at: int | None = None, retry: int | None = None):
    body = json.dumps(payload).encode()
    timestamp = str(at if at is not None else int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                 hashlib.sha256).hexdigest()
    headers = {"HTTP_X_SLACK_SIGNATURE": signature, "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp}
    if retry is not None:
        headers |= {"HTTP_X_SLACK_RETRY_NUM": str(retry),
                    "HTTP_X_SLACK_RETRY_REASON": "http_timeout"}
    return client.post("/inbound/slack/", body, content_type="application/json", **headers)


def test_slacks_signature_matches_its_documented_example():
    """api.slack.com/authentication/verifying-requests-from-slack, the worked example."""
    from capture.channels.hmac_timestamped import sign_slack, verify

    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
            b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
            b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
            b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
            b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign_slack(secret, 1531420618, body) == expected
    verify(secret, "1531420618", body, expected, now=1531420618 + 60, signer=sign_slack)


def test_the_url_verification_challenge_is_answered_when_signed(client):
    payload = load_json("slack", "url_verification.json")
    response = slack_post(client, payload)
    assert response.status_code == 200 and response.json() == {
        "challenge": payload["challenge"]}
    assert slack_post(client, payload, secret="guess").status_code == 403


def test_a_slack_message_becomes_a_lead_once_across_retries_and_its_mention(client):
    assert slack_post(client, load_json("slack", "message.json")).status_code == 200
    assert slack_post(client, load_json("slack", "message.json"), retry=1).status_code == 200
    assert slack_post(client, load_json("slack", "app_mention.json")).status_code == 200
    lead = only_lead()
    assert (lead.first_name, lead.last_name, lead.source) == ("Katherine", "Johnson", "slack")
    assert lead.interactions.count() == 1 and InboundEvent.objects.count() == 1
    assert lead.identities.get().external_id == "U0PARTNER"


def test_a_second_slack_message_from_the_same_user_lands_on_the_same_lead(client):
    slack_post(client, load_json("slack", "message.json"))
    later = load_json("slack", "message.json")
    later["event"].update(ts="1763900100.000300", text="Also: annual billing?")
    later["event_id"] = "Ev0PV52K22"
    slack_post(client, later)
    assert only_lead().interactions.count() == 2


def test_a_stale_or_forged_slack_request_stores_nothing(client):
    stale = slack_post(client, load_json("slack", "message.json"), at=int(time.time()) - 301)
    assert stale.status_code == 403 and "seconds" in stale.json()["error"]
    assert slack_post(client, load_json("slack", "message.json"), secret="guess"
                      ).status_code == 403
    assert not InboundEvent.objects.exists()


def test_bot_posts_and_edits_in_slack_store_nothing(client):
    bot = load_json("slack", "message.json")
    bot["event"]["bot_id"] = "B0OURAPP"
    edit = load_json("slack", "message.json")
    edit["event"]["subtype"] = "message_changed"
    slack_post(client, bot)
    slack_post(client, edit)
    assert not InboundEvent.objects.exists()


def test_our_own_member_answering_in_the_shared_slack_channel_makes_no_lead(client):
    """Replies to Slack are written in Slack: a rep of our workspace answering in the Slack
    Connect channel is kept as ignored, not taken in as a lead named after nobody."""
    ours = load_json("slack", "message.json")
    ours["event"].update(user="U061F7AUR", team=ours["team_id"], ts="1763900100.000300",
                         text="Sure, 40 seats at the annual rate: I will send the quote.")
    ours["event"].pop("user_profile")
    assert slack_post(client, ours).status_code == 200
    assert not Lead.objects.exists()
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.IGNORED and "our own" in event.reason
    slack_post(client, load_json("slack", "message.json"))  # the prospect's still counts
    assert only_lead().identities.get().external_id == "U0PARTNER"


@pytest.mark.parametrize("change", [
    {"team_id": None}, {"user": {"a": 1}}, {"ts": 1.3}, {"channel": ""},
])
def test_a_signed_slack_message_without_its_ids_is_a_400_not_a_blank_lead(client, change):
    payload = load_json("slack", "message.json")
    if "team_id" in change:
        payload.pop("team_id", None)
        payload["event"].pop("team", None)
    else:
        payload["event"].update(change)
    answer = slack_post(client, payload)
    assert answer.status_code == 400 and "without its team, user" in answer.json()["error"]
    assert not Lead.objects.exists()


def test_slack_messages_outside_the_listed_channels_are_not_taken_in(client, settings):
    settings.SLACK_CHANNEL_IDS = ["C0OTHER"]
    slack_post(client, load_json("slack", "message.json"))
    assert not InboundEvent.objects.exists()
    slack_post(client, load_json("slack", "app_mention.json"))  # a mention always counts
    assert Lead.objects.count() == 1


# --- X (Twitter) ----------------------------------------------------------------------------

def x_signature(body: bytes, secret: str = X_SECRET) -> str:
    return "sha256=" + base64.b64encode(
        hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def x_post(client, payload: dict, *, secret: str = X_SECRET):
    body = json.dumps(payload).encode()
    return client.post("/inbound/x/", body, content_type="application/json",
                       HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=x_signature(body, secret))


def test_the_crc_challenge_answers_the_hmac_response_token(client):
    response = client.get("/inbound/x/", {"crc_token": "9b4507b3-9040-4669-9ba8-3a8a5e6e2a1f"})
    assert response.status_code == 200
    assert response.json() == {"response_token": x_signature(
        b"9b4507b3-9040-4669-9ba8-3a8a5e6e2a1f")}
    assert client.get("/inbound/x/").status_code == 400


def test_an_x_direct_message_becomes_a_lead_once(client):
    payload = load_json("x", "direct_message.json")
    assert x_post(client, payload).status_code == 200
    assert x_post(client, payload).status_code == 200
    lead = only_lead()
    assert (lead.first_name, lead.last_name, lead.source, lead.channel) == (
        "Jordan", "Brinks", "x", "social")
    assert lead.identities.get().display_name == "@furiouscamper"
    assert InboundEvent.objects.count() == 1


def test_a_second_x_message_lands_on_the_same_lead_and_ours_are_ignored(client):
    payload = load_json("x", "direct_message.json")
    x_post(client, payload)
    later = copy.deepcopy(payload)
    later["direct_message_events"][0]["id"] = "954491830116155397"
    later["direct_message_events"][0]["message_create"]["message_data"]["text"] = "And the US?"
    x_post(client, later)
    ours = copy.deepcopy(payload)
    ours["direct_message_events"][0].update(id="954491830116155398")
    ours["direct_message_events"][0]["message_create"]["sender_id"] = "4337869213"
    x_post(client, ours)
    assert only_lead().interactions.count() == 2
    assert InboundEvent.objects.get(external_id="dm:954491830116155398").status == "ignored"


@pytest.mark.parametrize("events", [5, True, "dm"])
def test_signed_x_events_that_are_not_a_list_are_a_400_not_a_500(client, events):
    response = x_post(client, {"for_user_id": "1", "direct_message_events": events})
    assert response.status_code == 400 and "not a list" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_an_x_sender_or_text_that_is_not_what_x_sends_makes_no_lead(client):
    payload = load_json("x", "direct_message.json")
    payload["direct_message_events"][0]["message_create"]["sender_id"] = {"a": 1}
    assert x_post(client, payload).status_code == 400
    payload = load_json("x", "direct_message.json")
    payload["direct_message_events"][0]["message_create"]["message_data"]["text"] = {"a": 1}
    assert x_post(client, payload).status_code == 200  # stored, then refused by its reader
    assert InboundEvent.objects.get().status == "rejected" and not Lead.objects.exists()


def test_a_forged_x_signature_stores_nothing(client):
    assert x_post(client, load_json("x", "direct_message.json"), secret="guess"
                  ).status_code == 403
    body = json.dumps(load_json("x", "direct_message.json")).encode()
    assert client.post("/inbound/x/", body, content_type="application/json").status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_switched_off_channel_answers_404_and_stores_nothing(client):
    from capture.models import ChannelSettings

    ChannelSettings.objects.create(channel="telegram", is_active=False)
    assert telegram_post(client, load_json("telegram", "start.json")).status_code == 404
    assert not InboundEvent.objects.exists()


def test_without_the_consumer_secret_the_crc_is_refused(client, settings):
    settings.X_CONSUMER_SECRET = ""
    assert client.get("/inbound/x/", {"crc_token": "abc"}).status_code == 403
