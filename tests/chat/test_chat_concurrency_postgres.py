"""Real concurrent requests against PostgreSQL: tries of one first chat message sent at the same
moment (a visitor pressing Send again while the first try is still on its way) open one chat."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from capture.models import InboundEvent, Lead
from chat.models import Conversation
from chat.services import conversation_for
from followup.models import OutboundMessage
from tests.capture.test_concurrency_postgres import fire_together
from tests.chat.conftest import SITE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def send_first_message(url: str) -> tuple[int, str]:
    body = json.dumps({"text": "Do you ship to Norway?", "client_id": "first-message-1",
                       "page": {"url": f"{SITE}/pricing", "referrer": ""}}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Origin": SITE, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())["token"]
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_tries_of_one_first_message_at_the_same_moment_open_one_chat(live_server, widget):
    url = f"{live_server.url}/chat/w/{widget.key}/messages/"
    answers: list[tuple[int, str]] = []
    codes = fire_together([lambda: answers.append(send_first_message(url)) or 0
                           for _ in range(6)])
    assert codes == [0] * 6
    assert [code for code, _ in answers] == [201] * 6
    assert Conversation.objects.count() == 1 and Lead.objects.count() == 1
    assert InboundEvent.objects.count() == 1
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.OWNER_ALERT).count() == 1
    chat = Conversation.objects.get()
    assert [conversation_for(token, widget) for _, token in answers] == [chat] * 6
