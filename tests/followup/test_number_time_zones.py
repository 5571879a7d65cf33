"""Texts and call tasks keep to 8:00-21:00 where the number is (TCPA), not where its owner is:
the zone of the number's area code, and every zone of a number that spans several."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from capture.models import Lead
from followup.models import OutboundMessage, Sequence, SequenceStep
from followup.windows import next_moment_to_reach
from tests.followup.conftest import submit, sweep_at

NEW_YORK, CHICAGO, DENVER, LONDON, HONOLULU, LOS_ANGELES = (ZoneInfo(z) for z in (
    "America/New_York", "America/Chicago", "America/Denver", "Europe/London",
    "Pacific/Honolulu", "America/Los_Angeles"))
MONDAY = datetime(2026, 11, 30, tzinfo=UTC).date()


def at(hour: int, minute: int = 0, tz: ZoneInfo = NEW_YORK, day: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=day), time(hour, minute), tzinfo=tz)


def one_text_step(channel: str = "sms") -> Sequence:
    """A text an hour after arrival; the sequence itself would allow 6:00 to 23:00, any day."""
    sequence = Sequence.objects.create(name="Text them", trigger="on_arrival",
                                       window_starts=time(6), window_ends=time(23),
                                       send_on_weekends=True)
    SequenceStep.objects.create(sequence=sequence, delay=1, delay_unit="hours",
                                channel=channel, subject="Call Grace", body="Hi {{ first_name }}")
    return sequence


@pytest.mark.django_db
@pytest.mark.parametrize(("phone", "tz", "arrival"), [
    ("+18085550123", HONOLULU, at(10)),  # due 11:00 New York: 6:00 in Honolulu
    ("+12135550123", LOS_ANGELES, at(9)),  # due 10:00 New York: 7:00 in Los Angeles
])
def test_a_text_to_a_west_coast_or_hawaii_number_waits_for_8_am_there_not_in_new_york(
        routing_rules, twilio, phone, tz, arrival):
    one_text_step()
    with time_machine.travel(arrival, tick=False):
        lead = submit(phone=phone, country="US", email="")  # the owner is in New York
    step = OutboundMessage.objects.get(lead=lead, kind="sequence")
    assert step.due_at == at(8, tz=tz)
    sweep_at(arrival + timedelta(hours=1))  # due by New York's clock: nothing is sent yet
    assert [text for text in twilio.texts if text["To"] == phone] == []
    sweep_at(at(8, tz=tz))
    assert [text["To"] for text in twilio.texts if text["To"] == phone] == [phone]


@pytest.mark.django_db
def test_a_worker_finding_a_text_due_at_dawn_in_hawaii_moves_it_to_8_am_there(
        routing_rules, twilio):
    one_text_step()
    with time_machine.travel(at(10), tick=False):
        lead = submit(phone="+18085550123", country="US", email="")
    step = OutboundMessage.objects.get(lead=lead, kind="sequence")
    # Planned before the number's zone was known: 11:00 in New York, 6:00 in Honolulu.
    OutboundMessage.objects.filter(pk=step.pk).update(due_at=at(11))
    sweep_at(at(11))
    step.refresh_from_db()
    assert step.status == "scheduled" and step.due_at == at(8, tz=HONOLULU)
    assert [text for text in twilio.texts if text["To"] == lead.phone] == []


@pytest.mark.parametrize(("moment", "opens"), [
    (at(7, 30, CHICAGO), at(8, tz=DENVER)),  # 6:30 in Denver: wait for 8:00 there
    (at(12, tz=CHICAGO), at(12, tz=CHICAGO)),  # both in 8-21: at once
    (at(20, 30, DENVER), at(8, tz=DENVER, day=1)),  # 21:30 in Chicago: tomorrow
])
def test_a_number_spanning_two_zones_is_texted_only_when_both_are_between_8_and_21(
        moment, opens):
    south_dakota = Lead(phone="+16055550123", country="US")  # Denver and Chicago
    assert next_moment_to_reach(south_dakota, "America/New_York", "sms", moment,
                                time(6), time(23), True) == opens
    # A call task keeps to the same hours; an email keeps the lead's one zone (Denver).
    assert next_moment_to_reach(south_dakota, "America/New_York", "task", moment,
                                time(6), time(23), True) == opens
    assert next_moment_to_reach(south_dakota, "America/New_York", "email", at(7, 30, CHICAGO),
                                time(6), time(23), True) == at(7, 30, CHICAGO)


def test_a_toll_free_number_is_texted_in_hours_every_zone_it_may_ring_in_shares():
    # +1 800 rings anywhere from Samoa (UTC-11) to Guam (UTC+10) and Newfoundland (UTC-3:30):
    # 8:00-21:00 in all of them is 17:00-19:30 New York time (8:00 in Guam the next day).
    toll_free = Lead(phone="+18005550123")

    def reach(moment, starts=time(6), ends=time(23)):
        return next_moment_to_reach(toll_free, "America/New_York", "sms", moment, starts, ends,
                                    True)

    assert reach(at(10)) == at(17) == at(8, tz=ZoneInfo("Pacific/Guam"), day=1)
    assert reach(at(19, 15)) == at(19, 15)
    assert reach(at(19, 45)) == at(17, day=1)
    # With 9:00-18:00 they share no hour: the number's zones in the US (New York to Hawaii)
    # share 14:00-18:00 New York time.
    assert reach(at(10), time(9), time(18)) == at(14) == at(9, tz=HONOLULU)
    # A window of one hour not even those share: the lead's own zone (its owner's, New York).
    assert reach(at(8), time(9), time(10)) == at(9)


@pytest.mark.parametrize(("lead", "moment", "opens"), [
    (Lead(phone="+442071234567"), at(7, tz=LONDON), at(8, tz=LONDON)),
    (Lead(phone="+442071234567"), at(12, tz=LONDON), at(12, tz=LONDON)),
    (Lead(phone="+33612345678", country="FR"), at(21, 30, ZoneInfo("Europe/Paris")),
     at(8, tz=ZoneInfo("Europe/Paris"), day=1)),
    # A non-geographic number (Inmarsat) has no zone: the owner's, as before.
    (Lead(phone="+870773111632"), at(7), at(8)),
])
def test_numbers_outside_the_us_keep_their_own_zone(lead, moment, opens):
    assert next_moment_to_reach(lead, "America/New_York", "sms", moment, time(6), time(23),
                                True) == opens
