"""LinkedIn Lead Gen Forms: the challengeCode validation, X-LI-Signature, and form responses
fetched from a stub Lead Sync API on 127.0.0.1 with retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from capture.channels.base import reprocess
from capture.channels.linkedin import fetch_form_response, retry_form_response_fetches
from capture.intake import retry_failed_events
from capture.models import InboundEvent, Lead, LinkedInForm
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
SECRET = "linkedin-client-secret"
TOKEN = "li-access-token"


@pytest.fixture(autouse=True)
def _secrets(settings):
    settings.LINKEDIN_CLIENT_SECRET = SECRET
    settings.LINKEDIN_ACCESS_TOKEN = TOKEN


@pytest.fixture
def form(db) -> LinkedInForm:
    return LinkedInForm.objects.create(
        form_id="123456", name="Kubernetes whitepaper",
        question_mapping={"1": "first_name", "2": "last_name", "3": "email", "4": "company",
                          "6": "message"})


@pytest.fixture
def delivered(sync_tasks, django_capture_on_commit_callbacks):
    """Posts whose queued tasks run at once, as a qcluster would run them after the commit."""

    def post(client, payload, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return li_post(client, payload, **kwargs)

    return post


def li_post(client, payload, *, secret: str = SECRET, signature: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if signature is None:
        signature = "hmacsha256=" + hmac.new(secret.encode(), body,
                                             hashlib.sha256).hexdigest()
    return client.post("/inbound/linkedin/", body, content_type="application/json",
                       HTTP_X_LI_SIGNATURE=signature)


class StubLeadSync:
    """The Lead Sync API: GET /rest/leadFormResponses/<id>, after `failures` 503s."""

    def __init__(self):
        self.failures = 0
        self.requests: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append((self.path, dict(self.headers)))
                if stub.failures > 0:
                    stub.failures -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(load_json("linkedin", "form_response.json")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rest"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def lead_sync(settings):
    stub = StubLeadSync()
    settings.LINKEDIN_API_URL = stub.url
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def test_the_validation_handshake_answers_the_hmac_of_the_challenge(client):
    code = "890e4665-4dfe-4ab1-b689-ed553bceeed0"
    response = client.get("/inbound/linkedin/", {"challengeCode": code})
    assert response.status_code == 200
    expected = hmac.new(SECRET.encode(), code.encode(), hashlib.sha256).hexdigest()
    assert response.json() == {"challengeCode": code, "challengeResponse": expected}


def test_validation_without_a_challenge_is_a_400_and_without_the_secret_a_403(client,
                                                                              settings):
    assert client.get("/inbound/linkedin/").json() == {"error": "Expected a challengeCode."}
    settings.LINKEDIN_CLIENT_SECRET = ""
    # As docs/channels.md says of every provider channel whose secret is not set (it was 400).
    refused = client.get("/inbound/linkedin/", {"challengeCode": "x"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "LINKEDIN_CLIENT_SECRET is not set on this server."}


def test_a_signed_notification_becomes_one_lead_even_when_retried(client, form, lead_sync,
                                                                    delivered):
    notification = load_json("linkedin", "lead_notification.json")
    first = delivered(client, notification)
    again = delivered(client, notification)  # LinkedIn delivers some notifications twice
    assert first.status_code == again.status_code == 200
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.company) == (
        "Grace", "Hopper", "grace.hopper@navy.example", "US Navy Cloud")
    assert lead.channel == "social" and lead.source == "linkedin-lead-gen"
    assert "managed Kubernetes" in lead.message
    assert lead.has_consent and "consent 42" in lead.consent_text  # the ticked consent box
    event = InboundEvent.objects.get()
    assert event.external_id == "notification:987654321" and event.status == "processed"
    assert "question 5: 2" in lead.interactions.get(kind="submission").body
    assert len(lead_sync.requests) == 1
    path, headers = lead_sync.requests[0]
    assert path == "/rest/leadFormResponses/5f2b7b3e-5a4c-4c52-9d43-0f1b4a0e7c11"
    assert headers["X-Restli-Protocol-Version"] == "2.0.0"


def test_the_other_reading_of_the_signature_is_accepted_too(client, form, lead_sync,
                                                             delivered):
    body = json.dumps(load_json("linkedin", "lead_notification.json")).encode()
    signature = hmac.new(SECRET.encode(), b"hmacsha256=" + body, hashlib.sha256).hexdigest()
    assert delivered(client, body, signature=signature).status_code == 200
    assert Lead.objects.count() == 1


def test_a_forged_signature_is_refused_and_nothing_is_stored(client, form):
    notification = load_json("linkedin", "lead_notification.json")
    forged = li_post(client, notification, secret="not-the-secret")
    missing = li_post(client, notification, signature="")
    assert forged.status_code == missing.status_code == 403
    assert "X-LI-Signature" in forged.json()["error"]
    assert not InboundEvent.objects.exists()


def test_a_failing_fetch_is_retried_then_reprocessable(client, form, lead_sync, sync_tasks,
                                                       admin_client,
                                                       django_capture_on_commit_callbacks):
    lead_sync.failures = 100  # the Lead Sync API is down
    # The task raises so django-q2 retries it (sync mode shows that as the exception here).
    with pytest.raises(requests.RequestException), django_capture_on_commit_callbacks(
        execute=True
    ):
        response = li_post(client, load_json("linkedin", "lead_notification.json"))
    assert response.status_code == 200  # stored: LinkedIn is told it arrived
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "Lead Sync API failed (1 tries)" in event.reason
    assert len(lead_sync.requests) == 3  # one try and two retries inside the client
    assert not Lead.objects.exists()

    assert retry_form_response_fetches() == 0  # the schedule tries again: still down
    event.refresh_from_db()
    assert event.payload["fetch_attempts"] == 2
    # The intake's one-minute sweeper leaves it to that schedule: the reason stays the fetch's.
    attempts = event.attempts
    assert retry_failed_events() == 0
    event.refresh_from_db()
    assert "Lead Sync API failed (2 tries)" in event.reason and event.attempts == attempts

    lead_sync.failures = 0  # it is back: the admin's reprocess fetches and takes it in
    admin_client.post("/admin/capture/inboundevent/",
                      {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == "processed" and Lead.objects.count() == 1
    assert fetch_form_response(event.id) is False  # a second run does nothing
    li_post(client, load_json("linkedin", "lead_notification.json"))  # LinkedIn retries
    assert Lead.objects.count() == 1 and InboundEvent.objects.count() == 1


def test_a_response_for_a_form_without_mapping_waits_for_one(client, lead_sync, delivered):
    delivered(client, load_json("linkedin", "lead_notification.json"))
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "No mapping for LinkedIn form 123456" in event.reason
    LinkedInForm.objects.create(form_id="123456", name="Whitepaper",
                                question_mapping={"3": "email"})
    assert reprocess(event.id) is True
    assert Lead.objects.get().email == "grace.hopper@navy.example"


def test_a_deleted_lead_notification_is_stored_and_ignored(client, form, lead_sync):
    notification = {**load_json("linkedin", "lead_notification.json"), "leadAction": "DELETED"}
    assert li_post(client, notification).status_code == 200
    assert InboundEvent.objects.get().status == "ignored"
    assert not lead_sync.requests


def test_bad_bodies_get_a_clear_400(client):
    assert li_post(client, b"{not json").status_code == 400
    response = li_post(client, {"leadGenFormResponse": "urn:li:leadGenFormResponse:1"})
    assert response.status_code == 400 and "notificationId" in response.json()["error"]
    notification = {**load_json("linkedin", "lead_notification.json"), "notificationId": {"a": 1}}
    response = li_post(client, notification)
    assert response.status_code == 400 and list(response.json()["fields"]) == ["notificationId"]
    assert not InboundEvent.objects.exists()


def test_the_fetch_raises_for_the_queue_to_retry(client, form, lead_sync):
    lead_sync.failures = 100
    li_post(client, load_json("linkedin", "lead_notification.json"))  # queued, not run
    event = InboundEvent.objects.get()
    assert event.status == "received"
    with pytest.raises(requests.RequestException):
        fetch_form_response(event.id)


def test_sales_ops_map_a_form_in_the_admin(admin_client):
    page = admin_client.get("/admin/capture/linkedinform/add/")
    assert page.status_code == 200
    bad = admin_client.post("/admin/capture/linkedinform/add/", {
        "name": "Whitepaper", "form_id": "urn:li:leadGenForm:1", "is_active": "on",
        "question_mapping": '{"1": "favourite_colour"}', "source": "linkedin"})
    text = bad.content.decode()
    assert "form&#x27;s number" in text or "form's number" in text
    assert "Unknown lead fields: favourite_colour" in text
    good = admin_client.post("/admin/capture/linkedinform/add/", {
        "name": "Whitepaper", "form_id": "123456", "is_active": "on",
        "question_mapping": '{"1": "first_name", "3": "email"}', "source": "linkedin"})
    assert good.status_code == 302
    assert LinkedInForm.objects.get().question_mapping == {"1": "first_name", "3": "email"}


def test_a_notification_whose_payload_retention_purged_stops_no_fetch(client, form, lead_sync,
                                                                      delivered, admin_client):
    """Retention purges a failed event's payload after N days: the schedule then took the
    oldest such event (no notification left, no fetch count) first and raised KeyError, so no
    LinkedIn response behind it was fetched again; the admin's Reprocess of it was a 500."""
    from django.utils import timezone

    from capture.privacy import run_retention

    purged = InboundEvent.objects.create(
        channel="linkedin", external_id="notification:1", status="failed",
        payload={"notification": {"leadGenFormResponse": "urn:li:x"}, "fetch_attempts": 12},
        received_at=timezone.now() - timedelta(days=200))
    run_retention()
    purged.refresh_from_db()
    assert purged.payload == {}
    lead_sync.failures = 100
    with pytest.raises(requests.RequestException):
        delivered(client, load_json("linkedin", "lead_notification.json"))
    lead_sync.failures = 0
    assert retry_form_response_fetches() == 1  # the waiting response is fetched
    assert Lead.objects.count() == 1
    response = admin_client.post("/admin/capture/inboundevent/",
                                 {"action": "reprocess", "_selected_action": [purged.pk]})
    assert response.status_code == 302
    purged.refresh_from_db()
    assert purged.status == "failed"
