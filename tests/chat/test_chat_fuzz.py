"""Fuzzing the widget's API: whatever a broken or hostile page sends, never a 5xx, and a
refused request writes nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from capture.models import InboundEvent
from tests.chat.conftest import SITE
from tests.faults.test_fuzz import JSON_VALUE, NASTY_TEXT, TEXT

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
FIELDS = st.dictionaries(st.sampled_from(["first_name", "email", "phone", "company", "x"]),
                         st.one_of(TEXT, JSON_VALUE), max_size=4)
BODY = st.one_of(
    JSON_VALUE,
    st.fixed_dictionaries({"text": st.one_of(TEXT, JSON_VALUE),
                           "client_id": st.one_of(TEXT, st.just("abcdefgh12345678"))},
                          optional={"fields": st.one_of(FIELDS, JSON_VALUE),
                                    "page": st.one_of(JSON_VALUE, st.fixed_dictionaries(
                                        {"url": TEXT, "referrer": TEXT}))}),
)


@FUZZ
@given(body=BODY, token=st.one_of(st.just(""), NASTY_TEXT))
def test_messages_never_fail_with_a_5xx(client, widget, body, token):
    headers = {"HTTP_ORIGIN": SITE}
    if token:
        headers["HTTP_X_CHAT_TOKEN"] = token.replace("\r", "").replace("\n", "")
    before = InboundEvent.objects.count()
    response = client.post(f"/chat/w/{widget.key}/messages/", json.dumps(body),
                           content_type="application/json", **headers)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400 and response.status_code != 422:
        assert InboundEvent.objects.count() == before


@FUZZ
@given(fields=st.one_of(FIELDS, JSON_VALUE), reason=TEXT)
def test_contact_never_fails_with_a_5xx(client, widget, visitor, fields, reason):
    if not visitor.token:
        visitor.say("hello")
    response = client.post(f"/chat/w/{widget.key}/contact/",
                           json.dumps({"fields": fields, "reason": reason}),
                           content_type="application/json", HTTP_ORIGIN=SITE,
                           HTTP_X_CHAT_TOKEN=visitor.token)
    assert response.status_code < 500, response.content[:300]


@FUZZ
@given(after=TEXT)
def test_polls_never_fail_with_a_5xx(widget, visitor, after):
    assume("\ud800" not in after and "\udfff" not in after)  # not sendable in a URL at all
    if not visitor.token:
        visitor.say("hello")
    response = visitor.client.get(visitor.base + "messages/", {"after": after},
                                  HTTP_ORIGIN=SITE, HTTP_X_CHAT_TOKEN=visitor.token)
    assert response.status_code < 500


@pytest.mark.parametrize("text", ["\ud800", "x\udfffy"])
def test_text_no_database_can_store_is_a_clear_400(visitor, text):
    response = visitor.say(text)
    assert response.status_code == 400 and "Unicode" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_nul_characters_are_dropped(visitor):
    assert visitor.say("a\x00b", fields={"first_name": "A\x00da"}).status_code == 201
    assert visitor.poll().json()["messages"][0]["text"] == "ab"
    assert visitor.say("\x00").status_code == 400  # nothing left: an empty message
