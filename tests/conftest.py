"""Shared fixtures: named personas, the demo form, a synchronous django-q2, a helper to submit."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client
from django_q.conf import Conf

from capture.models import IntakeForm
from tests.factories import IntakeFormFactory


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped (loudly) on SQLite."""
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _force_login_passes_two_factor(monkeypatch):
    """Tests sign in with force_login (no password, no code): for the roles that must use
    two-factor sign-in (capture/security.py), the session is marked verified with a confirmed
    test device, as django-otp's own login does. Two-factor tests sign in through the pages."""
    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        from django.conf import settings
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        if user.is_superuser or user.groups.filter(
                name__in=settings.TWO_FACTOR_REQUIRED_GROUPS).exists():
            device, _ = TOTPDevice.objects.get_or_create(user=user, name="test device",
                                                         defaults={"confirmed": True})
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clean_cache():
    from capture.abuse import block_rules_memo
    from capture.custom_fields import active_definitions_memo
    from capture.forms import custom_slots_memo
    from capture.views import intake_forms_memo
    from followup.receivers import KickThrottle

    # Rate-limit counters and per-process memos must not leak between tests.
    for memo in (block_rules_memo, intake_forms_memo, active_definitions_memo,
                 custom_slots_memo):
        memo.clear()
    KickThrottle.reset()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2's sync mode: async_task() runs the task at once, in this process."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def quote_form(db) -> IntakeForm:
    return IntakeFormFactory(
        slug="quote",
        fields=["first_name", "last_name", "email", "phone", "company", "company_size",
                "budget", "urgency", "service", "message"],
        required_fields=["first_name", "email"],
        service_choices="Cloud migration\nManaged IT support",
        consent_text="I agree to be contacted about my request.",
        min_fill_seconds=0,
    )


class FormVisitor:
    """A visitor with a browser-like Client: loads the page, then posts what a person typed."""

    def __init__(self, client: Client, slug: str = "quote"):
        self.client = client
        self.slug = slug
        self.url = f"/q/{slug}/"

    def load(self, query: str = "", **headers):
        response = self.client.get(self.url + query, **headers)
        assert response.status_code == 200
        html = response.content.decode()
        self.hidden = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
        self.hidden.update(
            dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"[^>]*type="hidden"', html)))
        return response

    def submit(self, **fields):
        if not hasattr(self, "hidden"):
            self.load()
        data = {**self.hidden, **fields}
        # As a browser posts a form: urlencoded, with the page as referrer.
        return self.client.post(self.url, urlencode(data),
                                content_type="application/x-www-form-urlencoded")


@pytest.fixture
def visitor(client, quote_form) -> FormVisitor:
    return FormVisitor(client, quote_form.slug)


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def fields(db):
    """One custom lead field of every type (capture.CustomField), by key."""
    from capture.models import CustomField
    from tests.factories import TECH_STACK

    made = {}
    for key, label, kind, choices in (
            ("tech_stack", "Tech stack", "multi_choice", TECH_STACK),
            ("seats", "Seats", "number", ""),
            ("contract_end", "Contract end date", "date", ""),
            ("partner", "Through a partner?", "yes_no", ""),
            ("plan", "Plan", "choice", "Basic\nPro\nEnterprise"),
            ("contact_time", "Preferred contact time", "short_text", ""),
            ("notes", "Background", "long_text", "")):
        made[key] = CustomField.objects.create(key=key, label=label, kind=kind, choices=choices)
    return made
