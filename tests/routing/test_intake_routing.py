"""A lead arriving through capture is scored, routed, explained and put on the clock at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.intake import IntakeInput, receive_event
from capture.models import Channel, Interaction, Lead, LeadStatus
from routing.models import (
    LeadAssessment,
    OutOfOffice,
    RoutingCondition,
    RoutingRule,
    TeamMembership,
)
from routing.ruleset import bump_version
from routing.services import reassign_lead, rescore_lead, sla_state_of
from routing.signals import lead_assigned, lead_queued
from routing.sla import SlaState
from tests.routing.conftest import make_rep, submit

pytestmark = pytest.mark.django_db

TUESDAY_NOON_BERLIN = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


@pytest.fixture
def announced():
    """Every lead_assigned and lead_queued announcement, as followup would receive them."""
    calls: list[tuple[str, dict]] = []

    def on_assigned(sender, **kwargs):
        calls.append(("assigned", kwargs))

    def on_queued(sender, **kwargs):
        calls.append(("queued", kwargs))

    lead_assigned.connect(on_assigned, dispatch_uid="test.assigned")
    lead_queued.connect(on_queued, dispatch_uid="test.queued")
    yield calls
    lead_assigned.disconnect(dispatch_uid="test.assigned")
    lead_queued.disconnect(dispatch_uid="test.queued")


def test_a_new_lead_gets_score_tier_owner_deadline_and_explanation(
        scoring_rules, sla_policies, round_robin, alice, announced):
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        lead = submit(email="cto@bigcorp.com", job_title="CTO", company_size="1001-5000")
    lead.refresh_from_db()
    assert (lead.score, lead.tier, lead.owner) == (70, "hot", alice.user)
    assert lead.respond_by == TUESDAY_NOON_BERLIN + timedelta(minutes=15)
    explanation = lead.assessment
    assert [r["name"] for r in explanation.fired_rules] == ["Senior title", "Big company"]
    assert explanation.routing["rule_name"] == "Everyone"
    assert [c["reason"] for c in explanation.routing["candidates"]] == [
        "picked: next in turn", "eligible, later in turn"]
    assert [kind for kind, _ in announced] == ["assigned"]
    assert lead.interactions.filter(kind=Interaction.Kind.ASSIGNMENT,
                                    summary__contains="Alice").exists()


def test_a_new_lead_is_written_once_whole(scoring_rules, sla_policies, round_robin, alice):
    """Routed before its INSERT: no UPDATE rewrites the lead's row (and its 21 indexes); its
    event is processed, and a retry of the same event id afterwards writes nothing."""
    data = IntakeInput(channel=Channel.API, summary="API lead", source="api-test", fields={
        "first_name": "Grace", "email": "cto@bigcorp.com", "job_title": "CTO",
        "company_size": "1001-5000"})
    with (time_machine.travel(TUESDAY_NOON_BERLIN, tick=False),
          CaptureQueriesContext(connection) as queries):
        event, created, result = receive_event(channel="api", external_id="once-1", data=data)
    assert result.created
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [w for w in writes if w.startswith('UPDATE "capture_lead"')]
    lead = Lead.objects.get()
    assert (lead.owner, lead.tier, lead.score) == (alice.user, "hot", 70)
    assert lead.respond_by == TUESDAY_NOON_BERLIN + timedelta(minutes=15)
    assert lead.assessment.routing["rule_name"] == "Everyone"
    event.refresh_from_db()
    assert (created, event.status, event.lead_id, event.created_lead) == (
        True, "processed", lead.pk, True)
    again, created_again, nothing = receive_event(channel="api", external_id="once-1", data=data)
    assert (again.pk, created_again, nothing) == (event.pk, False, None)
    assert Lead.objects.count() == 1 and lead.interactions.count() == 2  # submission, assignment


def test_free_mail_scores_down_to_a_cold_lead_due_the_next_business_day(
        scoring_rules, sla_policies, round_robin):
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        lead = submit(email="someone@gmail.com", job_title="VP Sales")
    lead.refresh_from_db()
    assert (lead.score, lead.tier) == (15, "cold")
    assert lead.respond_by == TUESDAY_NOON_BERLIN + timedelta(days=1)


def test_round_robin_alternates_between_alice_and_bob(round_robin, alice, bob):
    owners = [submit(email=f"p{i}@x.com").owner.username for i in range(4)]
    assert owners == ["alice", "bob", "alice", "bob"]


def test_the_same_person_again_is_notified_once_and_keeps_their_owner(
        scoring_rules, round_robin, alice, bob, announced):
    first = submit(email="grace@navy.mil", job_title="Engineer")
    again = submit(email="grace@navy.mil", company_size="5000+")
    assert again.pk == first.pk
    again.refresh_from_db()
    assert again.owner == alice.user and again.score == 30  # re-scored with the new answer
    assert [kind for kind, _ in announced] == ["assigned"]


def test_rescoring_after_an_edit_never_notifies_anyone(scoring_rules, round_robin, announced):
    lead = submit(email="x@corp.com")
    announced.clear()
    lead.job_title = "CTO"
    lead.save()
    rescore_lead(lead)
    lead.refresh_from_db()
    assert lead.score == 40 and lead.assessment.fired_rules[0]["name"] == "Senior title"
    assert announced == []


def test_a_higher_tier_after_an_edit_tightens_an_unanswered_deadline(
        scoring_rules, sla_policies, round_robin):
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        lead = submit(email="x@corp.com", job_title="VP")  # 40: warm, 4 business hours
        lead.refresh_from_db()
        assert lead.respond_by == TUESDAY_NOON_BERLIN + timedelta(hours=4)
        Lead.objects.filter(pk=lead.pk).update(company_size="5000+")
        lead.refresh_from_db()
        rescore_lead(lead)
    lead.refresh_from_db()
    assert lead.tier == "hot" and lead.respond_by == TUESDAY_NOON_BERLIN + timedelta(minutes=15)


def test_nobody_eligible_sends_the_lead_to_the_team_queue_and_tells_the_team_lead_once(
        round_robin, alice, bob, manager, announced):
    for rep in (alice, bob):
        rep.is_available = False
        rep.save()
    lead = submit(email="q@x.com")
    submit(email="q@x.com")  # the same person again: no second message to the team lead
    lead.refresh_from_db()
    assert lead.owner is None
    assert lead.assessment.outcome == "queued" and lead.assessment.team == round_robin.team
    assert [(k, kw["team_lead_id"]) for k, kw in announced] == [("queued", manager.pk)]


def test_an_inactive_user_is_never_assigned(round_robin, alice, bob):
    User.objects.filter(pk=alice.user_id).update(is_active=False)
    owners = {submit(email=f"p{i}@x.com").owner.username for i in range(3)}
    assert owners == {"bob"}


def test_capacity_counts_open_leads_in_the_database(round_robin, alice, bob):
    alice.capacity = 1
    alice.save()
    owners = [submit(email=f"p{i}@x.com").owner.username for i in range(3)]
    assert owners == ["alice", "bob", "bob"]
    Lead.objects.filter(owner=alice.user).update(status=LeadStatus.WON)
    assert submit(email="p9@x.com").owner.username == "alice"


def test_a_rep_at_capacity_is_explained_with_the_count_stopped_at_the_capacity(
        round_robin, alice, bob):
    alice.capacity = 2
    alice.save()
    Lead.objects.bulk_create(Lead(email=f"old{i}@x.com", email_key=f"old{i}@x.com",
                                  owner=alice.user) for i in range(5))
    lead = submit(email="new@x.com")
    assert lead.owner.username == "bob"
    reasons = {c["name"]: c["reason"] for c in lead.assessment.routing["candidates"]}
    assert reasons["Alice"] == "at capacity (2/2 open leads)"


def test_least_loaded_compares_loads_up_to_the_count_limit(
        sales_team, alice, bob, tiers, monkeypatch):
    RoutingRule.objects.create(name="Fewest open", action="least_loaded", team=sales_team,
                               position=1)
    Lead.objects.bulk_create([
        *(Lead(email=f"a{i}@x.com", email_key=f"a{i}@x.com", owner=alice.user)
          for i in range(4)),
        *(Lead(email=f"b{i}@x.com", email_key=f"b{i}@x.com", owner=bob.user)
          for i in range(2))])
    first = submit(email="p1@x.com")
    assert first.owner.username == "bob"
    reasons = {c["name"]: c["reason"] for c in first.assessment.routing["candidates"]}
    assert reasons == {"Bob": "picked: fewest open leads (2)",
                       "Alice": "eligible, 4 open leads"}
    # Past the limit every rep counts as the limit: the turn decides, as for equal loads.
    monkeypatch.setattr("routing.ruleset.LOAD_COUNT_LIMIT", 3)
    owners = [submit(email=f"q{i}@x.com").owner.username for i in range(2)]
    assert owners == ["alice", "bob"]


def test_round_robin_over_reps_without_a_capacity_does_not_count_their_leads(
        round_robin, alice, bob, django_assert_num_queries):
    from routing.ruleset import rep_states

    Lead.objects.bulk_create(Lead(email=f"old{i}@x.com", email_key=f"old{i}@x.com",
                                  owner=alice.user) for i in range(3))
    ids = [alice.user_id, bob.user_id]
    with django_assert_num_queries(1):  # the profiles (whether anyone is away, in the same)
        states = rep_states(ids, datetime.now(UTC).date(), loads=False)
    assert {s.open_leads for s in states.values()} == {0}
    with django_assert_num_queries(2):
        states = rep_states(ids, datetime.now(UTC).date())
    assert states[alice.user_id].open_leads == 3


def test_a_rep_at_weight_0_gets_no_round_robin_leads_at_no_extra_query(
        round_robin, alice, bob, sales_team, monkeypatch):
    from routing.services import assess_lead
    from routing.signals import lead_assigned, lead_queued

    for signal in (lead_assigned, lead_queued):  # routing's own queries only
        monkeypatch.setattr(signal, "receivers", [])
    submit(email="warm@x.com")  # the first lead compiles the rules
    one = Lead.objects.create(email="one@x.com", email_key="one@x.com")
    with CaptureQueriesContext(connection) as everyone_in:
        assess_lead(one)
    TeamMembership.objects.filter(team=sales_team, rep=alice).update(weight=0)
    bump_version()  # as the admin's save does
    submit(email="reload@x.com")
    two = Lead.objects.create(email="two@x.com", email_key="two@x.com")
    with CaptureQueriesContext(connection) as alice_out:
        assess_lead(two)
    assert len(alice_out) == len(everyone_in)
    owners = [submit(email=f"p{i}@x.com").owner.username for i in range(3)]
    assert owners == ["bob", "bob", "bob"]
    reasons = {c["name"]: c["reason"]
               for c in Lead.objects.get(email="p0@x.com").assessment.routing["candidates"]}
    assert reasons["Alice"] == "weight 0 in Sales: out of rotation"


def test_out_of_office_today_is_skipped(round_robin, alice, bob):
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        OutOfOffice.objects.create(rep=alice, starts_on="2026-11-23", ends_on="2026-11-24")
        assert submit(email="a@x.com").owner.username == "bob"
        assert submit(email="b@x.com").owner.username == "bob"


def test_first_matching_rule_wins_and_nurture_leaves_no_owner(round_robin, tiers, alice):
    nurture = RoutingRule.objects.create(name="Students", action="nurture", position=1)
    RoutingCondition.objects.create(rule=nurture, field="job_title", operator="contains",
                                    value="student")
    vip = RoutingRule.objects.create(name="Alice's accounts", action="rep", rep=alice.user,
                                     position=2)
    RoutingCondition.objects.create(rule=vip, field="email_domain", operator="equals",
                                    value="acme.com")
    student = submit(email="s@acme.com", job_title="Student")
    student.refresh_from_db()
    assert student.owner is None and student.status == LeadStatus.NURTURE
    assert student.assessment.routing["rule_name"] == "Students"
    assert submit(email="boss@acme.com").owner == alice.user
    assert submit(email="other@else.com").assessment.routing["rule_name"] == "Everyone"


def test_a_manager_reassigning_is_on_the_timeline_and_notifies_once(
        round_robin, alice, bob, manager, announced):
    lead = submit(email="r@x.com")
    announced.clear()
    assert reassign_lead(lead=lead, owner=bob.user, acting_user=manager)
    assert not reassign_lead(lead=lead, owner=bob.user, acting_user=manager)
    lead.refresh_from_db()
    assert lead.owner == bob.user
    entry = lead.interactions.filter(kind=Interaction.Kind.ASSIGNMENT, actor=manager).get()
    assert entry.summary == "Reassigned from Alice to Bob by Max"
    assert [(k, kw["owner_id"], kw["previous_owner_id"]) for k, kw in announced] == [
        ("assigned", bob.user_id, alice.user_id)]


def test_sla_state_of_a_lead_moves_from_due_to_warning_to_breached_and_met(
        scoring_rules, sla_policies, round_robin):
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        lead = submit(email="w@corp.com", job_title="VP")  # warm: 4 business hours, warn at 2
    lead = Lead.objects.select_related("assessment").get(pk=lead.pk)
    assert sla_state_of(lead, TUESDAY_NOON_BERLIN + timedelta(hours=1)) == SlaState.DUE
    assert sla_state_of(lead, TUESDAY_NOON_BERLIN + timedelta(hours=2)) == SlaState.WARNING
    assert sla_state_of(lead, TUESDAY_NOON_BERLIN + timedelta(hours=4)) == SlaState.BREACHED
    lead.first_response_at = TUESDAY_NOON_BERLIN + timedelta(hours=3)
    assert sla_state_of(lead, TUESDAY_NOON_BERLIN + timedelta(hours=9)) == SlaState.MET


def test_a_lead_with_no_rules_at_all_still_arrives(db):
    lead = submit(email="plain@x.com")
    assert lead.owner is None and LeadAssessment.objects.get(lead=lead).score == 0


def test_a_second_rep_joining_gets_their_turn(round_robin, alice, bob, sales_team):
    submit(email="a@x.com")
    carol = make_rep("carol", sales_team)
    owners = [submit(email=f"p{i}@x.com").owner.username for i in range(3)]
    assert owners == ["bob", "carol", "alice"]
    assert carol.user.owned_leads.count() == 1


def test_routing_listens_to_the_intake_before_followup():
    from capture.signals import lead_received

    order = [key[0] for key, *_ in lead_received.receivers]
    assert order.index("routing.score_and_route_lead") < order.index(
        "followup.acknowledge_prospect")


def test_a_touched_lead_is_rescored(scoring_rules, round_robin, announced):
    from capture.signals import lead_touched

    lead = submit(email="t@corp.com")
    announced.clear()
    Lead.objects.filter(pk=lead.pk).update(job_title="VP Sales")
    lead.refresh_from_db()
    lead_touched.send(sender=Lead, lead=lead, interaction=None)
    lead.refresh_from_db()
    assert lead.score == 40 and announced == []


def test_an_old_lead_without_a_deadline_gets_one_from_its_new_contact(sla_policies, round_robin):
    old = Lead.objects.create(email="back@corp.com", first_name="Old",
                              created_at=TUESDAY_NOON_BERLIN - timedelta(days=30))
    with time_machine.travel(TUESDAY_NOON_BERLIN, tick=False):
        again = submit(email="back@corp.com")
    assert again.pk == old.pk
    again.refresh_from_db()
    assert again.respond_by == TUESDAY_NOON_BERLIN + timedelta(days=1)  # cold: 1 business day
