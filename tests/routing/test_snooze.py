"""Snooze: a rep puts a lead off until later; it leaves every queue tab but "Snoozed", comes back
by itself at its time, at once when the prospect writes, or when the rep wakes it."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from capture.models import Interaction, LeadStatus
from tests.routing.conftest import submit
from tests.routing.pages import lead_for
from tests.routing.test_queue import names_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def grace(alice, sales_team):
    return lead_for(alice.user, sales_team, first_name="Grace", last_name="Hopper",
                    email="grace@navy.mil", minutes_left=None)


def tab(client, slug: str) -> list[str]:
    return names_in(client.get(f"/queue/?tab={slug}"))


def test_a_snoozed_lead_leaves_the_queue_and_comes_back_at_its_time(as_alice, grace):
    lead_for(grace.owner, first_name="Ada", last_name="Lovelace", minutes_left=None)
    response = as_alice.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "tomorrow",
                                                            "snooze-note": "Back from holiday"})
    assert response.status_code == 302
    grace.refresh_from_db()
    tomorrow_nine = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0) \
        + timedelta(days=1)
    assert grace.snoozed_until == tomorrow_nine
    assert tab(as_alice, "all") == ["Ada Lovelace"] and tab(as_alice, "new") == ["Ada Lovelace"]
    assert tab(as_alice, "snoozed") == ["Grace Hopper"]
    note = grace.interactions.get(kind=Interaction.Kind.SYSTEM)
    assert note.summary.startswith("Snoozed by Alice") and note.body == "Back from holiday"
    assert grace.first_response_at is None  # a snooze is not an answer

    with time_machine.travel(tomorrow_nine + timedelta(minutes=1)):
        as_alice.force_login(grace.owner)  # a new day, a new sign-in (sessions time out)
        assert "Grace Hopper" in tab(as_alice, "all") and tab(as_alice, "snoozed") == []


def test_the_rep_s_own_time_zone_is_the_one_a_snooze_time_is_read_in(as_alice, alice, grace):
    alice.timezone = "Asia/Tokyo"
    alice.save()
    as_alice.force_login(alice.user)  # a zone is read at sign-in
    tokyo = ZoneInfo("Asia/Tokyo")
    day = (timezone.localtime(timezone=tokyo) + timedelta(days=2)).date()
    response = as_alice.post(f"/leads/{grace.pk}/snooze/", {
        "snooze-when": "custom", "snooze-at": f"{day}T10:30"}, follow=True)
    grace.refresh_from_db()
    assert timezone.localtime(grace.snoozed_until, tokyo).strftime("%H:%M") == "10:30"
    assert "(Asia/Tokyo)" in response.content.decode()
    as_alice.post(f"/leads/{grace.pk}/wake/")
    as_alice.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "tomorrow"})
    grace.refresh_from_db()
    assert timezone.localtime(grace.snoozed_until, tokyo).strftime("%H:%M") == "09:00"


def test_a_rep_s_pages_show_times_in_the_rep_s_own_zone(client, alice, grace):
    alice.timezone = "Asia/Tokyo"
    alice.save()
    client.force_login(alice.user)  # the zone is read at sign-in
    tokyo = ZoneInfo("Asia/Tokyo")
    day = (timezone.localtime(timezone=tokyo) + timedelta(days=2)).date()
    client.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "custom",
                                               "snooze-at": f"{day}T10:30"})
    note = grace.interactions.get(kind=Interaction.Kind.SYSTEM)
    assert note.summary.endswith(f"{day:%d %b %Y}, 10:30 JST")
    page = client.get("/queue/?tab=snoozed").content.decode()
    assert "10:30" in page  # the Snoozed tab's "back" time, in Tokyo


def test_a_zone_changed_since_sign_in_waits_for_the_next_sign_in_everywhere(client, alice,
                                                                          grace):
    alice.timezone = "America/New_York"
    alice.save()
    client.force_login(alice.user)
    alice.timezone = "Asia/Tokyo"  # changed in the admin while she is signed in
    alice.save()
    day = (timezone.localtime(timezone=ZoneInfo("America/New_York")) + timedelta(days=2)).date()
    client.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "custom",
                                               "snooze-at": f"{day}T09:00"})
    grace.refresh_from_db()
    local = timezone.localtime(grace.snoozed_until, ZoneInfo("America/New_York"))
    assert local.strftime("%H:%M") == "09:00"  # read in the zone her pages show


def test_a_message_from_the_prospect_wakes_the_lead_at_once(as_alice, grace, round_robin):
    as_alice.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "3d"})
    assert tab(as_alice, "snoozed") == ["Grace Hopper"]
    assert submit(email="grace@navy.mil", message="Any news?").pk == grace.pk
    grace.refresh_from_db()
    assert grace.snoozed_until is None and "Grace Hopper" in tab(as_alice, "all")


def test_waking_a_lead_by_hand(as_alice, grace):
    as_alice.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "monday"})
    page = as_alice.get(f"/leads/{grace.pk}/").content.decode()
    assert "Snoozed until" in page and "Back to the queue now" in page
    assert ">Snooze</button>" not in page  # no second snooze while snoozed
    as_alice.post(f"/leads/{grace.pk}/wake/")
    grace.refresh_from_db()
    assert grace.snoozed_until is None and "Grace Hopper" in tab(as_alice, "all")
    assert grace.interactions.filter(summary__startswith="Back in the queue").exists()


@pytest.mark.parametrize(("data", "error"), [
    ({"snooze-when": "custom"}, "Pick the date and time the lead should come back."),
    ({"snooze-when": "custom", "snooze-at": "2020-01-01T09:00"}, "Pick a time in the future."),
    ({"snooze-when": "custom", "snooze-at": "2099-01-01T09:00"}, "At most 365 days ahead."),
    ({"snooze-when": "custom", "snooze-at": "not a date"}, "Enter a valid date/time."),
    ({"snooze-when": "forever"}, "Select a valid choice."),
])
def test_a_bad_snooze_time_is_a_form_error_and_changes_nothing(as_alice, grace, data, error):
    response = as_alice.post(f"/leads/{grace.pk}/snooze/", data)
    assert response.status_code == 400 and error in response.content.decode()
    grace.refresh_from_db()
    assert grace.snoozed_until is None


def test_a_custom_time_and_the_warning_when_the_deadline_comes_first(as_alice, alice):
    lead = lead_for(alice.user, minutes_left=30)
    at = timezone.localtime() + timedelta(days=2)
    response = as_alice.post(f"/leads/{lead.pk}/snooze/",
                             {"snooze-when": "custom", "snooze-at": at.strftime("%Y-%m-%dT%H:%M")},
                             follow=True)
    assert "first-response deadline still runs" in response.content.decode()
    lead.refresh_from_db()
    assert lead.snoozed_until == at.replace(second=0, microsecond=0)


def test_only_an_open_owned_lead_can_be_snoozed_and_only_by_who_may_see_it(as_alice, alice,
                                                                          bob):
    closed = lead_for(alice.user, status=LeadStatus.WON)
    response = as_alice.post(f"/leads/{closed.pk}/snooze/", {"snooze-when": "1h"}, follow=True)
    assert "Only an open lead with an owner can be snoozed." in response.content.decode()
    closed.refresh_from_db()
    assert closed.snoozed_until is None
    bobs = lead_for(bob.user)
    assert as_alice.post(f"/leads/{bobs.pk}/snooze/", {"snooze-when": "1h"}).status_code == 404


def test_a_reassignment_ends_the_snooze_and_says_so(client, manager, as_alice, grace, bob):
    as_alice.post(f"/leads/{grace.pk}/snooze/", {"snooze-when": "tomorrow"})
    client.force_login(manager)
    client.post(f"/leads/{grace.pk}/reassign/", {"owner": bob.user.pk})
    grace.refresh_from_db()
    assert grace.snoozed_until is None
    assert grace.interactions.filter(
        summary="Reassigned from Alice to Bob by Max; the snooze ended").exists()
    client.force_login(bob.user)
    assert tab(client, "all") == ["Grace Hopper"] and tab(client, "snoozed") == []
