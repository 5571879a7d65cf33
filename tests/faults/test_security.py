"""Security checks a reviewer would run: the deploy check under the README's production settings,
no secret in the repository, rate limits on public POST endpoints, lead fields escaped on every
page staff read."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine
from django.urls import Resolver404, resolve

from capture.forms import sign_started
from capture.models import InboundEvent, Interaction, Lead
from tests.factories import UserFactory
from tests.faults.conftest import (
    basic_auth,
    calendly_header,
    meta_header,
    size,
    twilio_signature,
    webhook_headers,
)

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- manage.py check --deploy ------------------------------------------------------------------

def _deploy_check(tmp_path, **changed) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` under the README's production settings, changed by these."""
    env = {
        # The browser tests' conftest sets DJANGO_ALLOW_ASYNC_UNSAFE for this test process; a
        # production shell never has it, and Django's deploy check rightly refuses it.
        **{k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE",
                        "SECRET_KEY", "PRIVACY_HASH_KEY")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "crm.example.com", "CSRF_TRUSTED_ORIGINS": "https://crm.example.com",
        "SECURE_SSL_REDIRECT": "true", "SECURE_COOKIES": "true",
        "SECURE_HSTS_SECONDS": "31536000", "DJANGO_SETTINGS_MODULE": "leadcrm.settings",
    }
    for name, value in changed.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_deploy_check_is_clean_under_the_readme_production_settings(tmp_path):
    done = _deploy_check(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


@pytest.mark.parametrize(("changed", "error"), [
    ({"SECRET_KEY": None}, "SECRET_KEY is the repository's development key"),  # the default
    ({"SECRET_KEY": "x" * 60}, "SECRET_KEY is too short or too plain"),
    ({"SECRET_KEY": "s3cret-but-short"}, "SECRET_KEY is too short"),
    ({"PRIVACY_HASH_KEY": "privacy:insecure-dev-key-change-me-" + "0" * 32},
     "PRIVACY_HASH_KEY is the repository's development key"),  # kept across a key rotation
    ({"PRIVACY_HASH_KEY": "hash"}, "PRIVACY_HASH_KEY is too short"),
], ids=["default", "plain", "short", "hash-key-default", "hash-key-short"])
def test_the_deploy_check_fails_on_a_secret_key_anyone_can_read(tmp_path, changed, error):
    """Django's own check passes the development key (long and varied enough); anyone who read
    the repository could forge sessions, unsubscribe links, chat tokens and erased people's
    hashes with it. (An empty one Django refuses by itself.)"""
    done = _deploy_check(tmp_path, **changed)
    assert done.returncode != 0
    assert error in done.stdout + done.stderr
    assert "leadcrm.E00" in done.stdout + done.stderr


def test_the_deploy_check_is_clean_with_a_privacy_hash_key_of_its_own(tmp_path):
    done = _deploy_check(tmp_path, PRIVACY_HASH_KEY=secrets.token_urlsafe(32))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_deploy_check_does_fail_with_the_development_defaults(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}",
           "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "leadcrm.settings"}
    for name in ("SECRET_KEY", "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "security.W018" in done.stderr + done.stdout  # DEBUG on


@pytest.mark.django_db
def test_the_health_check_answers_plain_http_under_the_ssl_redirect(settings):
    """A load balancer checks gunicorn directly over HTTP: it needs 200, not a 301 to https."""
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True  # as in the README's production settings
    client = Client()  # its middleware is built now, with the setting on
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    redirected = client.get("/accounts/login/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/accounts/login/"


# --- no secret in the repository -----------------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY"),
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "Stripe live key": re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Twilio API key": re.compile(r"\bSK[0-9a-f]{32}\b"),
    "SendGrid key": re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    "leadcrm API key": re.compile(r"\blcrm_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\b"),
    "leadcrm webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9_-]{43}\b"),
    "password in a URL": re.compile(r"\b(?:postgres(?:ql)?|mysql|redis|smtps?|amqp)(?:\+\w+)?://"
                                    r"[^:/\s@'\"]+:(?!password@|\.\.\.@|\*+@|<)[^@\s'\"]{6,}@"),
    "Django SECRET_KEY": re.compile(r"""SECRET_KEY\s*=\s*['"](?!insecure-)[^'"\s]{30,}['"]"""),
}


def scan(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def test_no_secret_is_committed_in_any_tracked_file():
    git = shutil.which("git") or "/usr/bin/git"
    files = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True,  # noqa: S603
                           check=True, timeout=60).stdout.decode().split("\0")
    assert len([f for f in files if f]) > 50  # the scan really looked at the repository
    found = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [f"{name}: {kind}" for kind in scan(text)]
        if Path(name).name in (".env", "id_rsa", "id_ed25519") or name.endswith((".pem", ".p12")):
            found.append(f"{name}: a secrets file is tracked")
    assert found == []


@pytest.mark.parametrize("leak", [
    # Built from pieces, so this file does not trip its own scan.
    "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE",
    "aws_access_key_id = AKIA" + "IOSFODNN7EXAMPLE",
    "token: ghp_" + "a1B2" * 9,
    "EMAIL_URL=smtp+tls://user:" + "hunter2hunter2@smtp.example.com:587",
    "SECRET_KEY = '" + "k" * 50 + "'",
    "lcrm_0a1b2c3d_" + "A" * 43,
])
def test_the_scan_recognises_a_leaked_secret(leak):
    assert scan(leak) != []


def test_the_scan_leaves_documented_placeholders_alone():
    readme = (ROOT / "README.md").read_text()
    assert scan(readme) == []
    assert scan("EMAIL_URL=smtp+tls://user:password@smtp.example.com:587") == []


# --- every public POST endpoint is rate-limited ------------------------------------------------

def _form_post(client, form, n):
    data = {"first_name": "Rate", "email": f"rate{n}@example.com",
            "started": sign_started(form.id)}
    return client.post(f"/q/{form.slug}/", urlencode(data),
                       content_type="application/x-www-form-urlencoded")


@pytest.mark.django_db
def test_the_public_form_answers_429_past_its_limit(client, quote_form, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 5
    codes = [_form_post(client, quote_form, n).status_code for n in range(8)]
    assert codes == [302] * 5 + [429] * 3
    assert Lead.objects.count() == 5
    # Refused submissions are kept as rejected events (so a burst is visible), never as leads.
    assert InboundEvent.objects.filter(status="rejected", reason="rate limit exceeded").count() == 3


def test_a_burst_across_a_minute_boundary_gets_the_limit_not_twice_it(rf, monkeypatch):
    """A fixed per-minute window let 5 requests at 12:00:59.9 and 5 more at 12:01:00.1 through."""
    from capture import abuse
    request = rf.post("/q/quote/", REMOTE_ADDR="203.0.113.9")
    clock = {"now": 1_800_000_000 - 1_800_000_000 % 60 + 59.9}
    monkeypatch.setattr(abuse.time, "time", lambda: clock["now"])
    before = [abuse.is_rate_limited(request, "boundary", 5) for _ in range(5)]
    clock["now"] += 0.2
    after = [abuse.is_rate_limited(request, "boundary", 5) for _ in range(5)]
    assert before == [False] * 5 and after == [True] * 5
    clock["now"] += 120  # the burst, refused requests included, has slid out of the window
    assert abuse.is_rate_limited(request, "boundary", 5) is False


@pytest.mark.django_db
def test_the_json_api_answers_429_past_the_key_limit(client, api_key):
    key, plain = api_key
    key.rate_limit_per_minute = 4
    key.save()
    codes = [client.post("/api/v1/leads/", json.dumps({"email": f"api{n}@example.com"}),
                         content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {plain}").status_code for n in range(6)]
    assert codes == [201] * 4 + [429] * 2
    assert Lead.objects.count() == 4


@pytest.mark.django_db
def test_the_api_retry_after_is_when_a_request_is_accepted_again(client, api_key):
    """With a sliding window the end of the minute is too early: waiting the Retry-After
    (and no less) gets the next lead in."""
    key, plain = api_key
    key.rate_limit_per_minute = 3
    key.save()

    def post(n):
        return client.post("/api/v1/leads/", json.dumps({"email": f"retry{n}@example.com"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {plain}")

    start = datetime(2026, 12, 7, 10, 0, 10, tzinfo=UTC)  # 10 s into a minute
    with time_machine.travel(start, tick=False) as clock:
        assert [post(n).status_code for n in range(4)] == [201, 201, 201, 429]
        wait = int(post(4)["Retry-After"])
        assert wait > 50  # more than "the end of this minute"
        clock.shift(wait)
        assert post(5).status_code == 201
    assert Lead.objects.count() == 4


@pytest.mark.django_db
def test_form_posts_from_other_sites_answer_429_past_the_limit(client, api_key, settings):
    settings.FORM_RATE_LIMIT_PER_MINUTE = 3
    codes = [client.post("/api/v1/forms/partner/", {"email": f"p{n}@example.com"}).status_code
             for n in range(5)]
    assert codes == [200] * 3 + [429] * 2


def _webhook(client, n):
    body = json.dumps({"id": f"r{n}", "email": f"hook{n}@example.com"}).encode()
    return client.post("/inbound/webhook/zap/", body, content_type="application/json",
                       **webhook_headers(body))


def _twilio(path):
    def send(client, n):
        params = {"MessageSid": f"SM{n}", "CallSid": f"CA{n}", "From": f"+1415555{n:04d}",
                  "Body": "hi", "CallStatus": "completed"}
        return client.post(path, urlencode(params),
                           content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=twilio_signature(f"http://testserver{path}",
                                                                    params))
    return send


def _meta(client, n):
    body = json.dumps({"object": "page", "entry": [{"messaging": [
        {"sender": {"id": str(n)}, "message": {"mid": f"m{n}", "text": "hi"}}]}]}).encode()
    return client.post("/inbound/meta/", body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=meta_header(body))


def _calendly(client, n):
    body = json.dumps({"event": "invitee.created", "payload": {
        "uri": f"u{n}", "email": f"cal{n}@example.com", "name": "Cal"}}).encode()
    return client.post("/inbound/calendly/", body, content_type="application/json",
                       HTTP_CALENDLY_WEBHOOK_SIGNATURE=calendly_header(body))


def _email(client, n):
    body = json.dumps({"FromFull": {"Email": f"mail{n}@example.com", "Name": "Mail"},
                       "Subject": "Quote", "TextBody": "Hello", "MessageID": f"m{n}",
                       "Headers": []}).encode()
    return client.post("/inbound/email/postmark/inbound/", body, content_type="application/json",
                       HTTP_AUTHORIZATION=basic_auth())


LIMIT_PROBE = size(12, 100)  # requests from one address in well under a minute


@pytest.mark.django_db
@pytest.mark.parametrize("send", [
    _webhook, _twilio("/inbound/twilio/sms/"), _twilio("/inbound/twilio/voice/"),
    _twilio("/inbound/twilio/status/"), _meta, _calendly, _email,
], ids=["webhook", "twilio-sms", "twilio-voice", "twilio-status", "meta", "calendly", "email"])
def test_provider_webhooks_answer_429_past_a_limit(client, provider_secrets, webhook_source,
                                                    settings, send):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 5
    responses = [send(client, n) for n in range(LIMIT_PROBE)]
    codes = [response.status_code for response in responses]
    assert codes[:5] == [200] * 5  # under the limit every signed request is taken
    assert codes[5:] == [429] * (LIMIT_PROBE - 5)
    assert responses[-1]["Retry-After"] == "60"
    assert "retry" in responses[-1].json()["error"]
    # Refused before anything is stored: the provider retries them later.
    assert InboundEvent.objects.count() == 5


@pytest.mark.django_db
def test_the_webhook_limit_counts_each_channel_on_its_own(client, provider_secrets,
                                                          webhook_source, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    assert [_webhook(client, n).status_code for n in range(4)] == [200, 200, 200, 429]
    assert _calendly(client, 1).status_code == 200  # another channel has its own budget


@pytest.mark.django_db
def test_forged_floods_are_refused_by_the_limit_before_the_signature_is_checked(
        client, provider_secrets, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    body = b'{"object": "page", "entry": []}'
    codes = [client.post("/inbound/meta/", body, content_type="application/json",
                         HTTP_X_HUB_SIGNATURE_256="sha256=" + "0" * 64).status_code
             for _ in range(5)]
    assert codes == [403, 403, 403, 429, 429]


# --- lead fields are escaped on every page staff read --------------------------------------------

@pytest.fixture
def scripted_lead(db) -> Lead:
    lead = Lead.objects.create(first_name=SCRIPT, last_name=SCRIPT, company=SCRIPT,
                               email="xss@example.com", message=SCRIPT, source=SCRIPT,
                               channel=Lead.Channel.WEB_FORM)
    Interaction.objects.create(lead=lead, direction="inbound", kind="submission",
                               channel="web_form", summary=SCRIPT, body=SCRIPT)
    return lead


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def assert_shown_as_text(response):
    assert response.status_code == 200
    html = response.content.decode()
    assert SCRIPT not in html
    assert ESCAPED in html or "&lt;script&gt;" in html  # the name is there, as text


@pytest.mark.parametrize("page", ["/admin/capture/lead/", "/admin/capture/lead/{pk}/change/",
                                  "/admin/capture/interaction/",
                                  "/admin/capture/lead/?q=script"])
def test_a_scripted_lead_name_shows_as_text_in_the_admin(superuser_client, scripted_lead, page):
    assert_shown_as_text(superuser_client.get(page.format(pk=scripted_lead.pk)))


@pytest.mark.django_db
def test_a_scripted_submission_shows_as_text_in_the_inbound_event_admin(superuser_client, client,
                                                                        quote_form):
    response = _form_post(client, quote_form, 0)
    assert response.status_code == 302
    data = {"first_name": SCRIPT, "email": "xss@example.com", "message": SCRIPT,
            "started": sign_started(quote_form.id)}
    client.post("/q/quote/", urlencode(data), content_type="application/x-www-form-urlencoded")
    event = InboundEvent.objects.get(lead__first_name=SCRIPT)
    assert_shown_as_text(superuser_client.get(f"/admin/capture/inboundevent/{event.pk}/change/"))


@pytest.mark.django_db
def test_the_public_form_echoes_a_scripted_value_as_text(client, quote_form):
    # Invalid (no email): the page is shown again with what the visitor typed.
    data = {"first_name": SCRIPT, "message": SCRIPT, "started": sign_started(quote_form.id)}
    response = client.post("/q/quote/", urlencode(data),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert SCRIPT not in response.content.decode()


@pytest.mark.parametrize("page", ["/queue/", "/leads/{pk}/", "/dashboard/"])
def test_a_scripted_lead_name_shows_as_text_on_the_staff_pages(superuser_client, scripted_lead,
                                                               page):
    path = page.format(pk=scripted_lead.pk)
    try:
        resolve(path)
    except Resolver404:
        pytest.skip(f"{path} does not exist yet (the rep queue, lead page and dashboard arrive "
                    "with their issues)")
    scripted_lead.owner = UserFactory(username="root")
    scripted_lead.save()
    assert_shown_as_text(superuser_client.get(path))


@pytest.mark.django_db
def test_password_reset_sends_a_few_emails_an_hour_per_address_then_nothing(client, settings,
                                                                             mailoutbox,
                                                                             sync_tasks):
    """25 quick resets for one address sent 25 emails. Past the limit the page is the same
    "check your email" (it never says whether an account has the address), and nothing goes."""
    UserFactory(username="carol", email="carol@example.com")
    settings.PASSWORD_RESET_RATE_PER_EMAIL = 3
    responses = [client.post("/accounts/password_reset/", {"email": "Carol@Example.com"})
                 for _ in range(25)]
    assert {(r.status_code, r["Location"]) for r in responses} == {
        (302, "/accounts/password_reset/done/")}
    assert len(mailoutbox) == 3
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=2), tick=False):
        client.post("/accounts/password_reset/", {"email": "carol@example.com"})
    assert len(mailoutbox) == 4  # an hour or two later the person may ask again


@pytest.mark.django_db
def test_password_reset_is_limited_per_client_address_across_email_addresses(client, settings,
                                                                              mailoutbox,
                                                                              sync_tasks):
    for n in range(6):
        UserFactory(username=f"rep{n}", email=f"rep{n}@example.com")
    settings.PASSWORD_RESET_RATE_PER_IP = 4
    for n in range(6):
        response = client.post("/accounts/password_reset/", {"email": f"rep{n}@example.com"},
                               REMOTE_ADDR="198.51.100.20")
        assert response.status_code == 302
    assert len(mailoutbox) == 4
    client.post("/accounts/password_reset/", {"email": "rep5@example.com"},
                REMOTE_ADDR="198.51.100.21")  # another client still gets its email
    assert len(mailoutbox) == 5


@pytest.mark.django_db
def test_sign_in_posts_from_one_address_answer_429_past_the_limit_whatever_the_username(
        client, settings):
    """The login lock counts per username and IP: one address could try four passwords on
    every username there is, at any speed, and both login pages answered 200 every time."""
    from django.core.cache import cache

    settings.LOGIN_RATE_PER_IP = 5
    for path in ("/accounts/login/", "/admin/login/"):
        cache.clear()
        answers = [client.post(path, {"username": f"user{n}", "password": "guess"},
                               REMOTE_ADDR="198.51.100.30") for n in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        assert int(answers[-1]["Retry-After"]) >= 1
        assert "Too many sign-in attempts" in answers[-1].content.decode()
        other = client.post(path, {"username": "user0", "password": "guess"},
                            REMOTE_ADDR="198.51.100.31")
        assert other.status_code == 200  # another client is not refused


@pytest.mark.django_db
def test_sign_ins_that_succeed_are_never_refused_by_the_address_limit(client, settings):
    """Twenty-five staff behind one office address (or a browser suite signing in as each
    demo user) all get in; the limit counts failed sign-ins only."""
    from django.contrib.auth import get_user_model

    settings.LOGIN_RATE_PER_IP = 5
    get_user_model().objects.create_user("ada", password="Correct-horse-9")
    for _ in range(25):
        answer = client.post("/accounts/login/", {"username": "ada",
                                                  "password": "Correct-horse-9"},
                             REMOTE_ADDR="198.51.100.40")
        assert answer.status_code == 302
        client.logout()


# --- every public POST endpoint, found in the URLconf ------------------------------------------

def _public_post_paths(samples: dict[str, str]) -> list[str]:
    """Every URL an anonymous sender can reach, with these sample arguments: the URLconf walked,
    so an endpoint added later is in the sweep without anyone remembering to add it."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield route

    paths = set()
    for route in walk(get_resolver().url_patterns):
        route = route.lstrip("^").rstrip("$").replace("\\Z", "")
        if route.startswith(("admin/", "static/", "chat/leads/", "chat/take/", "chat/waiting/",
                             "queue", "leads/", "dashboard", "bench/", "accounts/")):
            continue  # signed-in staff pages (login and password reset: tested above)
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: samples[m.group(1)], route)
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: samples[m.group(1)], path)
        if re.search(r"[()\[\]*+?]", path):
            continue  # the catch-all of unknown /inbound/ and /api/ paths: a 404 JSON
        paths.add("/" + path)
    return sorted(paths)


@pytest.mark.django_db
def test_every_public_post_endpoint_answers_429_past_its_limit(client, settings, api_key,
                                                               webhook_source):
    """Forged or empty posts from one address to every public URL, to real forms, widgets and
    sources: each URL that takes a POST ends in 429 past its limit, the others answer 405. The
    API counts wrong keys; Twilio's message status callback once had no limit at all."""
    from django.test import Client

    from capture.models import IntakeForm
    from chat.models import ChatWidget
    from followup.suppression import unsubscribe_token

    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    settings.FORM_RATE_LIMIT_PER_MINUTE = 3
    settings.CHAT_RATE_PER_IP = settings.CHAT_POLL_RATE_PER_IP = 3
    IntakeForm.objects.create(slug="quote", title="Quote")
    widget = ChatWidget.objects.create(name="Site", allowed_origins="https://shop.example")
    lead = Lead.objects.create(email="u@example.com")
    samples = {"slug": "quote", "source": "partner", "token": unsubscribe_token(lead),
               "key": widget.key, "esp_name": "postmark", "webhook_type": "inbound"}
    paths = _public_post_paths(samples)
    assert {"/inbound/twilio/message-status/", "/api/v1/leads/", "/healthz"} <= set(paths)
    unlimited, no_wait_said = {}, []
    for path in paths:
        answers = [client.post(path, b"x=1", content_type="application/x-www-form-urlencoded",
                               HTTP_ORIGIN="https://shop.example") for _ in range(8)]
        codes = [a.status_code for a in answers]
        if codes[-1] != 429 and set(codes) != {405}:
            unlimited[path] = codes
        if codes[-1] == 429 and not answers[-1].has_header("Retry-After"):
            no_wait_said.append(path)  # a client should be told how long to wait
    assert unlimited == {}
    assert no_wait_said == []
    # The pages say 405 to a real browser's cross-site POST too: CSRF is checked before the
    # view, and its 403 page ("reload the page") would be wrong there.
    browser = Client(enforce_csrf_checks=True)
    pages = [path for path in paths if client.post(path).status_code == 405]
    assert {"/healthz", "/", "/favicon.ico", "/q/quote/thanks/", "/chat/demo/"} <= set(pages)
    assert {path: browser.post(path).status_code for path in pages} == dict.fromkeys(pages, 405)


@pytest.mark.django_db
def test_wrong_api_keys_from_one_address_are_refused_past_the_limit_right_keys_are_not_counted(
        client, api_key, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    _, plain = api_key

    def post(key, n):
        return client.post("/api/v1/leads/", json.dumps({"email": f"k{n}@example.com"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert [post(plain, n).status_code for n in range(5)] == [201] * 5  # not counted
    wrong = plain[:-4] + "AAAA"
    guesses = [post(wrong, n) for n in range(4)]
    assert [r.status_code for r in guesses] == [401, 401, 401, 429]
    assert guesses[-1]["Retry-After"] == "60" and "API key" in guesses[-1].json()["error"]
    # A valid key from that address is never refused by it; the wrong ones still are.
    assert post(plain, 9).status_code == 201
    assert post(wrong, 10).status_code == 429
    assert Lead.objects.count() == 6
