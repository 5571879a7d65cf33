"""Inputs the fuzzer found that once crashed a channel, kept as plain regression tests."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from capture.models import InboundEvent, Lead
from tests.faults.conftest import twilio_signature

pytestmark = [pytest.mark.faults, pytest.mark.django_db]


def test_a_signed_sms_with_a_non_numeric_media_count_still_makes_the_lead(client,
                                                                           provider_secrets):
    # Found by test_fuzz: int("ab") raised in normalise_sms, so the event was stored "failed"
    # and the texter never became a lead.
    params = {"MessageSid": "SM-fuzz-1", "From": "+14155552671", "Body": "Price?",
              "NumMedia": "ab"}
    url = "/inbound/twilio/sms/"
    response = client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=twilio_signature(f"http://testserver{url}",
                                                                    params))
    assert response.status_code == 200
    assert InboundEvent.objects.get().status == InboundEvent.Status.PROCESSED
    assert Lead.objects.get().phone == "+14155552671"


def test_a_signed_calendly_booking_with_fields_of_the_wrong_type_is_rejected_not_failed(
        client, provider_secrets):
    # Found by test_fuzz: "created_at": true reached parse_datetime(True) and the event was
    # stored "failed", retried by the sweeper although no retry can read it.
    from tests.faults.conftest import calendly_header

    body = (b'{"event": "invitee.created", "created_at": true, "payload": {"uri": '
            b'"https://api.calendly.com/scheduled_events/E1/invitees/I1"}}')  # (a null uri: 400)
    response = client.post("/inbound/calendly/", body, content_type="application/json",
                           HTTP_CALENDLY_WEBHOOK_SIGNATURE=calendly_header(body))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.REJECTED
    assert "Malformed Calendly payload" in event.reason
    assert not Lead.objects.exists()


@pytest.mark.parametrize("body", [
    b"{not json", b'{"FromFull": 1.5}', b'{"Headers": [[1]]}', b"\xff\xfe",
    b'{"FromFull": {"Email": "a@b.example", "Name": "x\\r\\ny"}}',
])
def test_an_authenticated_postmark_post_anymail_cannot_read_is_a_400(client, provider_secrets,
                                                                      body):
    # Found by test_fuzz: django-anymail raised (JSONDecodeError, AttributeError, IndexError,
    # ValueError) on these bodies and the ESP got a 500.
    from tests.faults.conftest import basic_auth

    response = client.post("/inbound/email/postmark/inbound/", body,
                           content_type="application/json", HTTP_AUTHORIZATION=basic_auth())
    assert response.status_code == 400
    assert response.json() == {"error": "The ESP's payload could not be read."}
    assert not InboundEvent.objects.exists()


def test_a_mailgun_post_with_a_non_ascii_signature_is_a_400(client, provider_secrets):
    from tests.faults.conftest import basic_auth

    response = client.post("/inbound/email/mailgun/inbound_mime/", {
        "body-mime": "From: a@b.example\r\n\r\nhi", "timestamp": "\x80", "token": "t" * 50,
        "signature": "\x80"}, HTTP_AUTHORIZATION=basic_auth())
    assert response.status_code == 400


def test_a_failure_storing_an_inbound_email_is_still_a_500_so_the_esp_retries(
        client, provider_secrets, monkeypatch):
    import json

    from capture.channels import email
    from tests.faults.conftest import basic_auth

    def broken(raw, *, via):
        raise ValueError("the database said no")

    monkeypatch.setattr(email, "receive_email", broken)
    body = json.dumps({"FromFull": {"Email": "grace@navy.example", "Name": "Grace"},
                       "Subject": "Quote", "TextBody": "Hello", "MessageID": "m-1",
                       "Headers": []}).encode()
    client.raise_request_exception = False
    response = client.post("/inbound/email/postmark/inbound/", body,
                           content_type="application/json", HTTP_AUTHORIZATION=basic_auth())
    assert response.status_code == 500


@pytest.mark.parametrize("depth", [40, 900, 2000])
def test_json_nested_hundreds_deep_is_a_400_on_every_json_channel(client, provider_secrets,
                                                                   webhook_source, api_key,
                                                                   depth):
    # Found by test_fuzz: a signed webhook nested 2,000 deep raised RecursionError in json.loads
    # (a 500); 900 deep parsed, then flattening it raised (a 500 and a "failed" event).
    nested = b"[" * depth + b"]" * depth
    record = b'{"email": "deep@example.com", "message": ' + nested + b"}"
    meta = b'{"object": "page", "entry": [' + nested + b"]}"
    booking = b'{"event": "invitee.created", "payload": {"uri": "u", "x": ' + nested + b"}}"
    answers = to_every_json_channel(client, api_key, record, meta, booking)
    assert [a.status_code for a in answers] == [400] * 4
    assert not InboundEvent.objects.exists()


def test_a_signed_messenger_message_whose_text_is_an_object_is_rejected_not_failed(
        client, provider_secrets):
    # Found by test_fuzz (FAULTS_FULL): {"text": {"body": ""}} reached text[:80] and raised
    # TypeError, so the event was stored "failed" and retried although no retry can read it.
    from tests.faults.conftest import meta_header

    body = (b'{"object": "page", "entry": [{"messaging": [{"sender": {"id": "1"}, '
            b'"message": {"mid": "m-1", "text": {"body": ""}}}]}]}')
    response = client.post("/inbound/meta/", body, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=meta_header(body))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.REJECTED
    assert "Malformed Meta payload" in event.reason


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_json_with_nan_or_infinity_is_a_400_on_every_json_channel(client, provider_secrets,
                                                                   webhook_source, api_key,
                                                                   constant):
    # Found by test_fuzz (FAULTS_FULL, PostgreSQL): Python's json.loads accepts these bare
    # constants and jsonb does not, so the raw event could not be stored (a 500) on Calendly,
    # and the API, the signed webhook and Meta parse the same way.
    record = b'{"email": "nan@example.com", "budget": ' + constant + b"}"
    meta = b'{"object": "page", "entry": [{"id": "1", "time": ' + constant + b"}]}"
    booking = b'{"event": "invitee.created", "payload": {"uri": ' + constant + b"}}"
    answers = to_every_json_channel(client, api_key, record, meta, booking)
    assert [a.status_code for a in answers] == [400] * 4
    assert all("NaN or Infinity" in a.json()["error"] for a in answers)
    assert not InboundEvent.objects.exists() and not Lead.objects.exists()


def to_every_json_channel(client, api_key, record: bytes, meta: bytes, booking: bytes) -> list:
    """POST, signed or authenticated as each expects: `record` to the signed webhook and the
    API, `meta` to Meta, `booking` to Calendly. The four answers."""
    from tests.faults.conftest import calendly_header, meta_header, webhook_headers

    return [
        client.post("/inbound/webhook/zap/", record, content_type="application/json",
                    **webhook_headers(record)),
        client.post("/api/v1/leads/", record, content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {api_key[1]}"),
        client.post("/inbound/meta/", meta, content_type="application/json",
                    HTTP_X_HUB_SIGNATURE_256=meta_header(meta)),
        client.post("/inbound/calendly/", booking, content_type="application/json",
                    HTTP_CALENDLY_WEBHOOK_SIGNATURE=calendly_header(booking)),
    ]


def test_a_connection_lost_mid_request_is_a_json_503_for_machines_and_keeps_nothing(
        monkeypatch):
    """Found under load with PostgreSQL's idle connections terminated (as a failover or a
    pooler does): the API key's read raised OperationalError and the partner got Django's HTML
    500 page. Machines get JSON, and a lost database says retry."""
    from django.db import OperationalError
    from django.test import Client

    from capture.channels import api

    def lost(request):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(api, "authenticate", lost)
    client = Client(raise_request_exception=False)
    response = client.post("/api/v1/leads/", b'{"email": "a@b.example"}',
                           content_type="application/json", HTTP_AUTHORIZATION="Bearer lcrm_x_y")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "retry" in response.json()["error"]
    assert InboundEvent.objects.count() == 0 and Lead.objects.count() == 0

    monkeypatch.setattr(api, "authenticate", lambda request: 1 / 0)
    response = client.post("/api/v1/leads/", b"{}", content_type="application/json")
    assert response.status_code == 500
    assert response.json() == {"error": "Something went wrong on our side; retry later."}


def test_a_connection_lost_mid_page_is_a_503_page_saying_to_reload(monkeypatch):
    """Found under load with the database's connections terminated: the queue page, its poll
    and the login answered Django's bare 500 ("Something went wrong"); a lost database is a
    503 with Retry-After and a page that says to reload, as machines get in JSON."""
    from django.db import OperationalError
    from django.test import Client

    from routing import views
    from routing.models import Team
    from tests.routing.conftest import make_rep

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    client = Client(raise_request_exception=False)
    client.force_login(make_rep("alice", Team.objects.create(name="Sales")).user)
    monkeypatch.setattr(views, "queue_page", lost)
    response = client.get("/queue/")
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "Reload the page in a moment" in response.content.decode()

    monkeypatch.setattr(views, "queue_page", lambda *a, **k: 1 / 0)
    response = client.get("/queue/")
    assert response.status_code == 500  # any other error is still the plain 500 page
    assert "Something went wrong" in response.content.decode()


@pytest.mark.parametrize("path", ["/q/quote/", "/accounts/login/", "/accounts/password_reset/",
                                  "/admin/login/"])
def test_a_form_post_in_a_charset_other_than_utf_8_is_a_400_not_a_500(quote_form, path):
    # Found by fuzzing gunicorn: Django refuses to read such a body (BadRequest), and its 400
    # page ensured a CSRF token by running the CSRF check, which read the body again and
    # raised once more: a bare 500 for any visitor holding a CSRF cookie.
    assert_a_utf_16_post_is_a_400(path)


def assert_a_utf_16_post_is_a_400(path: str) -> None:
    """A visitor holding a CSRF cookie posts a form body declared as UTF-16 to `path`."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.get("/q/quote/")  # the page load sets the visitor's CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(path, b"first_name=Ada",
                           content_type="application/x-www-form-urlencoded; charset=utf-16",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_signed_message_status_with_a_nul_byte_in_its_sid_is_a_400_not_a_500(
        client, provider_secrets):
    # Found fuzzing gunicorn on PostgreSQL, which cannot compare a text holding a NUL byte:
    # looking the SID up in the outbox was a 500.
    params = {"MessageSid": "SM\x00fuzz", "MessageStatus": "delivered"}
    url = "/inbound/twilio/message-status/"
    response = client.post(url, urlencode(params), content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=twilio_signature(f"http://testserver{url}",
                                                                    params))
    assert response.status_code == 400


@pytest.mark.parametrize(("url", "headers"), [
    ("/inbound/meta/", {"HTTP_X_HUB_SIGNATURE_256": "sha256=\xe9"}),
    ("/inbound/calendly/", {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": "t={now},v1=\xe9"}),
    ("/inbound/webhook/zap/", {"HTTP_X_LEADCRM_TIMESTAMP": "{now}",
                               "HTTP_X_LEADCRM_SIGNATURE": "sha256=\xe9"}),
    ("/inbound/slack/", {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "{now}",
                         "HTTP_X_SLACK_SIGNATURE": "v0=\xe9"}),
    ("/inbound/linkedin/", {"HTTP_X_LI_SIGNATURE": "hmacsha256=\xe9"}),
    ("/inbound/x/", {"HTTP_X_TWITTER_WEBHOOKS_SIGNATURE": "sha256=\xe9"}),
])
def test_a_signature_header_with_a_byte_outside_ascii_is_a_403(client, provider_secrets,
                                                                webhook_source, url, headers):
    # Found from outside over HTTP: a header byte such as \xe9 reaches Django as the Latin-1
    # "é", and hmac.compare_digest raises TypeError on a str that is not ASCII: a 500.
    import time

    provider_secrets.SLACK_SIGNING_SECRET = "slack-secret"
    provider_secrets.LINKEDIN_CLIENT_SECRET = "linkedin-secret"
    provider_secrets.X_CONSUMER_SECRET = "x-secret"
    now = str(int(time.time()))
    headers = {name: value.replace("{now}", now) for name, value in headers.items()}
    client.raise_request_exception = False
    response = client.post(url, b'{"entry": []}', content_type="application/json", **headers)
    assert response.status_code == 403
    assert "does not match" in response.json()["error"]
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("path", ["/q/quote/", "/accounts/login/", "/api/v1/forms/old-site/"])
def test_under_debug_a_form_post_in_another_charset_is_a_400_not_a_bare_500(
        quote_form, settings, path):
    # make run serves with DEBUG on: Django's debug page for the refused body (BadRequest)
    # lists the POST parameters, so it read the body again, raised once more, and the
    # visitor got the server's bare "A server error occurred" 500.
    from capture.models import ApiKey

    ApiKey.issue("Old site", source="old-site", accepts_form_posts=True)
    settings.DEBUG = True
    assert_a_utf_16_post_is_a_400(path)
