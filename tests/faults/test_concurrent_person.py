"""The same person through the public form, the JSON API and a signed webhook at the same
moment, as real concurrent HTTP requests to gunicorn on PostgreSQL: one lead, every submission
on it, no error answered."""

from __future__ import annotations

import http.cookiejar
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.db import connection

from capture.models import ApiKey, InboundEvent, Interaction, Lead
from tests.faults.conftest import (
    database_url_of,
    gunicorn,
    server_env,
    size,
    webhook_headers,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUBMISSIONS = size(12, 50)
PERSON = {"first_name": "Katherine", "last_name": "Johnson", "email": "Katherine@NASA.example",
          "phone": "+1 757 555 0142", "company": "NASA Langley"}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _answer(opener, request) -> int:
    try:
        with opener.open(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def form_sender(base: str):
    """A visitor who loaded the page (cookie, CSRF token, start time) and will press submit."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())
    with opener.open(f"{base}/q/quote/", timeout=30) as page:
        html = page.read().decode()
    hidden = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
    assert "csrfmiddlewaretoken" in hidden
    body = urllib.parse.urlencode({**hidden, **PERSON, "message": "Form"}).encode()
    request = urllib.request.Request(f"{base}/q/quote/", data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Referer": f"{base}/q/quote/"})
    return lambda: _answer(opener, request)


def api_sender(base: str, key: str, n: int):
    body = json.dumps({**PERSON, "message": f"API {n}"}).encode()
    request = urllib.request.Request(f"{base}/api/v1/leads/", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {key}",
        "Idempotency-Key": f"same-person-{n}"})
    return lambda: _answer(urllib.request.build_opener(), request)


def webhook_sender(base: str, n: int):
    body = json.dumps({"id": f"evt-{n}", **PERSON, "message": f"Webhook {n}"}).encode()
    headers = {k.removeprefix("HTTP_").replace("_", "-").title(): v
               for k, v in webhook_headers(body).items()}
    request = urllib.request.Request(f"{base}/inbound/webhook/zap/", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    return lambda: _answer(urllib.request.build_opener(), request)


def all_at_once(senders) -> list[int]:
    """Start every request behind one barrier; each thread is bounded by its own timeout."""
    barrier = threading.Barrier(len(senders), timeout=60)
    codes = [0] * len(senders)

    def run(i, send):
        barrier.wait()
        codes[i] = send()

    threads = [threading.Thread(target=run, args=(i, s), daemon=True)
               for i, s in enumerate(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return codes


@pytest.fixture
def server(transactional_db, tmp_path):
    """gunicorn (8 sync workers) on the test database: Django's live server resets connections
    past a backlog of 10, which is the test server's limit, not the product's."""
    env = server_env(database_url_of(connection.settings_dict))  # no rate limit: one address
    with gunicorn(env, tmp_path / "gunicorn.log", workers=8) as base:
        yield base


def test_the_same_person_by_form_api_and_webhook_at_once_is_one_lead(
        server, quote_form, webhook_source, api_key):
    ApiKey.objects.update(rate_limit_per_minute=0)
    senders = []
    for n in range(SUBMISSIONS):
        kind = n % 3
        senders.append(form_sender(server) if kind == 0 else
                       api_sender(server, api_key[1], n) if kind == 1 else
                       webhook_sender(server, n))
    started = time.monotonic()
    codes = all_at_once(senders)
    elapsed = time.monotonic() - started

    assert all(200 <= code < 400 for code in codes), codes
    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert (lead.email_key, lead.phone) == ("katherine@nasa.example", "+17575550142")
    assert InboundEvent.objects.filter(status="processed", lead=lead).count() == SUBMISSIONS
    inbound = Interaction.objects.filter(lead=lead, direction="inbound")
    assert inbound.count() == SUBMISSIONS  # one per submission, none lost, none doubled
    print(f"{SUBMISSIONS} concurrent submissions in {elapsed:.2f}s: one lead")
