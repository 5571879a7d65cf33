"""Twilio voice, SMS and call status, signed with twilio's own RequestValidator."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from capture.models import ChannelSettings, InboundEvent, Interaction, Lead
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
TOKEN = "12345678901234567890123456789012"


def twilio_post(client, path: str, params: dict, *, token: str = TOKEN):
    """Post as Twilio does: form-encoded, signed over the full URL and the sorted params."""
    url = f"http://testserver{path}"
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def fixture(name: str, **changes) -> dict:
    return {**load_json("twilio", name)["params"], **changes}


def test_an_unknown_caller_becomes_a_call_lead_flagged_for_call_back(client):
    response = twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response>" in response.content and b"<Hangup" in response.content
    lead = Lead.objects.get()
    assert (lead.phone, lead.channel, lead.needs_callback) == ("+14155552671", "call", True)
    assert "SAN FRANCISCO" in lead.interactions.get().summary


def test_a_caller_with_no_one_to_forward_to_hears_that_we_call_back_not_a_dead_line(client):
    # A fresh install (no channel settings) answered a prospect's call with a bare hang-up:
    # the caller heard nothing at all, as if the number were dead.
    response = twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json"))
    xml = response.content.decode()
    assert "<Say>" in xml and "call you back" in xml and xml.index("<Say>") < xml.index("<Hangup")


def test_a_greeting_of_sales_ops_own_replaces_the_call_back_sentence(client):
    ChannelSettings.objects.create(channel="twilio", greeting="Acme here, we ring back soon.")
    xml = twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json")).content.decode()
    assert "<Say>Acme here, we ring back soon.</Say>" in xml and "call you back" not in xml


def test_the_voice_reply_forwards_to_the_configured_number(client):
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199",
                                   greeting="Thanks for calling Acme.")
    response = twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json"))
    xml = response.content.decode()
    assert "<Say>Thanks for calling Acme.</Say>" in xml
    assert 'action="/inbound/twilio/status/"' in xml and "+14155550199</Dial>" in xml
    assert not Lead.objects.get().needs_callback


def test_an_unanswered_forward_flags_the_lead_for_a_priority_call_back(client):
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json"))
    response = twilio_post(client, "/inbound/twilio/status/", fixture("dial_no_answer.json"))
    assert response.status_code == 200 and b"<Response" in response.content
    lead = Lead.objects.get()
    assert lead.needs_callback
    assert lead.interactions.filter(summary__startswith="Missed call (no-answer)").exists()


def test_a_call_from_someone_who_used_the_web_form_lands_on_their_lead(client, visitor):
    visitor.submit(first_name="Grace", email="grace@navy.mil", phone="(415) 555-2671")
    twilio_post(client, "/inbound/twilio/voice/", fixture("voice.json"))
    lead = Lead.objects.get()
    assert set(lead.interactions.values_list("channel", flat=True)) == {"web_form", "call"}


def test_twilio_retrying_the_same_call_adds_nothing(client):
    for _ in range(2):
        assert twilio_post(client, "/inbound/twilio/voice/",
                           fixture("voice.json")).status_code == 200
    assert Lead.objects.count() == 1 and Lead.objects.get().interactions.count() == 1
    assert InboundEvent.objects.count() == 1


def test_an_sms_becomes_a_lead_then_a_reply_on_the_same_lead(client):
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM2",
                                                        Body="Also, do you work weekends?"))
    lead = Lead.objects.get()
    assert lead.channel == "sms" and lead.message.startswith("Hi, do you do managed IT")
    assert lead.interactions.count() == 2


def test_a_whatsapp_message_through_twilio_is_recorded_as_whatsapp_with_the_senders_name(
        client):
    # Twilio posts WhatsApp messages to the number's SMS webhook, From "whatsapp:+1...": they
    # were taken in as "SMS: ..." on an SMS lead, and the WhatsApp profile name was dropped.
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", Body="Hi by SMS"))
    response = twilio_post(client, "/inbound/twilio/sms/", fixture("whatsapp.json"))
    assert response.status_code == 200
    lead = Lead.objects.get()  # the same person as the SMS: one lead
    assert (lead.phone, lead.first_name, lead.last_name) == ("+14155552671", "Grace", "Hopper")
    entry = lead.interactions.get(summary__startswith="WhatsApp")
    assert entry.summary == "WhatsApp: Hello, can you quote managed IT for 40 people?"
    assert entry.channel == "chat"
    twilio_post(client, "/inbound/twilio/sms/", fixture("whatsapp.json", MessageSid="SM77",
                                                        From="whatsapp:+14155550177"))
    assert Lead.objects.get(phone="+14155550177").channel == "chat"


def test_the_sms_auto_reply_is_valid_twiml(client):
    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks! We'll text you soon.")
    response = twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    assert response.content.decode().endswith(
        "<Response><Message>Thanks! We'll text you soon.</Message></Response>")


@pytest.mark.parametrize("payload", ["sms.json", "whatsapp.json"])
def test_twilio_retrying_a_text_gets_no_second_auto_reply(client, payload):
    # Twilio sends the same MessageSid again when our answer was slow or failed; the retry
    # was answered with the reply text again, and the texter got it twice.
    from followup.models import OutboundMessage

    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks! We'll text you soon.")
    first = twilio_post(client, "/inbound/twilio/sms/", fixture(payload))
    assert b"<Message>Thanks! We'll text you soon.</Message>" in first.content
    retry = twilio_post(client, "/inbound/twilio/sms/", fixture(payload))
    assert retry.status_code == 200 and retry["Content-Type"].startswith("text/xml")
    assert b"<Message>" not in retry.content
    assert not OutboundMessage.objects.filter(channel=OutboundMessage.Channel.SMS).exists()
    assert Lead.objects.get().interactions.count() == 1
    # The next text of theirs is part of the same conversation: acknowledged once is enough.
    later = twilio_post(client, "/inbound/twilio/sms/",
                        fixture(payload, MessageSid="SM5", Body="Any news?"))
    assert later.status_code == 200 and b"<Message>" not in later.content
    assert Lead.objects.get().interactions.count() == 2


def test_the_auto_reply_answers_a_leads_first_text_only(client):
    # A lead that came in by the web form and texts for the first time is acknowledged; once
    # a rep has texted them back, their answer goes to the rep without the robot's line.
    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks! We'll text you soon.")
    phone = fixture("sms.json")["From"]
    lead = Lead.objects.create(first_name="Ann", phone=phone, channel="web")
    first = twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    assert b"<Message>Thanks! We'll text you soon.</Message>" in first.content
    assert lead.interactions.count() == 1
    Interaction.objects.create(lead=lead, direction=Interaction.Direction.OUTBOUND,
                               kind=Interaction.Kind.SMS, channel="sms",
                               summary="Hi Ann, when suits you for a call?")
    answer = twilio_post(client, "/inbound/twilio/sms/",
                         fixture("sms.json", MessageSid="SM77", Body="Tomorrow at 10"))
    assert b"<Message>" not in answer.content
    assert lead.interactions.filter(direction=Interaction.Direction.INBOUND).count() == 2
    # A day later the conversation is over; a new text of theirs is acknowledged again.
    from datetime import timedelta

    from django.utils import timezone

    lead.interactions.update(occurred_at=timezone.now() - timedelta(hours=25))
    again = twilio_post(client, "/inbound/twilio/sms/",
                        fixture("sms.json", MessageSid="SM78", Body="Still interested"))
    assert b"<Message>Thanks! We'll text you soon.</Message>" in again.content


@pytest.mark.parametrize("word", ["STOP", "stop", " Unsubscribe ", "STOP ALL", "Stop.",
                                  "stop!"])
def test_stop_marks_the_lead_not_to_be_texted_and_gets_no_auto_reply(client, word):
    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks!")
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    response = twilio_post(client, "/inbound/twilio/sms/",
                           fixture("sms.json", MessageSid="SM9", Body=word))
    assert b"<Message>" not in response.content
    lead = Lead.objects.get()
    assert lead.do_not_text
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM10",
                                                        Body="START"))
    lead.refresh_from_db()
    assert not lead.do_not_text


def test_a_bad_signature_is_403_and_stores_nothing(client):
    params = fixture("sms.json")
    response = twilio_post(client, "/inbound/twilio/sms/", params, token="wrong" * 6)
    assert response.status_code == 403 and "error" in response.json()
    unsigned = client.post("/inbound/twilio/sms/", params)
    assert unsigned.status_code == 403
    signed_other = RequestValidator(TOKEN).compute_signature(
        "http://testserver/inbound/twilio/sms/", params)
    tampered = client.post("/inbound/twilio/sms/", {**params, "Body": "changed"},
                           HTTP_X_TWILIO_SIGNATURE=signed_other)
    assert tampered.status_code == 403
    assert not InboundEvent.objects.exists() and not Lead.objects.exists()


def test_a_signed_request_missing_twilio_fields_is_400(client):
    response = twilio_post(client, "/inbound/twilio/sms/", {"Body": "hi"})
    assert response.status_code == 400 and "MessageSid" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_a_withheld_number_is_kept_as_rejected_not_a_lead(client):
    response = twilio_post(client, "/inbound/twilio/voice/",
                           fixture("voice.json", From="anonymous", CallSid="CA-anon"))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == "rejected" and "withheld" in event.reason
    assert not Lead.objects.exists()


def test_a_failure_leaves_the_event_failed_and_the_admin_reprocesses_it(client, admin_client,
                                                                        monkeypatch):
    import capture.intake as intake

    monkeypatch.setattr(intake, "receive_lead", lambda *a, **k: 1 / 0)
    response = twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    assert response.status_code == 200  # Twilio must not retry: the event is stored
    event = InboundEvent.objects.get()
    assert event.status == "failed" and "ZeroDivisionError" in event.reason
    monkeypatch.undo()
    admin_client.post("/admin/capture/inboundevent/",
                      {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert event.status == "processed" and Lead.objects.get().phone == "+14155552671"


def test_a_switched_off_channel_is_404_and_stores_nothing(client):
    ChannelSettings.objects.create(channel="twilio", is_active=False)
    assert twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json")).status_code == 404
    assert not InboundEvent.objects.exists()


def test_status_callbacks_of_calls_we_placed_are_ignored(client):
    response = twilio_post(client, "/inbound/twilio/status/", fixture(
        "dial_no_answer.json", Direction="outbound-api", CallSid="CA-out"))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == "ignored" and "outbound" in event.reason
    assert not Lead.objects.exists()


@pytest.mark.parametrize("path", ["/inbound/twilio/voice/", "/inbound/calendly/",
                                  "/inbound/webhook/any/", "/api/v1/leads/"])
def test_a_get_on_a_webhook_is_a_json_405(client, path):
    response = client.get(path)
    assert response.status_code == 405 and response.json()["error"] == "Use POST."


def test_a_call_that_ends_after_the_greeting_with_no_one_to_forward_to_needs_a_call_back(client):
    twilio_post(client, "/inbound/twilio/status/", fixture(
        "voice.json", CallStatus="completed", CallDuration="14"))
    lead = Lead.objects.get()
    assert lead.needs_callback
    assert lead.interactions.get().summary.startswith("Call ended after the greeting (14 s)")


def test_an_answered_forwarded_call_is_recorded_without_a_call_back(client):
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    twilio_post(client, "/inbound/twilio/status/", fixture(
        "dial_no_answer.json", DialCallStatus="completed", DialCallDuration="95"))
    lead = Lead.objects.get()
    assert not lead.needs_callback and lead.interactions.get().summary == "Answered call, 95 s"


def test_an_answered_forwarded_call_stops_the_follow_up_a_missed_one_does_not(client, visitor):
    """Someone took the call: a conversation, so the "no human response" timer is cancelled
    and the prospect is not enrolled in "No answer yet". A missed call answers nobody."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from followup.demo import seed_followup
    from followup.models import Enrollment, OutboundMessage
    from followup.tasks import dispatch_due_messages

    seed_followup()
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    visitor.submit(first_name="Grace", email="grace@navy.mil", phone="+14155552671")
    timer = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ENROLMENT_CHECK)
    twilio_post(client, "/inbound/twilio/status/", fixture("dial_no_answer.json"))
    timer.refresh_from_db()
    assert timer.status == "scheduled"
    twilio_post(client, "/inbound/twilio/status/", fixture(
        "dial_no_answer.json", CallSid="CA2", DialCallStatus="completed",
        DialCallDuration="240"))
    lead = Lead.objects.get()
    assert lead.interactions.filter(summary="Answered call, 240 s").exists()
    timer.refresh_from_db()
    assert timer.status == "cancelled"
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        dispatch_due_messages()
    assert not Enrollment.objects.exists()
    lead.refresh_from_db()
    assert lead.first_response_at is None  # nobody knows who answered: a rep logs the call


def test_a_forwarded_call_nobody_answered_is_not_logged_as_answered_when_it_completes(client):
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    twilio_post(client, "/inbound/twilio/status/", fixture("dial_no_answer.json"))
    call = fixture("dial_no_answer.json", CallStatus="completed", CallDuration="27")
    del call["DialCallStatus"]
    twilio_post(client, "/inbound/twilio/status/", call)  # the call's own status callback
    lead = Lead.objects.get()
    assert [i.summary for i in lead.interactions.all()] == [
        "Missed call (no-answer): call back"]
    assert lead.needs_callback


def test_a_caller_who_hangs_up_before_the_forward_needs_a_call_back(client):
    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    twilio_post(client, "/inbound/twilio/status/", fixture(
        "voice.json", CallStatus="completed", CallDuration="4"))
    lead = Lead.objects.get()
    assert lead.needs_callback
    assert lead.interactions.get().summary == (
        "Call ended before it was put through (4 s): call back")


def test_no_auto_reply_to_a_number_that_texted_stop_earlier(client):
    """Docs: the reply text is never sent to a STOP, also when a later text is not STOP."""
    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks!")
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM1",
                                                        Body="STOP"))
    assert Lead.objects.get().do_not_text
    response = twilio_post(client, "/inbound/twilio/sms/",
                           fixture("sms.json", MessageSid="SM2", Body="What does it cost?"))
    assert response.status_code == 200 and b"<Message>" not in response.content
    assert Lead.objects.get().interactions.count() == 2  # taken in, just not answered


@pytest.mark.parametrize("word", ["START", "unstop", "Yes"])
def test_start_after_stop_lets_the_number_be_texted_and_answered_again(client, word):
    from capture.privacy import is_suppressed

    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks!")
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM1",
                                                        Body="STOP"))
    assert is_suppressed(Lead.objects.get(), "sms")
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM2",
                                                        Body=word))
    assert not is_suppressed(Lead.objects.get(), "sms")
    response = twilio_post(client, "/inbound/twilio/sms/",
                           fixture("sms.json", MessageSid="SM3", Body="What does it cost?"))
    assert b"<Message>Thanks!</Message>" in response.content


def test_no_auto_reply_to_a_lead_marked_do_not_text(client):
    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks!")
    twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json", MessageSid="SM1"))
    Lead.objects.update(do_not_text=True)  # ticked by staff: the number is on no list
    response = twilio_post(client, "/inbound/twilio/sms/",
                           fixture("sms.json", MessageSid="SM2", Body="Any news?"))
    assert b"<Message>" not in response.content


def test_no_auto_reply_to_a_number_on_the_suppression_list(client):
    from followup.models import Suppression
    from followup.suppression import suppress

    ChannelSettings.objects.create(channel="twilio", reply_text="Thanks!")
    suppress(kind=Suppression.Kind.PHONE, value="+14155552671",
             reason=Suppression.Reason.MANUAL)
    response = twilio_post(client, "/inbound/twilio/sms/", fixture("sms.json"))
    assert b"<Message>" not in response.content
    assert not Lead.objects.get().do_not_text  # only the list says so
    other = twilio_post(client, "/inbound/twilio/sms/",
                        fixture("sms.json", MessageSid="SM3", From="+14155550123"))
    assert b"<Message>Thanks!</Message>" in other.content


def test_an_sms_from_a_sender_id_that_is_no_number_is_rejected_naming_the_sender(client):
    response = twilio_post(client, "/inbound/twilio/sms/",
                           fixture("sms.json", From="ACMEBANK", MessageSid="SM-alpha"))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.status == "rejected"
    assert event.reason == "The sender's number 'ACMEBANK' is withheld or not a phone number."
    assert not Lead.objects.exists()


@pytest.mark.parametrize("path", ["/inbound/twilio/sms/", "/inbound/twilio/voice/"])
def test_a_broken_multipart_body_is_a_json_400(client, path):
    response = client.generic("POST", path, b"--x\r\n",
                              content_type="multipart/form-data",  # no boundary
                              HTTP_X_TWILIO_SIGNATURE="anything")
    assert response.status_code == 400
    assert response.json() == {"error": "The request could not be read: its body or headers "
                                        "are malformed."}
    assert not InboundEvent.objects.exists()


def test_authentic_message_statuses_are_never_refused_forged_ones_are_past_the_limit(
        client, settings):
    """Twilio does not retry a status callback: a 429 would lose the status. Only requests
    whose signature fails count against the limit."""
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 3
    path = "/inbound/twilio/message-status/"
    statuses = [twilio_post(client, path, fixture("message_status.json", MessageSid=f"SM{n}"))
                for n in range(6)]
    assert [r.status_code for r in statuses] == [204] * 6
    forged = [client.post(path, fixture("message_status.json"), HTTP_X_TWILIO_SIGNATURE="x")
              for _ in range(4)]
    assert [r.status_code for r in forged] == [403, 403, 403, 429]
    assert twilio_post(client, path, fixture("message_status.json")).status_code == 204


def test_a_host_the_server_does_not_answer_for_is_a_400_that_says_so(client, settings):
    # Twilio's debugger showed "its body or headers are malformed" for a server whose
    # ALLOWED_HOSTS missed its public name: nothing there pointed at the setting to fix.
    settings.ALLOWED_HOSTS = ["crm.example.com"]
    response = client.post("/inbound/twilio/sms/", fixture("sms.json"),
                           HTTP_X_TWILIO_SIGNATURE="any", HTTP_HOST="crm-new.example.com")
    assert response.status_code == 400
    assert response.json() == {"error": "This server does not answer for the host "
                                        "'crm-new.example.com' (ALLOWED_HOSTS)."}
    assert not InboundEvent.objects.exists()
