"""Fuzzing every public endpoint: random and malformed bodies, huge fields, wrong content types,
bad encodings, missing, forged and valid signatures. Never a 5xx; never anything half-written."""

from __future__ import annotations

import functools
import json
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.fields import LEAD_FIELDS
from capture.forms import sign_started
from capture.models import ApiKey
from tests.faults.conftest import (
    basic_auth,
    calendly_header,
    half_written,
    meta_header,
    size,
    twilio_signature,
    webhook_headers,
)

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

EXAMPLES = size(50, 300)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# --- what an attacker or a broken integration sends --------------------------------------------

NASTY_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "<script>alert(1)</script>", "' OR 1=1 --",
    "\uff41\uff44\uff41@example.com", "ada@xn--bcher-kva.example", "@", "a@b",
    "+1 415 555 2671", "415-555-2671", "+999999999999999999", "NaN", "1e999", "%00",
    "\u202e\u0645\u0631\u062d\u0628\u0627",
    "\r\nBcc: victim@example.com", "x" * 300, "y" * 70_000,
])
TEXT = st.one_of(st.text(max_size=60), NASTY_TEXT)
EMAILS = st.one_of(st.emails(), TEXT)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30),
                   st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSON_VALUE = st.recursive(
    SCALAR,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
KEYS = st.one_of(st.sampled_from([*LEAD_FIELDS, "consent", "consent_text", "id"]), TEXT)
LEAD_RECORD = st.dictionaries(
    KEYS, st.one_of(TEXT, EMAILS, SCALAR, JSON_VALUE), max_size=8
).map(lambda record: record)
RAW_BYTES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"", b"\x00", b"\xff\xfe\xfd", b"{", b"[]", b"null", b"1e999", b"NaN",
                     b'{"email": "a@b.example", "first_name": "\xff\xfe"}',
                     b'{"email": "\\u0000@x.example"}', b'{"email": "\\ud800@x.example"}',
                     b'{"a": ' * 2000 + b"1" + b"}" * 2000, b"x=" + b"%" * 50, b"\x1f\x8b\x08",
                     b"z" * 300_000]),
)
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/x-www-form-urlencoded", "multipart/form-data",
    "multipart/form-data; boundary=BoUnDaRy", "text/plain", "", "application/xml",
    "application/json; charset=latin-1", "application/x-www-form-urlencoded; charset=utf-16",
    "application/json; charset=nonsense", "\x00",
])
SIGNING = st.sampled_from(["valid", "missing", "forged"])


def json_bytes(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def form_bytes(record: dict) -> bytes:
    flat = {str(k): v if isinstance(v, str) else json.dumps(v, allow_nan=True)
            for k, v in record.items()}
    return urlencode({k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass")
                      for k, v in flat.items()}).encode()


def bodies(structured: st.SearchStrategy) -> st.SearchStrategy:
    """A structured body as JSON or as a form, or raw bytes, with a fitting or wrong type."""
    return st.one_of(
        st.tuples(structured.map(json_bytes), st.just("application/json")),
        st.tuples(structured.map(lambda v: form_bytes(v) if isinstance(v, dict) else b""),
                  st.just("application/x-www-form-urlencoded")),
        st.tuples(st.one_of(structured.map(json_bytes), RAW_BYTES), CONTENT_TYPES),
    )


def post(client: Client, path: str, body: bytes, content_type: str, **headers):
    response = client.generic("POST", path, body, content_type=content_type, **headers)
    assert response.status_code < 500, (path, response.status_code, body[:300])
    return response


@pytest.fixture
def fuzz_client(provider_secrets, settings, quote_form, webhook_source, api_key):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 0  # reach the parsing, not the limiters
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 0
    ApiKey.objects.update(rate_limit_per_minute=0)
    return Client()


def rolled_back(test):
    """Run one example in a transaction that is rolled back after the check, so every example
    starts clean and a failure shrinks to the request that caused it."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        with transaction.atomic():
            test(*args, **kwargs)
            assert half_written() == []
            transaction.set_rollback(True)

    return run


# --- the public form ---------------------------------------------------------------------------

FORM_FIELDS = st.dictionaries(
    st.one_of(st.sampled_from(["first_name", "last_name", "email", "phone", "company",
                               "company_size", "budget", "urgency", "service", "message",
                               "consent", "website", "submission_id", "started",
                               "utm_source", "referrer", "landing_page"]), TEXT),
    st.one_of(TEXT, EMAILS), max_size=10,
)


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_public_form_never_fails_on_any_post(fuzz_client, quote_form, data):
    record = data.draw(FORM_FIELDS)
    if data.draw(st.booleans()):
        record["started"] = sign_started(quote_form.id)  # a real page load's token
    body, content_type = data.draw(st.one_of(
        st.just((form_bytes(record), "application/x-www-form-urlencoded")),
        bodies(st.just(record)),
    ))
    slug = data.draw(st.sampled_from(["quote", "quote", "no-such-form"]))
    post(fuzz_client, f"/q/{slug}/", body, content_type)


# --- the JSON API and form posts from other sites ----------------------------------------------

@FUZZ
@given(data=st.data())
@rolled_back
def test_the_json_api_never_fails_on_any_post(fuzz_client, api_key, data):
    body, content_type = data.draw(bodies(st.one_of(LEAD_RECORD, JSON_VALUE)))
    auth = data.draw(st.sampled_from(["valid", "missing", "forged", "scheme", "prefix"]))
    header = {"valid": f"Bearer {api_key[1]}", "missing": "",
              "forged": f"Bearer {api_key[1][:-4]}abcd", "scheme": f"Basic {api_key[1]}",
              "prefix": f"Bearer lcrm_{api_key[0].prefix}"}[auth]
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    if data.draw(st.booleans()):
        headers["HTTP_IDEMPOTENCY_KEY"] = data.draw(st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=250))
    post(fuzz_client, "/api/v1/leads/", body, content_type, **headers)


@FUZZ
@given(data=st.data())
@rolled_back
def test_form_posts_from_other_sites_never_fail(fuzz_client, data):
    body, content_type = data.draw(bodies(LEAD_RECORD))
    source = data.draw(st.sampled_from(["partner", "partner", "unknown"]))
    post(fuzz_client, f"/api/v1/forms/{source}/", body, content_type)


# --- signed webhooks ---------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
@rolled_back
def test_the_signed_webhook_never_fails_on_any_post(fuzz_client, data):
    body, content_type = data.draw(bodies(st.one_of(LEAD_RECORD, JSON_VALUE)))
    signing = data.draw(SIGNING)
    headers = webhook_headers(body) if signing != "missing" else {}
    if signing == "forged":
        headers["HTTP_X_LEADCRM_SIGNATURE"] = "sha256=" + "0" * 64
    if data.draw(st.booleans()):
        headers["HTTP_X_LEADCRM_EVENT_ID"] = data.draw(st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300))
    source = data.draw(st.sampled_from(["zap", "zap", "unknown"]))
    post(fuzz_client, f"/inbound/webhook/{source}/", body, content_type, **headers)


TWILIO_PARAMS = st.fixed_dictionaries(
    {},
    optional={"CallSid": TEXT, "MessageSid": TEXT, "From": st.one_of(
        st.sampled_from(["+14155552671", "+442071838750", "anonymous", "client:bob"]), TEXT),
        "To": TEXT, "Body": TEXT, "NumMedia": st.one_of(TEXT, st.integers().map(str)),
        "Direction": st.sampled_from(["inbound", "outbound-api", "outbound-dial", ""]),
        "CallStatus": st.sampled_from(["ringing", "completed", "no-answer", "busy", ""]),
        "DialCallStatus": TEXT, "FromCity": TEXT, "CallerName": TEXT},
).map(lambda p: {k: v.replace("\ud800", "").replace("\udfff", "") for k, v in p.items()})


@pytest.mark.parametrize("path", ["/inbound/twilio/sms/", "/inbound/twilio/voice/",
                                  "/inbound/twilio/status/"])
def test_twilio_endpoints_never_fail_on_any_post(fuzz_client, path):
    @FUZZ
    @given(params=TWILIO_PARAMS, signing=SIGNING, raw=st.one_of(st.none(), RAW_BYTES),
           content_type=CONTENT_TYPES)
    @rolled_back
    def fuzz(params, signing, raw, content_type):
        if raw is None:
            body, content_type = urlencode(params).encode(), "application/x-www-form-urlencoded"
        else:
            body = raw
        headers = {}
        if signing == "valid":
            headers["HTTP_X_TWILIO_SIGNATURE"] = twilio_signature(
                f"http://testserver{path}", params if raw is None else {})
        elif signing == "forged":
            headers["HTTP_X_TWILIO_SIGNATURE"] = "bm90IGEgc2lnbmF0dXJl"
        post(fuzz_client, path, body, content_type, **headers)

    fuzz()


# --- Meta, Calendly, email -----------------------------------------------------------------------

META_MESSAGE = st.fixed_dictionaries({}, optional={
    "id": SCALAR, "from": st.one_of(st.just("14155552671"), SCALAR), "type": SCALAR,
    "text": st.one_of(st.fixed_dictionaries({"body": TEXT}), JSON_VALUE), "timestamp": SCALAR,
    "mid": SCALAR, "is_echo": st.booleans(),
})
META_PAYLOAD = st.one_of(
    JSON_VALUE,
    st.fixed_dictionaries({
        "object": st.sampled_from(["whatsapp_business_account", "page", "instagram", "x"]),
        "entry": st.lists(st.fixed_dictionaries({}, optional={
            "id": SCALAR,
            "changes": st.lists(st.fixed_dictionaries({
                "field": st.sampled_from(["messages", "leadgen", "statuses", "x"]),
                "value": st.fixed_dictionaries({}, optional={
                    "messages": st.lists(META_MESSAGE, max_size=2),
                    "contacts": st.lists(JSON_VALUE, max_size=2),
                    "leadgen_id": SCALAR, "form_id": SCALAR, "metadata": JSON_VALUE,
                })}), max_size=2),
            "messaging": st.lists(st.fixed_dictionaries({}, optional={
                "sender": st.fixed_dictionaries({"id": SCALAR}),
                "message": st.one_of(META_MESSAGE, JSON_VALUE), "timestamp": SCALAR,
            }), max_size=2),
        }), max_size=2),
    }),
)


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_meta_webhook_never_fails(fuzz_client, data):
    body, content_type = data.draw(bodies(META_PAYLOAD))
    signing = data.draw(SIGNING)
    headers = {"valid": {"HTTP_X_HUB_SIGNATURE_256": meta_header(body)}, "missing": {},
               "forged": {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "f" * 64}}[signing]
    post(fuzz_client, "/inbound/meta/", body, content_type, **headers)
    query = data.draw(st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]), TEXT))
    query = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    response = fuzz_client.get("/inbound/meta/?" + urlencode(query))
    assert response.status_code < 500


CALENDLY_PAYLOAD = st.one_of(JSON_VALUE, st.fixed_dictionaries({
    "event": st.sampled_from(["invitee.created", "invitee.canceled", "routing_form", ""]),
    "created_at": st.one_of(st.just("2026-01-02T03:04:05.000000Z"), SCALAR),
    "payload": st.one_of(JSON_VALUE, st.fixed_dictionaries({"uri": SCALAR}, optional={
        "email": EMAILS, "name": SCALAR, "first_name": SCALAR, "last_name": SCALAR,
        "text_reminder_number": SCALAR, "rescheduled": SCALAR, "tracking": JSON_VALUE,
        "questions_and_answers": JSON_VALUE, "scheduled_event": JSON_VALUE,
        "cancellation": JSON_VALUE, "cancel_url": SCALAR,
    })),
}))


@FUZZ
@given(data=st.data())
@rolled_back
def test_the_calendly_webhook_never_fails(fuzz_client, data):
    body, content_type = data.draw(bodies(CALENDLY_PAYLOAD))
    signing = data.draw(SIGNING)
    header = {"valid": calendly_header(body), "missing": "",
              "forged": calendly_header(body, key="not-the-key")}[signing]
    headers = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": header} if header else {}
    post(fuzz_client, "/inbound/calendly/", body, content_type, **headers)


EMAIL_TEXT = st.one_of(
    TEXT,
    st.builds(lambda sender, subject, mid, body: (
        f"From: {sender}\r\nTo: sales@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"),
        EMAILS, TEXT, TEXT, TEXT),
)


@FUZZ
@given(data=st.data())
@rolled_back
def test_inbound_email_through_the_esp_webhooks_never_fails(fuzz_client, data):
    auth = data.draw(st.sampled_from(["valid", "missing", "forged"]))
    headers = {"valid": {"HTTP_AUTHORIZATION": basic_auth()}, "missing": {},
               "forged": {"HTTP_AUTHORIZATION": basic_auth("esp:guess")}}[auth]
    mime = data.draw(EMAIL_TEXT).encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):  # Postmark: JSON
        payload = data.draw(st.one_of(JSON_VALUE, st.fixed_dictionaries({
            "FromFull": st.fixed_dictionaries({"Email": EMAILS, "Name": TEXT}),
            "Subject": TEXT, "TextBody": TEXT, "MessageID": TEXT, "Headers": JSON_VALUE})))
        body, content_type = data.draw(st.one_of(
            st.just((json_bytes(payload), "application/json")),
            st.tuples(RAW_BYTES, CONTENT_TYPES)))
        post(fuzz_client, "/inbound/email/postmark/inbound/", body, content_type, **headers)
    else:  # Mailgun: the raw MIME message in a form
        fields = {"body-mime": mime, "timestamp": data.draw(TEXT).encode("utf-8", "replace"),
                  "token": b"t" * 50, "signature": data.draw(TEXT).encode("utf-8", "replace")}
        post(fuzz_client, "/inbound/email/mailgun/inbound_mime/", urlencode(fields).encode(),
             "application/x-www-form-urlencoded", **headers)


# --- the checks themselves catch what they claim to -------------------------------------------

def test_a_lead_left_without_its_interaction_is_reported_half_written(db):
    from tests.factories import LeadFactory

    lead = LeadFactory()
    assert half_written() == [f"leads without any interaction: [{lead.pk}]"]
