"""SLA clocks: the owner is reminded at the warning point, the breach escalates once, and the
first human contact stops the clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from capture.models import Interaction, LeadStatus
from capture.services import log_rep_contact, record_first_response, set_lead_status
from followup.models import Notification, OutboundMessage
from followup.services import breach_text
from routing.services import escalate_due_breaches, sla_state_of
from routing.sla import Escalation, SlaState
from tests.factories import UserFactory
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def hot_lead(routing_rules, sla_policies, alice):
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO")
    assert lead.tier == "hot" and lead.owner == alice.user
    assert lead.respond_by == NOON + timedelta(minutes=15)
    sweep_at(NOON)  # the assignment alert
    mail.outbox.clear()
    return lead


def warnings():
    return [m for m in mail.outbox if m.subject.startswith("Answer soon")]


def test_the_owner_is_reminded_once_at_the_warning_point(hot_lead, alice):
    assert sweep_at(NOON + timedelta(minutes=7)) == 0  # warning at 50 %: 7.5 minutes
    assert sweep_at(NOON + timedelta(minutes=7, seconds=31)) == 1
    assert sweep_at(NOON + timedelta(minutes=8)) == 0
    assert [m.to for m in warnings()] == [["alice@example.com"]]
    assert warnings()[0].body.startswith(
        "Nobody has answered this lead yet. It is due by 2026-11-30 12:15 UTC.")
    assert Notification.objects.filter(user=alice.user, kind="sla_warning").count() == 1


def test_a_call_logged_before_the_warning_point_stops_the_clock(hot_lead, alice):
    with time_machine.travel(NOON + timedelta(minutes=3), tick=False):
        log_rep_contact(lead=hot_lead, user=alice.user, kind=Interaction.Kind.CALL,
                        summary="Called Grace")
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=3)
    assert sweep_at(NOON + timedelta(minutes=8)) == 0
    assert warnings() == []
    with time_machine.travel(NOON + timedelta(minutes=20), tick=False):
        assert escalate_due_breaches() == 0
        assert sla_state_of(hot_lead) == SlaState.MET
    warning = OutboundMessage.objects.get(kind="sla_warning")
    assert warning.status == "cancelled" and "Answered" in warning.last_error


@pytest.mark.parametrize("status", [LeadStatus.CONTACTED, LeadStatus.QUALIFIED])
def test_moving_the_lead_to_contacted_or_qualified_is_a_first_response(hot_lead, alice,
                                                                        status):
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        set_lead_status(lead=hot_lead, status=status, user=alice.user)
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=5)


def test_a_lead_resting_in_nurture_gets_no_warning_as_it_gets_no_breach(hot_lead, alice):
    """Nurture owes no answer (the queue never shows it breached, the breach never runs), so
    its owner is not told to answer it soon either."""
    with time_machine.travel(NOON + timedelta(minutes=2), tick=False):
        set_lead_status(lead=hot_lead, status=LeadStatus.NURTURE, user=alice.user)
    assert sweep_at(NOON + timedelta(minutes=8)) == 0
    assert warnings() == []
    warning = OutboundMessage.objects.get(kind="sla_warning")
    assert warning.status == "cancelled" and "nurture" in warning.last_error
    with time_machine.travel(NOON + timedelta(minutes=20), tick=False):
        assert escalate_due_breaches() == 0


def test_closing_a_lead_as_spam_is_no_first_response(hot_lead, alice):
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        set_lead_status(lead=hot_lead, status=LeadStatus.DISQUALIFIED, user=alice.user)
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at is None


def test_only_the_first_contact_stamps_the_response_time(hot_lead):
    assert record_first_response(lead=hot_lead, at=NOON + timedelta(minutes=1)) is True
    assert record_first_response(lead=hot_lead, at=NOON + timedelta(minutes=2)) is False
    hot_lead.refresh_from_db()
    assert hot_lead.first_response_at == NOON + timedelta(minutes=1)


def test_a_breach_reassigns_tells_the_manager_and_goes_on_the_timeline(hot_lead, bob, manager):
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
        assert escalate_due_breaches() == 0
    hot_lead.refresh_from_db()
    assert hot_lead.owner == bob.user
    assert sweep_at(NOON + timedelta(minutes=16)) == 2  # the manager's email, bob's alert
    assert sweep_at(NOON + timedelta(minutes=17)) == 0
    to = sorted(m.to[0] for m in mail.outbox)
    assert to == ["bob@example.com", "manager@example.com"]
    breach = next(m for m in mail.outbox if m.to == ["manager@example.com"])
    said = ("Deadline missed for lead Grace (hot, due 12:15 UTC): it was reassigned to Bob Rep, "
            "and the manager was alerted.")
    assert breach.subject == "SLA breached: Grace" and breach.body.startswith(f"{said}\n")
    assert Notification.objects.get(user=manager, kind="sla_breach").text == said
    assert hot_lead.interactions.get(summary__startswith="SLA breached").summary == \
        f"SLA breached. {said}"
    assert warnings() == []  # found after the deadline: the breach took over


def test_a_breach_is_escalated_by_the_running_sweep_within_seconds(hot_lead, bob, manager,
                                                                   settings):
    """The breach schedule runs once a minute and django-q2's scheduler looks every 30 s or
    so: a deadline passed just after a run was escalated up to 90 s late, while the warning
    before it went out within a second. The outbox sweep, which looks every half second,
    escalates passed deadlines too, and sends the alerts in the same pass."""
    from followup.tasks import sweep_due_messages

    settings.FOLLOWUP_SWEEP_SECONDS = 0  # one pass
    with time_machine.travel(NOON + timedelta(minutes=15, seconds=1), tick=False):
        sweep_due_messages()
    hot_lead.refresh_from_db()
    assert hot_lead.owner == bob.user
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "manager@example.com"]


def test_a_cold_lead_breach_only_notifies_the_manager(routing_rules, sla_policies, alice,
                                                      manager):
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="grace@navy.mil")
    assert lead.tier == "cold"
    with time_machine.travel(NOON + timedelta(hours=4, minutes=1), tick=False):
        assert escalate_due_breaches() == 1
    lead.refresh_from_db()
    assert lead.owner == alice.user
    sweep_at(NOON + timedelta(hours=4, minutes=1))
    assert [m.to for m in mail.outbox if m.subject.startswith("SLA")] == [
        ["manager@example.com"]]
    assert Notification.objects.get(kind="sla_breach").text == (
        "Deadline missed for lead Grace (cold, due 16:00 UTC): Alice Rep still owns it, "
        "and the manager was alerted.")


def test_the_owners_alert_gives_the_deadline_while_it_is_ahead(hot_lead, alice):
    alert = OutboundMessage.objects.get(kind="owner_alert", recipient=alice.user)
    assert alert.body.startswith(
        "This lead is now yours. Please answer it by 2026-11-30 12:15 UTC.\n")
    assert Notification.objects.get(user=alice.user).text == "New hot lead: Grace"


def test_the_owner_of_a_lead_reassigned_after_its_deadline_is_told_it_is_overdue(hot_lead, bob):
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        escalate_due_breaches()
    sweep_at(NOON + timedelta(minutes=16))
    alert = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert alert.body.startswith("This lead is now yours. It is overdue since 2026-11-30 "
                                 "12:15 UTC: please answer it now.\n")
    assert "answer it by" not in alert.body
    assert Notification.objects.get(user=bob.user, kind="assigned").text == (
        "New hot lead: Grace (overdue since 12:15 UTC)")


def test_a_breach_nobody_could_take_over_says_who_still_owns_it(hot_lead, alice):
    with time_machine.travel(NOON + timedelta(days=1), tick=False):
        text = breach_text(hot_lead, reassign_tried=True, reassigned=None,
                           manager_alerted=False, now=timezone.now())
    # A day late (the worker was down): the deadline carries its date.
    assert text == ("Deadline missed for lead Grace (hot, due 2026-11-30 12:15 UTC): no other "
                    "rep could take it, so Alice Rep still owns it; there is no team lead to "
                    "alert.")


def test_a_one_rep_lead_s_breach_does_not_claim_another_rep_was_tried(tiers, sla_policies,
                                                                       alice, bob, manager):
    """A rule hands CTOs to Alice alone (no team): under a "reassign" policy nobody else is
    looked for, so the breach must not say that no other rep could take it."""
    from routing.models import RoutingRule, ScoringRule

    ScoringRule.objects.create(name="Senior title", field="job_title", operator="contains",
                               value="CTO", points=70)
    RoutingRule.objects.create(name="Alice's", action="rep", rep=alice.user, is_default=True)
    sla_policies["hot"].escalation = Escalation.REASSIGN
    sla_policies["hot"].save()
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO")
    assert lead.tier == "hot" and lead.owner == alice.user
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
    lead.refresh_from_db()
    assert lead.owner == alice.user
    assert lead.interactions.get(summary__startswith="SLA breached").summary == (
        "SLA breached. Deadline missed for lead Grace (hot, due 12:15 UTC): Alice Rep still "
        "owns it, and the manager was alerted.")


def test_a_one_rep_lead_s_breach_alerts_the_lead_of_the_reps_own_team(tiers, sla_policies,
                                                                      alice, manager):
    """The rule names Alice and no team: her own team's lead (Max) hears of the breach."""
    from routing.models import RoutingRule, ScoringRule

    ScoringRule.objects.create(name="Senior title", field="job_title", operator="contains",
                               value="CTO", points=70)
    RoutingRule.objects.create(name="Alice's", action="rep", rep=alice.user, is_default=True)
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO")
    assert lead.assessment.team_id is None
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
    sweep_at(NOON + timedelta(minutes=16))
    assert Notification.objects.get(user=manager, kind="sla_breach").text.endswith(
        "Alice Rep still owns it, and the manager was alerted.")
    assert [m.to for m in mail.outbox if m.subject.startswith("SLA breached")] == [
        ["manager@example.com"]]


def test_a_breach_of_a_rep_in_no_team_says_nobody_was_alerted(tiers, sla_policies, manager):
    from routing.models import RepProfile, RoutingRule, ScoringRule

    loner = RepProfile.objects.create(user=UserFactory(username="lone", first_name="Lone")).user
    ScoringRule.objects.create(name="Senior title", field="job_title", operator="contains",
                               value="CTO", points=70)
    RoutingRule.objects.create(name="Lone's", action="rep", rep=loner, is_default=True)
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="cto@big.com", job_title="CTO")
    with time_machine.travel(NOON + timedelta(minutes=16), tick=False):
        assert escalate_due_breaches() == 1
    assert lead.interactions.get(summary__startswith="SLA breached").summary.endswith(
        "there is no team lead to alert.")
    assert not Notification.objects.filter(kind="sla_breach").exists()


@pytest.fixture
def cold_lead(routing_rules, sla_policies, alice):
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="grace@big.com", job_title="Engineer")
    assert lead.tier == "cold" and lead.respond_by == NOON + timedelta(minutes=240)
    sweep_at(NOON)  # the assignment alert
    mail.outbox.clear()
    return lead


def test_a_lead_edited_into_a_hotter_tier_warns_its_owner_before_the_new_deadline(cold_lead,
                                                                                  alice):
    from routing.services import rescore_lead

    with time_machine.travel(NOON + timedelta(minutes=2), tick=False):
        cold_lead.job_title = "CTO"  # as the admin's lead page saves it, then re-scores
        cold_lead.save(update_fields=["job_title"])
        rescore_lead(cold_lead)
    cold_lead.refresh_from_db()
    assert cold_lead.tier == "hot" and cold_lead.respond_by == NOON + timedelta(minutes=15)
    assert sweep_at(NOON + timedelta(minutes=8)) == 1  # hot warns at 7.5 minutes
    assert [m.to for m in warnings()] == [["alice@example.com"]]
    assert "It is due by 2026-11-30 12:15 UTC." in warnings()[0].body
    sweep_at(NOON + timedelta(minutes=121))  # the cold tier's warning point: not sent
    assert len(warnings()) == 1


def test_a_custom_field_edit_on_the_lead_page_that_changes_the_tier_warns_the_owner(
        cold_lead, alice, client):
    from capture.models import CustomField
    from routing.models import ScoringRule

    CustomField.objects.create(label="Through a partner", key="through_partner",
                               kind=CustomField.Kind.YES_NO)
    ScoringRule.objects.create(name="Partner deal", field="cf_through_partner",
                               operator="equals", value="yes", points=70)
    client.force_login(alice.user)
    with time_machine.travel(NOON + timedelta(minutes=2), tick=False):
        response = client.post(f"/leads/{cold_lead.pk}/custom-fields/",
                               {"cf_through_partner": "yes"})
    assert response.status_code in (200, 302)
    cold_lead.refresh_from_db()
    assert cold_lead.tier == "hot"
    assert sweep_at(NOON + timedelta(minutes=8)) == 1
    assert [m.to for m in warnings()] == [["alice@example.com"]]


def test_a_warning_for_a_deadline_on_another_day_names_that_day(routing_rules, sla_policies,
                                                                alice):
    sla_policies["cold"].target = 2 * 24 * 60  # two days: the warning comes a day early
    sla_policies["cold"].save()
    with time_machine.travel(NOON, tick=False):
        lead = submit(email="grace@big.com", job_title="Engineer")
    assert lead.tier == "cold" and lead.respond_by == NOON + timedelta(days=2)
    sweep_at(NOON)  # the assignment alert
    assert sweep_at(NOON + timedelta(days=1, minutes=1)) == 1
    note = Notification.objects.get(user=alice.user, kind="sla_warning")
    assert note.text == "Answer Grace by 2026-12-02 12:00 UTC"  # not "by 12:00 UTC": gone today
