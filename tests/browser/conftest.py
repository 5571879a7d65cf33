"""Playwright (sync API) driving Debian's Chromium next to pytest-django's live_server."""

from __future__ import annotations

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; Django must still allow the ORM.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM} "
                                "(apt-get install -y chromium)")
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone screen
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def admin_page(live_server, browser):
    """A laptop-sized page signed in to the admin as a superuser (the session cookie of a
    forced login: the admin's own sign-in and two-factor are tested elsewhere)."""
    from django.conf import settings
    from django.test import Client

    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    cookie = settings.SESSION_COOKIE_NAME
    context.add_cookies([{"name": cookie, "value": client.cookies[cookie].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
