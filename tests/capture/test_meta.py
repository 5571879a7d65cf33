"""Meta: the hub.challenge handshake, X-Hub-Signature-256, WhatsApp, Messenger and Lead Ads
(answers fetched from a stub Graph API on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from capture.channels.meta import retry_leadgen_fetches
from capture.intake import retry_failed_events
from capture.models import ChannelSettings, InboundEvent, Lead
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
SECRET = "meta-app-secret"


def meta_post(client, payload: dict | bytes, *, secret: str = SECRET):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/inbound/meta/", body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=f"sha256={signature}")


class StubGraph:
    """A Graph API stand-in: GET /<leadgen_id> answers the lead, after `failures` 500s."""

    def __init__(self):
        self.failures = 0
        self.requests: list[str] = []
        self.lead = load_json("meta", "leadgen_lead.json")  # what the Graph API answers
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.requests.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                if stub.failures > 0:
                    stub.failures -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                if (self.headers.get("Authorization") != "Bearer page-token"
                        or "access_token" in query):  # never in the URL
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(stub.lead).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v21.0"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def graph(settings):
    stub = StubGraph()
    settings.META_GRAPH_URL = stub.url
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def test_the_verification_handshake_echoes_the_challenge_only_with_our_token(client):
    ok = client.get("/inbound/meta/", {"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                       "hub.verify_token": "meta-verify-token"})
    assert ok.status_code == 200 and ok.content == b"1158201444"
    bad = client.get("/inbound/meta/", {"hub.mode": "subscribe", "hub.challenge": "1",
                                        "hub.verify_token": "guess"})
    assert bad.status_code == 403


def test_a_whatsapp_message_becomes_a_chat_lead_by_phone(client):
    response = meta_post(client, load_json("meta", "whatsapp_text.json"))
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.phone, lead.first_name, lead.last_name, lead.channel) == (
        "+14155552671", "Grace", "Hopper", "chat")
    assert "quote for the cloud move" in lead.interactions.get().body


def test_a_whatsapp_message_from_a_caller_lands_on_the_call_lead(client):
    from capture.intake import IntakeInput, receive_lead

    call = receive_lead(IntakeInput(channel="call", fields={"phone": "+14155552671"},
                                    summary="Call", notify_prospect=False)).lead
    meta_post(client, load_json("meta", "whatsapp_text.json"))
    assert Lead.objects.get().pk == call.pk and call.interactions.count() == 2


def test_a_retried_whatsapp_delivery_adds_nothing(client):
    payload = load_json("meta", "whatsapp_text.json")
    meta_post(client, payload)
    assert meta_post(client, payload).status_code == 200
    assert Lead.objects.get().interactions.count() == 1 and InboundEvent.objects.count() == 1


@pytest.mark.parametrize("stamp", [10**17, 10**30, "not a time", None])
def test_a_message_with_an_impossible_timestamp_is_taken_in_at_its_arrival(client, stamp):
    """10^17 seconds made Python raise OSError (EOVERFLOW), which crashed the event (fuzzer)."""
    payload = load_json("meta", "whatsapp_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = stamp
    assert meta_post(client, payload).status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == "processed", event.reason
    assert Lead.objects.get().interactions.get().occurred_at == event.received_at


def test_a_messenger_message_with_a_text_timestamp_is_taken_in(client):
    payload = load_json("meta", "messenger_message.json")
    payload["entry"][0]["messaging"][0]["timestamp"] = "soon"  # `//` on it raised TypeError
    assert meta_post(client, payload).status_code == 200
    assert InboundEvent.objects.get().status == "processed"


def test_delivery_statuses_store_nothing(client):
    assert meta_post(client, load_json("meta", "whatsapp_status.json")).status_code == 200
    assert not InboundEvent.objects.exists()


def test_messenger_messages_from_one_sender_stay_on_one_lead(client):
    payload = load_json("meta", "messenger_message.json")
    meta_post(client, payload)
    payload["entry"][0]["messaging"][0]["message"] = {"mid": "m_2", "text": "And Sundays?"}
    meta_post(client, payload)
    lead = Lead.objects.get()
    assert lead.channel == "social" and lead.interactions.count() == 2
    assert "6543210987654321" in lead.interactions.last().body


def test_our_own_page_s_echo_is_kept_as_ignored(client):
    payload = load_json("meta", "messenger_message.json")
    payload["entry"][0]["messaging"][0]["message"]["is_echo"] = True
    meta_post(client, payload)
    event = InboundEvent.objects.get()
    assert event.status == "ignored" and "echo" in event.reason
    assert not Lead.objects.exists()


def test_a_bad_or_missing_signature_is_403_and_stores_nothing(client):
    payload = load_json("meta", "whatsapp_text.json")
    assert meta_post(client, payload, secret="wrong").status_code == 403
    body = json.dumps(payload).encode()
    assert client.post("/inbound/meta/", body,
                       content_type="application/json").status_code == 403
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    reserialised = json.dumps(payload, indent=2).encode()  # same JSON, other bytes
    response = client.post("/inbound/meta/", reserialised, content_type="application/json",
                           HTTP_X_HUB_SIGNATURE_256=f"sha256={signature}")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_malformed_body_is_400_and_an_unreadable_item_is_kept_rejected(client):
    assert meta_post(client, b"not json").status_code == 400
    assert meta_post(client, {"object": "page"}).status_code == 400
    assert not InboundEvent.objects.exists()
    broken = load_json("meta", "whatsapp_text.json")
    del broken["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert meta_post(client, broken).status_code == 200  # the delivery is read; the item is not
    assert InboundEvent.objects.get().status == "rejected" and not Lead.objects.exists()


def test_unreadable_lead_ad_and_comment_items_do_not_lose_the_good_message_beside_them(
        client):
    delivery = load_json("meta", "whatsapp_text.json")
    delivery["entry"][0]["changes"] += [
        {"field": "leadgen", "value": {"page_id": "999"}},  # no leadgen_id
        {"field": "feed", "value": {"item": "comment", "verb": "add"}},  # no comment_id
        {"field": "messages", "value": {"messages": "oops"}},  # not a list
    ]
    assert meta_post(client, delivery).status_code == 200
    assert Lead.objects.count() == 1  # the WhatsApp message
    rejected = InboundEvent.objects.filter(status="rejected").order_by("id")
    assert [e.external_id.split(":")[0] for e in rejected] == [
        "leadgen-unreadable", "fb-comment-unreadable", "whatsapp-unreadable"]
    assert "leadgen_id" in rejected[0].reason
    assert meta_post(client, delivery).status_code == 200  # Meta's retry adds nothing
    assert InboundEvent.objects.count() == 4


def test_a_lead_ad_is_fetched_from_the_graph_api_and_mapped(client, graph, sync_tasks,
                                                            django_capture_on_commit_callbacks):
    ChannelSettings.objects.create(channel="meta", default_region="GB",
                                   field_mapping={"what_service_do_you_need?": "service"})
    with django_capture_on_commit_callbacks(execute=True):
        response = meta_post(client, load_json("meta", "leadgen_change.json"))
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.phone, lead.company,
            lead.service) == ("Joan", "Clarke", "joan@bletchley.example", "+447911123456",
                              "Hut 8", "managed_it")
    assert "how many seats: 50" in lead.interactions.get().body
    assert graph.requests[0].startswith("/v21.0/1122334455667788?")
    assert InboundEvent.objects.get().status == "processed"


def test_a_lead_ad_s_invalid_email_is_kept_on_the_timeline(client, graph, sync_tasks,
                                                             django_capture_on_commit_callbacks):
    graph.lead["field_data"][1]["values"] = ["not-an-email"]
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, load_json("meta", "leadgen_change.json"))
    lead = Lead.objects.get()
    assert lead.email == "" and lead.phone == "+447911123456"
    assert "email (not valid): not-an-email" in lead.interactions.get().body


def test_a_lead_ad_s_national_number_is_read_in_the_country_the_person_gave(
        client, graph, sync_tasks, django_capture_on_commit_callbacks):
    # A US page's ad, answered from the UK: "07911 123456" is a UK mobile, not a bad US number.
    ChannelSettings.objects.create(channel="meta", default_region="US")
    graph.lead["field_data"][2]["values"] = ["07911 123456"]
    graph.lead["field_data"].append({"name": "country", "values": ["United Kingdom"]})
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, load_json("meta", "leadgen_change.json"))
    lead = Lead.objects.get()
    assert (lead.phone, lead.country) == ("+447911123456", "GB")
    assert "not valid" not in lead.interactions.get().body


def test_the_graph_client_retries_a_flaky_graph_api(client, graph, sync_tasks,
                                                    django_capture_on_commit_callbacks):
    graph.failures = 2
    with django_capture_on_commit_callbacks(execute=True):
        meta_post(client, load_json("meta", "leadgen_change.json"))
    assert Lead.objects.get().email == "joan@bletchley.example"
    assert len(graph.requests) == 3


def test_a_graph_outage_leaves_the_event_failed_then_the_schedule_fetches_it(
        client, graph, sync_tasks, django_capture_on_commit_callbacks):
    graph.failures = 100
    # The task raises so django-q2 retries it (sync mode shows that as the exception here).
    with pytest.raises(requests.RequestException), django_capture_on_commit_callbacks(
        execute=True
    ):
        response = meta_post(client, load_json("meta", "leadgen_change.json"))
    assert response.status_code == 200  # stored: Meta must not retry
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "Graph API failed (1 tries)" in event.reason
    assert not Lead.objects.exists()
    # The generic sweeper cannot fetch; its tries do not stop the channel's own schedule.
    for _ in range(6):
        retry_failed_events()
    graph.failures = 0
    assert retry_leadgen_fetches() == 1
    event.refresh_from_db()
    assert event.status == "processed" and Lead.objects.count() == 1
    assert retry_leadgen_fetches() == 0  # nothing left to fetch


def test_a_backlog_of_lead_ads_waiting_for_the_graph_api_is_left_to_the_schedule(
        client, graph, sync_tasks, django_capture_on_commit_callbacks):
    """Six lead ads wait for their answers during an outage; an email that failed for its
    own reason is behind them. The sweeper, one event at a time, retries the email and leaves
    every lead ad's reason and tries as the fetch left them."""
    from capture import intake
    from capture.intake import IntakeInput, process_inbound_event, store_inbound_event

    graph.failures = 10_000
    change = load_json("meta", "leadgen_change.json")
    for n in range(6):
        change["entry"][0]["changes"][0]["value"]["leadgen_id"] = f"11223344556677{n:02}"
        with pytest.raises(requests.RequestException), django_capture_on_commit_callbacks(
            execute=True
        ):
            meta_post(client, change)
    waiting = {e.pk: (e.reason, e.attempts) for e in InboundEvent.objects.all()}
    assert len(waiting) == 6 and all("Graph API failed" in r for r, _ in waiting.values())

    calls = {"n": 0}

    def flaky(event):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("mail server away")
        return IntakeInput(channel="email", fields={"email": "late@x.co"}, summary="Email",
                           notify_prospect=False)

    intake.NORMALISERS["test-flaky"] = flaky
    try:
        failed, _ = store_inbound_event(channel="test-flaky", external_id="f1", payload={})
        process_inbound_event(failed.pk)
        assert retry_failed_events(limit=1) == 1
    finally:
        del intake.NORMALISERS["test-flaky"]
    failed.refresh_from_db()
    assert failed.status == "processed" and failed.lead.email == "late@x.co"
    assert {e.pk: (e.reason, e.attempts)
            for e in InboundEvent.objects.filter(channel="meta")} == waiting


def test_the_admin_reprocess_fetches_a_lead_ad_first(client, graph, sync_tasks, admin_client,
                                                     django_capture_on_commit_callbacks):
    graph.failures = 100
    with pytest.raises(requests.RequestException), django_capture_on_commit_callbacks(
        execute=True
    ):
        meta_post(client, load_json("meta", "leadgen_change.json"))
    graph.failures = 0
    event = InboundEvent.objects.get()
    admin_client.post("/admin/capture/inboundevent/",
                      {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == "processed" and Lead.objects.get().email == "joan@bletchley.example"


def test_the_admin_reprocess_of_a_lead_ad_while_the_graph_api_is_down_says_so(
        client, graph, sync_tasks, admin_client, django_capture_on_commit_callbacks):
    # Seen in the admin under gunicorn: Reprocess on a lead ad while the Graph API still failed
    # was the 500 page, not the action's message (LinkedIn's reprocess already said so).
    graph.failures = 10_000
    with pytest.raises(requests.RequestException), django_capture_on_commit_callbacks(
        execute=True
    ):
        meta_post(client, load_json("meta", "leadgen_change.json"))
    event = InboundEvent.objects.get()
    page = admin_client.post("/admin/capture/inboundevent/",
                             {"action": "reprocess", "_selected_action": [event.pk]},
                             follow=True)
    assert page.status_code == 200
    assert "Reprocessed 0 event(s); 1 failed again (see their reason)." in page.content.decode()
    event.refresh_from_db()
    assert event.status == "failed" and "Graph API failed (2 tries)" in event.reason


def test_a_lone_surrogate_in_a_message_id_is_a_400(client):
    body = json.dumps(load_json("meta", "whatsapp_text.json")).replace(
        '"wamid.', '"\\ud800wamid.').encode()
    response = meta_post(client, body)
    assert response.status_code == 400 and not InboundEvent.objects.exists()


def test_a_signed_body_over_django_s_form_limit_but_within_meta_s_is_taken_in(client):
    """Meta's channel allows 1 MiB; DATA_UPLOAD_MAX_MEMORY_SIZE (256 KB) is for form posts."""
    payload = load_json("meta", "whatsapp_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = "Please quote the cloud move. " * 20_000  # 580 KB
    body = json.dumps(payload).encode()
    assert 256 * 1024 < len(body) < 1024 * 1024
    response = meta_post(client, body)
    assert response.status_code == 200, response.content
    event = InboundEvent.objects.get()
    assert event.status == "processed" and bytes(event.body) == body
    assert Lead.objects.get().interactions.get().body.startswith("Please quote")


def test_a_body_over_meta_s_limit_is_a_413_that_names_meta_s_limit(client):
    payload = load_json("meta", "whatsapp_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = "x" * (1024 * 1024)
    response = meta_post(client, payload)
    assert response.status_code == 413
    assert response.json() == {"error": "The body is larger than 1048576 bytes."}
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize(("name", "value"), [
    ("leadgen_id", "../../me?x=1"), ("leadgen_id", "1122334455667788/../me"),
    ("leadgen_id", "١٢٣"), ("leadgen_id", None), ("page_id", "me"), ("form_id", "98765?x=1"),
])
def test_a_lead_ad_whose_ids_are_not_graph_ids_is_rejected_and_never_fetched(
        client, graph, sync_tasks, django_capture_on_commit_callbacks, name, value):
    payload = load_json("meta", "leadgen_change.json")
    payload["entry"][0]["changes"][0]["value"][name] = value
    with django_capture_on_commit_callbacks(execute=True):
        response = meta_post(client, payload)
    assert response.status_code == 200  # authentic: stored with the reason, not retried
    event = InboundEvent.objects.get()
    assert event.status == "rejected"
    assert f"Lead ad ids must be Graph ids (digits): {name} {value!r}." == event.reason
    assert retry_leadgen_fetches() == 0
    assert graph.requests == [] and not Lead.objects.exists()


def test_a_lead_ad_stored_with_a_bad_id_before_the_check_is_rejected_not_fetched(graph):
    from capture.channels.meta import fetch_leadgen

    change = {**load_json("meta", "leadgen_change.json")["entry"][0]["changes"][0]["value"],
              "leadgen_id": "../../me?x=1"}
    event = InboundEvent.objects.create(channel="meta", external_id="leadgen:../../me?x=1",
                                        payload={"kind": "leadgen", "change": change})
    assert fetch_leadgen(event.id) is False
    event.refresh_from_db()
    assert event.status == "rejected" and "leadgen_id '../../me?x=1'" in event.reason
    assert graph.requests == []


def test_a_whatsapp_number_id_that_is_not_a_graph_id_is_not_kept_as_the_reply_address(client):
    from capture.models import LeadIdentity

    payload = load_json("meta", "whatsapp_text.json")
    meta_post(client, payload)
    assert LeadIdentity.objects.get().address == "106540352242922"
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "../me/feed"
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.second"
    meta_post(client, payload)
    assert LeadIdentity.objects.get().address == "106540352242922"  # the bad one not taken


@pytest.mark.parametrize("message", [
    {"mid": "m_nosender_1", "text": "hi"},  # and no sender below
    {"mid": None, "text": "hi"},
    {"text": "hi"},
])
def test_a_messenger_item_without_its_id_or_sender_is_kept_rejected_and_the_rest_taken_in(
        client, message):
    """Not a blank lead nobody can answer, and not a 400 either: Meta would send the whole
    delivery again, the good message with it. A redelivery adds nothing."""
    bad = {"message": message, "timestamp": 1733400000000}
    if not message.get("mid"):  # a sender, but no mid
        bad["sender"] = {"id": "6543210987654321"}
    good = load_json("meta", "messenger_message.json")["entry"][0]["messaging"][0]
    delivery = {"object": "page", "entry": [{"id": "1", "messaging": [bad, good]}]}
    for _ in range(2):
        assert meta_post(client, delivery).status_code == 200
    rejected = InboundEvent.objects.get(status="rejected")
    assert "without its mid or its sender" in rejected.reason and rejected.lead is None
    assert Lead.objects.count() == 1  # the good message's
    assert InboundEvent.objects.count() == 2


def test_a_whatsapp_message_whose_sender_is_not_a_number_is_kept_rejected_alone(client):
    payload = load_json("meta", "whatsapp_text.json")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.append({**messages[0], "id": "wamid.BAD", "from": {"a": 1}})
    assert meta_post(client, payload).status_code == 200
    assert InboundEvent.objects.filter(status="rejected").count() == 1
    assert Lead.objects.count() == 1
