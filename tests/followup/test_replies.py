"""Replies on the prospect's own channel from the lead page: WhatsApp (24-hour window, a
template outside it), Messenger, Instagram, Telegram and SMS through each platform's send API
(a stub on 127.0.0.1), sent by the outbox, recorded as the rep's contact, with the delivery
status from the platforms' callbacks; failures retried, then shown; refusals explained."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from twilio.request_validator import RequestValidator

from capture.models import Interaction, Lead, LeadIdentity
from followup.models import Notification, OutboundMessage
from followup.tasks import dispatch_due_messages
from tests.capture.conftest import load_json
from tests.stub_http import StubAPI

pytestmark = pytest.mark.django_db
META_SECRET = "meta-app-secret"


@pytest.fixture
def api(settings):
    stub = StubAPI(default=(500, {"error": {"message": "no answer queued", "code": 2}}))
    settings.META_APP_SECRET = META_SECRET
    settings.META_VERIFY_TOKEN = "meta-verify-token"
    settings.META_GRAPH_URL = f"{stub.url}/v21.0"
    settings.META_PAGE_ACCESS_TOKEN = "page-token"
    settings.INSTAGRAM_ACCESS_TOKEN = ""
    settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    settings.WHATSAPP_TEMPLATE_NAME = ""
    settings.TELEGRAM_API_URL = stub.url
    settings.TELEGRAM_BOT_TOKEN = "123456:bot-token"
    settings.TELEGRAM_WEBHOOK_SECRET = "telegram-webhook-secret"
    yield stub
    stub.close()


@pytest.fixture
def rep(alice, client):
    client.force_login(alice.user)
    return alice.user


def meta_post(client, payload: dict):
    body = json.dumps(payload).encode()
    signature = hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post("/inbound/meta/", body, content_type="application/json",
                       HTTP_X_HUB_SIGNATURE_256=f"sha256={signature}")


def whatsapp_from_prospect(client, rep, at: int | None = None) -> Lead:
    payload = load_json("meta", "whatsapp_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(
        at or int(time.time()))
    assert meta_post(client, payload).status_code == 200
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    return lead


def messenger_from_prospect(client, rep, name: str = "messenger_message.json") -> Lead:
    payload = load_json("meta", name)
    payload["entry"][0]["messaging"][0]["timestamp"] = int(time.time() * 1000)
    assert meta_post(client, payload).status_code == 200
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    return lead


def telegram_from_prospect(client, rep) -> Lead:
    update = load_json("telegram", "start.json")
    update["message"]["date"] = int(time.time())
    client.post("/inbound/telegram/", json.dumps(update), content_type="application/json",
                HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="telegram-webhook-secret")
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    return lead


def option_key(lead: Lead, channel: str) -> str:
    identity = lead.identities.get()
    return f"{channel}:{identity.pk}"


def reply(client, lead: Lead, key: str, body: str, capture):
    with capture(execute=True):
        return client.post(f"/leads/{lead.pk}/reply/", {"channel": key, "body": body})


def page(client, lead: Lead) -> str:
    response = client.get(f"/leads/{lead.pk}/")
    assert response.status_code == 200
    return response.content.decode()


# --- WhatsApp -------------------------------------------------------------------------------

def test_a_whatsapp_reply_inside_the_window_goes_out_and_its_statuses_follow(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep)
    html = page(client, lead)
    assert "Inside the 24-hour window" in html and 'id="reply-form"' in html
    api.answer(200, {"messaging_product": "whatsapp", "contacts": [
        {"input": "14155552671", "wa_id": "14155552671"}], "messages": [{"id": "wamid.OUT1"}]})

    response = reply(client, lead, option_key(lead, "whatsapp"), "Hi Grace, sure: when?",
                     django_capture_on_commit_callbacks)

    assert response.status_code == 302
    sent = api.requests[-1]
    assert sent.path == "/v21.0/106540352242922/messages"
    assert sent.headers["Authorization"] == "Bearer wa-token"
    assert sent.json["to"] == "14155552671" and sent.json["type"] == "text"
    assert sent.json["text"]["body"] == "Hi Grace, sure: when?"
    row = OutboundMessage.objects.get(kind="reply")
    assert (row.status, row.provider_id, row.sent_by_id) == ("sent", "wamid.OUT1", rep.pk)
    contact = lead.interactions.get(direction="outbound")
    assert (contact.actor_id, contact.kind, contact.delivery_status) == (rep.pk, "message",
                                                                         "sent")
    lead.refresh_from_db()
    assert lead.first_response_at is not None and lead.status == "contacted"

    status = load_json("meta", "whatsapp_status.json")
    entry = status["entry"][0]["changes"][0]["value"]["statuses"][0]
    for reported in ("delivered", "read", "delivered"):  # the late "delivered" moves nothing
        entry.update(id="wamid.OUT1", status=reported)
        assert meta_post(client, status).status_code == 200
    contact.refresh_from_db()
    assert contact.delivery_status == "read"
    assert OutboundMessage.objects.get(kind="reply").provider_status == "read"
    assert "delivery-read" in page(client, lead)


def test_a_reply_refused_as_outside_the_window_closes_it_until_the_prospect_writes(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    """WhatsApp's clock has the last word: after "(#10) sent outside of allowed window" the
    page stops offering a reply, until the prospect's next message opens the window again."""
    lead = whatsapp_from_prospect(client, rep, at=int(time.time()) - 23 * 3600)
    assert "Inside the 24-hour window" in page(client, lead)
    api.answer(400, {"error": {"message": "(#10) sent outside of allowed window", "code": 10,
                               "type": "OAuthException"}})
    reply(client, lead, option_key(lead, "whatsapp"), "Hello?",
          django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.get(kind="reply").status == "failed"

    html = page(client, lead)
    assert "Inside the 24-hour window" not in html and 'id="reply-form"' not in html
    assert "closed until the prospect writes again" in html

    payload = load_json("meta", "whatsapp_text.json")  # they write again: open once more
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id="wamid.AGAIN", timestamp=str(int(time.time())))
    assert meta_post(client, payload).status_code == 200
    html = page(client, lead)
    assert "Inside the 24-hour window" in html and 'id="reply-form"' in html


def test_a_re_engagement_failure_reported_later_closes_the_window_too(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep, at=int(time.time()) - 23 * 3600)
    api.answer(200, {"messages": [{"id": "wamid.OUT9"}]})
    reply(client, lead, option_key(lead, "whatsapp"), "Hello?",
          django_capture_on_commit_callbacks)
    status = load_json("meta", "whatsapp_status.json")
    entry = status["entry"][0]["changes"][0]["value"]["statuses"][0]
    entry.update(id="wamid.OUT9", status="failed",
                 errors=[{"code": 131047, "title": "Re-engagement message"}])
    assert meta_post(client, status).status_code == 200
    html = page(client, lead)
    assert "closed until the prospect writes again" in html and 'id="reply-form"' not in html


def test_outside_the_window_the_page_says_only_a_template_may_go(
        client, rep, api, settings, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep, at=int(time.time()) - 25 * 3600)
    html = page(client, lead)
    assert "window closed" in html and "no approved template is configured" in html
    assert 'id="reply-form"' not in html
    refused = reply(client, lead, option_key(lead, "whatsapp"), "Hello?",
                    django_capture_on_commit_callbacks)
    assert refused.status_code == 400 and not OutboundMessage.objects.filter(kind="reply")

    settings.WHATSAPP_TEMPLATE_NAME = "follow_up"
    assert "only the approved template “follow_up”" in page(client, lead)
    api.answer(200, {"messages": [{"id": "wamid.TPL1"}]})
    reply(client, lead, option_key(lead, "whatsapp"), "", django_capture_on_commit_callbacks)
    sent = api.requests[-1].json
    assert sent["type"] == "template"
    assert sent["template"] == {"name": "follow_up", "language": {"code": "en_US"}}


def test_a_failing_send_is_retried_then_shown_as_failed(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep)
    reply(client, lead, option_key(lead, "whatsapp"), "Are you there?",
          django_capture_on_commit_callbacks)  # the stub answers 500 until told otherwise
    row = OutboundMessage.objects.get(kind="reply")
    assert (row.status, row.attempts) == ("scheduled", 1)
    assert "retrying" in page(client, lead)
    for _ in range(4):
        row.refresh_from_db()
        with time_machine.travel(row.due_at + timedelta(seconds=1), tick=False):
            dispatch_due_messages()
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 5)
    assert len(api.requests) == 5
    html = page(client, lead)
    assert "reply-failed" in html and "no answer queued" in html
    assert Notification.objects.get(user=rep, kind="reply_failed")
    lead.refresh_from_db()
    assert lead.first_response_at is None  # nothing reached the prospect


def test_a_whatsapp_failed_status_after_acceptance_marks_the_reply_failed(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep)
    api.answer(200, {"messages": [{"id": "wamid.OUT2"}]})
    reply(client, lead, option_key(lead, "whatsapp"), "Hi", django_capture_on_commit_callbacks)
    status = load_json("meta", "whatsapp_status.json")
    status["entry"][0]["changes"][0]["value"]["statuses"][0].update(
        id="wamid.OUT2", status="failed",
        errors=[{"code": 131047, "title": "Re-engagement message"}])
    meta_post(client, status)
    row = OutboundMessage.objects.get(kind="reply")
    assert row.status == "failed" and "131047" in row.last_error
    assert lead.interactions.filter(summary__contains="failed").exists()


def test_a_prospect_who_texted_stop_cannot_be_messaged_on_whatsapp(client, rep, api):
    lead = whatsapp_from_prospect(client, rep)
    Lead.objects.filter(pk=lead.pk).update(do_not_text=True)
    html = page(client, lead)
    assert "opted out" in html and 'id="reply-form"' not in html


# --- Messenger and Instagram ----------------------------------------------------------------

def test_a_messenger_reply_uses_the_send_api_and_records_the_delivery(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = messenger_from_prospect(client, rep)
    api.answer(200, {"recipient_id": "6543210987654321", "message_id": "m_OUT_1"})
    reply(client, lead, option_key(lead, "messenger"), "We open at 10 on Saturdays.",
          django_capture_on_commit_callbacks)
    sent = api.requests[-1]
    assert sent.path == "/v21.0/me/messages" and "access_token" not in sent.query
    assert sent.headers["Authorization"] == "Bearer page-token"
    assert sent.json == {"recipient": {"id": "6543210987654321"}, "messaging_type": "RESPONSE",
                         "message": {"text": "We open at 10 on Saturdays."}}
    delivery = load_json("meta", "messenger_message.json")
    delivery["entry"][0]["messaging"][0].pop("message")
    delivery["entry"][0]["messaging"][0]["delivery"] = {"mids": ["m_OUT_1"],
                                                        "watermark": int(time.time() * 1000)}
    meta_post(client, delivery)
    assert lead.interactions.get(direction="outbound").delivery_status == "delivered"


def test_after_a_day_messenger_replies_carry_the_human_agent_tag_and_stop_after_a_week(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks, settings):
    settings.SESSION_COOKIE_AGE = 30 * 24 * 3600  # staff sessions end after 12 hours: sign
    client.force_login(rep)  # in again for one that outlasts the jumps in time below
    lead = messenger_from_prospect(client, rep)
    api.answer(200, {"recipient_id": "6543210987654321", "message_id": "m_OUT_2"})
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert "HUMAN_AGENT" in page(client, lead)
        reply(client, lead, option_key(lead, "messenger"), "Following up",
              django_capture_on_commit_callbacks)
    assert api.requests[-1].json["tag"] == "HUMAN_AGENT"
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        html = page(client, lead)
    assert "more than 7 days ago" in html and 'id="reply-form"' not in html


def test_a_messenger_reply_refused_as_outside_the_window_leaves_the_tagged_reply(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    """Meta's clock closed the 24-hour window early: within 7 days of their last message a
    person's reply with the HUMAN_AGENT tag may still go; once that is refused too, nothing."""
    lead = messenger_from_prospect(client, rep)
    outside = {"error": {"message": "(#10) This message is sent outside of allowed window.",
                         "code": 10, "error_subcode": 2018278, "type": "OAuthException"}}
    api.answer(400, outside)
    reply(client, lead, option_key(lead, "messenger"), "Hello?",
          django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.get(kind="reply").status == "failed"

    html = page(client, lead)
    assert "HUMAN_AGENT" in html and 'id="reply-form"' in html
    api.answer(200, {"recipient_id": "6543210987654321", "message_id": "m_OUT_3"})
    reply(client, lead, option_key(lead, "messenger"), "Following up",
          django_capture_on_commit_callbacks)
    assert api.requests[-1].json["tag"] == "HUMAN_AGENT"
    assert OutboundMessage.objects.filter(kind="reply", status="sent").count() == 1

    api.answer(400, outside)  # the tagged reply refused as well: closed until they write
    reply(client, lead, option_key(lead, "messenger"), "Still there?",
          django_capture_on_commit_callbacks)
    html = page(client, lead)
    assert 'id="reply-form"' not in html and "closed until the prospect writes again" in html


def test_an_instagram_reply_goes_to_the_instagram_scoped_id_and_is_read(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = messenger_from_prospect(client, rep, "instagram_message.json")
    api.answer(200, {"recipient_id": "1254459154682919", "message_id": "aWdfOUT"})
    reply(client, lead, option_key(lead, "instagram"), "The spring package is 490 €.",
          django_capture_on_commit_callbacks)
    assert api.requests[-1].json["recipient"] == {"id": "1254459154682919"}
    read = load_json("meta", "instagram_message.json")
    read["entry"][0]["messaging"][0].pop("message")
    read["entry"][0]["messaging"][0]["read"] = {"mid": "aWdfOUT"}
    meta_post(client, read)
    assert OutboundMessage.objects.get(kind="reply").provider_status == "read"


def instagram_comment_from_prospect(client, rep, at: int) -> Lead:
    """A signed Instagram `comments` change; `at` is the notification's entry.time (the
    comment carries no created_time of its own)."""
    payload = load_json("meta", "instagram_comment.json")
    payload["entry"][0]["time"] = at
    assert meta_post(client, payload).status_code == 200
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    return lead


def test_a_commenter_gets_one_private_reply_to_the_comment_not_a_message(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    """A comment opens no 24-hour message window: Meta allows one private reply addressed to
    the comment, within 7 days of it."""
    lead = instagram_comment_from_prospect(client, rep, at=int(time.time()) - 3600)
    assert lead.display_name == "@ada.builds"  # named after the commenter
    html = page(client, lead)
    assert "Inside the 24-hour window" not in html
    assert "one private reply to that comment" in html and 'id="reply-form"' in html
    api.answer(200, {"recipient_id": "232323232", "message_id": "aWdfZAG1faXRlbTo9"})

    reply(client, lead, option_key(lead, "instagram"), "Hi! 20 seats are 900 € a month.",
          django_capture_on_commit_callbacks)

    sent = api.requests[-1]
    assert sent.path == "/v21.0/me/messages"
    assert sent.json == {"recipient": {"comment_id": "17865799348089039"},
                         "message": {"text": "Hi! 20 seats are 900 € a month."}}
    assert OutboundMessage.objects.get(kind="reply").status == "sent"
    html = page(client, lead)  # once per comment
    assert "has had its private reply" in html and 'id="reply-form"' not in html
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        response = client.post(f"/leads/{lead.pk}/reply/", {
            "channel": option_key(lead, "instagram"), "body": "Another one"})
    assert response.status_code == 400
    assert OutboundMessage.objects.filter(kind="reply").count() == 1


def test_a_comment_older_than_seven_days_allows_no_reply_whenever_it_arrived(client, rep, api):
    """The 7 days count from the comment (the webhook's time), not from when it was taken
    in: a comment delivered late, or reprocessed, is no fresher."""
    lead = instagram_comment_from_prospect(client, rep,
                                           at=int(time.time()) - 8 * 24 * 3600)
    html = page(client, lead)
    assert "more than 7 days old" in html and 'id="reply-form"' not in html
    assert "Inside the 24-hour window" not in html


# --- Telegram -------------------------------------------------------------------------------

def test_a_telegram_reply_goes_to_the_chat_and_stamps_the_first_response_once(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = telegram_from_prospect(client, rep)
    api.answer(200, {"ok": True, "result": {"message_id": 77, "chat": {"id": 5566778899}}})
    api.answer(200, {"ok": True, "result": {"message_id": 78, "chat": {"id": 5566778899}}})
    reply(client, lead, option_key(lead, "telegram"), "Bonjour Marie!",
          django_capture_on_commit_callbacks)
    sent = api.requests[-1]
    assert sent.path == "/bot123456:bot-token/sendMessage"
    assert sent.json == {"chat_id": "5566778899", "text": "Bonjour Marie!"}
    lead.refresh_from_db()
    first = lead.first_response_at
    assert first is not None
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        reply(client, lead, option_key(lead, "telegram"), "Any news?",
              django_capture_on_commit_callbacks)
    lead.refresh_from_db()
    assert lead.first_response_at == first
    assert OutboundMessage.objects.filter(kind="reply", status="sent").count() == 2


def test_a_reply_of_several_lines_reaches_the_platform_with_its_own_line_breaks(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    """Browsers post a textarea's lines ending in CR LF: Telegram showed a stray character at
    the end of each line; chat replies were already plain "\\n"."""
    lead = telegram_from_prospect(client, rep)
    api.answer(200, {"ok": True, "result": {"message_id": 77, "chat": {"id": 5566778899}}})
    reply(client, lead, option_key(lead, "telegram"), "Line one\r\nLine two\r\n",
          django_capture_on_commit_callbacks)
    assert api.requests[-1].json["text"] == "Line one\nLine two"
    assert OutboundMessage.objects.get(kind="reply").body == "Line one\nLine two"


def test_a_blocked_bot_fails_at_once_and_the_page_then_says_why(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = telegram_from_prospect(client, rep)
    api.answer(403, {"ok": False, "error_code": 403,
                     "description": "Forbidden: bot was blocked by the user"})
    reply(client, lead, option_key(lead, "telegram"), "Hello?",
          django_capture_on_commit_callbacks)
    row = OutboundMessage.objects.get(kind="reply")
    assert row.status == "failed" and len(api.requests) == 1  # a refusal is not retried
    assert LeadIdentity.objects.get().blocked_at is not None
    html = page(client, lead)
    assert "bot was blocked by the user" in html and 'id="reply-form"' not in html
    # Said once, as the platform said it: not "Telegram refused: Refused: Telegram refused".
    said = "Telegram refused the message (403): Forbidden: bot was blocked by the user"
    assert row.last_error == said and LeadIdentity.objects.get().blocked_reason == said
    assert Notification.objects.get(kind="reply_failed").text.endswith(f"not delivered: {said}")
    assert "Refused: " not in html and "refused: Telegram refused" not in html


def test_a_reply_the_platform_took_but_did_not_answer_in_time_is_not_sent_again(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("followup.platforms.TIMEOUT", 0.3)
    lead = telegram_from_prospect(client, rep)

    def slow(request):
        time.sleep(0.8)  # the message is in; the answer comes too late
        return {"ok": True, "result": {"message_id": 79}}

    api.answer(200, slow)
    reply(client, lead, option_key(lead, "telegram"), "Hello?",
          django_capture_on_commit_callbacks)
    row = OutboundMessage.objects.get(kind="reply")
    assert row.status == "failed" and len(api.requests) == 1
    assert "may have reached the prospect" in row.last_error
    assert "may have reached the prospect" in page(client, lead)


def test_a_reply_that_never_left_is_retried_and_the_bot_token_stays_out_of_the_error(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks, settings):
    lead = telegram_from_prospect(client, rep)
    settings.TELEGRAM_API_URL = "http://127.0.0.1:9"  # nothing listens: refused at once
    reply(client, lead, option_key(lead, "telegram"), "Hello?",
          django_capture_on_commit_callbacks)
    row = OutboundMessage.objects.get(kind="reply")
    assert (row.status, row.attempts) == ("scheduled", 1)  # tried again with backoff
    assert "bot-token" not in row.last_error and "ConnectionError" in row.last_error


# --- SMS ------------------------------------------------------------------------------------

def test_an_sms_reply_goes_through_twilio_and_its_status_callback_is_recorded(
        client, rep, api, twilio, settings, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep)  # a phone number, from WhatsApp
    reply(client, lead, "sms", "Texting you the quote now.", django_capture_on_commit_callbacks)
    assert twilio.texts[-1]["To"] == "+14155552671"
    row = OutboundMessage.objects.get(kind="reply", channel="sms")
    assert row.status == "sent" and row.provider_id.startswith("SM")
    params = {**load_json("twilio", "message_status.json")["params"], "MessageSid":
              row.provider_id, "SmsSid": row.provider_id}
    url = "http://testserver/inbound/twilio/message-status/"
    signature = RequestValidator(settings.TWILIO_AUTH_TOKEN).compute_signature(url, params)
    response = client.post("/inbound/twilio/message-status/", params,
                           HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 204
    assert lead.interactions.get(channel="sms", direction="outbound").delivery_status == (
        "delivered")
    forged = client.post("/inbound/twilio/message-status/",
                         {**params, "MessageStatus": "failed"}, HTTP_X_TWILIO_SIGNATURE="x")
    assert forged.status_code == 403
    row.refresh_from_db()
    assert row.status == "sent"


# --- where no reply is possible -------------------------------------------------------------

def test_a_lead_without_an_account_or_phone_says_how_to_reach_them(client, rep):
    from capture.intake import IntakeInput, receive_lead

    lead = receive_lead(IntakeInput(channel="api", fields={"email": "g@example.com"},
                                    summary="API", notify_prospect=False)).lead
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    html = page(client, lead)
    assert 'id="reply-none"' in html and "call or email them" in html


def test_slack_and_x_accounts_are_listed_with_where_to_answer(client, rep, settings):
    from capture.intake import IntakeInput, PlatformAccount, receive_lead

    lead = receive_lead(IntakeInput(channel="chat", fields={"message": "hi"}, summary="Slack",
                                    notify_prospect=False,
                                    identity=PlatformAccount("slack", "U0PARTNER"))).lead
    Lead.objects.filter(pk=lead.pk).update(owner=rep)
    html = page(client, lead)
    assert "answered in Slack" in html and 'id="reply-form"' not in html


def test_a_reply_to_another_reps_lead_is_a_404(client, rep, bob, api):
    lead = whatsapp_from_prospect(client, rep)
    Lead.objects.filter(pk=lead.pk).update(owner=bob.user)
    response = client.post(f"/leads/{lead.pk}/reply/",
                           {"channel": option_key(lead, "whatsapp"), "body": "x"})
    assert response.status_code == 404 and not OutboundMessage.objects.filter(kind="reply")


def test_a_reply_waiting_for_a_retry_is_not_sent_once_the_prospect_opts_out(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = whatsapp_from_prospect(client, rep)
    reply(client, lead, option_key(lead, "whatsapp"), "First try",
          django_capture_on_commit_callbacks)  # 500: waits for a retry
    Lead.objects.filter(pk=lead.pk).update(do_not_text=True)
    row = OutboundMessage.objects.get(kind="reply")
    with time_machine.travel(row.due_at + timedelta(seconds=1), tick=False):
        dispatch_due_messages()
    row.refresh_from_db()
    assert row.status == "cancelled" and "opted out" in row.last_error
    assert len(api.requests) == 1
    assert Interaction.objects.filter(lead=lead, summary__contains="failed").exists()


def test_a_double_clicked_send_sends_one_message(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    lead = telegram_from_prospect(client, rep)
    api.answer(200, {"ok": True, "result": {"message_id": 90}})
    api.answer(200, {"ok": True, "result": {"message_id": 91}})
    for _ in range(2):
        reply(client, lead, option_key(lead, "telegram"), "Bonjour!",
              django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.filter(kind="reply").count() == 1
    assert len(api.requests) == 1
    reply(client, lead, option_key(lead, "telegram"), "Another question?",
          django_capture_on_commit_callbacks)  # a different text is a new reply
    assert len(api.requests) == 2


# --- erasure --------------------------------------------------------------------------------

def test_an_erased_telegram_prospect_leaves_no_account_id_in_any_column(
        client, rep, api, sync_tasks, django_capture_on_commit_callbacks):
    """Telegram's chat id is the person's user id, and our message's provider id starts with
    it ("5566778899:77"): the erasure blanks it with the rest, wherever it was copied, and
    finds an update from that account that was kept on no lead (a rejected event)."""
    from capture.intake import store_inbound_event
    from capture.privacy import erase_person, find_person
    from tests.capture.test_privacy import _tables_containing

    lead = telegram_from_prospect(client, rep)
    spam = load_json("telegram", "text.json")
    spam["message"]["from"] = {"id": 5566778899, "is_bot": False}
    store_inbound_event(channel="telegram", external_id="815000009", payload=spam,
                        status="rejected", reason="kept aside")
    api.answer(200, {"ok": True, "result": {"message_id": 77, "chat": {"id": 5566778899}}})
    reply(client, lead, option_key(lead, "telegram"), "Bonjour!",
          django_capture_on_commit_callbacks)
    assert OutboundMessage.objects.get(kind="reply").provider_id == "5566778899:77"
    Lead.objects.filter(pk=lead.pk).update(email="marie@example.org",
                                           email_key="marie@example.org")

    erase_person(find_person(email="marie@example.org"), rep)

    assert _tables_containing(["5566778899", "mcurie"]) == {}
    assert OutboundMessage.objects.get(kind="reply").provider_id == ""
