"""The access trail: who opened, listed, changed, reassigned or exported a lead, shown to
managers on the lead page and in the admin; one insert per page view."""

from __future__ import annotations

import pytest
from django.test import Client

from capture.models import LeadAccess
from tests.factories import UserFactory
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(alice, sales_team):
    lead = lead_for(alice.user, sales_team, first_name="Grace", email="grace@navy.mil")
    lead.assessment.fired_rules = []  # the admin's explanation reads the engine's full rows
    lead.assessment.save()
    return lead


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_opening_listing_changing_and_reassigning_each_leave_one_row(lead, alice, bob,
                                                                     manager):
    rep = signed_in(alice.user)
    assert rep.get(f"/leads/{lead.pk}/").status_code == 200
    assert rep.get("/queue/").status_code == 200
    rep.post(f"/leads/{lead.pk}/note/", {"body": "Called, left a message"})
    boss = signed_in(manager)
    boss.post(f"/leads/{lead.pk}/reassign/", {"owner": bob.user.pk, "note": "holiday"})
    rows = list(LeadAccess.objects.order_by("at", "id").values_list("user__username", "action"))
    assert rows == [("alice", "viewed"), ("alice", "listed"), ("alice", "changed"),
                    ("manager", "reassigned")]
    listed = LeadAccess.objects.get(action="listed")
    assert listed.lead is None and f",{lead.pk}," in listed.listed_ids


def test_claiming_a_lead_from_the_team_queue_is_a_reassignment_on_the_trail(alice, sales_team,
                                                                            manager):
    """The claim gives the lead an owner; the trail showed the rep opening it, never taking it."""
    waiting = lead_for(None, sales_team, first_name="Ada")
    assert signed_in(alice.user).post(f"/queue/claim/{waiting.pk}/").status_code == 302
    row = LeadAccess.objects.get(lead=waiting)
    assert (row.user, row.action, row.detail) == (alice.user, "reassigned",
                                                  "claimed from the team queue")
    page = signed_in(manager).get(f"/leads/{waiting.pk}/").content.decode()
    assert "claimed from the team queue" in page[page.index('id="access-trail"'):]


def test_a_queue_csv_export_names_every_lead_it_held_in_the_trail(lead, alice, manager):
    response = signed_in(alice.user).get("/queue/export.csv?tab=all")
    assert lead.email in b"".join(response.streaming_content).decode("utf-8-sig")
    exported = LeadAccess.objects.get(action="exported")
    assert exported.user == alice.user and f",{lead.pk}," in exported.listed_ids
    assert exported.detail == "queue CSV export (all, 1 lead)"
    page = signed_in(manager).get(f"/leads/{lead.pk}/").content.decode()
    assert "queue CSV export (all, 1 lead)" in page[page.index('id="access-trail"'):]


def test_a_dashboard_csv_of_leads_by_name_is_an_export_on_their_trail(alice, sales_team,
                                                                     manager):
    """The aging and unassigned tables list leads by name; downloading them as CSV left no
    trace, while the queue's CSV export is on each lead's trail."""
    waiting = lead_for(None, sales_team, first_name="Ada")
    boss = signed_in(manager)
    response = boss.get("/dashboard/unassigned.csv")
    assert response.status_code == 200 and "Ada" in response.content.decode()
    exported = LeadAccess.objects.get(action="exported")
    assert exported.user == manager and exported.listed_ids == f",{waiting.pk},"
    assert exported.detail == "dashboard CSV export (unassigned, 1 lead)"
    assert boss.get("/dashboard/sla.csv").status_code == 200  # counts only: no trail row
    assert LeadAccess.objects.filter(action="exported").count() == 1


def test_managers_see_the_trail_on_the_lead_page_and_reps_do_not(lead, alice, manager):
    signed_in(alice.user).get(f"/leads/{lead.pk}/")
    rep_page = signed_in(alice.user).get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="access-trail"' not in rep_page
    page = signed_in(manager).get(f"/leads/{lead.pk}/").content.decode()
    assert 'id="access-trail"' in page
    trail = page[page.index('id="access-trail"'):]
    assert "alice" in trail and "Opened the lead page" in trail


def test_admin_views_and_changes_appear_in_the_trail(lead, manager):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = signed_in(admin)
    assert client.get(f"/admin/capture/lead/{lead.pk}/change/").status_code == 200
    assert LeadAccess.objects.filter(user=admin, action="admin_viewed", lead=lead).exists()
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.create(user=admin, content_type=ContentType.objects.get_for_model(lead),
                            object_id=str(lead.pk), object_repr=str(lead), action_flag=CHANGE,
                            change_message='[{"changed": {"fields": ["Company"]}}]')
    page = signed_in(manager).get(f"/leads/{lead.pk}/").content.decode()
    trail = page[page.index('id="access-trail"'):]
    assert "Opened in the admin" in trail and "Changed in the admin" in trail
    assert "Changed Company." in trail
    assert client.get("/admin/capture/lead/").status_code == 200
    listed = LeadAccess.objects.get(action="listed", user=admin)
    assert listed.listed_ids == f",{lead.pk}," and listed.detail == "admin lead list"
    listing = client.get("/admin/capture/leadaccess/").content.decode()
    assert "Opened in the admin" in listing


def test_a_deleted_users_rows_still_name_them_on_the_trail(lead, manager):
    # Once jsmith's account was deleted, what he did read “system”: the trail lost who it was.
    jsmith = UserFactory(username="jsmith", is_staff=True, is_superuser=True)
    assert signed_in(jsmith).get(f"/admin/capture/lead/{lead.pk}/change/").status_code == 200
    signed_in(jsmith).get("/admin/capture/lead/")
    jsmith.delete()
    page = signed_in(manager).get(f"/leads/{lead.pk}/").content.decode()
    trail = page[page.index('id="access-trail"'):]
    assert trail.count("jsmith (deleted)") == 2 and "system" not in trail
    root = signed_in(UserFactory(username="root", is_staff=True, is_superuser=True))
    listing = root.get("/admin/capture/leadaccess/").content.decode()
    assert "jsmith (deleted)" in listing


def test_saving_a_lead_in_the_admin_is_one_opening_on_the_trail(lead, manager):
    """Open, then "Save and continue editing": the trail said "Opened in the admin" twice, as
    if the page shown back after the save were the lead opened again."""
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = signed_in(admin)
    form = client.get(f"/admin/capture/lead/{lead.pk}/change/").context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update({"previous_lead": "", "company": "US Navy", "_continue": "Save"})
    for prefix in ("identities", "interactions", "inbound_events"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    saved = client.post(f"/admin/capture/lead/{lead.pk}/change/", data, follow=True)
    assert saved.redirect_chain == [(f"/admin/capture/lead/{lead.pk}/change/", 302)]
    assert "was changed successfully" in saved.content.decode()
    page = signed_in(manager).get(f"/leads/{lead.pk}/").content.decode()
    trail = page[page.index('id="access-trail"'):]
    assert trail.count("Opened in the admin") == 1 and "Changed in the admin" in trail
    # Opening it again later is another opening.
    assert client.get(f"/admin/capture/lead/{lead.pk}/change/").status_code == 200
    assert LeadAccess.objects.filter(action="admin_viewed", lead=lead).count() == 2
