"""Calendly bookings: Calendly-Webhook-Signature (t=...,v1=HMAC-SHA256 of "t.body")."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from capture.models import InboundEvent, Lead
from tests.capture.conftest import load_json

pytestmark = pytest.mark.django_db
KEY = "calendly-signing-key"


def calendly_post(client, payload: dict | bytes, *, key: str = KEY, at: int | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    t = str(at if at is not None else int(time.time()))
    v1 = hmac.new(key.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post("/inbound/calendly/", body, content_type="application/json",
                       HTTP_CALENDLY_WEBHOOK_SIGNATURE=f"t={t},v1={v1}")


def test_a_booking_makes_a_lead_with_the_meeting_on_its_timeline(client):
    response = calendly_post(client, load_json("calendly", "invitee_created.json"))
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email, lead.phone, lead.channel, lead.utm_campaign) == (
        "Grace", "grace@navy.mil", "+14155552671", "booking", "autumn")
    interaction = lead.interactions.get()
    assert interaction.summary == "Booked 30 Minute Discovery Call for 2026-11-25 17:00 UTC"
    assert "How many people will use it?: About 40 seats" in interaction.body
    assert "meet.google.com" in interaction.body


def test_a_booking_by_someone_already_known_updates_their_lead(client, visitor):
    visitor.submit(first_name="Grace", email="grace@navy.mil")
    calendly_post(client, load_json("calendly", "invitee_created.json"))
    lead = Lead.objects.get()
    assert lead.phone == "+14155552671"  # filled from the booking
    assert lead.interactions.count() == 2


def test_a_booking_before_the_first_sequence_email_stops_the_follow_up(client, visitor):
    """A meeting is a conversation: the "no human response" timer written when the lead
    arrived is cancelled, so the prospect is never enrolled in "No answer yet"."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from followup.demo import seed_followup
    from followup.models import Enrollment, OutboundMessage
    from followup.tasks import dispatch_due_messages

    seed_followup()
    visitor.submit(first_name="Grace", email="grace@navy.mil")
    timer = OutboundMessage.objects.get(kind=OutboundMessage.Kind.ENROLMENT_CHECK)
    calendly_post(client, load_json("calendly", "invitee_created.json"))
    timer.refresh_from_db()
    assert timer.status == "cancelled"
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        dispatch_due_messages()
    assert not Enrollment.objects.exists()


def test_a_reschedule_records_the_cancel_and_the_new_booking_once_each(client):
    created = load_json("calendly", "invitee_created.json")
    calendly_post(client, created)
    calendly_post(client, load_json("calendly", "invitee_canceled_rescheduled.json"))
    new = json.loads(json.dumps(created))
    new["payload"]["uri"] = ("https://api.calendly.com/scheduled_events/HCHCDCAADAEDCRZ3/"
                             "invitees/BBBBBBBBBBBBBBBB")
    new["payload"]["scheduled_event"]["start_time"] = "2026-11-26T10:00:00.000000Z"
    calendly_post(client, new)
    calendly_post(client, new)  # Calendly retries
    summaries = list(Lead.objects.get().interactions.order_by("id")
                     .values_list("summary", flat=True))
    assert summaries == [
        "Booked 30 Minute Discovery Call for 2026-11-25 17:00 UTC",
        "Rescheduled 30 Minute Discovery Call (was 2026-11-25 17:00 UTC)",
        "Booked 30 Minute Discovery Call for 2026-11-26 10:00 UTC",
    ]


def test_a_plain_cancellation_is_recorded_with_its_reason(client):
    payload = load_json("calendly", "invitee_canceled_rescheduled.json")
    payload["payload"]["rescheduled"] = False
    calendly_post(client, payload)
    assert Lead.objects.get().interactions.get().summary == (
        "Cancelled 30 Minute Discovery Call for 2026-11-25 17:00 UTC: Clash")


def test_other_calendly_events_are_kept_as_ignored(client):
    payload = load_json("calendly", "invitee_created.json")
    payload["event"] = "routing_form_submission.created"
    assert calendly_post(client, payload).status_code == 200
    assert InboundEvent.objects.get().status == "ignored" and not Lead.objects.exists()


def test_a_wrong_key_an_old_timestamp_or_no_header_is_403(client):
    payload = load_json("calendly", "invitee_created.json")
    assert calendly_post(client, payload, key="other").status_code == 403
    assert calendly_post(client, payload, at=int(time.time()) - 600).status_code == 403
    assert client.post("/inbound/calendly/", json.dumps(payload),
                       content_type="application/json").status_code == 403
    assert not InboundEvent.objects.exists()


def test_a_malformed_body_is_400(client):
    assert calendly_post(client, b"{").status_code == 400
    assert calendly_post(client, {"event": "invitee.created"}).status_code == 400
    assert not InboundEvent.objects.exists()


def test_a_failure_stays_failed_and_the_sweeper_takes_it_in(client, monkeypatch):
    import capture.intake as intake

    monkeypatch.setattr(intake, "receive_lead", lambda *a, **k: 1 / 0)
    assert calendly_post(client, load_json("calendly", "invitee_created.json")).status_code \
        == 200
    event = InboundEvent.objects.get()
    assert event.status == "failed" and not Lead.objects.exists()
    monkeypatch.undo()
    assert intake.retry_failed_events() == 1
    assert Lead.objects.get().channel == "booking"


def test_a_lone_surrogate_in_the_invitee_uri_is_a_400(client):
    body = (b'{"event": "invitee.created", "created_at": "2026-01-02T03:04:05.000000Z", '
            b'"payload": {"uri": "\\ud800"}}')
    response = calendly_post(client, body)
    assert response.status_code == 400 and "Unicode" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_a_cancellation_lands_on_the_lead_its_booking_was_matched_to_by_phone(client, visitor):
    visitor.submit(first_name="Grace", email="g.hopper@other.example", phone="(415) 555-2671")
    calendly_post(client, load_json("calendly", "invitee_created.json"))  # matched by phone
    canceled = load_json("calendly", "invitee_canceled_rescheduled.json")
    canceled["payload"]["rescheduled"] = False  # no phone in it, and another email
    assert calendly_post(client, canceled).status_code == 200
    lead = Lead.objects.get()
    assert lead.email == "g.hopper@other.example"
    assert list(lead.interactions.order_by("id").values_list("summary", flat=True))[1:] == [
        "Booked 30 Minute Discovery Call for 2026-11-25 17:00 UTC",
        "Cancelled 30 Minute Discovery Call for 2026-11-25 17:00 UTC: Clash",
    ]


def test_a_reschedule_stays_on_the_lead_the_first_booking_was_matched_to(client, visitor):
    visitor.submit(first_name="Grace", email="g.hopper@other.example", phone="(415) 555-2671")
    created = load_json("calendly", "invitee_created.json")
    calendly_post(client, created)
    calendly_post(client, load_json("calendly", "invitee_canceled_rescheduled.json"))
    new = json.loads(json.dumps(created))
    new["payload"].update(
        uri="https://api.calendly.com/scheduled_events/HCHCDCAADAEDCRZ3/invitees/BBBBBBBBBBBBBBBB",
        old_invitee=created["payload"]["uri"], text_reminder_number=None)
    calendly_post(client, new)
    lead = Lead.objects.get()
    assert lead.interactions.filter(channel="booking").count() == 3


@pytest.mark.parametrize(("field", "value"), [
    ("payload.uri", {"a": 1}), ("payload.uri", ["x"]), ("payload.uri", True),
    ("payload.uri", None),
    ("payload.uri", "https://api.calendly.com/scheduled_events/E/invitees/" + "I" * 200),
    ("event", {"a": 1}),
])
def test_an_invitee_uri_or_event_that_is_no_id_is_a_400_naming_it(client, field, value):
    payload = load_json("calendly", "invitee_created.json")
    if field == "event":
        payload["event"] = value
    else:
        payload["payload"]["uri"] = value
    response = calendly_post(client, payload)
    assert response.status_code == 400, response.content
    assert list(response.json()["fields"]) == [field]
    assert not InboundEvent.objects.exists()
