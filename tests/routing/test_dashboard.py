"""The manager's dashboard: who may see it, what it counts, and its CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.utils import timezone

from capture.models import LeadStatus
from routing.models import Team
from tests.factories import UserFactory
from tests.routing.conftest import make_rep
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


def test_the_aging_list_names_the_owner_as_the_rep_load_does(as_manager, alice, sales_team):
    alice.user.last_name = "Anders"
    alice.user.save()
    lead_for(alice.user, sales_team, first_name="Waiting")
    html = as_manager.get("/dashboard/").content.decode()
    aging = html[html.index('id="aging"'):html.index("</ol>", html.index('id="aging"'))]
    assert "· Alice Anders</li>" in aging and "· alice</li>" not in aging


def test_the_aging_csv_names_owners_as_the_list_does(as_manager, alice, bob, sales_team):
    # It gave their logins (alice), where the list and the lead page say Alice Anders.
    alice.user.last_name = "Anders"
    alice.user.save()
    bob.user.first_name = ""  # no name: the login, as everywhere
    bob.user.save()
    lead_for(alice.user, sales_team, first_name="Waiting")
    lead_for(bob.user, sales_team, first_name="Also", email="also@example.com")
    text = as_manager.get("/dashboard/aging.csv").content.decode("utf-8-sig")
    owners = {row["name"].split()[0]: row["owner"] for row in csv.DictReader(io.StringIO(text))}
    assert owners == {"Waiting": "Alice Anders", "Also": "bob"}


def test_the_aging_list_is_whole_when_a_rep_is_in_several_of_the_managers_teams(
        as_manager, manager, sales_team, alice, bob):
    """Alice in two of the manager's teams was read as two members: each of her oldest leads
    came twice, filled the 20 rows, and the list showed 7 of the 14 unanswered leads."""
    from routing.models import TeamMembership

    other = Team.objects.create(name="Field", lead=manager)
    TeamMembership.objects.create(team=other, rep=alice)
    TeamMembership.objects.create(team=other, rep=bob)
    now = timezone.now()
    for n in range(14):
        lead_for((alice, bob)[n % 2].user, sales_team, first_name=f"Old{n}",
                 email=f"old{n}@example.com", created_at=now - timedelta(minutes=100 - n))
    aging = as_manager.get("/dashboard/").context["aging"]
    assert [lead.first_name for lead in aging] == [f"Old{n}" for n in range(14)]


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
    html = response.content.decode()
    assert html.count("No answered leads in this range.") >= 3  # overall, by source, by tier
    assert "No leads in this range." in html


def test_the_date_fields_show_the_range_and_a_reversed_range_is_an_error(as_manager, answered):
    today = timezone.localdate()
    html = as_manager.get("/dashboard/").content.decode()
    assert f'value="{today - timedelta(days=29):%Y-%m-%d}"' in html
    assert f'value="{today:%Y-%m-%d}"' in html
    response = as_manager.get(f"/dashboard/?start={today}&end={today - timedelta(days=3)}")
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()
    # A start after today and no end (which is today): said so, and the last 30 days shown.
    response = as_manager.get(f"/dashboard/?start={today + timedelta(days=30)}")
    assert "The start date is after today" in response.content.decode()
    assert response.context["scope"].start == today - timedelta(days=29)


def test_an_invalid_filter_is_named_and_the_valid_ones_still_apply(as_manager, answered):
    old = (timezone.localdate() - timedelta(days=90)).isoformat()
    response = as_manager.get(f"/dashboard/?start={old}&end={old}&rep=999999")
    assert response.context["scope"].start.isoformat() == old  # the dates still count
    html = response.content.decode()
    assert 'id="filter-errors"' in html and "Rep:" in html
    assert as_manager.get(f"/dashboard/sla.csv?start={old}&rep=999999").status_code == 400


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
    weeks = as_manager.get("/dashboard/speed-week.csv").content.decode().splitlines()[1:]
    over_time = as_manager.get("/dashboard/leads-over-time.csv").content.decode().splitlines()
    assert weeks and all(len(line.split(",")[0]) == 10 for line in weeks)  # 2026-11-30
    assert {line.split(",")[0] for line in weeks} <= {
        line.split(",")[0] for line in over_time[1:]}


def test_each_heading_is_shown_once_and_the_page_says_its_time_zone(as_manager, answered):
    html = as_manager.get("/dashboard/").content.decode()
    assert html.count(">Leads per channel") == 1
    assert 'id="time-zone">Times are in UTC.' in html


def test_the_rep_filter_names_reps_as_the_tables_do(as_manager, answered):
    html = as_manager.get("/dashboard/").content.decode()
    select = html[html.index('name="rep"'):]
    select = select[:select.index("</select>")]
    assert ">Alice" in select and ">alice<" not in select


def options_of(html: str, name: str) -> list[str]:
    import re

    select = html[html.index(f'name="{name}"'):]
    return re.findall(r"<option [^>]*>([^<]*)</option>", select[:select.index("</select>")])


def test_the_rep_filter_lists_reps_in_name_order_numbers_as_numbers(as_manager, sales_team):
    for number in (10, 2, 1):
        user = make_rep(f"rep{number}", sales_team).user
        user.first_name, user.last_name = "Rep", str(number)
        user.save()
    make_rep("zed", sales_team)
    make_rep("adam", sales_team)
    html = as_manager.get("/dashboard/").content.decode()
    assert options_of(html, "rep") == ["Every rep", "Adam", "Rep 1", "Rep 2", "Rep 10", "Zed"]


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
    for i in range(10):  # more reps: each is an option of the rep filter and a row of tables
        rep = make_rep(f"rep{i}", sales_team)
        lead_for(rep.user, sales_team, email=f"rep{i}@example.com",
                 first_response_at=timezone.now())
    with django_assert_max_num_queries(len(first.captured_queries)):
        as_manager.get("/dashboard/")


@pytest.mark.postgres
def test_the_grouped_figures_are_the_per_figure_ones(manager, sales_team, alice, bob):
    """PostgreSQL reads the range's figures in two GROUPING SETS queries: the same values, in
    the same order, as the one-query-per-figure path, on data with ties, NULLs, answers days
    late, sources that sort differently by collation than by code point, several teams."""
    import random

    from capture.models import Lead
    from routing import dashboard as figures
    from routing.models import LeadAssessment

    rnd = random.Random(6)
    other = Team.objects.create(name="Field", lead=manager)
    carol = make_rep("carol", other).user
    Team.objects.create(name="Empty", lead=manager)
    now = timezone.now()
    owners = [(alice.user, sales_team), (bob.user, sales_team), (carol, other),
              (None, sales_team), (None, other)]
    leads, teams = [], []
    for n in range(400):
        owner, team = rnd.choice(owners)
        created = now - timedelta(minutes=rnd.randint(1, 80 * 24 * 60), microseconds=n)
        answered = rnd.random() < 0.7
        if n % 50 == 0:  # answered exactly at the deadline: met
            answered, leads_due = True, created + timedelta(minutes=15)
        leads.append(Lead(
            first_name="Lead", last_name=str(n), email=f"g{n}@example.com", owner=owner,
            source=rnd.choice(["Google", "google", "_partner", "b-c", "bc", "Zeta", ""]),
            channel=rnd.choice(["web_form", "email", "call", "sms"]),
            tier=rnd.choice(["hot", "warm", "cold", ""]),
            utm_campaign=rnd.choice(["spring", "Spring", "", "brand-1"]),
            status=rnd.choice(["new", "contacted", "qualified", "won", "lost", "nurture"]),
            created_at=created,
            respond_by=None if rnd.random() < 0.2 else created + timedelta(minutes=rnd.choice(
                [15, 60, 1440])),
            first_response_at=created + timedelta(seconds=rnd.expovariate(1 / 20_000),
                                                  microseconds=rnd.randint(0, 999_999))
            if answered else None))
        if n % 50 == 0:
            leads[-1].respond_by = leads[-1].first_response_at = leads_due
        teams.append(team)
    Lead.objects.bulk_create(leads)
    LeadAssessment.objects.bulk_create(
        LeadAssessment(lead=lead, team=team, outcome="assigned" if lead.owner_id else "queued",
                       score=0, tier=lead.tier) for lead, team in zip(leads, teams, strict=True))
    today = timezone.localdate()
    month, quarter = today - timedelta(days=29), today - timedelta(days=90)
    scopes = [
        figures.Scope(start=quarter, end=today),
        figures.Scope(start=month, end=today),
        figures.Scope(start=quarter, end=today, team_ids=[sales_team.pk]),
        figures.Scope(start=quarter, end=today, team_ids=[sales_team.pk, other.pk]),
        figures.Scope(start=quarter, end=today, team_ids=Team.objects.filter(name="Empty")),
        figures.Scope(start=quarter, end=today, team_ids=[sales_team.pk], rep_id=bob.user.pk),
        figures.Scope(start=quarter, end=today, rep_id=carol.pk),
        figures.Scope(start=quarter, end=today, source="google"),
        figures.Scope(start=today - timedelta(days=400), end=today - timedelta(days=300)),
    ]
    for scope in scopes:
        grouped = figures.grouped_range_figures(scope, now)
        assert grouped == figures.per_figure_range_figures(scope, now), scope
        oldest = list(figures.scoped_leads(scope, dated=False).filter(
            status__in=["new", "contacted", "qualified", "nurture"],
            first_response_at__isnull=True).order_by("created_at", "id")[:20])
        assert figures.aging_leads(scope) == oldest, scope
    everything = figures.grouped_range_figures(scopes[0], now)
    assert everything["speed"]["overall"]["answered"] > 200
    assert len(everything["speed"]["week"]) >= 11 and len(everything["by_source"]) == 7


@pytest.mark.postgres
def test_postgres_plans_the_range_counts_for_the_few_week_groups_there_are(settings):
    """The range's counts group its leads by (week, channel, source, campaign). PostgreSQL
    cannot guess how many weeks an expression yields and took that for about one group per
    lead, so it sorted the whole range; the statistics migrate makes on the ORM's own week
    expression give it the real handful. A new TIME_ZONE changes the expression: they follow."""
    import json

    from django.db import connection

    from capture.models import Lead
    from routing import dashboard as figures

    now = timezone.now()
    Lead.objects.bulk_create(
        Lead(first_name="Lead", email=f"w{n}@example.com", channel=("web_form", "email")[n % 2],
             source="google", created_at=now - timedelta(days=n % 20, minutes=n))
        for n in range(3000))
    groups_plan = ("EXPLAIN (FORMAT JSON) SELECT week FROM ({leads}) AS s"
                   " GROUP BY week, channel, source, utm_campaign")
    scope = figures.Scope(start=timezone.localdate() - timedelta(days=30),
                          end=timezone.localdate())

    def estimated_groups() -> float:
        leads_sql, params, _ = figures._range_sql(scope)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Lead._meta.db_table}")
            cursor.execute(groups_plan.format(leads=leads_sql), params)
            plan = cursor.fetchone()[0]
        return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]

    real = Lead.objects.values_list("channel").distinct().count() * 4  # up to 4 weeks in 20 days
    assert estimated_groups() <= real
    assert figures.ensure_week_statistics() is False  # made at migrate, for this time zone

    settings.TIME_ZONE = "America/New_York"
    assert figures.ensure_week_statistics() is True
    assert estimated_groups() <= real
    with connection.cursor() as cursor:
        cursor.execute(f"DROP STATISTICS {figures.WEEK_STATISTICS}")
    assert estimated_groups() > 10 * real  # what PostgreSQL guesses without them


@pytest.mark.parametrize("query", ["end=9999-12-31", "start=0001-01-01&end=9999-12-31",
                                   "start=0001-01-01"])
def test_a_date_a_picker_offers_but_no_range_can_span_is_a_form_error(as_manager, answered,
                                                                      query):
    assert as_manager.get(f"/dashboard/?{query}").status_code == 200
    for path in ("/dashboard/sla.csv", "/dashboard/leads-over-time.csv"):
        response = as_manager.get(f"{path}?{query}")
        assert response.status_code == 400  # not a file of the default 30 days
        assert "Choose a date" in response.content.decode()
    html = as_manager.get(f"/dashboard/?{query}").content.decode()
    assert "Choose a date" in html and 'id="filter-errors"' in html


def test_a_lead_sent_back_to_the_team_queue_counts_as_unassigned_until_reassigned(
        as_manager, answered, alice, bob, sales_team):
    lead = lead_for(alice.user, sales_team, first_name="Back",
                    created_at=timezone.now() - timedelta(hours=1),
                    respond_by=timezone.now() - timedelta(minutes=30))
    as_manager.post(f"/leads/{lead.pk}/reassign/", {"owner": ""})
    page = as_manager.get("/dashboard/").context
    assert [x.first_name for x in page["unassigned"]] == ["Waiting", "Back"]
    assert "Back" in [x.first_name for x in page["aging"]]
    as_manager.post(f"/leads/{lead.pk}/reassign/", {"owner": bob.user.pk})
    page = as_manager.get("/dashboard/").context
    assert [x.first_name for x in page["unassigned"]] == ["Waiting"]


def test_speed_to_lead_matches_percentiles_worked_out_by_hand(manager, sales_team, alice, bob,
                                                              settings):
    """On both databases (SQLite groups one read in Python, PostgreSQL uses percentile_cont):
    each group's median and 90th percentile, and weeks starting Monday 00:00 in the site's
    zone (a Sunday-evening lead in New York is a UTC Monday, and still last week's)."""
    import random
    from collections import defaultdict
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from capture.models import Lead
    from routing import dashboard as figures

    settings.TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    rnd = random.Random(7)
    start = datetime(2026, 11, 1, 12, 0, tzinfo=zone)
    made = []
    for n in range(120):
        created = start + timedelta(hours=rnd.randint(0, 24 * 27), minutes=n)
        if n == 0:
            created = datetime(2026, 11, 8, 22, 30, tzinfo=zone)  # a Sunday, late
        took = timedelta(seconds=rnd.randint(30, 5 * 3600)) if n % 5 else None
        made.append(Lead(first_name="L", last_name=str(n), email=f"p{n}@example.com",
                         owner=rnd.choice([alice.user, bob.user, None]),
                         source=rnd.choice(["google", "linkedin", ""]),
                         tier=rnd.choice(["hot", "warm", ""]), created_at=created,
                         first_response_at=created + took if took else None))
    Lead.objects.bulk_create(made)
    for lead in Lead.objects.filter(owner__isnull=True):
        from routing.models import LeadAssessment

        LeadAssessment.objects.create(lead=lead, team=sales_team, outcome="queued")

    def cont(values, fraction):
        values = sorted(values)
        position = fraction * (len(values) - 1)
        low = int(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)

    scope = figures.Scope(start=date(2026, 11, 1), end=date(2026, 12, 1),
                          team_ids=[sales_team.pk], rep_id=None, source="")
    speed = figures.speed_to_lead(scope)
    expected = defaultdict(lambda: defaultdict(list))
    for lead in Lead.objects.filter(first_response_at__isnull=False):
        took = (lead.first_response_at - lead.created_at).total_seconds()
        local = lead.created_at.astimezone(zone)
        monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0),
                                  tzinfo=zone)
        for name, key in (("rep", lead.owner_id), ("source", lead.source),
                          ("tier", lead.tier), ("week", monday)):
            expected[name][key].append(took)
    for name, key_name in (("rep", "owner_id"), ("source", "source"), ("tier", "tier"),
                           ("week", "week")):
        got = {row[key_name]: (row["answered"], round(row["median"].total_seconds(), 3),
                               round(row["p90"].total_seconds(), 3)) for row in speed[name]}
        want = {key: (len(v), round(cont(v, 0.5), 3), round(cont(v, 0.9), 3))
                for key, v in expected[name].items()}
        assert got == want, name
    assert datetime(2026, 11, 2, tzinfo=zone) in {row["week"] for row in speed["week"]}
