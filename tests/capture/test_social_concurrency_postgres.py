"""Real concurrent webhook requests on PostgreSQL: first messages from one new platform account
arriving at once make one lead (the unique identity is the referee)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from capture.models import InboundEvent, Interaction, Lead, LeadIdentity
from tests.capture.conftest import load_json
from tests.capture.test_concurrency_postgres import fire_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_update(base_url: str, update: dict) -> int:
    request = urllib.request.Request(
        f"{base_url}/inbound/telegram/", data=json.dumps(update).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "X-Telegram-Bot-Api-Secret-Token": "telegram-webhook-secret"})
    try:
        return urllib.request.urlopen(request, timeout=60).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_six_first_telegram_messages_from_one_account_at_once_make_one_lead(live_server):
    updates = []
    for i in range(6):
        update = load_json("telegram", "text.json")
        update["update_id"] += i
        update["message"]["message_id"] += i
        update["message"]["text"] = f"Question {i}?"
        updates.append(update)
    codes = fire_together([lambda u=u: post_update(live_server.url, u) for u in updates])
    assert codes == [200] * 6
    assert Lead.objects.count() == 1 and LeadIdentity.objects.count() == 1
    assert Interaction.objects.filter(kind="message").count() == 6
    assert InboundEvent.objects.filter(status="processed").count() == 6
