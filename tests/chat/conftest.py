"""Chat personas: a widget on https://www.acme.test answered by the sales team (alice, bob),
who work around the clock so the widget is online whenever the tests run."""

from __future__ import annotations

import json
import uuid
from datetime import time

import pytest
from django.test import Client

from chat.models import ChatWidget
from routing.models import RoutingRule
from tests.routing import conftest as routing_fixtures

# The routing personas, shared: the sales team (manager Max) with alice and bob, the tiers.
_fresh_rule_cache = routing_fixtures._fresh_rule_cache
manager = routing_fixtures.manager
sales_team = routing_fixtures.sales_team
alice = routing_fixtures.alice
bob = routing_fixtures.bob
tiers = routing_fixtures.tiers
berlin_hours = routing_fixtures.berlin_hours
sla_policies = routing_fixtures.sla_policies

SITE = "https://www.acme.test"


@pytest.fixture
def always_on(sales_team):
    from routing.models import RepProfile

    RepProfile.objects.filter(memberships__team=sales_team).update(
        work_days=list(range(7)), work_starts=time(0), work_ends=time(23, 59, 59))


@pytest.fixture
def widget(sales_team, alice, bob, tiers, always_on) -> ChatWidget:
    RoutingRule.objects.create(name="Everyone", action="round_robin", team=sales_team,
                               is_default=True)
    return ChatWidget.objects.create(name="Acme site", allowed_origins=f"{SITE}\n",
                                     team=sales_team, no_answer_seconds=30,
                                     first_response_seconds=60)


class Visitor:
    """A browser on the customer's site talking to the widget API (Origin set, no cookies)."""

    def __init__(self, widget: ChatWidget, origin: str = SITE, ip: str = "203.0.113.7"):
        self.client = Client(enforce_csrf_checks=True)
        self.base = f"/chat/w/{widget.key}/"
        self.origin = origin
        self.ip = ip
        self.token = ""

    def _headers(self) -> dict:
        headers = {"HTTP_ORIGIN": self.origin, "REMOTE_ADDR": self.ip}
        if self.token:
            headers["HTTP_X_CHAT_TOKEN"] = self.token
        return headers

    def config(self):
        return self.client.get(self.base + "config/", **self._headers())

    def say(self, text, client_id=None, **extra):
        body = {"text": text, "client_id": client_id or uuid.uuid4().hex,
                "page": {"url": f"{SITE}/pricing?utm_source=google&utm_campaign=spring",
                         "referrer": "https://www.google.com/"}, **extra}
        response = self.client.post(self.base + "messages/", json.dumps(body),
                                    content_type="application/json", **self._headers())
        if response.status_code == 201:
            self.token = response.json()["token"]
        return response

    def poll(self, after=0):
        return self.client.get(self.base + f"messages/?after={after}", **self._headers())

    def leave(self, reason="offline", **fields):
        return self.client.post(self.base + "contact/",
                                json.dumps({"fields": fields, "reason": reason}),
                                content_type="application/json", **self._headers())


@pytest.fixture
def visitor(widget) -> Visitor:
    return Visitor(widget)
