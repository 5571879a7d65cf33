"""The cache (Redis behind REDIS_URL) down: leads are still taken in; /healthz says so."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from capture.models import Lead
from tests.capture.test_api import partner_key, post  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

NOBODY_LISTENS = "redis://127.0.0.1:6399/0"


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = NOBODY_LISTENS
    # Django's setting_changed receiver builds the cache handlers again from this.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": NOBODY_LISTENS}}


def test_with_the_cache_unreachable_the_api_and_the_form_still_take_leads_in(
        client, partner_key, redis_down, visitor):  # noqa: F811
    response = post(client, partner_key, {"email": "cache-down@example.com"})
    assert response.status_code == 201
    assert visitor.submit(first_name="Ada", email="ada@example.com").status_code == 302
    assert set(Lead.objects.values_list("email", flat=True)) == {"cache-down@example.com",
                                                                 "ada@example.com"}


def test_healthz_says_degraded_without_the_cache_and_503_without_the_database(
        client, redis_down, monkeypatch):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "cache": "unreachable"}

    def unreachable(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr("leadcrm.urls.connection.cursor", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unreachable"}

