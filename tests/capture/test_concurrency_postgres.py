"""Real concurrent requests against PostgreSQL: the same person at the same moment is one lead."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from capture.models import InboundEvent, Interaction, Lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PERSON = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.mil",
          "phone": "(415) 555-2671", "company": "US Navy", "message": "Quote please"}


class Browser:
    """One visitor: its own cookies, a page load, then a form post."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            NoRedirect(),
        )

    def load(self) -> dict[str, str]:
        html = self.opener.open(f"{self.base_url}/q/quote/", timeout=30).read().decode()
        return dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', html))

    def post(self, data: dict[str, str]) -> int:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(f"{self.base_url}/q/quote/", data=body, method="POST")
        try:
            return self.opener.open(request, timeout=60).status
        except urllib.error.HTTPError as exc:
            return exc.code


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fire_together(jobs) -> list[int]:
    barrier = threading.Barrier(len(jobs))
    codes: list[int] = [0] * len(jobs)

    def run(i, job):
        barrier.wait()
        codes[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return codes


def test_ten_identical_submissions_at_the_same_moment_make_one_lead(live_server, quote_form):
    browsers = [Browser(live_server.url) for _ in range(10)]
    pages = [b.load() for b in browsers]
    codes = fire_together([lambda b=b, p=p: b.post({**p, **PERSON})
                           for b, p in zip(browsers, pages, strict=True)])
    assert codes == [302] * 10
    assert Lead.objects.count() == 1
    assert Interaction.objects.filter(kind="submission").count() == 10
    assert InboundEvent.objects.filter(status="processed").count() == 10


def test_the_same_person_by_email_and_by_phone_at_once_is_one_lead(live_server, quote_form):
    quote_form.required_fields = ["first_name"]
    quote_form.save()
    browsers = [Browser(live_server.url) for _ in range(8)]
    pages = [b.load() for b in browsers]
    variants = [{**PERSON, "phone": ""}, {**PERSON, "email": "", "phone": "+1 415 555 2671"}]
    codes = fire_together([lambda b=b, p=p, i=i: b.post({**p, **variants[i % 2]})
                           for i, (b, p) in enumerate(zip(browsers, pages, strict=True))])
    assert codes == [302] * 8
    # Email-only and phone-only submissions cannot know they are one person until one of them
    # carries both: at most one lead per key, and every submission landed on one of them.
    assert Lead.objects.count() <= 2
    assert Interaction.objects.filter(kind="submission").count() == 8
    # Whatever raced, no open lead shares an email or a phone with another one.
    assert Lead.objects.exclude(email_key="").values("email_key").distinct().count() == \
        Lead.objects.exclude(email_key="").count()


def test_a_double_clicked_submit_racing_itself_is_one_interaction(live_server, quote_form):
    browser = Browser(live_server.url)
    page = browser.load()
    codes = fire_together([lambda: browser.post({**page, **PERSON})] * 5)
    assert codes == [302] * 5
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.count() == 1 and Interaction.objects.count() == 1
