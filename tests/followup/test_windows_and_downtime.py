"""Sending windows in the lead's timezone, and a worker that was down: caught up once, stale
steps skipped and recorded, nothing sent at night."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from capture.models import Lead
from followup.models import Enrollment, OutboundMessage, Sequence, SequenceStep
from followup.sequences import enrol_lead
from followup.windows import lead_timezone, next_sending_moment
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db

ARRIVAL = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday: 10:00 New York, 00:00 Tokyo
DAY = timedelta(days=1)
NEW_YORK, TOKYO, LOS_ANGELES = (ZoneInfo(z) for z in
                                ("America/New_York", "Asia/Tokyo", "America/Los_Angeles"))


def one_step(channel="email", delay=1, unit="hours", **options) -> Sequence:
    sequence = Sequence.objects.create(name=f"One {channel} step", trigger="on_arrival",
                                       **options)
    SequenceStep.objects.create(sequence=sequence, delay=delay, delay_unit=unit,
                                channel=channel, subject="Hello {{ first_name }}",
                                body="Hi {{ first_name }}")
    return sequence


def step_row(lead) -> OutboundMessage:
    return OutboundMessage.objects.get(lead=lead, kind="sequence")


@pytest.mark.parametrize(("fields", "zone"), [
    ({"phone": "+81312345678"}, "Asia/Tokyo"),
    ({"phone": "+442071234567", "country": "US"}, "Europe/London"),  # the phone wins
    ({"phone": "+18085550123", "country": "US"}, "Pacific/Honolulu"),  # its area code's zone
    ({"country": "DE"}, "Europe/Berlin"),
    ({"country": "US"}, "America/New_York"),  # several zones: the principal one
    ({}, "UTC"),  # nothing known and no owner: settings.TIME_ZONE
])
def test_the_leads_timezone_comes_from_its_phone_then_its_country(fields, zone):
    assert str(lead_timezone(Lead(**fields))) == zone


def test_an_owner_in_the_same_country_picks_the_zone_among_several():
    assert str(lead_timezone(Lead(country="US"), "America/Los_Angeles")) == "America/Los_Angeles"
    assert str(lead_timezone(Lead(), "Europe/Paris")) == "Europe/Paris"


def test_an_email_due_at_midnight_in_tokyo_waits_for_nine_oclock_there(routing_rules):
    one_step()
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="kenji@example.jp", phone="+81312345678")
    due = step_row(lead).due_at  # 01:00 in Tokyo would be the plain delay
    assert due.astimezone(TOKYO) == datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)
    assert sweep_at(due - timedelta(minutes=1)) == 1  # the owner alert only, no night email
    assert sweep_at(due) == 1
    assert [m.to for m in mail.outbox][-1] == ["kenji@example.jp"]


def test_texts_keep_to_eight_to_nine_local_even_when_the_sequence_allows_more(
        routing_rules, twilio):
    one_step(channel="sms", delay=20, window_starts=time(6), window_ends=time(23),
             send_on_weekends=True)
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(phone="+12135550123", country="US", email="")
    # A Los Angeles number (the owner in New York): +20 hours is 03:00 on Tuesday there; the
    # sequence would allow 6:00, the TCPA only 8:00, Los Angeles time.
    due = step_row(lead).due_at.astimezone(LOS_ANGELES)
    assert due == datetime(2026, 12, 1, 8, 0, tzinfo=LOS_ANGELES)


def test_weekends_are_skipped_unless_the_sequence_sends_on_weekends():
    saturday_noon = datetime(2026, 12, 5, 12, 0, tzinfo=NEW_YORK)
    monday = next_sending_moment(saturday_noon, NEW_YORK, time(9), time(17), weekends=False)
    assert monday == datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK)
    same = next_sending_moment(saturday_noon, NEW_YORK, time(9), time(17), weekends=True)
    assert same == saturday_noon


def test_a_worker_back_at_3_am_waits_for_the_window_instead_of_sending_at_night(routing_rules):
    one_step(delay=6, window_starts=time(8), window_ends=time(21), send_on_weekends=True)
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="grace@navy.mil", country="US")
    row = step_row(lead)
    assert row.due_at.astimezone(NEW_YORK).hour == 16
    three_am = datetime(2026, 12, 1, 3, 0, tzinfo=NEW_YORK)  # 11 hours late: not yet stale
    sweep_at(three_am)
    row.refresh_from_db()
    assert row.status == "scheduled" and mail.outbox[-1].to != ["grace@navy.mil"]
    assert row.due_at == datetime(2026, 12, 1, 8, 0, tzinfo=NEW_YORK)
    assert sweep_at(row.due_at) == 1 and mail.outbox[-1].to == ["grace@navy.mil"]


def test_a_worker_down_for_two_days_catches_up_once_and_skips_what_is_stale(
        routing_rules, default_sequence):
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="grace@navy.mil", country="US")
    sweep_at(ARRIVAL + DAY)  # enrolled on Tuesday; then the worker is down until Friday
    back = ARRIVAL + 4 * DAY  # Friday 10:00: the day-2 email is 48 hours late
    assert sweep_at(back) == 0
    assert sweep_at(back + timedelta(minutes=1)) == 0
    day_two = OutboundMessage.objects.filter(enrollment__lead=lead).order_by("due_at").first()
    assert day_two.status == "skipped" and "48.0 hours late" in day_two.last_error
    assert list(lead.interactions.filter(summary__contains="skipped").values_list(
        "summary", flat=True)) == [
        "Sequence step skipped: found 48.0 hours late (a worker was down); not sent so late."]
    assert [m.to for m in mail.outbox if m.to == ["grace@navy.mil"]] == []
    # The rest of the sequence runs on time.
    assert sweep_at(datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK)) == 1
    assert sweep_at(ARRIVAL + 10 * DAY) == 1
    assert Enrollment.objects.get().status == "completed"


def test_a_step_a_few_hours_late_is_sent_once_when_the_worker_returns(routing_rules):
    one_step(delay=1, window_starts=time(8), window_ends=time(21), send_on_weekends=True)
    with time_machine.travel(ARRIVAL, tick=False):
        lead = submit(email="grace@navy.mil", country="US")
    due = step_row(lead).due_at
    assert sweep_at(due + timedelta(hours=3)) == 2  # the owner's alert and the step, once
    assert sweep_at(due + timedelta(hours=3, minutes=1)) == 0
    assert sum(m.to == ["grace@navy.mil"] for m in mail.outbox) == 1


def test_business_day_delays_skip_the_weekend(routing_rules):
    sequence = one_step(delay=3, unit="business_days")
    with time_machine.travel(datetime(2026, 12, 3, 15, 0, tzinfo=UTC), tick=False):  # Thursday
        lead = submit(email="grace@navy.mil", country="US")
    enrollment = Enrollment.objects.get(lead=lead, sequence=sequence)
    assert enrol_lead(lead=lead, sequence=sequence) is None
    assert step_row(enrollment.lead).due_at.astimezone(NEW_YORK) == datetime(
        2026, 12, 8, 10, 0, tzinfo=NEW_YORK)  # Tuesday
