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


def test_a_visitor_message_landing_while_a_rep_replies_does_not_hide_the_reply(
        widget, alice, monkeypatch):
    """The widget asks for the messages after the newest it has. A visitor's message committed
    while a rep's reply was still being written must not be newer than the reply, or the
    widget's next poll passes the reply over and the visitor never sees it."""
    import threading

    from django.db import connection

    from chat import services

    conversation, _ = services.receive_visitor_message(
        widget=widget, conversation=None, text="Anyone there?", client_id="first-message-1",
        fields={"email": "pia@example.org"})
    seen = [m["id"] for m in services.messages_after(conversation)]
    writing, release = threading.Event(), threading.Event()
    stamp = services.record_first_response

    def slow_stamp(**kwargs):  # the reply is written, its transaction still open
        writing.set()
        release.wait(10)
        return stamp(**kwargs)

    monkeypatch.setattr(services, "record_first_response", slow_stamp)

    def in_thread(work):
        def run():
            try:
                work()
            finally:
                connection.close()
        thread = threading.Thread(target=run)
        thread.start()
        return thread

    rep = in_thread(lambda: services.reply_to_visitor(conversation=conversation,
                                                      user=alice.user, text="Alice here."))
    assert writing.wait(10)
    visitor = in_thread(lambda: services.receive_visitor_message(
        widget=widget, conversation=conversation, text="Hello?", client_id="second-message"))
    visitor.join(2)  # it lands now, or waits for the reply to be committed
    seen += [m["id"] for m in services.messages_after(conversation, max(seen))]  # a poll
    release.set()
    rep.join(10)
    visitor.join(10)
    texts = [m["text"] for m in services.messages_after(conversation, max(seen))]  # the next
    shown = {m["id"]: m["text"] for m in services.messages_after(conversation)}
    assert sorted({shown[i] for i in seen} | set(texts)) == ["Alice here.", "Anyone there?",
                                                             "Hello?"]
