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
    logout.click()
    page.wait_for_url("**/accounts/login/**")
