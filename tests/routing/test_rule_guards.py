"""Rules that would send leads nowhere, or never match, are refused with a message when sales
ops save them (or delete what they use)."""

from __future__ import annotations

import pytest

from routing.models import FreeMailDomain, RoutingRule, ScoreTier, ScoringRule, SlaPolicy, Team
from tests.routing.conftest import submit
from tests.routing.test_admin import routing_form

pytestmark = pytest.mark.django_db


# --- Tiers that rules and policies use ---------------------------------------------------


@pytest.fixture
def hot_rule(sales_team, tiers):
    rule = RoutingRule.objects.create(name="Hot to sales", action="round_robin",
                                      team=sales_team)
    rule.tiers.set([tiers["hot"]])
    return rule


def test_deleting_a_tier_a_rule_is_limited_to_is_refused_naming_the_rule(admin_client,
                                                                         hot_rule, tiers):
    url = f"/admin/routing/scoretier/{tiers['hot'].pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    html = response.content.decode()
    assert "“hot (≥ 60)” was not deleted" in html and "routing rule “Hot to sales”" in html
    assert list(hot_rule.tiers.all()) == [tiers["hot"]]  # still limited to hot: no catch-all
    assert admin_client.get(url).status_code == 302  # the confirmation page is not offered


def test_deleting_a_tier_with_an_sla_policy_is_refused(admin_client, sla_policies, tiers):
    response = admin_client.post(f"/admin/routing/scoretier/{tiers['warm'].pk}/delete/",
                                 {"post": "yes"}, follow=True)
    assert "its SLA policy" in response.content.decode()
    assert SlaPolicy.objects.filter(tier__name="warm").exists()


def test_the_refusal_names_the_admin_section_the_sla_policy_is_in(admin_client, sla_policies,
                                                                  tiers):
    # It sent sales ops to "Rules → SLA policies", a section the admin does not have.
    response = admin_client.post(f"/admin/routing/scoretier/{tiers['warm'].pk}/delete/",
                                 {"post": "yes"}, follow=True)
    assert ("(Scoring, routing and SLA → SLA policies → “warm”)"
            in response.content.decode())


def test_the_bulk_delete_of_tiers_deletes_the_unused_ones_and_names_the_others(admin_client,
                                                                             hot_rule, tiers):
    chosen = {"action": "delete_selected",
              "_selected_action": [tiers["hot"].pk, tiers["cold"].pk]}
    page = admin_client.post("/admin/routing/scoretier/", chosen).content.decode()
    assert "routing rule “Hot to sales”" in page
    done = admin_client.post("/admin/routing/scoretier/", {**chosen, "post": "yes"},
                             follow=True)
    assert "Successfully deleted 1 score tier" in done.content.decode()
    assert set(ScoreTier.objects.values_list("name", flat=True)) == {"hot", "warm"}
    assert list(hot_rule.tiers.all()) == [tiers["hot"]]


def test_deleting_a_tier_a_sequence_is_limited_to_is_refused_naming_it(admin_client, tiers):
    from followup.models import Sequence

    sequence = Sequence.objects.create(name="Hot leads follow-up")
    sequence.tiers.set([tiers["cold"]])
    response = admin_client.post(f"/admin/routing/scoretier/{tiers['cold'].pk}/delete/",
                                 {"post": "yes"}, follow=True)
    assert "sequence “Hot leads follow-up”" in response.content.decode()
    assert list(sequence.tiers.all()) == [tiers["cold"]]


def test_a_tier_nothing_uses_is_deleted(admin_client, tiers):
    admin_client.post(f"/admin/routing/scoretier/{tiers['cold'].pk}/delete/", {"post": "yes"})
    assert not ScoreTier.objects.filter(name="cold").exists()


def test_a_condition_on_the_tier_also_keeps_it(admin_client, sales_team, tiers):
    rule = RoutingRule.objects.create(name="Warm leads", action="round_robin", team=sales_team)
    rule.conditions.create(field="tier", operator="one_of", value="Warm, hot")
    response = admin_client.post(f"/admin/routing/scoretier/{tiers['warm'].pk}/delete/",
                                 {"post": "yes"}, follow=True)
    assert "routing rule “Warm leads” (its condition on the tier)" in response.content.decode()
    assert ScoreTier.objects.filter(name="warm").exists()


# --- Rules that send leads nowhere -------------------------------------------------------


def test_a_one_rep_rule_needs_a_rep_not_any_user(admin_client, manager, alice, sales_team):
    response = admin_client.post("/admin/routing/routingrule/add/",
                                 routing_form(action="rep", rep=manager.pk))
    assert response.status_code == 200
    assert not RoutingRule.objects.exists()
    rule = RoutingRule(name="To the manager", action="rep", rep=manager)
    with pytest.raises(Exception, match="no rep profile"):
        rule.full_clean()
    assert admin_client.post("/admin/routing/routingrule/add/", routing_form(
        action="rep", rep=alice.user_id)).status_code == 302


def test_a_one_rep_rule_refuses_a_rep_whose_account_is_switched_off(alice):
    alice.user.is_active = False
    alice.user.save()
    with pytest.raises(Exception, match="no rep profile"):
        RoutingRule(name="To alice", action="rep", rep=alice.user).full_clean()


def test_the_rep_picker_of_a_routing_rule_offers_only_reps(admin_client, manager, alice):
    url = "/admin/autocomplete/?app_label=routing&model_name=routingrule&field_name=rep&term="
    found = {r["id"] for r in admin_client.get(url).json()["results"]}
    assert str(alice.user_id) in found and str(manager.pk) not in found
    team_lead = "/admin/autocomplete/?app_label=routing&model_name=team&field_name=lead&term="
    assert str(manager.pk) in {r["id"] for r in admin_client.get(team_lead).json()["results"]}


def test_deleting_a_team_an_active_rule_sends_leads_to_is_refused(admin_client, round_robin,
                                                                  sales_team):
    response = admin_client.post(f"/admin/routing/team/{sales_team.pk}/delete/",
                                 {"post": "yes"}, follow=True)
    html = response.content.decode()
    assert "Rules send leads to the team “Sales”" in html and "“Everyone”" in html
    round_robin.refresh_from_db()
    assert round_robin.team == sales_team


def test_the_bulk_delete_of_teams_keeps_those_rules_use(admin_client, round_robin, sales_team):
    spare = Team.objects.create(name="Spare")
    chosen = {"action": "delete_selected", "_selected_action": [sales_team.pk, spare.pk],
              "post": "yes"}
    done = admin_client.post("/admin/routing/team/", chosen, follow=True).content.decode()
    assert "“Sales” was not deleted" in done and "Successfully deleted 1 team" in done
    assert list(Team.objects.values_list("name", flat=True)) == ["Sales"]


def test_a_team_a_switched_off_rule_uses_is_kept_too(admin_client, round_robin, sales_team):
    RoutingRule.objects.filter(pk=round_robin.pk).update(is_active=False)
    response = admin_client.post(f"/admin/routing/team/{sales_team.pk}/delete/",
                                 {"post": "yes"}, follow=True)
    assert "“Everyone” (switched off)" in response.content.decode()
    round_robin.refresh_from_db()
    assert round_robin.team == sales_team  # switching it on again does not send leads nowhere


# --- Countries are ISO codes, in rules as on leads ----------------------------------------


def test_a_country_condition_written_with_names_is_saved_as_the_codes_leads_carry(
        admin_client, sales_team, alice):
    response = admin_client.post("/admin/routing/routingrule/add/", routing_form(
        team=sales_team.pk, **{"conditions-0-value": "Germany, austria, uk"}))
    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert rule.conditions.get().value == "DE, AT, GB"
    lead = submit(email="max@firma.de", country="Deutschland")
    assert lead.assessment.rule_id == rule.pk and lead.owner_id == alice.user_id


def test_a_country_condition_on_no_country_is_refused(admin_client, sales_team):
    response = admin_client.post("/admin/routing/routingrule/add/", routing_form(
        team=sales_team.pk, **{"conditions-0-value": "Germany, Narnia"}))
    assert "“Narnia” is not a country" in response.content.decode()
    assert not RoutingRule.objects.exists()
    scoring = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": "DACH", "group": "fit", "field": "country", "operator": "equals",
        "value": "Atlantis", "points": "5", "is_active": "on", "position": "1"})
    assert "“Atlantis” is not a country" in scoring.content.decode()


def test_try_it_reads_typed_countries_and_phones_as_the_intake_does(admin_client, sales_team,
                                                                    alice):
    rule = RoutingRule.objects.create(name="UK", action="round_robin", team=sales_team)
    rule.conditions.create(field="country", operator="one_of", value="GB")
    by_name = admin_client.post("/admin/routing/scoringrule/try/",
                                {"email": "a@b.co.uk", "country": "United Kingdom"})
    assert by_name.context["result"].decision.rule_name == "UK"
    by_phone = admin_client.post("/admin/routing/scoringrule/try/",
                                 {"email": "a@b.co.uk", "phone": "+44 20 7946 0958"})
    assert by_phone.context["result"].decision.rule_name == "UK"
    assert by_phone.context["result"].facts["country"] == "GB"
    nowhere = admin_client.post("/admin/routing/scoringrule/try/",
                                {"email": "a@b.de", "country": "Germany"})
    assert nowhere.context["result"].decision.rule_name != "UK"
    draft = admin_client.post("/admin/routing/scoringrule/try/", {
        "email": "a@b.de", "country": "DE", "route_field": "country", "route_operator":
        "equals", "route_value": "Germany", "route_action": "round_robin",
        "route_team": sales_team.pk})
    assert draft.context["result"].decision.rule_name == "Draft routing rule"


# --- Free-mail domains, points and targets -----------------------------------------------


@pytest.mark.parametrize("typed", ["Gmail.com", "@gmail.com", " gmail.com.", "GMAIL.COM"])
def test_a_free_mail_domain_listed_in_another_spelling_is_the_usual_form_error(admin_client,
                                                                              typed):
    assert FreeMailDomain.objects.filter(domain="gmail.com").exists()  # built in
    response = admin_client.post("/admin/routing/freemaildomain/add/", {"domain": typed})
    assert response.status_code == 200
    assert "Free-mail domain with this Domain already exists" in response.content.decode()
    assert FreeMailDomain.objects.filter(domain__iexact="gmail.com").count() == 1


def test_a_new_free_mail_domain_is_stored_as_addresses_read_it(admin_client):
    response = admin_client.post("/admin/routing/freemaildomain/add/", {"domain": "@Mail.Example."})
    assert response.status_code == 302
    assert FreeMailDomain.objects.filter(domain="mail.example").exists()
    admin_client.post("/admin/routing/freemaildomain/add/", {"domain": "bücher.example"})
    again = admin_client.post("/admin/routing/freemaildomain/add/",
                              {"domain": "xn--bcher-kva.example"})
    assert "already exists" in again.content.decode()  # one domain, two spellings


@pytest.mark.parametrize("typed", ["not a domain", "gmail", "a..b", "-x.com"])
def test_what_is_no_domain_is_not_a_free_mail_domain(admin_client, typed):
    response = admin_client.post("/admin/routing/freemaildomain/add/", {"domain": typed})
    assert "Enter a domain such as gmail.com." in response.content.decode()


@pytest.mark.parametrize("points", ["9223372036854775807", "1001", "-1001"])
def test_scoring_points_have_limits(admin_client, points):
    response = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": "Huge", "group": "fit", "field": "email", "operator": "is_set",
        "value": "", "points": points, "is_active": "on", "position": "1"})
    assert response.status_code == 200
    assert "Give points between -1000 and 1000" in response.content.decode()
    assert not ScoringRule.objects.exists()
    draft = admin_client.post("/admin/routing/scoringrule/try/", {
        "draft_field": "email", "draft_operator": "is_set", "draft_points": points})
    assert "Give points between -1000 and 1000" in draft.content.decode()


@pytest.mark.parametrize(("target", "unit", "shown"), [
    ("100000000000000", "minutes", "525600 minutes"),
    ("600000", "minutes", "525600 minutes"),
    ("2081", "business_hours", "2080 business hours"),
    ("261", "business_days", "260 business days"),
])
def test_an_sla_target_beyond_a_year_is_refused(admin_client, tiers, berlin_hours, target,
                                                unit, shown):
    response = admin_client.post("/admin/routing/slapolicy/add/", {
        "tier": tiers["hot"].pk, "calendar": berlin_hours.pk, "target": target, "unit": unit,
        "warning_percent": "50", "escalation": "both", "is_active": "on"})
    assert response.status_code == 200
    assert f"Keep the target within a year: at most {shown}" in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_a_stored_out_of_reach_target_gives_no_deadline_instead_of_failing(admin_client, tiers):
    SlaPolicy.objects.create(tier=tiers["cold"], target=2_000_000_000,  # fits a column
                             unit="business_days")  # but no calendar reaches it
    lead = submit(email="grace@example.com")  # the intake takes the lead
    assert lead.pk and lead.tier == "cold" and lead.respond_by is None
    response = admin_client.post("/admin/routing/scoringrule/try/", {"email": "a@b.com"})
    assert response.status_code == 200
    assert "No SLA policy for this tier" in response.content.decode()


# --- Values a field never has --------------------------------------------------------------


@pytest.mark.parametrize(("field", "operator", "value", "message"), [
    ("company_size", "equals", "200+", "Company size has no answer “200+”"),
    ("company_size", "one_of", "201-1000, 5000+, lots", "Company size has no answer “lots”"),
    ("budget", "equals", "$50k+", "Budget range has no answer “$50k+”"),
    ("urgency", "equals", "asap", "has no answer “asap”"),
])
def test_a_choice_field_condition_on_an_answer_that_does_not_exist_is_refused(
        admin_client, field, operator, value, message):
    response = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": "Odd", "group": "fit", "field": field, "operator": operator, "value": value,
        "points": "5", "is_active": "on", "position": "1"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ScoringRule.objects.exists()


def test_a_choice_field_condition_on_a_forms_own_answer_is_kept(admin_client, quote_form):
    quote_form.company_size_choices = "Just me\n2-20\n21+"
    quote_form.save()
    response = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": "Solo", "group": "fit", "field": "company_size", "operator": "one_of",
        "value": "just me, 1-10", "points": "5", "is_active": "on", "position": "1"})
    assert response.status_code == 302


def scoring_rule(admin_client, field, operator, value, points) -> None:
    response = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": f"{field} {operator} {value}", "group": "fit", "field": field,
        "operator": operator, "value": value, "points": str(points), "is_active": "on",
        "position": "1"})
    assert response.status_code == 302


def test_a_forms_answer_holding_a_comma_stays_whole_when_the_rule_runs(admin_client,
                                                                        quote_form, tiers):
    # Saved, such a rule never fired: the engine cut “$1,000-$10,000” into “$1”, “000-$10”
    # and “000”, which no lead gives.
    quote_form.budget_choices = "Under $1,000\n$1,000-$10,000\nOver $10,000"
    quote_form.service_choices = "Design, build and host\nAudit"
    quote_form.save()
    scoring_rule(admin_client, "budget", "one_of", "$1,000-$10,000, over $10,000", 10)
    scoring_rule(admin_client, "service", "one_of", "Design, build and host", 5)
    scoring_rule(admin_client, "service", "contains", "Support, 24/7", 1)
    assert submit(email="a@example.com", budget="$1,000-$10,000").score == 10
    assert submit(email="b@example.com", budget="Over $10,000",
                  service="Design, build and host").score == 15
    page = admin_client.get("/admin/routing/scoringrule/").content.decode()
    assert "Budget range is one of $1,000-$10,000, over $10,000" in page
    # An answer a form gains after the rule was saved is read whole from the next lead on.
    quote_form.service_choices += "\nSupport, 24/7"
    quote_form.save()
    assert submit(email="c@example.com", service="Support, 24/7").score == 1


def test_an_email_domain_condition_drops_the_at_sign_and_matches(admin_client, tiers):
    response = admin_client.post("/admin/routing/scoringrule/add/", {
        "name": "Acme", "group": "fit", "field": "email_domain", "operator": "equals",
        "value": "@acme.com", "points": "50", "is_active": "on", "position": "1"})
    assert response.status_code == 302
    assert ScoringRule.objects.get().value == "acme.com"
    assert submit(email="wile@acme.com").score == 50


# --- Opening hours -------------------------------------------------------------------------


def hours_form(*rows) -> dict:
    data = {"name": "Office", "timezone": "Europe/Berlin",
            "hours-TOTAL_FORMS": str(len(rows)), "hours-INITIAL_FORMS": "0",
            "holidays-TOTAL_FORMS": "0", "holidays-INITIAL_FORMS": "0"}
    for n, (weekday, opens, closes) in enumerate(rows):
        data.update({f"hours-{n}-weekday": weekday, f"hours-{n}-opens": opens,
                     f"hours-{n}-closes": closes})
    return data


def test_overlapping_opening_hours_on_one_day_are_refused(admin_client):
    from routing.models import BusinessHours

    response = admin_client.post("/admin/routing/businesshours/add/", hours_form(
        ("0", "09:00", "12:00"), ("0", "11:00", "14:00"), ("1", "11:00", "14:00")))
    assert response.status_code == 200
    assert "Monday: 09:00-12:00 and 11:00-14:00 overlap" in response.content.decode()
    assert not BusinessHours.objects.exists()
    late = admin_client.post("/admin/routing/businesshours/add/", hours_form(
        ("4", "18:00", "00:00"), ("4", "20:00", "22:00")))
    assert "Friday: 18:00-00:00 and 20:00-22:00 overlap" in late.content.decode()
    lunch = admin_client.post("/admin/routing/businesshours/add/", hours_form(
        ("0", "09:00", "12:00"), ("0", "12:00", "14:00"), ("0", "15:00", "00:00")))
    assert lunch.status_code == 302


def test_overlapping_hours_saved_before_are_counted_once():
    from datetime import UTC, datetime, time, timedelta

    from routing.sla import Calendar, add_business_time, business_time_between

    calendar = Calendar("UTC", {0: ((time(9), time(12)), (time(11), time(14)))})
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert business_time_between(monday, monday + timedelta(hours=8), calendar) == \
        timedelta(hours=5)
    assert add_business_time(monday, timedelta(hours=4), calendar) == monday + timedelta(hours=4)
