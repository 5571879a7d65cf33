"""The manager's dashboard: who may see it, what it counts, and its CSV exports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from capture.models import LeadStatus
from routing.models import Team
from tests.factories import UserFactory
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_manager(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def answered(alice, bob, sales_team):
    """Alice answered in 2 and 10 minutes, Bob in 60; one lead still waits past its deadline."""
    now = timezone.now()
    made = []
    for owner, minutes, source in ((alice, 2, "google"), (alice, 10, "google"),
                                   (bob, 60, "partner")):
        created = now - timedelta(hours=3)
        made.append(lead_for(owner.user, sales_team, created_at=created, source=source,
                             respond_by=created + timedelta(minutes=15),
                             first_response_at=created + timedelta(minutes=minutes),
                             status=LeadStatus.CONTACTED))
    made.append(lead_for(None, sales_team, first_name="Waiting", source="google",
                         created_at=now - timedelta(hours=2),
                         respond_by=now - timedelta(hours=1)))
    return made


def test_reps_get_a_404_and_no_menu_entry(client, alice):
    client.force_login(alice.user)
    assert ">Dashboard</a>" not in client.get("/queue/").content.decode()
    assert client.get("/dashboard/").status_code == 404
    assert client.get("/dashboard/aging.csv").status_code == 404


def test_speed_to_lead_sla_and_conversion(as_manager, answered):
    assert ">Dashboard</a>" in as_manager.get("/queue/").content.decode()
    response = as_manager.get("/dashboard/")
    assert response.status_code == 200
    speed = response.context["speed"]
    assert speed["overall"]["median"] == timedelta(minutes=10)
    assert speed["overall"]["answered"] == 3
    by_rep = {r["rep"]: r["median"] for r in speed["rep"]}
    assert by_rep == {"Alice": timedelta(minutes=6), "Bob": timedelta(minutes=60)}
    sla = response.context["sla"]
    assert (sla["met"], sla["breached"], sla["met_rate"]) == (2, 2, 50)
    conversion = {r["source"]: (r["leads"], r["contacted"]) for r in response.context["conversion"]}
    assert conversion == {"google": (3, 2), "partner": (1, 1)}
    html = response.content.decode()
    assert "<svg" in html and 'class="bar"' in html


def test_aging_and_unassigned_lists(as_manager, answered):
    response = as_manager.get("/dashboard/")
    assert [lead.first_name for lead in response.context["aging"]] == ["Waiting"]
    assert [lead.first_name for lead in response.context["unassigned"]] == ["Waiting"]


def test_rep_load_against_capacity(as_manager, answered, alice):
    alice.capacity = 4
    alice.save()
    load = {r["rep"]: (r["open"], r["capacity"]) for r in
            as_manager.get("/dashboard/").context["load"]}
    assert load == {"Alice": (2, 4), "Bob": (1, None)}


def test_filtering_by_rep_and_source(as_manager, answered, bob):
    by_bob = as_manager.get(f"/dashboard/?rep={bob.user.pk}").context["speed"]["overall"]
    assert by_bob["answered"] == 1
    partner = as_manager.get("/dashboard/?source=partner").context["speed"]["overall"]
    assert partner["median"] == timedelta(minutes=60)


def test_a_date_range_before_the_leads_shows_nothing(as_manager, answered):
    old = (timezone.localdate() - timedelta(days=90)).isoformat()
    response = as_manager.get(f"/dashboard/?start={old}&end={old}")
    assert response.context["speed"]["overall"] is None


def test_a_manager_sees_only_their_teams(client, answered):
    other_manager = UserFactory(username="other-manager")
    Team.objects.create(name="Enterprise", lead=other_manager)
    client.force_login(other_manager)
    response = client.get("/dashboard/")
    assert response.context["speed"]["overall"] is None and response.context["aging"] == []


def test_csv_exports(as_manager, answered):
    response = as_manager.get("/dashboard/conversion.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0] == "source,leads,contacted,qualified,won"
    assert "google,3,2,0,0" in lines
    speed = as_manager.get("/dashboard/speed-rep.csv").content.decode().splitlines()
    assert "Alice,2,360,552" in speed  # percentile_cont: 2 + 0.9 * 8 minutes
    assert as_manager.get("/dashboard/nonsense.csv").status_code == 404


def test_csv_cells_never_start_a_formula(as_manager, alice, sales_team):
    lead_for(alice.user, sales_team, source="=HYPERLINK(1)")
    body = as_manager.get("/dashboard/source.csv").content.decode()
    assert "'=HYPERLINK(1)" in body


def test_the_dashboard_runs_a_fixed_number_of_queries(as_manager, answered, alice, sales_team,
                                                      django_assert_max_num_queries):
    with django_assert_max_num_queries(30) as first:
        as_manager.get("/dashboard/")
    for i in range(20):
        lead_for(alice.user, sales_team, email=f"more{i}@example.com", source=f"s{i}",
                 first_response_at=timezone.now())
    with django_assert_max_num_queries(len(first.captured_queries)):
        as_manager.get("/dashboard/")
