"""Chromium under the Content-Security-Policy: the public form and the rep's queue work, with
no console error and no CSP violation reported by the browser."""

from __future__ import annotations

import pytest

from capture.models import Lead
from routing.models import Team
from tests.browser.test_queue import PASSWORD, sign_in
from tests.factories import UserFactory
from tests.routing.conftest import make_rep
from tests.routing.pages import lead_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def watch(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.add_init_script(WATCH_VIOLATIONS)
    return errors


def violations(page) -> list[str]:
    return page.evaluate("window.__csp")


def test_the_public_form_works_under_the_policy(live_server, page, quote_form):
    quote_form.min_fill_seconds = 1
    quote_form.save()
    errors = watch(page)
    response = page.goto(f"{live_server.url}/q/quote/?utm_source=csp")
    policy = response.headers["content-security-policy"]
    assert "unsafe-inline" not in policy and "frame-ancestors 'self'" in policy
    # Bootstrap's stylesheet applied (served from our origin, allowed by style-src 'self').
    assert page.evaluate("getComputedStyle(document.querySelector('.btn-primary'))"
                         ".backgroundColor") != "rgba(0, 0, 0, 0)"
    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot["x"] + honeypot["width"] < 0  # our CSS file hides it, no style= needed
    assert violations(page) == []
    page.fill("#id_first_name", "Grace")
    page.fill("#id_email", "grace@navy.mil")
    page.wait_for_timeout(1100)
    page.click("text=Request a quote >> nth=-1")
    page.wait_for_url("**/q/quote/thanks/")
    assert Lead.objects.get().utm_source == "csp"
    assert violations(page) == []
    assert errors == []


def test_the_queue_works_under_the_policy(live_server, page, settings):
    settings.QUEUE_POLL_SECONDS = 1
    team = Team.objects.create(name="Sales", lead=UserFactory(username="max"))
    alice = make_rep("alice", team).user
    alice.set_password(PASSWORD)
    alice.save()
    lead_for(alice, team, first_name="Early", last_name="Lead", tier="warm")
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = watch(page)
    sign_in(page, live_server, "alice")
    page.locator("text=Early Lead").wait_for()
    # A new lead arrives: the page's script polls and shows it without a reload.
    lead_for(alice, team, first_name="Fresh", last_name="Arrival", tier="hot")
    page.locator("#arrivals").wait_for(timeout=10_000)
    assert "1 new lead" in page.inner_text("#arrivals")
    page.locator("text=Fresh Arrival").wait_for()
    # Every tab's count follows, not only the title's.
    assert page.inner_text('[data-count="all"]') == "2"
    assert page.inner_text('[data-count="new"]') == "2"
    assert page.title().startswith("(2) ")
    page.click("text=Fresh Arrival")
    page.wait_for_url("**/leads/**")
    page.locator("text=Why this score").first.wait_for()
    assert violations(page) == []
    assert errors == []
