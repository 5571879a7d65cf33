"""The intake pipeline: a new lead unless the person is already in the database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from capture.intake import (
    IntakeInput,
    process_inbound_event,
    receive_event,
    receive_lead,
    retry_failed_events,
    store_inbound_event,
)
from capture.models import Channel, InboundEvent, Interaction, Lead
from capture.signals import lead_received

pytestmark = pytest.mark.django_db


def submission(**fields) -> IntakeInput:
    return IntakeInput(channel=Channel.WEB_FORM, fields=fields, summary="Submitted the form",
                       notify_prospect=False)


def test_a_new_person_becomes_a_new_lead_with_one_interaction():
    result = receive_lead(submission(first_name="Grace", email="grace@navy.mil"))
    assert result.created
    assert Lead.objects.count() == 1
    assert result.lead.interactions.get().summary == "Submitted the form"


def test_the_country_comes_from_the_phone_when_the_lead_does_not_give_one():
    london = receive_lead(submission(email="a@example.com", phone="+442079460958")).lead
    dublin = receive_lead(submission(email="b@example.com", phone="+442079460959",
                                     country="IE")).lead
    toll_free = receive_lead(submission(email="c@example.com", phone="+80012345678")).lead
    assert (london.country, dublin.country, toll_free.country) == ("GB", "IE", "")


@pytest.mark.parametrize(("typed", "stored"), [
    ("United Kingdom", "GB"), ("uk", "GB"), ("  england ", "GB"), ("GBR", "GB"), ("gb", "GB"),
    ("Germany", "DE"), ("USA", "US"), ("United States", "US"), ("Viet Nam", "VN"),
    ("Atlantis", "Atlantis"),  # kept as typed: nothing a prospect wrote is lost
])
def test_a_country_typed_by_name_is_stored_as_the_iso_code_rules_compare(typed, stored):
    lead = receive_lead(submission(email="a@example.com", country=typed,
                                   phone="+14155552671")).lead
    assert lead.country == stored


def test_the_same_email_in_other_case_adds_to_the_open_lead():
    first = receive_lead(submission(first_name="Grace", email="grace@navy.mil"))
    second = receive_lead(submission(email="GRACE@Navy.MIL", company="US Navy"))
    assert not second.created
    assert second.lead.pk == first.lead.pk
    assert Lead.objects.count() == 1
    assert first.lead.interactions.count() == 2


def test_a_match_fills_empty_fields_and_never_overwrites_set_ones():
    receive_lead(submission(first_name="Grace", email="grace@navy.mil", company="Navy"))
    result = receive_lead(submission(email="grace@navy.mil", first_name="G.", company="Other",
                                     job_title="Rear Admiral"))
    lead = Lead.objects.get()
    assert (lead.first_name, lead.company, lead.job_title) == ("Grace", "Navy", "Rear Admiral")
    assert result.filled == ["job_title"]


def test_fields_staff_have_set_are_not_refilled_by_a_public_submission():
    lead = receive_lead(submission(email="grace@navy.mil", company="Navy")).lead
    lead.company = ""
    lead.staff_set_fields = ["company"]
    lead.save()
    receive_lead(submission(email="grace@navy.mil", company="Spam Inc"))
    lead.refresh_from_db()
    assert lead.company == ""


def test_the_same_phone_matches_the_lead_that_wrote_with_email_first():
    web = receive_lead(submission(email="grace@navy.mil", phone="+14155552671"))
    call = receive_lead(IntakeInput(channel=Channel.CALL, fields={"phone": "+14155552671"},
                                    summary="Call", notify_prospect=False))
    assert call.lead.pk == web.lead.pk
    assert set(call.lead.interactions.values_list("channel", flat=True)) == {"web_form", "call"}


def test_an_email_match_wins_over_a_phone_match_of_another_lead():
    by_email = receive_lead(submission(email="a@x.co")).lead
    receive_lead(submission(email="b@x.co", phone="+14155552671"))
    result = receive_lead(submission(email="a@x.co", phone="+14155552671"))
    assert result.lead.pk == by_email.pk
    by_email.refresh_from_db()
    assert by_email.phone == ""  # the number belongs to the other open lead; left alone
    other = Lead.objects.exclude(pk=by_email.pk).get()
    assert result.interaction.body.endswith(
        f"Also gave the phone +14155552671 (open lead #{other.pk} has it: the same person?)")


def test_a_second_phone_of_a_known_lead_is_said_on_its_timeline_not_dropped():
    lead = receive_lead(submission(email="a@x.co", phone="+14155552671")).lead
    result = receive_lead(submission(email="a@x.co", phone="+14155550000"))
    assert result.lead.pk == lead.pk and Lead.objects.get().phone == "+14155552671"
    assert "Also gave the phone +14155550000 (this lead keeps its own)" in result.interaction.body
    same = receive_lead(submission(email="a@x.co", phone="+14155552671"))
    assert "Also gave" not in same.interaction.body


@pytest.mark.parametrize("closed", [Lead.Status.WON, Lead.Status.LOST, Lead.Status.DISQUALIFIED])
def test_a_closed_lead_gets_a_new_linked_lead(closed):
    old = receive_lead(submission(email="grace@navy.mil")).lead
    Lead.objects.filter(pk=old.pk).update(status=closed)
    result = receive_lead(submission(email="grace@navy.mil"))
    assert result.created
    assert result.lead.previous_lead_id == old.pk
    assert Lead.objects.count() == 2


def test_the_reopen_policy_reopens_the_closed_lead(settings):
    settings.CLOSED_LEAD_MATCH = "reopen"
    old = receive_lead(submission(email="grace@navy.mil")).lead
    Lead.objects.filter(pk=old.pk).update(status=Lead.Status.LOST)
    result = receive_lead(submission(email="grace@navy.mil"))
    assert not result.created and result.lead.pk == old.pk
    assert Lead.objects.get().status == Lead.Status.NEW


def test_a_submission_without_email_or_phone_is_always_a_new_lead():
    receive_lead(submission(first_name="Anon", message="hi"))
    receive_lead(submission(first_name="Anon", message="hi"))
    assert Lead.objects.count() == 2


def test_the_hook_is_announced_in_the_same_transaction():
    seen = []

    def listener(sender, *, lead, interaction, created, data, **kwargs):
        seen.append((lead.pk, interaction.pk, created))

    lead_received.connect(listener)
    try:
        result = receive_lead(submission(email="grace@navy.mil"))
    finally:
        lead_received.disconnect(listener)
    assert seen == [(result.lead.pk, result.interaction.pk, True)]


def test_a_failing_listener_leaves_no_half_written_lead_and_keeps_the_event_failed():
    def explode(**kwargs):
        raise RuntimeError("routing is down")

    event, _ = store_inbound_event(channel="web_form", external_id="e1", payload={})
    from capture import intake

    intake.NORMALISERS["test-explode"] = lambda e: submission(email="x@y.co")
    InboundEvent.objects.filter(pk=event.pk).update(channel="test-explode")
    lead_received.connect(explode)
    try:
        assert process_inbound_event(event.pk) is None
    finally:
        lead_received.disconnect(explode)
        del intake.NORMALISERS["test-explode"]
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.FAILED
    assert "routing is down" in event.reason
    assert Lead.objects.count() == 0 and Interaction.objects.count() == 0


def test_a_failed_event_is_retried_by_the_sweeper_and_then_processed():
    from capture import intake

    calls = {"n": 0}

    def flaky(event):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("mail server away")
        return submission(email="late@x.co")

    intake.NORMALISERS["test-flaky"] = flaky
    try:
        event, _ = store_inbound_event(channel="test-flaky", external_id="f1", payload={})
        process_inbound_event(event.pk)
        assert InboundEvent.objects.get(pk=event.pk).status == InboundEvent.Status.FAILED
        assert retry_failed_events() == 1
    finally:
        del intake.NORMALISERS["test-flaky"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEvent.Status.PROCESSED, 2)
    assert event.lead.email == "late@x.co"


def test_an_event_stored_twice_is_one_event():
    first, created = store_inbound_event(channel="twilio-sms", external_id="SM123")
    again, created_again = store_inbound_event(channel="twilio-sms", external_id="SM123")
    assert created and not created_again and first.pk == again.pk


def test_processing_a_processed_event_again_does_nothing():
    from capture import intake

    intake.NORMALISERS["test-once"] = lambda e: submission(email="once@x.co")
    try:
        event, _ = store_inbound_event(channel="test-once", external_id="o1")
        assert process_inbound_event(event.pk) is not None
        assert process_inbound_event(event.pk) is None
    finally:
        del intake.NORMALISERS["test-once"]
    assert Interaction.objects.count() == 1


def test_nul_characters_never_reach_the_database():
    result = receive_lead(submission(first_name="Gr\x00ace", email="g@x.co", message="a\x00b"))
    assert result.lead.first_name == "Grace" and result.lead.message == "ab"


def test_oversized_values_are_cut_to_the_column():
    result = receive_lead(submission(email="g@x.co", company="C" * 5000))
    assert len(result.lead.company) == 200


def test_last_activity_moves_on_a_match():
    lead = receive_lead(submission(email="g@x.co")).lead
    Lead.objects.filter(pk=lead.pk).update(last_activity_at=timezone.now() - timedelta(days=3))
    receive_lead(submission(email="g@x.co"))
    lead.refresh_from_db()
    assert timezone.now() - lead.last_activity_at < timedelta(minutes=1)


def test_receive_event_keeps_the_event_as_failed_and_nothing_it_caused():
    def explode(**kwargs):
        raise RuntimeError("scoring is down")

    lead_received.connect(explode)
    try:
        event, created, result = receive_event(
            channel="web_form", external_id="r1", data=submission(email="x@y.co"),
            payload={"email": "x@y.co"})
    finally:
        lead_received.disconnect(explode)
    assert created and result is None
    event.refresh_from_db()
    assert (event.status, event.attempts) == (InboundEvent.Status.FAILED, 1)
    assert "scoring is down" in event.reason and event.payload == {"email": "x@y.co"}
    assert Lead.objects.count() == 0 and Interaction.objects.count() == 0


def test_receive_event_for_a_retried_provider_id_creates_nothing_more():
    first = receive_event(channel="web_form", external_id="r2", data=submission(email="a@x.co"))
    again = receive_event(channel="web_form", external_id="r2", data=submission(email="a@x.co"))
    assert first[1] and not again[1] and first[0].pk == again[0].pk
    assert first[2].created and again[2] is None
    assert Lead.objects.count() == 1 and Interaction.objects.count() == 1


def test_receive_event_records_a_rejection_from_the_normaliser():
    from capture import intake

    def refuse(event):
        raise intake.Rejected("no way to reach this person")

    intake.NORMALISERS["test-refuse"] = refuse
    try:
        event, _, _ = receive_event(channel="test-refuse", external_id="n1")
    finally:
        del intake.NORMALISERS["test-refuse"]
    assert (event.status, event.reason) == ("rejected", "no way to reach this person")
    assert Lead.objects.count() == 0


def test_a_deadlock_between_twins_is_tried_again_within_the_request(monkeypatch):
    """PostgreSQL aborts one of two twins that took the email and phone indexes in the other
    order (deadlock detected); the aborted request tries again and finds the lead in the same
    request, instead of leaving its event to the sweeper."""
    from django.db import OperationalError

    from capture import intake

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    real, calls = intake._take_in, []

    def deadlocked_once(event, data=None):
        calls.append(event.pk)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from DeadlockDetected()
        return real(event, data)

    monkeypatch.setattr(intake, "_take_in", deadlocked_once)
    event, created, result = receive_event(
        channel="api", external_id="twin-1",
        data=submission(first_name="Grace", email="grace@navy.mil"))
    assert len(calls) == 2 and result is not None and result.lead.email == "grace@navy.mil"
    assert event.status == InboundEvent.Status.PROCESSED and created


def test_another_database_error_is_kept_as_a_failed_event_not_retried(monkeypatch):
    from django.db import OperationalError

    from capture import intake

    calls = []

    def broken(event, data=None):
        calls.append(event.pk)
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(intake, "_take_in", broken)
    event, _created, result = receive_event(
        channel="api", external_id="broken-1",
        data=submission(first_name="Grace", email="grace@navy.mil"))
    assert len(calls) == 1 and result is None
    assert event.status == InboundEvent.Status.FAILED and "disk I/O error" in event.reason
