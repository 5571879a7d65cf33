"""The staff pages' navigation at a phone's width: everything reachable, nothing off-screen."""

from __future__ import annotations

import pytest

from tests.browser.test_queue import sign_in, team  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_on_a_phone_opens_the_menu_and_logs_out(live_server, page, team):  # noqa: F811
    team["manager"].is_staff = True  # the longest menu: queue, dashboard, admin
    team["manager"].save()
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, live_server, "max")
    for path in ("/queue/", "/dashboard/"):
        page.goto(f"{live_server.url}{path}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen"
    logout = page.get_by_role("button", name="Log out")
    assert not logout.is_visible()  # folded into the menu
    page.get_by_role("button", name="Menu").click()
    page.locator(".navbar-collapse.show").wait_for()  # the menu has finished opening
    with page.expect_navigation(url="**/accounts/login/**"):
        logout.click()


def test_a_rep_on_a_phone_reads_the_queue_without_scrolling_sideways(
        live_server, page, team):  # noqa: F811
    """At 390 px the queue keeps the deadline, the lead and Claim on screen, on their own tab
    and the team's: the tier, age and message move under the lead's name, the source column
    folds away. A lead hours old and two hours overdue is the widest row there is."""
    from datetime import timedelta

    from django.utils import timezone

    from capture.models import Lead
    from tests.routing.pages import lead_for

    mine = lead_for(team["alice"], team["team"], first_name="Hot", last_name="Prospect",
                    tier="hot", source="google-ads-spring-campaign-with-a-long-name",
                    minutes_left=-125,
                    message="We need forty laptops delivered to our Berlin office by Friday")
    waiting = lead_for(None, team["team"], first_name="Waiting", last_name="Lead",
                       tier="warm", minutes_left=-125, message="Call me")
    Lead.objects.filter(pk__in=[mine.pk, waiting.pk]).update(
        created_at=timezone.now() - timedelta(hours=2, minutes=36))
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "alice")
    for tab in ("", "?tab=team"):
        page.goto(f"{live_server.url}/queue/{tab}")
        table = page.locator("#queue-rows").locator("xpath=ancestor::table")
        wrapper = table.locator("xpath=..")
        assert table.evaluate("t => t.scrollWidth") <= wrapper.evaluate("w => w.clientWidth")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    claim = page.get_by_role("button", name="Claim")
    box = claim.bounding_box()
    assert box["x"] + box["width"] <= 390  # on screen, not past its edge
    row = page.locator("#queue-rows tr").first
    assert "warm · 2 hours ago: Call me" in row.inner_text().replace("\xa0", " ")
    page.goto(f"{live_server.url}/queue/")
    row = page.locator("#queue-rows tr").first
    assert "We need forty laptops" in row.inner_text()
    assert "google-ads-spring" not in row.inner_text()  # folded away at this width
    page.set_viewport_size({"width": 1280, "height": 900})
    assert "google-ads-spring" in row.inner_text()
