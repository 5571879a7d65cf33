"""Sales ops pick people in the rules back office: reps, team leads and reps' logins, named as
everywhere else, without being able to edit users; SLA policies and conditions read right."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

from routing.models import RoutingRule, ScoreTier, SlaPolicy, Team

pytestmark = pytest.mark.django_db

AUTOCOMPLETES = [
    "/admin/autocomplete/?app_label=routing&model_name=routingrule&field_name=rep&term=ali",
    "/admin/autocomplete/?app_label=routing&model_name=team&field_name=lead&term=ali",
    "/admin/autocomplete/?app_label=routing&model_name=repprofile&field_name=user&term=ali",
]


@pytest.fixture
def demo(db, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-1")
    call_command("seed_demo", verbosity=0)


@pytest.fixture
def ops_client(demo, client):
    client.force_login(User.objects.get(username="ops"))
    return client


@pytest.mark.parametrize("url", AUTOCOMPLETES)
def test_sales_ops_find_a_rep_in_the_people_pickers(ops_client, url):
    response = ops_client.get(url)
    assert response.status_code == 200
    alice = User.objects.get(username="alice")
    assert {"id": str(alice.pk), "text": "Alice Anders"} in response.json()["results"]


def test_a_manager_picks_no_owner_in_the_admin(demo, client):
    # Managers reassign on the lead page, to their teams' reps; the admin is for sales ops.
    client.force_login(User.objects.get(username="manager"))
    response = client.get("/admin/autocomplete/?app_label=capture&model_name=lead"
                          "&field_name=owner&term=ali")
    assert response.status_code == 403


def test_sales_ops_see_users_but_cannot_edit_them(ops_client):
    alice = User.objects.get(username="alice")
    assert ops_client.get("/admin/auth/user/add/").status_code == 403
    response = ops_client.post(f"/admin/auth/user/{alice.pk}/change/",
                               {"username": "alice", "is_superuser": "on"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert not alice.is_superuser


def test_running_seed_demo_again_gives_an_existing_sales_ops_group_the_pickers(demo, client):
    Group.objects.get(name="Sales ops").permissions.remove(
        Permission.objects.get(codename="view_user"))
    client.force_login(User.objects.get(username="ops"))
    assert client.get(AUTOCOMPLETES[0]).status_code == 403
    call_command("seed_demo", verbosity=0)
    client.force_login(User.objects.get(username="ops"))  # the rerun set the password again
    assert client.get(AUTOCOMPLETES[0]).status_code == 200


def test_the_chosen_rep_and_team_lead_show_their_full_names(ops_client):
    alice = User.objects.get(username="alice")
    rule = RoutingRule.objects.create(name="Alice's", action="rep", rep=alice, position=99)
    html = ops_client.get(f"/admin/routing/routingrule/{rule.pk}/change/").content.decode()
    assert f'<option value="{alice.pk}" selected>Alice Anders</option>' in html
    team = Team.objects.filter(lead__username="manager").first()
    html = ops_client.get(f"/admin/routing/team/{team.pk}/change/").content.decode()
    assert "selected>Max Manager</option>" in html


def test_the_conditions_header_points_up_to_tier_and_score(admin_client):
    html = admin_client.get("/admin/routing/routingrule/add/").content.decode()
    assert "besides the tier and score above" in html
    assert "tier and score below" not in html


def test_a_one_day_target_reads_in_the_singular(admin_client):
    tier = ScoreTier.objects.create(name="warm", min_score=10)
    policy = SlaPolicy.objects.create(tier=tier, target=1, unit="business_days",
                                      calendar=None)
    assert str(policy) == "warm: 1 business day"
    html = admin_client.get("/admin/routing/slapolicy/").content.decode()
    assert "1 business day<" in html and "1 business days" not in html
    html = admin_client.get("/admin/routing/scoretier/").content.decode()
    assert "warm: 1 business day<" in html


@pytest.mark.parametrize("percent", ["-1", "0", "100", "150"])
def test_a_warning_point_out_of_range_gets_the_same_message(admin_client, percent):
    tier = ScoreTier.objects.create(name="hot", min_score=50)
    response = admin_client.post("/admin/routing/slapolicy/add/", {
        "tier": tier.pk, "target": "15", "unit": "minutes", "warning_percent": percent,
        "escalation": "both", "is_active": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("Choose a warning point between 1 and 99 percent.") == 1
    assert "greater than or equal to" not in html and "less than or equal to" not in html
    assert not SlaPolicy.objects.exists()
