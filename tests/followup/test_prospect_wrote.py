"""The prospect writes again on a lead someone owns: its owner sees one notice on the queue
page, kept up to date while unread, and none for what is no message of theirs."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from capture.models import Interaction, Lead, LeadStatus
from followup.models import Notification
from tests.capture.conftest import load_json
from tests.capture.test_api import post as api_post
from tests.capture.test_email import MAILGUN_KEY, mailgun_post
from tests.capture.test_our_replies import our_slack_answer
from tests.capture.test_social import slack_post
from tests.capture.test_twilio import twilio_post
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

WROTE = Notification.Kind.PROSPECT_WROTE


@pytest.fixture(autouse=True)
def _channels(settings):
    settings.TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"
    settings.TWILIO_WEBHOOK_BASE_URL = ""
    settings.EMAIL_OWN_ADDRESSES = ["sales@example.com"]
    settings.SLACK_SIGNING_SECRET = "slack-signing-secret"
    settings.SLACK_CHANNEL_IDS = []
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp:hook-password",
                        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def kenji(alice) -> Lead:
    """Alice's lead, answered long ago and left in long-term nurture."""
    return LeadFactory(first_name="Kenji", last_name="Sato", email="kenji@sato.example",
                       phone="+14155552671", owner=alice.user, status=LeadStatus.NURTURE)


@pytest.fixture
def partner_key() -> str:
    from capture.models import ApiKey

    return ApiKey.issue("Partner Acme", "acme")[1]


def email_from_kenji(number: int, text: str) -> bytes:
    return (f"From: Kenji Sato <kenji@sato.example>\r\nTo: sales@example.com\r\n"
            f"Subject: Re: your quote\r\nMessage-ID: <kenji-{number}@sato.example>\r\n"
            f"Date: Mon, 07 Dec 2026 09:0{number}:00 +0000\r\n\r\n{text}\r\n").encode()


def sms(sid: str, text: str) -> dict:
    return {**load_json("twilio", "sms.json")["params"], "MessageSid": sid, "SmsSid": sid,
            "SmsMessageSid": sid, "Body": text}


def notices(user) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(user=user).values_list("kind", "text"))


def queue_page(client) -> str:
    response = client.get("/queue/")
    assert response.status_code == 200
    return response.content.decode()


def test_two_emails_in_a_row_give_the_owner_one_notice_with_the_latest_linking_to_the_lead(
        client, alice, kenji):
    assert mailgun_post(client, email_from_kenji(1, "Are you still there?")).status_code == 200
    assert notices(alice.user) == [(WROTE, "Kenji Sato replied by email: Are you still there?")]
    assert mailgun_post(client, email_from_kenji(
        2, "\nPlease call me today.\nI am free after 3pm.")).status_code == 200
    assert Lead.objects.count() == 1
    assert notices(alice.user) == [(WROTE, "Kenji Sato replied by email: Please call me today.")]

    client.force_login(alice.user)
    page = queue_page(client)
    assert (f'<a href="/leads/{kenji.pk}/">Kenji Sato replied by email: Please call me today.'
            "</a>") in page
    assert "Prospect got in touch" in page


def test_a_notice_marked_read_stays_read_and_the_next_text_gives_a_new_one(
        client, alice, kenji):
    twilio_post(client, "/inbound/twilio/sms/", sms("SM1", "Please call me"))
    note = Notification.objects.get(user=alice.user, kind=WROTE)
    assert note.text == "Kenji Sato texted: Please call me"
    client.force_login(alice.user)
    assert "Kenji Sato texted: Please call me" in queue_page(client)
    response = client.post(f"/queue/notifications/{note.pk}/read/", {"next": "/queue/"})
    assert response.status_code == 302
    assert "Kenji Sato texted" not in queue_page(client)

    twilio_post(client, "/inbound/twilio/sms/", sms("SM2", "Any news?"))
    note.refresh_from_db()
    assert note.read_at is not None and note.text == "Kenji Sato texted: Please call me"
    unread = Notification.objects.get(user=alice.user, kind=WROTE, read_at__isnull=True)
    assert unread.text == "Kenji Sato texted: Any news?" and unread.lead == kenji
    assert "Kenji Sato texted: Any news?" in queue_page(client)


def test_a_form_sent_again_through_the_api_tells_the_owner_and_a_new_lead_only_alerts(
        client, routing_rules, partner_key):
    response = api_post(client, partner_key, {"email": "grace@navy.mil", "first_name": "Grace",
                                              "message": "A quote for 40 seats"})
    assert response.status_code == 201
    lead = Lead.objects.get()
    assert [kind for kind, _ in notices(lead.owner)] == [Notification.Kind.ASSIGNED]

    response = api_post(client, partner_key, {"email": "grace@navy.mil",
                                              "message": "Please call me\nabout the quote"})
    assert response.status_code == 200
    assert (WROTE, "Grace got in touch again: Please call me") in notices(lead.owner)
    assert len(notices(lead.owner)) == 2


def test_a_whatsapp_or_slack_message_names_its_platform(client, alice, kenji):
    twilio_post(client, "/inbound/twilio/sms/", {
        **load_json("twilio", "whatsapp.json")["params"], "From": "whatsapp:+14155552671",
        "Body": "Call me please"})
    assert notices(alice.user) == [(WROTE, "Kenji Sato wrote (WhatsApp): Call me please")]


def test_nobody_is_told_of_a_message_on_a_lead_nobody_owns(client, partner_key, team):
    LeadFactory(email="grace@navy.mil")  # no routing rule: it stays unassigned
    assert api_post(client, partner_key, {"email": "grace@navy.mil",
                                          "message": "Hello?"}).status_code == 200
    assert not Notification.objects.exists()


def test_a_message_that_has_an_unowned_lead_routed_gives_only_the_new_owner_alert(
        client, routing_rules, partner_key):
    unowned = LeadFactory(first_name="Grace", email="grace@navy.mil")
    assert api_post(client, partner_key, {"email": "grace@navy.mil",
                                          "message": "Hello?"}).status_code == 200
    unowned.refresh_from_db()
    assert unowned.owner is not None
    assert [kind for kind, _ in notices(unowned.owner)] == [Notification.Kind.ASSIGNED]


def test_stop_and_start_are_no_message_for_the_owner(client, alice, kenji):
    twilio_post(client, "/inbound/twilio/sms/", sms("SM1", "STOP"))
    twilio_post(client, "/inbound/twilio/sms/", sms("SM2", "Start"))
    kenji.refresh_from_db()
    assert kenji.interactions.filter(direction=Interaction.Direction.INBOUND).count() == 2
    assert not Notification.objects.exists()


def test_a_missed_call_tells_the_owner_and_an_answered_one_does_not(client, alice, kenji):
    from capture.models import ChannelSettings

    ChannelSettings.objects.create(channel="twilio", forward_to="+14155550199")
    voice = load_json("twilio", "voice.json")["params"]
    twilio_post(client, "/inbound/twilio/voice/", voice)  # put through: nothing to tell yet
    assert not Notification.objects.exists()
    dial = load_json("twilio", "dial_no_answer.json")["params"]
    twilio_post(client, "/inbound/twilio/status/", dial)
    assert notices(alice.user) == [
        (WROTE, "Kenji Sato called: Missed call (no-answer): call back")]

    Notification.objects.update(read_at=timezone.now())  # alice saw it and called back
    twilio_post(client, "/inbound/twilio/voice/", {**voice, "CallSid": "CA2"})
    twilio_post(client, "/inbound/twilio/status/", {**dial, "CallSid": "CA2",
                                                    "DialCallStatus": "completed",
                                                    "DialCallDuration": "95"})
    assert kenji.interactions.filter(summary="Answered call, 95 s").exists()
    assert Notification.objects.filter(read_at__isnull=True).count() == 0


def test_our_own_answer_and_a_reps_note_tell_nobody_and_the_prospect_s_next_message_does(
        client, alice):
    slack_post(client, load_json("slack", "message.json"))
    lead = Lead.objects.get()
    Lead.objects.filter(pk=lead.pk).update(owner=alice.user)
    assert slack_post(client, our_slack_answer(thread_ts="1763900000.000200")).status_code == 200
    assert lead.interactions.filter(direction=Interaction.Direction.OUTBOUND).exists()
    client.force_login(alice.user)
    client.post(f"/leads/{lead.pk}/note/", {"body": "Sent the pricing on Slack"})
    assert lead.interactions.filter(kind=Interaction.Kind.NOTE).exists()
    assert not Notification.objects.exists()

    again = load_json("slack", "message.json")
    again["event"].update(ts="1763900400.000500", text="Thanks! Can we talk tomorrow?")
    again["event_id"] = "Ev0PV52K22"
    assert slack_post(client, again).status_code == 200
    assert notices(alice.user) == [
        (WROTE, "Katherine Johnson wrote (Slack): Thanks! Can we talk tomorrow?")]


def test_an_import_of_a_known_person_tells_nobody(alice, kenji, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    rows = tmp_path / "expo.csv"
    rows.write_text("first_name,email,message\nKenji,kenji@sato.example,Met at the expo\n")
    call_command("import_leads", str(rows), "--no-progress", stdout=StringIO())
    assert Lead.objects.count() == 1 and kenji.interactions.count() == 1
    assert not Notification.objects.exists()


def test_a_reply_costs_the_intake_one_notification_query_once_its_notice_exists(
        client, alice, kenji):
    def notification_queries(text: str, sid: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            twilio_post(client, "/inbound/twilio/sms/", sms(sid, text))
        return [q["sql"].split()[0] for q in captured.captured_queries
                if "followup_notification" in q["sql"]]

    assert notification_queries("One", "SM1") == ["UPDATE", "INSERT"]
    assert notification_queries("Two", "SM2") == ["UPDATE"]
    assert notification_queries("Three", "SM3") == ["UPDATE"]
    assert notices(alice.user) == [(WROTE, "Kenji Sato texted: Three")]


def form_fields(page: str, action: str) -> dict:
    """The hidden fields of the page's form posting to `action`, as a browser sends them."""
    form = page[page.index(f'action="{action}"'):]
    form = form[:form.index("</form>")]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_mark_read_on_a_notice_brought_up_to_date_since_the_page_was_drawn_keeps_the_news(
        client, alice, kenji):
    twilio_post(client, "/inbound/twilio/sms/", sms("SM1", "One"))
    note = Notification.objects.get(user=alice.user)
    client.force_login(alice.user)
    page = queue_page(client)
    assert "Kenji Sato texted: One" in page
    twilio_post(client, "/inbound/twilio/sms/", sms("SM2", "Please call me now"))

    every, one = "/queue/notifications/read/", f"/queue/notifications/{note.pk}/read/"
    for action in (every, one):  # "Mark all read", then its own "Mark read"
        assert client.post(action, form_fields(page, action)).status_code == 302
        note.refresh_from_db()
        assert note.read_at is None and note.text == "Kenji Sato texted: Please call me now"

    page = queue_page(client)  # drawn again, it shows the news: now both buttons mark it read
    assert "Kenji Sato texted: Please call me now" in page
    assert client.post(one, form_fields(page, one)).status_code == 302
    note.refresh_from_db()
    assert note.read_at is not None
    assert "Kenji Sato texted" not in queue_page(client)


def test_the_admin_refuses_a_second_unread_notice_of_a_lead_with_a_clear_error(
        client, alice, kenji):
    from tests.factories import UserFactory

    twilio_post(client, "/inbound/twilio/sms/", sms("SM1", "Hello"))
    Notification.objects.update(read_at=timezone.now())
    twilio_post(client, "/inbound/twilio/sms/", sms("SM2", "Please call me"))
    older = Notification.objects.get(read_at__isnull=False)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = f"/admin/followup/notification/{older.pk}/change/"
    response = client.post(url, {
        "user": alice.user.pk, "lead": kenji.pk, "kind": WROTE, "text": older.text,
        "created_at_0": older.created_at.strftime("%Y-%m-%d"),
        "created_at_1": older.created_at.strftime("%H:%M:%S"),
        "read_at_0": "", "read_at_1": ""})  # marked unread again
    assert response.status_code == 200
    assert "This user has an unread notice of this kind for this lead already" in \
        response.content.decode()
    assert Notification.objects.filter(read_at__isnull=True).count() == 1
