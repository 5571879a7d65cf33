"""The lead page: who may open it, what it explains, and what its actions change."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from capture.models import Interaction, Lead, LeadStatus
from routing.models import Team
from tests.factories import UserFactory
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def alices_lead(alice, sales_team):
    return lead_for(alice.user, sales_team, first_name="Grace", last_name="Hopper",
                    company="Navy", tier="hot", score=70, utm_campaign="spring-sale",
                    message="Call me about 40 laptops")


def test_the_page_shows_fields_explanations_and_sla(as_alice, alices_lead):
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "Grace Hopper" in html and "spring-sale" in html and "Call me about 40 laptops" in html
    assert "Senior title: <strong>+40</strong>" in html
    assert "Round robin in Sales picked Alice" in html and "Bob: skipped — at capacity" in html
    assert "Alice: picked: next in turn" in html  # not just "eligible", as every other one
    # The details named the owner by login ("alice") under the header's "Owner: Alice".
    assert '<dt class="col-5 fw-normal text-muted">Owner</dt><dd class="col-7 text-break ' \
           'pre-wrap">Alice</dd>' in html
    assert "SLA: Due" in html and "First response: not yet" in html


def test_the_deadline_says_how_long_is_left_or_how_long_it_is_overdue(as_alice, alices_lead):
    Lead.objects.filter(pk=alices_lead.pk).update(
        respond_by=timezone.now() + timedelta(minutes=12, seconds=30))
    assert "12 min left</span>" in as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    Lead.objects.filter(pk=alices_lead.pk).update(
        respond_by=timezone.now() - timedelta(hours=2, minutes=5, seconds=30))
    for page in (f"/leads/{alices_lead.pk}/", "/queue/"):
        html = as_alice.get(page).content.decode()
        assert "2 h 05 min overdue</span>" in html and "0 minutes" not in html


def test_attribution_fields_have_readable_labels(as_alice, alices_lead):
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "UTM campaign" in html and "Google Ads click ID (gclid)" in html
    assert "Utm campaign" not in html and "Gclid" not in html


def test_every_field_is_escaped(as_alice, alice):
    lead = lead_for(alice.user, first_name="<script>x()</script>", company="<img src=x>")
    html = as_alice.get(f"/leads/{lead.pk}/").content.decode()
    assert "<script>x()</script>" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_the_timeline_is_newest_first(as_alice, alices_lead, alice):
    as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": "first note"})
    as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": "second note"})
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert html.index("second note") < html.index("first note")


def test_the_lead_page_names_people_as_its_header_does(as_alice, alices_lead, alice):
    # The header said "Owner: Alice Anders"; the details, the timeline and the sent emails
    # said "alice", the login ("alice: New → Nurture" beside "Note by Alice Anders").
    alice.user.last_name = "Anders"
    alice.user.save()
    as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": "Looked them up"})
    as_alice.post(f"/leads/{alices_lead.pk}/status/", {"status": "nurture"})
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    timeline = html[html.index('id="timeline"'):]
    assert "· Alice Anders</div>" in timeline and "· alice</div>" not in timeline
    assert "Alice Anders: New → Nurture" in timeline
    assert re.search(r">Owner</dt><dd[^>]*>Alice Anders</dd>", html)


def test_logging_a_call_stamps_the_first_response_once(as_alice, alices_lead):
    response = as_alice.post(f"/leads/{alices_lead.pk}/call/",
                             {"outcome": "connected", "notes": "Wants a quote"})
    assert response.status_code == 302
    alices_lead.refresh_from_db()
    first = alices_lead.first_response_at
    assert first is not None
    as_alice.post(f"/leads/{alices_lead.pk}/call/", {"outcome": "voicemail"})
    alices_lead.refresh_from_db()
    assert alices_lead.first_response_at == first
    calls = alices_lead.interactions.filter(kind=Interaction.Kind.CALL)
    assert [c.summary for c in calls] == ["Call by Alice: Left a voicemail",
                                          "Call by Alice: Spoke with them"]
    assert alices_lead.status == LeadStatus.CONTACTED  # reached: no longer new


@pytest.mark.parametrize("outcome", ["no_answer", "wrong_number"])
def test_a_call_that_reached_nobody_is_on_the_timeline_but_no_first_response(as_alice,
                                                                            alices_lead,
                                                                            outcome):
    as_alice.post(f"/leads/{alices_lead.pk}/call/", {"outcome": outcome})
    alices_lead.refresh_from_db()
    assert alices_lead.first_response_at is None and alices_lead.status == LeadStatus.NEW
    assert alices_lead.interactions.filter(kind="call").exists()
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "First response: not yet" in html and "SLA: Due" in html


def test_a_voicemail_stamps_the_first_response_but_the_lead_stays_new(as_alice, alices_lead):
    as_alice.post(f"/leads/{alices_lead.pk}/call/", {"outcome": "voicemail"})
    alices_lead.refresh_from_db()
    assert alices_lead.first_response_at is not None and alices_lead.status == LeadStatus.NEW


def test_a_note_is_not_a_first_response(as_alice, alices_lead):
    as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": "Looked them up"})
    alices_lead.refresh_from_db()
    assert alices_lead.first_response_at is None


def test_losing_a_lead_needs_a_reason(as_alice, alices_lead):
    response = as_alice.post(f"/leads/{alices_lead.pk}/status/", {"status": "lost"})
    assert response.status_code == 400
    assert "Say why the lead is lost" in response.content.decode()
    alices_lead.refresh_from_db()
    assert alices_lead.status == LeadStatus.NEW
    as_alice.post(f"/leads/{alices_lead.pk}/status/", {"status": "lost", "reason": "Budget"})
    alices_lead.refresh_from_db()
    assert alices_lead.status == LeadStatus.LOST
    assert alices_lead.interactions.filter(kind=Interaction.Kind.STATUS, body="Budget").exists()


def test_a_status_the_lead_cannot_reach_is_refused(as_alice, alice):
    lead = lead_for(alice.user, status=LeadStatus.WON)
    response = as_alice.post(f"/leads/{lead.pk}/status/", {"status": "contacted"})
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.status == LeadStatus.WON


@pytest.mark.parametrize("same", ["email", "phone"])
def test_reopening_a_closed_lead_while_the_person_has_a_newer_open_one_is_refused(
        as_alice, alice, same):
    # The intake makes a new lead, linked, when a closed lead's person writes again: reopening
    # the old one would be a second open lead of one person (it was a 500, the database's
    # unique constraint).
    old = lead_for(alice.user, status=LeadStatus.LOST, email="grace@example.com",
                   phone="+14155552671")
    newer = lead_for(alice.user, previous_lead=old,
                     email="grace@example.com" if same == "email" else "other@example.com",
                     phone="+14155552671" if same == "phone" else "")
    response = as_alice.post(f"/leads/{old.pk}/status/", {"status": "new"})
    assert response.status_code == 400
    assert f"Lead #{newer.pk} is open for the same person" in response.content.decode()
    old.refresh_from_db()
    assert old.status == LeadStatus.LOST
    assert not old.interactions.filter(kind=Interaction.Kind.STATUS).exists()
    Lead.objects.filter(pk=newer.pk).update(status=LeadStatus.WON)  # once that one is closed
    assert as_alice.post(f"/leads/{old.pk}/status/", {"status": "new"}).status_code == 302
    old.refresh_from_db()
    assert old.status == LeadStatus.NEW


def test_sending_an_email_threads_replies_and_stamps_the_first_response(
        as_alice, alices_lead, mailoutbox, sync_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.post(f"/leads/{alices_lead.pk}/email/",
                      {"subject": "Your quote", "body": "Hello Grace"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [alices_lead.email]
    sent = alices_lead.interactions.get(kind=Interaction.Kind.EMAIL)
    assert sent.message_id and mailoutbox[0].extra_headers["Message-ID"].strip("<>") == \
        sent.message_id
    alices_lead.refresh_from_db()
    assert alices_lead.first_response_at is not None


def test_a_lead_closed_before_its_deadline_leaves_the_clock_and_never_breaches(
        as_alice, alices_lead, alice, manager):
    from django.test import Client

    as_manager = Client()
    as_manager.force_login(manager)
    response = as_alice.post(f"/leads/{alices_lead.pk}/status/",
                             {"status": "lost", "reason": "Bought elsewhere"})
    assert response.status_code in (200, 302)
    alices_lead.refresh_from_db()
    assert alices_lead.status == LeadStatus.LOST and alices_lead.respond_by is None
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
        assert "Breached" not in html and "overdue" not in html
        sla = as_manager.get("/dashboard/sla.csv").content.decode().splitlines()
    assert sla[1].split(",")[:3] == ["0", "0", "0"], sla  # nothing met, breached or due
    # A deadline already missed stays missed.
    late = lead_for(alice.user, first_name="Late", minutes_left=-5)
    as_alice.post(f"/leads/{late.pk}/status/", {"status": "lost", "reason": "Too late"})
    late.refresh_from_db()
    assert late.status == LeadStatus.LOST and late.respond_by is not None


def test_an_email_subject_with_a_line_break_is_a_form_error_and_nothing_is_queued(
        as_alice, alices_lead):
    from followup.models import OutboundMessage

    response = as_alice.post(f"/leads/{alices_lead.pk}/email/", {
        "subject": "line1\r\nBcc: evil@example.com", "body": "Hello"})
    assert response.status_code == 400
    assert "Write the subject on one line." in response.content.decode()
    assert not OutboundMessage.objects.filter(lead=alices_lead).exists()


def test_sms_without_twilio_settings_is_refused_plainly(as_alice, alices_lead):
    alices_lead.phone = "+14155552671"
    alices_lead.save()
    response = as_alice.post(f"/leads/{alices_lead.pk}/sms/", {"body": "Hi"})
    assert response.status_code == 400 and "SMS is not configured" in response.content.decode()
    assert not alices_lead.interactions.filter(kind=Interaction.Kind.SMS).exists()


def test_a_rep_cannot_reassign(as_alice, alices_lead, bob):
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "act-reassign" not in html
    response = as_alice.post(f"/leads/{alices_lead.pk}/reassign/", {"owner": bob.user.pk})
    assert response.status_code == 404
    alices_lead.refresh_from_db()
    assert alices_lead.owner_id != bob.user.pk


def test_the_teams_manager_reassigns(client, manager, alices_lead, bob):
    client.force_login(manager)
    response = client.post(f"/leads/{alices_lead.pk}/reassign/",
                           {"owner": bob.user.pk, "note": "Alice is away"})
    assert response.status_code == 302
    alices_lead.refresh_from_db()
    assert alices_lead.owner == bob.user
    assert alices_lead.interactions.filter(
        summary__contains="Reassigned from Alice to Bob").exists()
    page = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "Reassigned to Bob" in page
    # To the owner it has: said so, and nothing on the timeline.
    client.post(f"/leads/{alices_lead.pk}/reassign/", {"owner": bob.user.pk})
    page = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "Bob owns this lead already; nothing changed." in page
    assert alices_lead.interactions.filter(kind=Interaction.Kind.ASSIGNMENT).count() == 1


# --- who may open a lead ------------------------------------------------------------------

def test_another_reps_lead_is_a_404(as_alice, bob):
    lead = lead_for(bob.user)
    assert as_alice.get(f"/leads/{lead.pk}/").status_code == 404
    assert as_alice.post(f"/leads/{lead.pk}/note/", {"body": "x"}).status_code == 404


def test_a_missing_lead_and_a_hidden_lead_look_the_same(as_alice, bob):
    hidden = lead_for(bob.user)
    missing = as_alice.get(f"/leads/{hidden.pk + 1000}/")
    assert as_alice.get(f"/leads/{hidden.pk}/").content == missing.content


def test_a_rep_opens_their_teams_unassigned_lead_but_not_another_teams(as_alice, sales_team):
    ours = lead_for(None, sales_team)
    theirs = lead_for(None, Team.objects.create(name="Enterprise"))
    assert as_alice.get(f"/leads/{ours.pk}/").status_code == 200
    assert as_alice.get(f"/leads/{theirs.pk}/").status_code == 404


def test_a_manager_sees_their_teams_leads_only(client, manager, alices_lead):
    client.force_login(manager)
    assert client.get(f"/leads/{alices_lead.pk}/").status_code == 200
    stranger = UserFactory(username="stranger")
    other = lead_for(stranger, Team.objects.create(name="Enterprise"))
    assert client.get(f"/leads/{other.pk}/").status_code == 404


def test_sales_ops_see_every_lead(client, bob):
    ops = UserFactory(username="ops")
    ops.groups.add(Group.objects.create(name="Sales ops"))
    client.force_login(ops)
    assert client.get(f"/leads/{lead_for(bob.user).pk}/").status_code == 200


def test_the_lead_page_runs_a_fixed_number_of_queries(as_alice, alices_lead,
                                                      django_assert_num_queries):
    for i in range(5):
        as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": f"note {i}"})
    # session, user, lead with its assessment, groups, timeline, enrolment, reassign check,
    # the menu's dashboard check, the custom field definitions, and the live chat card's
    # conversation (chat/), the access-trail insert, and
    # the reply panel's platform identities and recent replies, the email templates, and the
    # menu's count of my unread notifications
    with django_assert_num_queries(15):
        assert as_alice.get(f"/leads/{alices_lead.pk}/").status_code == 200
    for i in range(20):
        as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": f"more {i}"})
    with django_assert_num_queries(15):
        assert as_alice.get(f"/leads/{alices_lead.pk}/").status_code == 200


# --- working a lead from the team queue ---------------------------------------------------------

@pytest.fixture
def waiting(sales_team):
    return lead_for(None, sales_team, first_name="Ada", last_name="Waiting", email="ada@x.org")


def test_the_lead_page_of_a_waiting_lead_offers_claim(as_alice, waiting, alice):
    html = as_alice.get(f"/leads/{waiting.pk}/").content.decode()
    assert f'action="/queue/claim/{waiting.pk}/"' in html
    as_alice.post(f"/queue/claim/{waiting.pk}/")
    assert "/queue/claim/" not in as_alice.get(f"/leads/{waiting.pk}/").content.decode()


@pytest.mark.parametrize(("action", "data"), [
    ("call", {"outcome": "connected"}),
    ("status", {"status": "qualified"}),
])
def test_working_a_waiting_lead_claims_it_first(as_alice, waiting, alice, action, data):
    response = as_alice.post(f"/leads/{waiting.pk}/{action}/", data, follow=True)
    assert "The lead is yours now" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.owner == alice.user
    assert waiting.interactions.filter(summary="Claimed from the team queue by Alice").exists()
    assert names_in_team_tab(as_alice) == []


def test_a_form_error_on_a_waiting_lead_claims_nothing(as_alice, waiting):
    response = as_alice.post(f"/leads/{waiting.pk}/status/", {"status": "lost"})
    assert response.status_code == 400
    waiting.refresh_from_db()
    assert waiting.owner is None and waiting.status == LeadStatus.NEW


def test_a_note_on_a_waiting_lead_claims_nothing(as_alice, waiting):
    as_alice.post(f"/leads/{waiting.pk}/note/", {"body": "Looked them up"})
    waiting.refresh_from_db()
    assert waiting.owner is None


def test_a_lead_claimed_meanwhile_is_not_worked_by_a_second_rep(as_alice, waiting, bob,
                                                               monkeypatch):
    from routing import views

    read = views._visible_lead

    def read_then_bob_claims(request, lead_id):
        lead = read(request, lead_id)
        Lead.objects.filter(pk=lead_id).update(owner=bob.user)  # bob clicks Claim meanwhile
        return lead

    monkeypatch.setattr(views, "_visible_lead", read_then_bob_claims)
    response = as_alice.post(f"/leads/{waiting.pk}/call/", {"outcome": "connected"})
    assert response["Location"] == "/queue/?tab=team"
    waiting.refresh_from_db()
    assert waiting.owner == bob.user and waiting.first_response_at is None
    assert not waiting.interactions.filter(kind=Interaction.Kind.CALL).exists()


def test_a_manager_who_is_not_a_rep_neither_claims_nor_calls_a_waiting_lead(client, manager,
                                                                           waiting):
    client.force_login(manager)
    html = client.get(f"/leads/{waiting.pk}/").content.decode()
    assert "/queue/claim/" not in html and "gives it to one with Reassign" in html
    assert client.post(f"/queue/claim/{waiting.pk}/").status_code == 403
    response = client.post(f"/leads/{waiting.pk}/call/", {"outcome": "connected"}, follow=True)
    assert "Nobody owns this lead yet" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.owner is None and waiting.first_response_at is None
    assert "Claim</button>" not in client.get("/queue/?tab=team").content.decode()


@pytest.mark.parametrize("status", ["contacted", "qualified"])
def test_a_manager_who_is_not_a_rep_cannot_mark_a_waiting_lead_answered(client, manager,
                                                                        waiting, status):
    client.force_login(manager)
    html = client.get(f"/leads/{waiting.pk}/").content.decode()
    assert 'id="act-call"' not in html and 'id="act-email"' not in html  # nothing to send
    response = client.post(f"/leads/{waiting.pk}/status/", {"status": status}, follow=True)
    assert "Nobody owns this lead yet" in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == LeadStatus.NEW and waiting.first_response_at is None
    client.post(f"/leads/{waiting.pk}/status/", {"status": "disqualified", "reason": "Spam"})
    waiting.refresh_from_db()
    assert waiting.status == LeadStatus.DISQUALIFIED  # closing it stays theirs to do


def test_a_rep_whose_lead_another_rep_took_since_is_told_so_not_a_404(as_alice, waiting, bob):
    Lead.objects.filter(pk=waiting.pk).update(owner=bob.user)  # bob claimed it first
    response = as_alice.post(f"/leads/{waiting.pk}/email/", {"subject": "Hi", "body": "x"},
                             follow=True)
    assert response.status_code == 200
    assert "Someone else has taken this lead already." in response.content.decode()
    assert as_alice.get(f"/leads/{waiting.pk}/").status_code == 404  # still not hers to open


@pytest.mark.parametrize(("action", "data"), [
    ("note", {"body": "x"}), ("call", {"outcome": "connected"}), ("status", {"status": "lost"}),
    ("snooze", {"until": "2030-01-01T09:00"}), ("custom-fields", {}), ("reassign", {}),
    ("details", {"first_name": "Mallory"}),
])
def test_a_teammate_s_lead_routed_straight_to_them_is_a_404_as_any_other(as_alice, bob,
                                                                        sales_team, action,
                                                                        data):
    routed = lead_for(bob.user, sales_team)  # round robin gave it to bob: never in the queue
    stranger = lead_for(bob.user, Team.objects.create(name="Enterprise"))
    for lead in (routed, stranger):
        assert as_alice.post(f"/leads/{lead.pk}/{action}/", data).status_code == 404


def test_a_rep_who_takes_a_lead_by_working_it_gets_no_new_lead_alert(as_alice, waiting, alice):
    from followup.models import Notification, OutboundMessage

    as_alice.post(f"/leads/{waiting.pk}/call/", {"outcome": "connected"})
    assert not OutboundMessage.objects.filter(kind="owner_alert",
                                              recipient_id=alice.user.pk).exists()
    assert not Notification.objects.filter(user=alice.user, kind="assigned").exists()


def names_in_team_tab(client) -> list[str]:
    from tests.routing.test_queue import names_in

    return names_in(client.get("/queue/?tab=team"))


# --- reassigning -------------------------------------------------------------------------------

def test_a_manager_reassigns_only_to_the_reps_of_the_teams_they_lead(client, manager,
                                                                   alices_lead, bob):
    from tests.routing.conftest import make_rep

    carol = make_rep("carol", Team.objects.create(name="Partners"))
    client.force_login(manager)
    picker = client.get(f"/leads/{alices_lead.pk}/").context["reassign_form"]
    assert {u.username for u in picker.fields["owner"].queryset} == {"alice", "bob"}
    response = client.post(f"/leads/{alices_lead.pk}/reassign/", {"owner": carol.user.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    alices_lead.refresh_from_db()
    assert alices_lead.owner.username == "alice"
    ops = UserFactory(username="ops")
    ops.groups.add(Group.objects.create(name="Sales ops"))
    client.force_login(ops)
    picker = client.get(f"/leads/{alices_lead.pk}/").context["reassign_form"]
    assert "carol" in {u.username for u in picker.fields["owner"].queryset}


def test_the_reassign_picker_lists_reps_in_name_order_as_the_dashboard_does(
        client, manager, alices_lead, bob, sales_team):
    import re

    from tests.routing.conftest import make_rep

    for number in (10, 2):
        user = make_rep(f"rep{number}", sales_team).user
        user.first_name, user.last_name = "Rep", str(number)
        user.save()
    client.force_login(manager)
    html = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    select = html[html.index('name="owner"'):]
    options = re.findall(r"<option [^>]*>([^<]*)</option>", select[:select.index("</select>")])
    assert options == ["Nobody (back to the team queue)", "Alice", "Bob", "Rep 2", "Rep 10"]


def test_a_lead_owned_outside_the_manager_s_teams_shows_its_owner_in_the_picker(
        client, manager, alices_lead):
    from tests.routing.conftest import make_rep

    carol = make_rep("carol", Team.objects.create(name="Partners"))
    Lead.objects.filter(pk=alices_lead.pk).update(owner=carol.user)  # sales ops gave it to her
    client.force_login(manager)
    html = client.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert f'<option value="{carol.user.pk}" selected>' in html  # not "Nobody"
    client.post(f"/leads/{alices_lead.pk}/reassign/", {"owner": carol.user.pk, "note": "hi"})
    alices_lead.refresh_from_db()
    assert alices_lead.owner == carol.user  # a note alone does not send it back to the queue


def test_a_lead_of_no_team_cannot_go_back_to_a_team_queue(client, manager, alice):
    lead = lead_for(alice.user)  # given to alice by a rule naming her, no team
    ops = UserFactory(username="ops")
    ops.groups.add(Group.objects.create(name="Sales ops"))
    client.force_login(ops)
    response = client.post(f"/leads/{lead.pk}/reassign/", {"owner": ""})
    assert response.status_code == 400
    assert "came through no team" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner == alice.user


# --- the page itself ----------------------------------------------------------------------------

def test_every_label_on_the_lead_page_points_at_its_own_field(as_alice, alices_lead):
    import re

    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labels = dict(re.findall(r'<label\s+for="([^"]+)"[^>]*>\s*([^<]+?)\s*<', html))
    assert labels["id_note-body"] == "Note"
    assert labels["id_sms-body"] == "Text message"
    assert labels["id_email-body"] == "Body"


def test_the_timeline_names_the_channel_of_each_entry(as_alice, alices_lead):
    for channel, kind, summary in (("api", "submission", "Posted by the CRM sync"),
                                   ("booking", "message", "Booked a call"),
                                   ("social", "submission", "Facebook lead ad")):
        alices_lead.interactions.create(direction="inbound", kind=kind, channel=channel,
                                        summary=summary)
    as_alice.post(f"/leads/{alices_lead.pk}/note/", {"body": "internal"})
    html = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert "· Form submission · API" in html and "· Message · Booking" in html
    assert "· Form submission · Social" in html
    assert "· Note · Alice" in html  # the rep's own entries need no channel


def details(lead: Lead, **changes) -> dict:
    """The Details form as the page fills it in, with `changes` typed over it."""
    from routing.forms import LeadDetailsForm

    return {**{name: getattr(lead, name) for name in LeadDetailsForm.Meta.fields}, **changes}


def test_a_rep_fixes_a_mistyped_phone_and_a_missing_job_title_on_the_lead_page(
        as_alice, alices_lead):
    """Seen by a reviewer: the Details card was read-only; a wrong number could only be fixed
    by someone with the admin."""
    from tests.routing.conftest import submit

    page = as_alice.get(f"/leads/{alices_lead.pk}/").content.decode()
    assert 'id="edit-details"' in page
    response = as_alice.post(f"/leads/{alices_lead.pk}/details/", details(
        alices_lead, phone="(415) 555-2671", job_title="CTO", country="United States"),
        follow=True)
    assert "Saved: phone, job title, country." in response.content.decode()
    alices_lead.refresh_from_db()
    assert (alices_lead.phone, alices_lead.job_title, alices_lead.country) == (
        "+14155552671", "CTO", "US")
    assert set(alices_lead.staff_set_fields) >= {"phone", "job_title", "country"}
    note = alices_lead.interactions.filter(kind=Interaction.Kind.NOTE).latest("id")
    assert note.actor_id == alices_lead.owner_id and "edited phone, job_title" in note.summary
    # The prospect writing again with another title does not undo the rep's fix.
    submit(phone="+14155552671", job_title="Intern")
    alices_lead.refresh_from_db()
    assert alices_lead.job_title == "CTO"


def test_details_another_open_lead_holds_are_refused_with_that_lead_named(as_alice, alice,
                                                                         alices_lead,
                                                                         sales_team):
    other = lead_for(alice.user, sales_team, email="Ada@Example.com")
    response = as_alice.post(f"/leads/{alices_lead.pk}/details/",
                             details(alices_lead, email="ada@example.com ", phone="12"))
    page = response.content.decode()
    assert response.status_code == 400
    assert f"Open lead #{other.pk} has this email: the same person?" in page
    assert "This does not look like a phone number." in page
    assert re.search(r'<details class="mt-2" id="edit-details" open>', page)
    alices_lead.refresh_from_db()
    assert alices_lead.email != "ada@example.com" and not alices_lead.staff_set_fields
