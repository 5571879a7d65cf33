"""The rules back office in Chromium at a laptop's width: the routing rule page fits the page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_routing_rule_conditions_fit_a_laptop_screen(live_server, browser):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    cookie = settings.SESSION_COOKIE_NAME
    context.add_cookies([{"name": cookie, "value": client.cookies[cookie].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/routing/routingrule/add/")
    table = page.locator("#conditions-group table")
    table.wait_for()
    widths = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        window: document.documentElement.clientWidth,
        table: document.querySelector('#conditions-group table').getBoundingClientRect().right,
        content: document.querySelector('#content').getBoundingClientRect().right})""")
    context.close()
    assert widths["page"] <= widths["window"], widths  # no sideways scrolling of the page
    assert widths["table"] <= widths["content"] + 1, widths
