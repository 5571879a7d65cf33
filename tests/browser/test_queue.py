"""Chromium: a rep signs in, works the queue and a lead; a manager reassigns and reads the
dashboard. With SCREENSHOTS=1 the three pages are saved to docs/screenshots/ for the README."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from capture.models import Lead
from tests.factories import UserFactory
from tests.routing.conftest import make_rep
from tests.routing.pages import lead_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "a-long-password-42"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/queue/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/queue/")


def shoot(page, name):
    if os.environ.get("SCREENSHOTS") == "1":  # SCREENSHOTS=1 make test refreshes the README's
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def team(db):
    from routing.models import Team

    manager = UserFactory(username="max", first_name="Max")
    manager.set_password(PASSWORD)
    manager.save()
    team = Team.objects.create(name="Sales", lead=manager)
    alice = make_rep("alice", team).user
    alice.set_password(PASSWORD)
    alice.save()
    bob = make_rep("bob", team).user
    return {"team": team, "manager": manager, "alice": alice, "bob": bob}


def test_a_rep_works_a_hot_lead_from_the_queue(live_server, page, team, settings):
    settings.QUEUE_POLL_SECONDS = 1
    alice = team["alice"]
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    lead_for(alice, team["team"], first_name="Warm", last_name="Lead", tier="warm",
             minutes_left=120, message="Maybe next quarter")
    hot = lead_for(alice, team["team"], first_name="Hot", last_name="Prospect", tier="hot",
                   source="google-ads", minutes_left=4,
                   message="Need 40 laptops by Friday\nsecond line")

    sign_in(page, live_server, "alice")
    first_row = page.locator("#queue-rows tr").first
    assert "Hot Prospect" in first_row.inner_text()
    countdown = first_row.locator(".countdown")
    before = countdown.inner_text()
    assert before.endswith("left")
    page.wait_for_timeout(1500)
    assert countdown.inner_text() != before  # it ticks
    assert "text-bg-warning" in countdown.get_attribute("class")  # under five minutes
    shoot(page, "queue")

    # A lead assigned while the page is open appears without a reload; the title counts it.
    lead_for(alice, team["team"], first_name="Brand", last_name="New", minutes_left=1)
    page.locator("#queue-rows >> text=Brand New").wait_for(timeout=30_000)  # a loaded CI box
    assert page.title().startswith("(3) ")

    page.click("text=Hot Prospect")
    page.wait_for_url(f"**/leads/{hot.pk}/")
    assert "First response: not yet" in page.inner_text("#first-response")
    page.select_option("#id_call-outcome", "connected")
    page.fill("#id_call-notes", "Wants a quote by Friday")
    page.click("#act-call button[type=submit]")
    page.wait_for_url(f"**/leads/{hot.pk}/")
    newest = page.locator("#timeline li").all_inner_texts()[:2]  # the call, then New → Contacted
    assert any("Call by Alice: Spoke with them" in item for item in newest)
    assert "not yet" not in page.inner_text("#first-response")
    shoot(page, "lead")

    assert page.inner_text("#lead-status") == "Contacted"
    page.goto(f"{live_server.url}/queue/?tab=new")
    assert "Hot Prospect" not in page.inner_text("#queue-rows")
    assert Lead.objects.get(pk=hot.pk).first_response_at is not None

    # Snooze the warm lead until tomorrow: it leaves "All open" for "Snoozed".
    warm = Lead.objects.get(first_name="Warm")
    page.goto(f"{live_server.url}/leads/{warm.pk}/")
    page.click("button[data-bs-target='#act-snooze']")
    page.select_option("#id_snooze-when", "tomorrow")
    page.fill("#id_snooze-note", "Call after the board meeting")
    page.click("#act-snooze button[type=submit]")
    page.wait_for_url(f"**/leads/{warm.pk}/")
    assert "Snoozed until" in page.inner_text("#snoozed")
    page.goto(f"{live_server.url}/queue/")
    assert "Warm Lead" not in page.inner_text("#queue-rows")
    page.goto(f"{live_server.url}/queue/?tab=snoozed")
    assert "Warm Lead" in page.inner_text("#queue-rows")
    assert errors == []


def test_a_lead_committed_after_a_newer_one_still_appears_once(live_server, page, team,
                                                              settings):
    """PostgreSQL gives ids as transactions start: lead N can commit after lead N+1 was shown.
    It appeared only on the next reload (its id was below the page's baseline)."""
    settings.QUEUE_POLL_SECONDS = 1
    alice = team["alice"]
    lead_for(alice, team["team"], first_name="Early", last_name="Lead")
    sign_in(page, live_server, "alice")
    base = Lead.objects.order_by("-id").values_list("id", flat=True).first()
    lead_for(alice, team["team"], first_name="Newer", last_name="Id", id=base + 10)
    page.locator("#queue-rows >> text=Newer Id").wait_for(timeout=30_000)
    lead_for(alice, team["team"], first_name="Late", last_name="Commit", id=base + 5)
    page.locator("#queue-rows >> text=Late Commit").wait_for(timeout=30_000)
    assert page.inner_text("#arrivals") == "1 new lead"
    assert page.title().startswith("(3) ")
    # Told once: the polls that follow find nothing new (the rows are not fetched again).
    page.evaluate("document.getElementById('arrivals').textContent = 'read'")
    page.wait_for_timeout(3000)
    assert page.inner_text("#arrivals") == "read"


def test_a_manager_reassigns_and_reads_the_dashboard(live_server, page, team):
    page.set_viewport_size({"width": 1280, "height": 900})
    now = timezone.now()
    for i, minutes in enumerate((3, 8, 25)):
        lead_for(team["alice"], team["team"], email=f"a{i}@example.com", source="google",
                 created_at=now - timedelta(hours=2), first_response_at=now - timedelta(
                     hours=2) + timedelta(minutes=minutes))
    lead = lead_for(team["alice"], team["team"], first_name="Moving", last_name="Lead")

    sign_in(page, live_server, "max")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("button[data-bs-target='#act-reassign']")
    page.select_option("#id_reassign-owner", str(team["bob"].pk))
    page.fill("#id_reassign-note", "Alice is on leave")
    page.click("#act-reassign button[type=submit]")
    page.wait_for_url(f"**/leads/{lead.pk}/")
    assert page.inner_text("#lead-owner") == "Bob"
    assert "Reassigned from Alice to Bob" in page.locator("#timeline li").first.inner_text()

    page.goto(f"{live_server.url}/dashboard/")
    assert page.locator("svg rect.bar").count() >= 2
    widths = page.locator("svg rect.bar").evaluate_all(
        "bars => bars.map(b => b.getBoundingClientRect().width)")
    assert max(widths) > 50  # drawn, not just present
    assert "8 min" in page.inner_text("#speed-median")
    shoot(page, "dashboard")
