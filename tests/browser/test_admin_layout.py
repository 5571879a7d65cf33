"""The rules back office in Chromium at a laptop's width: the routing rule page fits the page."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_routing_rule_conditions_fit_a_laptop_screen(live_server, admin_page):
    page = admin_page
    page.goto(f"{live_server.url}/admin/routing/routingrule/add/")
    table = page.locator("#conditions-group table")
    table.wait_for()
    widths = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        window: document.documentElement.clientWidth,
        table: document.querySelector('#conditions-group table').getBoundingClientRect().right,
        content: document.querySelector('#content').getBoundingClientRect().right})""")
    assert widths["page"] <= widths["window"], widths  # no sideways scrolling of the page
    assert widths["table"] <= widths["content"] + 1, widths
