"""Redis (REDIS_URL) down: the chat widget and the rep's queue read presence from it; both
still answer, presence unknown."""

from __future__ import annotations

import pytest

from tests.capture.test_cache_down import redis_down  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def test_with_the_cache_unreachable_the_chat_and_the_queue_still_work(
        redis_down, visitor, client, alice):  # noqa: F811
    assert visitor.config().status_code == 200
    assert visitor.say("Hello, anyone there?").status_code == 201
    client.force_login(alice.user)
    assert client.get("/queue/").status_code == 200
