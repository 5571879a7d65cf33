"""POST /api/v1/leads/ with Bearer keys, and HTML form posts from existing sites."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.management import call_command

from capture.channels.api import SALESFORCE_WEB_TO_LEAD
from capture.models import ApiKey, InboundEvent, Lead
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/"


@pytest.fixture
def partner_key() -> str:
    return ApiKey.issue("Partner Acme", "acme")[1]


def post(client, key: str | None, body, *, idempotency: str = "", **extra):
    headers = {}
    if key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if idempotency:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data, content_type=extra.pop("content_type", "application/json"),
                       **headers, **extra)


def test_create_api_key_prints_the_key_once_and_stores_only_its_hash():
    out = StringIO()
    call_command("create_api_key", "Website", stdout=out)
    key = next(line for line in out.getvalue().splitlines() if line.startswith("lcrm_"))
    stored = ApiKey.objects.get(name="Website")
    assert stored.source == "website"
    assert key not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert stored.key_hash and stored.key_hash != key


def test_a_new_lead_is_201_with_its_id_and_the_key_s_source(client, partner_key):
    response = post(client, partner_key, load_json("api", "lead.json"))
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert response.json() == {"id": lead.pk, "status": "created",
                               "event_id": InboundEvent.objects.get().pk}
    assert (lead.email, lead.phone, lead.source, lead.channel) == (
        "grace@navy.mil", "+14155552671", "acme", "api")
    assert lead.has_consent and lead.utm_campaign == "autumn"


def test_the_same_person_again_is_200_matched_on_the_web_form_lead(client, partner_key, visitor):
    visitor.submit(first_name="Grace", email="Grace@Navy.mil")
    response = post(client, partner_key, {"email": "grace@navy.mil", "company": "US Navy"})
    assert response.status_code == 200
    assert response.json()["status"] == "matched"
    lead = Lead.objects.get()
    assert response.json()["id"] == lead.pk and lead.company == "US Navy"
    assert lead.interactions.count() == 2


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(client, partner_key):
    body = load_json("api", "lead.json")
    first = post(client, partner_key, body, idempotency="order-77")
    again = post(client, partner_key, body, idempotency="order-77")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert Lead.objects.count() == 1 and InboundEvent.objects.count() == 1
    assert Lead.objects.get().interactions.count() == 1


def test_an_idempotency_key_reused_with_another_body_is_422(client, partner_key):
    post(client, partner_key, {"email": "a@x.co"}, idempotency="k1")
    response = post(client, partner_key, {"email": "b@x.co"}, idempotency="k1")
    assert response.status_code == 422
    assert Lead.objects.count() == 1


def test_field_errors_are_400_json_by_field_and_nothing_is_stored(client, partner_key):
    response = post(client, partner_key, {"email": "not-an-email", "phone": "123",
                                          "favourite_colour": "blue"})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert set(fields) == {"email", "phone", "favourite_colour"}
    assert "Unknown field" in fields["favourite_colour"][0]
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


def test_a_consent_that_is_neither_yes_nor_no_is_a_400_naming_it(client, partner_key):
    response = post(client, partner_key, {"email": "grace@navy.mil", "consent": "maybe"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"consent": ["Send true or false (yes / no)."]}
    assert not Lead.objects.exists()
    assert post(client, partner_key, {"email": "grace@navy.mil",
                                      "consent": "no"}).status_code == 201
    assert not Lead.objects.get().has_consent


@pytest.mark.parametrize("wording", [{"a": 1}, ["I agree"], 42, "x" * 5001])
def test_a_consent_wording_that_is_not_text_is_a_400_naming_it(client, partner_key, wording):
    # An object was stored as its Python text ("{'a': 1}") as the wording the person saw.
    response = post(client, partner_key, {"email": "grace@navy.mil", "consent": True,
                                          "consent_text": wording})
    assert response.status_code == 400
    assert "as text" in response.json()["fields"]["consent_text"][0]
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


def test_a_nul_in_the_consent_wording_is_dropped_as_in_every_field(client, partner_key):
    # PostgreSQL refuses a NUL in text: the lead was never written (202 "queued", and the
    # retries failed the same way for ever).
    response = post(client, partner_key, {"email": "grace@navy.mil", "consent": True,
                                          "consent_text": "I agree\u0000 to be contacted."})
    assert response.status_code == 201, response.json()
    assert Lead.objects.get().consent_text == "I agree to be contacted."


def test_no_way_to_reach_the_person_is_a_400(client, partner_key):
    response = post(client, partner_key, {"first_name": "Nobody"})
    assert response.status_code == 400
    assert "email" in response.json()["fields"]


@pytest.mark.parametrize("key", [None, "lcrm_deadbeef_wrong", "Basic abc"])
def test_a_missing_or_wrong_key_is_401(client, partner_key, key):
    response = post(client, key, {"email": "a@x.co"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "error" in response.json() and not InboundEvent.objects.exists()


def test_a_revoked_key_is_401(client, partner_key):
    ApiKey.objects.update(is_active=False)
    assert post(client, partner_key, {"email": "a@x.co"}).status_code == 401


def test_malformed_json_is_400_and_other_content_types_are_415(client, partner_key):
    assert post(client, partner_key, b"{not json").status_code == 400
    assert post(client, partner_key, b"[1, 2]").status_code == 400
    response = post(client, partner_key, "email=a@x.co",
                    content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert not InboundEvent.objects.exists()


def test_an_oversized_body_is_413(client, partner_key):
    response = post(client, partner_key, {"email": "a@x.co", "message": "x" * 70_000})
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


def chunked(body: bytes, *, terminated: bool = True) -> dict:
    """The WSGI environ of a JSON body sent with Transfer-Encoding: chunked (no Content-Length),
    as gunicorn gives it: its wsgi.input is the decoded body and ends where the body ends."""
    return {"CONTENT_TYPE": "application/json", "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(body), "wsgi.input_terminated": terminated}


def test_a_chunked_body_is_read_as_the_lead(client, partner_key):
    # HTTP clients that stream their body (Go, Java, .NET, requests with a generator) send it
    # chunked, without a Content-Length: it was read as empty ("Send one JSON object").
    body = json.dumps({"email": "grace@navy.mil"}).encode()
    response = client.generic("POST", URL, HTTP_AUTHORIZATION=f"Bearer {partner_key}",
                              **chunked(body))
    assert response.status_code == 201, response.json()
    assert Lead.objects.get().email == "grace@navy.mil"


def test_a_chunked_body_the_server_cannot_end_is_411(client, partner_key):
    body = json.dumps({"email": "grace@navy.mil"}).encode()
    response = client.generic("POST", URL, HTTP_AUTHORIZATION=f"Bearer {partner_key}",
                              **chunked(body, terminated=False))
    assert response.status_code == 411 and "Content-Length" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_a_chunked_body_over_the_limit_is_413(client, partner_key):
    body = json.dumps({"email": "a@x.co", "message": "x" * 70_000}).encode()
    response = client.generic("POST", URL, HTTP_AUTHORIZATION=f"Bearer {partner_key}",
                              **chunked(body))
    assert response.status_code == 413
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(("forwarded", "proxies", "stored"), [
    ("203.0.113.7:51234", 1, "203.0.113.7"),  # Azure's Application Gateway adds the port
    ("[2001:db8::7]:443, 10.0.0.2", 2, "2001:db8::7"),  # two proxies, each appending
    ("unknown", 1, "127.0.0.1"), ("10.0.0.2, garbage", 1, "127.0.0.1"),  # no address: the proxy's
    # What the client writes comes first and is never read: behind nginx's
    # $proxy_add_x_forwarded_for a made-up address per request escaped every rate limit.
    ("198.51.100.9, 203.0.113.7", 1, "203.0.113.7"),
    ("6.6.6.6", 2, "6.6.6.6"),  # fewer entries than proxies: the furthest one there is
])
def test_a_forwarded_for_that_is_no_bare_address_is_read_as_one(client, partner_key, settings,
                                                                 forwarded, proxies, stored):
    # Stored as it came into the event's (and the consent's) IP address column, which
    # PostgreSQL checks: behind such a proxy every lead was a 500.
    settings.USE_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXIES = proxies
    response = post(client, partner_key, {"email": "grace@navy.mil", "consent": True},
                    HTTP_X_FORWARDED_FOR=forwarded)
    assert response.status_code == 201
    assert InboundEvent.objects.get().remote_ip == stored


def test_over_the_key_s_rate_is_429(client, partner_key):
    ApiKey.objects.update(rate_limit_per_minute=2)
    codes = [post(client, partner_key, {"email": f"p{i}@x.co"}).status_code for i in range(3)]
    assert codes == [201, 201, 429]
    assert Lead.objects.count() == 2


def test_a_get_is_405_json(client):
    assert client.get(URL).status_code == 405


def test_a_partner_s_own_field_names_map_through_the_key(client):
    key = ApiKey.issue("CRM sync", "crm", field_mapping={"FirstName": "first_name",
                                                          "Email": "email", "Notes": ""})[1]
    response = post(client, key, {"FirstName": "Ada", "Email": "ada@x.co", "Notes": "x"})
    assert response.status_code == 201
    assert Lead.objects.get().first_name == "Ada"


def test_a_failure_while_processing_is_202_then_reprocessed(client, partner_key, monkeypatch):
    import capture.intake as intake

    def boom(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(intake, "receive_lead", boom)
    response = post(client, partner_key, {"email": "a@x.co"}, idempotency="r1")
    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.FAILED and "database hiccup" in event.reason
    monkeypatch.undo()
    assert intake.retry_failed_events() == 1
    again = post(client, partner_key, {"email": "a@x.co"}, idempotency="r1")
    assert again.status_code == 201 and again.json()["id"] == Lead.objects.get().pk


def test_a_salesforce_web_to_lead_form_posts_unchanged_and_returns_to_the_site(client):
    ApiKey.issue("Old website", "www", field_mapping=SALESFORCE_WEB_TO_LEAD,
                 accepts_form_posts=True, return_origins="https://www.example.com")
    form = load_json("api", "salesforce_web_to_lead.json")
    response = client.post("/api/v1/forms/www/", form)
    assert response.status_code == 302
    assert response["Location"] == "https://www.example.com/thanks"
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.company, lead.job_title, lead.phone) == (
        "Ada", "Lovelace", "Analytical Engines Ltd", "Founder", "+442079460958")
    assert lead.utm_source == "Web" and lead.source == "www"
    assert "00N5g00000AbCdE: 50 seats" in lead.interactions.get().body
    assert "oid" not in lead.interactions.get().body


def test_a_form_post_never_redirects_to_a_site_not_listed(client):
    ApiKey.issue("Old website", "www", field_mapping=SALESFORCE_WEB_TO_LEAD,
                 accepts_form_posts=True)
    form = {**load_json("api", "salesforce_web_to_lead.json"), "retURL": "https://evil.example/"}
    response = client.post("/api/v1/forms/www/", form)
    assert response.status_code == 200 and b"Thank you" in response.content


def test_a_browser_s_form_post_with_errors_gets_a_page_saying_what_to_correct(client):
    ApiKey.issue("Old website", "www", accepts_form_posts=True)
    bad = {"email": "not-an-email", "first_name": "<b>Ada</b>"}
    page = client.post("/api/v1/forms/www/", bad, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert "<li>email: " in page.content.decode() and "Please check the form" in (
        page.content.decode())
    script = client.post("/api/v1/forms/www/", bad, HTTP_ACCEPT="application/json")
    assert script.status_code == 400 and "email" in script.json()["fields"]
    assert not Lead.objects.exists()


def test_form_posts_to_a_key_that_does_not_accept_them_are_404(client, partner_key):
    response = client.post("/api/v1/forms/acme/", {"email": "a@x.co"})
    assert response.status_code == 404 and not Lead.objects.exists()


def test_text_that_is_not_valid_unicode_is_a_400_not_a_500(client, partner_key):
    response = post(client, partner_key, b'{"email": "a@x.co", "company": "\\ud800"}')
    assert response.status_code == 400 and "Unicode" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_nan_or_infinity_is_a_400_not_a_500(client, partner_key):
    response = post(client, partner_key, b'{"email": "a@x.co", "budget": NaN}')
    assert response.status_code == 400 and "NaN" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_one_api_lead_reads_the_rule_set_version_once_and_sees_an_edit_at_the_next_request(
        client, partner_key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing.models import ScoringRule
    from routing.ruleset import bump_version

    bump_version()
    with CaptureQueriesContext(connection) as first:
        assert post(client, partner_key, {"email": "one@acme.example"}).status_code == 201
    version_reads = [q for q in first.captured_queries
                     if 'FROM "routing_rulesetversion"' in q["sql"]]
    assert len(version_reads) == 1  # routing and followup share the request's one read

    ScoringRule.objects.create(name="Acme", field="company", operator="equals",
                               value="Acme", points=40)  # the admin's save moves the version
    assert post(client, partner_key, {"email": "two@acme.example",
                                      "company": "Acme"}).status_code == 201
    assert Lead.objects.get(email="two@acme.example").score == 40


def test_a_custom_field_added_in_the_admin_is_accepted_at_the_next_request(client, partner_key):
    from capture.models import CustomField

    assert post(client, partner_key, {"email": "a@acme.example", "seats": "12"}).status_code == 400
    CustomField.objects.create(key="seats", label="Seats", kind=CustomField.Kind.NUMBER)
    assert post(client, partner_key, {"email": "b@acme.example", "seats": "12"}).status_code == 201
    assert Lead.objects.get(email="b@acme.example").custom_fields == {"seats": 12}
    field = CustomField.objects.get(key="seats")
    field.is_active = False  # archived in the admin
    field.save()
    assert post(client, partner_key, {"email": "c@acme.example", "seats": "1"}).status_code == 400


def test_an_erased_person_is_200_ignored_for_good_not_202_queued(client, partner_key):
    """202 says "stored, it is retried"; an erased person's lead is ignored for good. The
    answer says so without telling the partner that this person asked to be erased."""
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    assert post(client, partner_key, {"email": "gone@example.com"}).status_code == 201
    erase_person(find_person(email="gone@example.com"), UserFactory(username="olivia"))
    for attempt in ("first", "second"):
        response = post(client, partner_key, {"email": "gone@example.com", "first_name": "Al"},
                        idempotency=attempt)
        body = response.json()
        event = InboundEvent.objects.get(pk=body["event_id"])
        assert response.status_code == 200, body
        assert body["status"] == "ignored" and event.status == InboundEvent.Status.IGNORED
        assert "will not be retried" in body["reason"] and "erase" not in body["reason"]
    assert not Lead.objects.filter(email_key="gone@example.com").exists()


def test_an_erased_person_s_retry_with_the_same_idempotency_key_gets_the_first_answer(
        client, partner_key):
    """Their event keeps no body to compare with: a retry is not a 'different body' (422)."""
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    post(client, partner_key, {"email": "gone@example.com"})
    erase_person(find_person(email="gone@example.com"), UserFactory(username="olivia"))
    body = {"email": "gone@example.com", "first_name": "Al"}
    first = post(client, partner_key, body, idempotency="order-9")
    again = post(client, partner_key, body, idempotency="order-9")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json() and first.json()["status"] == "ignored"
    ignored = InboundEvent.objects.get(status=InboundEvent.Status.IGNORED)  # one, kept empty
    assert (bytes(ignored.body), ignored.payload) == (b"", {})


def test_a_key_an_erased_person_used_answers_its_first_answer_whatever_the_body(
        client, partner_key):
    """The key's first answer again, whatever its body and whether the person was erased
    before the first request or after it; nothing new stored, nothing of theirs kept."""
    from capture.privacy import erase_person, find_person
    from tests.factories import UserFactory

    ops = UserFactory(username="olivia")
    post(client, partner_key, {"email": "idem@example.com"})
    erase_person(find_person(email="idem@example.com"), ops)
    first = post(client, partner_key, {"email": "idem@example.com"}, idempotency="k3")
    assert first.status_code == 200 and first.json()["status"] == "ignored"
    again = post(client, partner_key, {"email": "other2@example.com"}, idempotency="k3")
    assert (again.status_code, again.json()) == (200, first.json())
    assert not Lead.objects.filter(email_key="other2@example.com").exists()

    created = post(client, partner_key, {"email": "later@example.com"}, idempotency="k1")
    assert created.status_code == 201
    erase_person(find_person(email="later@example.com"), ops)
    events = InboundEvent.objects.count()
    for body in ({"email": "later@example.com"}, {"email": "other3@example.com"}):
        retry = post(client, partner_key, body, idempotency="k1")
        assert (retry.status_code, retry.json()) == (201, created.json())
    assert InboundEvent.objects.count() == events
    assert not Lead.objects.filter(email_key="other3@example.com").exists()
    assert "later@example.com" not in str(list(InboundEvent.objects.values()))


def test_a_retry_after_retention_purged_the_body_gets_the_first_answer(client, partner_key):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from capture.privacy import run_retention

    body = load_json("api", "lead.json")
    first = post(client, partner_key, body, idempotency="order-78")
    with time_machine.travel(timezone.now() + timedelta(days=400), tick=False):
        run_retention()
        assert bytes(InboundEvent.objects.get().body) == b""
        again = post(client, partner_key, body, idempotency="order-78")
    assert again.status_code == 201 and again.json() == first.json()
    assert Lead.objects.count() == 1


def test_a_national_number_is_read_in_the_country_the_lead_gives(client, partner_key):
    """Seen by a partner: "020 7946 0958" with "country": "United Kingdom" was refused as a
    number of the key's region (US by default)."""
    response = post(client, partner_key, {"email": "ada@example.co.uk", "phone": "020 7946 0958",
                                          "country": "United Kingdom"})
    assert response.status_code == 201
    assert Lead.objects.get().phone == "+442079460958"
    # Without a country, the key's region (else PHONE_DEFAULT_REGION) as before.
    response = post(client, partner_key, {"email": "bob@example.com", "phone": "(415) 555-2671"})
    assert response.status_code == 201
    assert Lead.objects.get(email="bob@example.com").phone == "+14155552671"


FORM = "application/x-www-form-urlencoded"
# client.generic, not client.post: the test client re-encodes a body to the charset it declares.


@pytest.mark.parametrize("charset", ["ISO-8859-1", "windows-1252", "latin1"])
def test_a_latin_1_form_post_keeps_its_accents(client, charset):
    # An old site's form posting in Latin-1, saying so: Django refused the body (its lead
    # lost behind "could not be read"), or without a charset read "José" as "Jos\ufffd".
    ApiKey.issue("Old website", "www", accepts_form_posts=True)
    response = client.generic("POST", "/api/v1/forms/www/",
                           b"first_name=Jos%E9&last_name=Mu%F1oz&email=jose%40example.com"
                           b"&message=Caf%E9+%80+10", content_type=f"{FORM}; charset={charset}")
    assert response.status_code == 200 and b"Thank you" in response.content
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("José", "Muñoz")
    # The euro sign is 0x80 in windows-1252, which browsers send for a page labelled Latin-1.
    assert lead.message == "Café € 10"


def test_a_browser_s_form_says_its_charset_in_the_charset_field(client):
    # Browsers never put a charset on a form post; they fill a hidden field named _charset_
    # with the page's encoding (HTML's form submission rules).
    ApiKey.issue("Old website", "www", accepts_form_posts=True)
    response = client.generic("POST", "/api/v1/forms/www/",
                           b"_charset_=windows-1252&first_name=Jos%E9&email=jose%40example.com",
                           content_type=FORM)
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert lead.first_name == "José" and "_charset_" not in lead.interactions.get().body


def test_a_multipart_form_post_in_latin_1_keeps_its_accents(client):
    ApiKey.issue("Old website", "www", accepts_form_posts=True)
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"first_name\"\r\n\r\nJos\xe9\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\njose@example.com"
            b"\r\n--XyZ--\r\n")
    response = client.generic("POST", "/api/v1/forms/www/", body,
                           content_type="multipart/form-data; boundary=XyZ; charset=ISO-8859-1")
    assert response.status_code == 200
    assert Lead.objects.get().first_name == "José"


@pytest.mark.parametrize(("content_type", "body", "says"), [
    (FORM, b"first_name=Jos%E9&email=jose%40example.com", "UTF-8"),
    (f"{FORM}; charset=utf-8", b"first_name=Jos%E9&email=jose%40example.com", "UTF-8"),
    (f"{FORM}; charset=windows-1252", b"first_name=Jos%81&email=jose%40example.com",
     "windows-1252"),
    (f"{FORM}; charset=klingon", b"first_name=Jose&email=jose%40example.com", "klingon"),
    (f"{FORM}; charset=utf-16", "first_name=Jose&email=j@x.co".encode("utf-16"), "utf-16"),
    ("multipart/form-data; boundary=XyZ",
     b"--XyZ\r\nContent-Disposition: form-data; name=\"first_name\"\r\n\r\nJos\xe9\r\n"
     b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nj@x.co\r\n--XyZ--\r\n",
     "UTF-8"),
])
def test_a_form_post_not_in_its_declared_charset_is_a_400_naming_it(client, content_type, body,
                                                                    says):
    ApiKey.issue("Old website", "www", accepts_form_posts=True)
    response = client.generic("POST", "/api/v1/forms/www/", body, content_type=content_type,
                           HTTP_ACCEPT="text/html")
    assert response.status_code == 400 and says in response.json()["error"]
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


def test_a_json_lead_in_a_declared_latin_1_keeps_its_accents(client, partner_key):
    # A partner's system sending Latin-1 and saying so was told its body was "not valid JSON".
    def send(body: bytes, charset: str):
        return client.generic("POST", URL, body,
                              content_type=f"application/json; charset={charset}",
                              HTTP_AUTHORIZATION=f"Bearer {partner_key}")

    body = '{"first_name": "José", "email": "jose@example.com"}'.encode("latin-1")
    response = send(body, "ISO-8859-1")
    assert response.status_code == 201
    assert Lead.objects.get().first_name == "José"
    wrong = send(b'{"first_name": "Jos\x81", "email": "j@x.co"}', "windows-1252")
    assert wrong.status_code == 400 and "windows-1252" in wrong.json()["error"]
    assert Lead.objects.count() == 1


def test_a_json_lead_not_in_utf_8_and_not_saying_so_is_told_how_to_send_it(client, partner_key):
    """A partner's system sending Latin-1 JSON without a charset was told "The body is not
    valid JSON." about a body whose JSON was fine: its developer looked for a syntax error."""
    body = '{"first_name": "José", "email": "jose@example.com"}'.encode("latin-1")
    response = client.generic("POST", URL, body, content_type="application/json",
                              HTTP_AUTHORIZATION=f"Bearer {partner_key}")
    assert response.status_code == 400
    assert response.json() == {"error": "The body is not UTF-8: send the JSON in UTF-8, or say "
                               "its charset (Content-Type: application/json; "
                               "charset=ISO-8859-1)."}
    assert not InboundEvent.objects.exists()
    assert post(client, partner_key, b"{not json").json() == {
        "error": "The body is not valid JSON."}
