"""Fuzzing the social endpoints (Telegram, Slack, X, Meta's Instagram, comment and delivery
shapes, Twilio's message status): malformed bodies with valid, missing and forged signatures.
Never a 5xx; never anything half-written (no event whose processing crashed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tests.faults.conftest import meta_header, twilio_signature
from tests.faults.test_fuzz import (
    FUZZ,
    JSON_VALUE,
    SCALAR,
    SIGNING,
    TEXT,
    bodies,
    form_bytes,
    post,
    rolled_back,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

TELEGRAM_SECRET = "fault-suite-telegram-secret"
SLACK_SECRET = "fault-suite-slack-secret"
X_SECRET = "fault-suite-x-secret"


@pytest.fixture
def social_client(provider_secrets, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = TELEGRAM_SECRET
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    settings.SLACK_CHANNEL_IDS = []
    settings.X_CONSUMER_SECRET = X_SECRET
    return Client()


OBJECT = st.one_of(JSON_VALUE, st.dictionaries(TEXT, SCALAR, max_size=4))
TELEGRAM_USER = st.one_of(SCALAR, st.fixed_dictionaries({"id": SCALAR}, optional={
    "is_bot": SCALAR, "first_name": SCALAR, "last_name": SCALAR, "username": SCALAR}))
TELEGRAM_UPDATE = st.one_of(JSON_VALUE, st.fixed_dictionaries(
    {"update_id": st.one_of(st.integers(), SCALAR)},
    optional={
        "message": st.one_of(JSON_VALUE, st.fixed_dictionaries({"from": TELEGRAM_USER}, optional={
            "text": st.one_of(st.sampled_from(["/start", "/start promo", "/start@bot x", "hi"]),
                              SCALAR, OBJECT),
            "date": SCALAR, "chat": OBJECT, "caption": SCALAR, "photo": JSON_VALUE,
            "contact": st.one_of(OBJECT, st.fixed_dictionaries({}, optional={
                "phone_number": st.one_of(st.sampled_from(["33612345678", "+1415"]), SCALAR),
                "user_id": SCALAR, "first_name": SCALAR})),
        })),
        "my_chat_member": st.one_of(OBJECT, st.fixed_dictionaries({}, optional={
            "from": st.one_of(OBJECT, TELEGRAM_USER),
            "new_chat_member": st.one_of(OBJECT, st.fixed_dictionaries(
                {"status": st.sampled_from(["kicked", "member", "left"])}))})),
    }))


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_telegram_webhook_never_fails(social_client, data):
    body, content_type = data.draw(bodies(TELEGRAM_UPDATE))
    signing = data.draw(SIGNING)
    headers = {"valid": {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": TELEGRAM_SECRET},
               "missing": {},
               "forged": {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": "guess"}}[signing]
    post(social_client, "/inbound/telegram/", body, content_type, **headers)


SLACK_EVENT = st.one_of(OBJECT, st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "app_mention", "reaction_added"])},
    optional={"user": SCALAR, "channel": SCALAR, "ts": st.one_of(
        st.sampled_from(["1763900000.000200", "1e999", "-1", "nan"]), SCALAR),
        "text": SCALAR, "subtype": st.one_of(st.sampled_from(["", "bot_message"]), SCALAR),
        "bot_id": SCALAR, "user_profile": OBJECT}))
SLACK_BODY = st.one_of(JSON_VALUE, st.fixed_dictionaries(
    {"type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited"])},
    optional={"event": SLACK_EVENT, "challenge": SCALAR, "team_id": SCALAR,
              "event_id": SCALAR}))


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_slack_webhook_never_fails(social_client, data):
    body, content_type = data.draw(bodies(SLACK_BODY))
    signing = data.draw(SIGNING)
    at = str(int(time.time()) - data.draw(st.sampled_from([0, 0, 400])))
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{at}:".encode() + body,
                                 hashlib.sha256).hexdigest()
    headers = {"valid": {"HTTP_X_SLACK_SIGNATURE": signature,
                         "HTTP_X_SLACK_REQUEST_TIMESTAMP": at},
               "missing": {},
               "forged": {"HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64,
                          "HTTP_X_SLACK_REQUEST_TIMESTAMP": data.draw(TEXT.filter(
                              lambda t: "\x00" not in t and "\r" not in t and "\n" not in t
                          ))}}[signing]
    post(social_client, "/inbound/slack/", body, content_type, **headers)


X_BODY = st.one_of(JSON_VALUE, st.fixed_dictionaries({"for_user_id": SCALAR}, optional={
    "direct_message_events": st.lists(st.one_of(OBJECT, st.fixed_dictionaries(
        {"type": st.sampled_from(["message_create", "other"]), "id": SCALAR},
        optional={"created_timestamp": SCALAR, "message_create": st.one_of(
            OBJECT, st.fixed_dictionaries({"sender_id": SCALAR}, optional={
                "message_data": OBJECT}))})), max_size=3),
    "users": OBJECT}))


def x_signature(body: bytes) -> str:
    return "sha256=" + base64.b64encode(
        hmac.new(X_SECRET.encode(), body, hashlib.sha256).digest()).decode()


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_x_webhook_never_fails(social_client, data):
    body, content_type = data.draw(bodies(X_BODY))
    signing = data.draw(SIGNING)
    headers = {"valid": {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": x_signature(body)},
               "missing": {},
               "forged": {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": "sha256=AAAA"}}[signing]
    post(social_client, "/inbound/x/", body, content_type, **headers)
    query = data.draw(st.dictionaries(st.sampled_from(["crc_token", "x"]), TEXT))
    query = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    assert social_client.get("/inbound/x/?" + urlencode(query)).status_code < 500


META_SOCIAL = st.fixed_dictionaries(
    {"object": st.sampled_from(["instagram", "page", "whatsapp_business_account"])},
    optional={"entry": st.lists(st.one_of(SCALAR, st.fixed_dictionaries({}, optional={
        "id": SCALAR,
        "changes": st.one_of(SCALAR, st.lists(st.one_of(SCALAR, st.fixed_dictionaries({
            "field": st.sampled_from(["comments", "feed", "messages"]),
            "value": st.one_of(SCALAR, st.fixed_dictionaries({}, optional={
                "id": SCALAR, "comment_id": SCALAR, "item": st.sampled_from(["comment", "x"]),
                "verb": st.sampled_from(["add", "edited"]), "from": OBJECT,
                "text": SCALAR, "message": SCALAR, "created_time": SCALAR, "media": OBJECT,
                "statuses": st.one_of(SCALAR, st.lists(st.one_of(SCALAR, st.fixed_dictionaries(
                    {"id": SCALAR}, optional={"status": SCALAR, "errors": JSON_VALUE})),
                    max_size=2)),
            }))})), max_size=2)),
        "messaging": st.one_of(SCALAR, st.lists(st.one_of(SCALAR, st.fixed_dictionaries(
            {}, optional={
            "sender": OBJECT, "delivery": st.one_of(OBJECT, st.fixed_dictionaries({}, optional={
                "mids": JSON_VALUE, "watermark": SCALAR})),
            "read": st.one_of(OBJECT, st.fixed_dictionaries({}, optional={
                "mid": SCALAR, "watermark": SCALAR})),
        })), max_size=2)),
    })), max_size=2)})


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_meta_webhook_never_fails_on_social_shapes(social_client, data):
    body, content_type = data.draw(bodies(META_SOCIAL))
    signing = data.draw(SIGNING)
    headers = {"valid": {"HTTP_X_HUB_SIGNATURE_256": meta_header(body)}, "missing": {},
               "forged": {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "f" * 64}}[signing]
    post(social_client, "/inbound/meta/", body, content_type, **headers)


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_twilio_message_status_callback_never_fails(social_client, data):
    params = data.draw(st.fixed_dictionaries({}, optional={
        "MessageSid": TEXT, "MessageStatus": st.one_of(
            st.sampled_from(["delivered", "failed", "undelivered", "read", "queued"]), TEXT),
        "ErrorCode": TEXT, "To": TEXT}))
    params = {k: v for k, v in params.items() if "\x00" not in v and not any(
        0xD800 <= ord(c) <= 0xDFFF for c in v)}
    url = "http://testserver/inbound/twilio/message-status/"
    signing = data.draw(SIGNING)
    headers = {"valid": {"HTTP_X_TWILIO_SIGNATURE": twilio_signature(url, params)},
               "missing": {}, "forged": {"HTTP_X_TWILIO_SIGNATURE": "AAAA"}}[signing]
    post(social_client, "/inbound/twilio/message-status/", form_bytes(params),
         "application/x-www-form-urlencoded", **headers)
