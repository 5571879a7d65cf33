"""Generic signed JSON webhooks: /inbound/webhook/<source>/ with a timestamped HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from capture.models import InboundEvent, Lead, WebhookSource
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
SECRET = "whsec_test"


@pytest.fixture
def chat_widget(db) -> WebhookSource:
    return WebhookSource.objects.create(
        slug="chat", name="Chat widget", secret=SECRET,
        field_mapping={"visitor.name_first": "first_name", "visitor.name_last": "last_name",
                       "visitor.contact.email": "email", "visitor.contact.tel": "phone",
                       "transcript": "message", "page": "landing_page"},
    )


def signed_post(client, slug: str, body: bytes, *, secret: str = SECRET, at: int | None = None,
                **headers):
    timestamp = str(at if at is not None else int(time.time()))
    # What a sender computes, written out here rather than with our own helper:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return client.post(f"/inbound/webhook/{slug}/", body, content_type="application/json",
                       HTTP_X_LEADCRM_TIMESTAMP=timestamp,
                       HTTP_X_LEADCRM_SIGNATURE=f"sha256={digest.hexdigest()}", **headers)


def body() -> bytes:
    return json.dumps(load_json("webhook", "chat_widget.json")).encode()


def test_a_signed_webhook_becomes_a_lead_through_the_mapping(client, chat_widget):
    response = signed_post(client, "chat", body())
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert response.json()["lead_id"] == lead.pk
    assert (lead.first_name, lead.email, lead.phone, lead.source) == (
        "Katherine", "katherine@nasa.example", "+17575550142", "chat")
    assert lead.landing_page == "https://www.example.com/pricing"
    assert "rating: 5" in lead.interactions.get().body  # unmapped keys are kept


def test_the_answer_says_whether_the_lead_is_new_as_the_api_s_does(client, chat_widget):
    # It gave the lead's id only: a Zap could not tell a new person from a known one.
    first = signed_post(client, "chat", body())
    assert first.json() == {"event_id": InboundEvent.objects.get().pk, "status": "processed",
                            "lead_id": Lead.objects.get().pk, "created": True}
    assert signed_post(client, "chat", body()).json()["created"] is True  # the first answer
    known = json.dumps({"id": "chat-2", "visitor": {"contact": {
        "email": "Katherine@NASA.example"}}}).encode()
    assert signed_post(client, "chat", known).json()["created"] is False


def test_a_retry_of_the_same_event_is_200_with_no_second_interaction(client, chat_widget):
    signed_post(client, "chat", body())
    again = signed_post(client, "chat", body())
    assert again.status_code == 200
    assert Lead.objects.get().interactions.count() == 1


def test_a_webhook_after_an_api_lead_matches_it(client, chat_widget):
    from capture.models import ApiKey

    key = ApiKey.issue("Partner", "partner")[1]
    client.post("/api/v1/leads/", {"email": "katherine@nasa.example"},
                content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    signed_post(client, "chat", body())
    assert Lead.objects.count() == 1 and Lead.objects.get().interactions.count() == 2


def test_a_replayed_request_older_than_five_minutes_is_refused(client, chat_widget):
    response = signed_post(client, "chat", body(), at=int(time.time()) - 301)
    assert response.status_code == 403 and "replay" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_a_wrong_signature_or_secret_is_403(client, chat_widget):
    assert signed_post(client, "chat", body(), secret="other").status_code == 403
    response = client.post("/inbound/webhook/chat/", body(), content_type="application/json")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_webhook_lead_reads_its_source_once_and_a_renamed_source_applies_next_time(
    client, chat_widget,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert signed_post(client, "chat", body()).status_code == 200
    reads = [q for q in queries.captured_queries
             if 'FROM "capture_webhooksource"' in q["sql"]]
    assert len(reads) == 1
    chat_widget.name = "Site chat"
    chat_widget.save()
    payload = json.loads(body())
    payload["id"] = "second-chat"
    signed_post(client, "chat", json.dumps(payload).encode())
    assert Lead.objects.get().interactions.latest("id").summary == "Sent by Site chat"


def test_an_unknown_or_inactive_source_is_404(client, chat_widget):
    assert signed_post(client, "nope", body()).status_code == 404
    chat_widget.is_active = False
    chat_widget.save()
    assert signed_post(client, "chat", body()).status_code == 404
    assert not InboundEvent.objects.exists()


def test_malformed_json_is_400_and_non_json_415(client, chat_widget):
    assert signed_post(client, "chat", b"{oops").status_code == 400
    assert signed_post(client, "chat", b"[]").status_code == 400
    assert signed_post(client, "chat", b"{}").status_code == 400  # no email or phone
    response = client.post("/inbound/webhook/chat/", "a=b",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not InboundEvent.objects.exists()


def test_an_invalid_mapped_email_is_a_400_naming_their_key(client, chat_widget):
    data = load_json("webhook", "chat_widget.json")
    data["visitor"]["contact"]["email"] = "nope"
    data["visitor"]["contact"]["tel"] = ""
    response = signed_post(client, "chat", json.dumps(data).encode())
    assert response.status_code == 400
    assert "visitor.contact.email" in response.json()["fields"]


def test_no_email_or_phone_is_a_400_naming_their_key_for_it(client, chat_widget):
    # It named "email", a key the sender never sends (its mapping reads visitor.contact.email).
    data = load_json("webhook", "chat_widget.json")
    del data["visitor"]["contact"]
    response = signed_post(client, "chat", json.dumps(data).encode())
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["visitor.contact.email"]
    assert not InboundEvent.objects.exists()


def test_a_chunked_body_is_signed_and_read_as_sent(client, chat_widget):
    # Without a Content-Length the body was read as empty, and the sender was told its
    # signature "does not match the body".
    from tests.capture.test_api import chunked

    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body(), hashlib.sha256)
    response = client.generic("POST", "/inbound/webhook/chat/",
                              HTTP_X_LEADCRM_TIMESTAMP=timestamp,
                              HTTP_X_LEADCRM_SIGNATURE=f"sha256={digest.hexdigest()}",
                              **chunked(body()))
    assert response.status_code == 200, response.json()
    assert Lead.objects.get().email == "katherine@nasa.example"


def test_an_oversized_body_is_413(client, chat_widget):
    big = json.dumps({"email": "a@x.co", "message": "x" * 300_000}).encode()
    assert signed_post(client, "chat", big).status_code == 413
    assert not InboundEvent.objects.exists()


def test_the_admin_rejects_a_mapping_to_an_unknown_lead_field(admin_client):
    response = admin_client.post("/admin/capture/webhooksource/add/", {
        "slug": "zap", "name": "Zapier", "secret": "s", "field_mapping": '{"a": "shoe_size"}',
        "default_region": "", "is_active": "on"})
    assert response.status_code == 200 and "Unknown lead fields: shoe_size" in \
        response.content.decode()
    assert not WebhookSource.objects.exists()


def test_a_failure_is_stored_as_failed_answered_200_and_reprocessed(client, chat_widget,
                                                                    monkeypatch):
    import capture.intake as intake
    from capture.channels.base import reprocess

    monkeypatch.setattr(intake, "receive_lead", lambda *a, **k: 1 / 0)
    response = signed_post(client, "chat", body())
    assert response.status_code == 200 and response.json()["status"] == "failed"
    monkeypatch.undo()
    assert reprocess(InboundEvent.objects.get().pk)
    assert Lead.objects.get().email == "katherine@nasa.example"
    assert signed_post(client, "chat", body()).json()["status"] == "processed"
    assert Lead.objects.get().interactions.count() == 1


def test_a_lone_surrogate_in_the_event_id_is_a_400(client, chat_widget):
    bad = body().replace(b'"chat-7f3a9c"', b'"\\udfff"')
    response = signed_post(client, "chat", bad)
    assert response.status_code == 400 and not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", [
    "/inbound/webhook/", "/inbound/email/nosuchesp/inbound/", "/inbound/nosuch/",
    "/inbound/webhook/chat/extra/", "/api/v2/leads/", "/api/",
])
@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_inbound_or_api_address_is_a_json_404(client, chat_widget, path, method):
    if method == "post":
        response = client.post(path, body(), content_type="application/json")
    else:
        response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith(f"No endpoint at {path}.")
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(("path", "allowed"), [
    ("/api/v1/leads/", "POST"), ("/api/v1/forms/website/", "POST"),
    ("/inbound/twilio/sms/", "POST"), ("/inbound/webhook/chat/", "POST"),
    ("/inbound/meta/", "GET, POST"), ("/inbound/linkedin/", "GET, POST"),
    ("/inbound/x/", "GET, POST"),
])
def test_a_wrong_method_is_a_json_405_that_names_the_allowed_ones(client, chat_widget, path,
                                                                  allowed):
    # HTTP requires the Allow header on a 405; the form posts, Meta, LinkedIn and X had none.
    response = client.delete(path)
    assert response.status_code == 405 and "error" in response.json()
    assert response["Allow"] == allowed


def test_a_known_address_without_its_final_slash_is_redirected_on_get_and_named_on_post(
        client, chat_widget):
    assert client.get("/inbound/meta?hub.mode=subscribe").status_code == 301
    assert client.get("/inbound/meta?hub.mode=subscribe")["Location"] == (
        "/inbound/meta/?hub.mode=subscribe")
    response = client.post("/inbound/webhook/chat", body(), content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"] == ("No endpoint at /inbound/webhook/chat; the address "
                                        "ends with a slash: /inbound/webhook/chat/.")


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], True, 1.5, " ", "x" * 201])
def test_an_event_id_that_is_no_id_is_a_400_naming_it(client, chat_widget, value):
    payload = {**load_json("webhook", "chat_widget.json"), "id": value}
    response = signed_post(client, "chat", json.dumps(payload).encode())
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == ["id"]
    too_long = signed_post(client, "chat", body(), HTTP_X_LEADCRM_EVENT_ID="e" * 201)
    assert too_long.status_code == 400 and list(too_long.json()["fields"]) == [
        "X-Leadcrm-Event-Id"]
    assert not InboundEvent.objects.exists()


def test_two_ids_that_differ_past_the_key_column_s_length_are_two_events(client, chat_widget):
    """A long slug and a long id make a key over the column's 255 characters: cut short,
    the second event was dropped as a retry of the first."""
    slug = "c" * 100
    WebhookSource.objects.filter(pk=chat_widget.pk).update(slug=slug)
    first = {**load_json("webhook", "chat_widget.json"), "id": "e" * 199 + "1"}
    second = {**first, "id": "e" * 199 + "2", "transcript": "A second question"}
    for payload in (first, second, first):  # the first again: a retry, found by its key
        assert signed_post(client, slug, json.dumps(payload).encode()).status_code == 200
    assert InboundEvent.objects.count() == 2
    assert Lead.objects.get().interactions.count() == 2


def test_a_signed_json_body_in_a_declared_latin_1_keeps_its_accents(client, chat_widget):
    # A sender posting Latin-1 JSON and saying so got "The body is not valid JSON."
    body = json.dumps({"id": "chat-9", "visitor": {"name_first": "José", "contact": {
        "email": "jose@example.com"}}}, ensure_ascii=False).encode("latin-1")
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    response = client.generic("POST", "/inbound/webhook/chat/", body,
                              content_type="application/json; charset=ISO-8859-1",
                              HTTP_X_LEADCRM_TIMESTAMP=timestamp,
                              HTTP_X_LEADCRM_SIGNATURE=f"sha256={digest.hexdigest()}")
    assert response.status_code == 200
    assert Lead.objects.get().first_name == "José"


def test_a_signed_json_body_with_a_charset_label_nobody_knows_is_read_as_utf_8(client,
                                                                               chat_widget):
    # JSON defines no charset parameter (RFC 8259); an odd label was answered 400, and the
    # sender's retries would have met the same answer forever.
    body = json.dumps({"id": "chat-10", "visitor": {"name_first": "Zoë", "contact": {
        "email": "zoe@example.com"}}}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    response = client.generic("POST", "/inbound/webhook/chat/", body,
                              content_type="application/json; charset=utf-8-strict-please",
                              HTTP_X_LEADCRM_TIMESTAMP=timestamp,
                              HTTP_X_LEADCRM_SIGNATURE=f"sha256={digest.hexdigest()}")
    assert response.status_code == 200, response.content
    assert Lead.objects.get().first_name == "Zoë"
