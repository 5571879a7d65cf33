"""Custom fields in the one condition language (scoring, routing, try-it, backtest), in the
queue's filters and its CSV export, and in the demo data."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, CustomField, FormCustomField, IntakeForm, Lead
from routing.conditions import describe_condition
from routing.models import RoutingCondition, RoutingRule, RuleChange, ScoringRule
from tests.routing.pages import lead_for
from tests.routing.test_queue import QUEUE_QUERIES, names_in

pytestmark = pytest.mark.django_db



def arrive(email="grace@example.com", **custom) -> Lead:
    data = IntakeInput(channel=Channel.API, fields={"first_name": "Grace", "email": email},
                       summary="API lead", notify_prospect=False, custom=custom)
    return receive_lead(data).lead


def rule(field, operator, value, points=10, name=None) -> ScoringRule:
    made = ScoringRule(name=name or f"{field} {operator} {value}", field=field,
                       operator=operator, value=value, points=points)
    made.full_clean()  # the same check the admin makes
    made.save()
    return made


@pytest.mark.parametrize(("field", "operator", "value", "fires", "misses"), [
    ("cf_tech_stack", "contains_any", "AWS, GCP", {"tech_stack": ["GCP", "Azure"]},
     {"tech_stack": ["Azure"]}),
    ("cf_tech_stack", "contains_all", "AWS, GCP", {"tech_stack": ["AWS", "GCP", "Azure"]},
     {"tech_stack": ["AWS"]}),
    ("cf_seats", "greater_than", "99", {"seats": 100}, {"seats": 99}),
    ("cf_seats", "less_than", "10", {"seats": 3}, {"seats": 10}),
    ("cf_seats", "between", "10, 50", {"seats": 50}, {"seats": 51}),
    ("cf_seats", "greater_than", "1,000", {"seats": 1001}, {"seats": 1000}),
    ("cf_contract_end", "less_than", "2027-01-01", {"contract_end": "2026-12-31"},
     {"contract_end": "2027-01-01"}),
    ("cf_contract_end", "between", "2026-01-01, 2026-06-30", {"contract_end": "2026-03-01"},
     {}),
    ("cf_partner", "equals", "yes", {"partner": True}, {"partner": False}),
    ("cf_plan", "greater_than", "Basic", {"plan": "Enterprise"}, {"plan": "Basic"}),
    ("cf_plan", "one_of", "Pro, Enterprise", {"plan": "Pro"}, {}),
    ("cf_contact_time", "contains", "morning", {"contact_time": "Monday morning"},
     {"contact_time": "mornings"}),
    ("cf_notes", "is_set", "", {"notes": "Two sites"}, {}),
])
def test_a_scoring_rule_on_each_type_fires_on_the_leads_that_match(
        fields, tiers, field, operator, value, fires, misses):
    rule(field, operator, value, points=25)
    assert arrive("yes@example.com", **fires).score == 25
    assert arrive("no@example.com", **misses).score == 0


@pytest.mark.parametrize(("field", "operator", "value", "message"), [
    ("cf_seats", "contains_any", "AWS", "Seats cannot use “contains any of”"),
    ("cf_seats", "between", "50", "Give two values"),
    ("cf_seats", "between", "50, 10", "is above the second"),
    ("cf_contract_end", "greater_than", "soon", "is not a date"),
    # Saved before, these never fired (nan, inf) or read another number or date than typed.
    ("cf_seats", "greater_than", "nan", "is not a number"),
    ("cf_seats", "less_than", "inf", "is not a number"),
    ("cf_seats", "equals", "1,5", "is not a number"),
    ("cf_seats", "equals", "1_000", "is not a number"),
    ("cf_contract_end", "greater_than", "20270101", "is not a date"),
    ("cf_contract_end", "less_than", "2027-W01-1", "is not a date"),
    ("cf_tech_stack", "contains_any", "AWS, Oracle", "has no answer “Oracle”"),
    # Saved, it never fired: on several choices "contains" compares whole answers.
    ("cf_tech_stack", "contains", "AWS, Azur", "has no answer “Azur”"),
    ("cf_plan", "equals", "Gold", "has no answer “Gold”"),
])
def test_a_rule_that_cannot_work_on_the_type_is_refused(fields, field, operator, value,
                                                        message):
    with pytest.raises(Exception, match=message):
        rule(field, operator, value)


def test_answers_with_commas_stay_whole_in_rules(tiers):
    CustomField.objects.create(key="band", label="Budget band", kind="choice",
                               choices="Under $1,000\n$1,000-$10,000\nOver $10,000")
    CustomField.objects.create(key="sure", label="Sure?", kind="multi_choice",
                               choices="Yes, definitely\nMaybe")
    # "equals $1,000-$10,000" was refused: “Budget band has no answer “$1””.
    rule("cf_band", "equals", "$1,000-$10,000", points=1)
    listed = rule("cf_band", "one_of", "$1,000-$10,000, over $10,000", points=10)
    rule("cf_sure", "contains_any", "Yes, definitely", points=100)
    assert arrive("a@example.com", band="$1,000-$10,000").score == 11
    assert arrive("b@example.com", band="Over $10,000").score == 10
    assert arrive("c@example.com", band="Under $1,000", sure=["Yes, definitely"]).score == 100
    assert describe_condition(listed.field, listed.operator, listed.value) == (
        "Budget band is one of $1,000-$10,000, over $10,000")


def test_the_rule_admin_lists_custom_fields_and_checks_them(fields, admin_client):
    page = admin_client.get("/admin/routing/scoringrule/add/").content.decode()
    assert '<optgroup label="Custom fields">' in page
    assert '<option value="cf_tech_stack">Tech stack</option>' in page
    data = {"name": "Cloud", "group": "fit", "field": "cf_tech_stack",
            "operator": "contains_any", "value": "AWS, Azur", "points": "10",
            "is_active": "on", "position": "1"}
    refused = admin_client.post("/admin/routing/scoringrule/add/", data)
    assert "has no answer “Azur”" in refused.content.decode()
    assert admin_client.post("/admin/routing/scoringrule/add/",
                             {**data, "value": "AWS, Azure"}).status_code == 302
    listing = admin_client.get("/admin/routing/scoringrule/").content.decode()
    assert "Tech stack contains any of AWS, Azure" in listing


def test_the_scoring_rule_list_filters_name_fields_and_operators_as_the_form_does(
        fields, admin_client):
    rule("cf_tech_stack", "contains_any", "AWS")
    rule("job_title", "one_of", "CTO")
    listing = admin_client.get("/admin/routing/scoringrule/").content.decode()
    # The sidebar said "cf_tech_stack", "job_title", "contains_any" and "one_of".
    assert '?field__exact=cf_tech_stack">Tech stack</a>' in listing
    assert '?field__exact=job_title">Job title</a>' in listing
    assert '?operator__exact=contains_any">contains any of</a>' in listing
    assert ">cf_tech_stack</a>" not in listing and ">one_of</a>" not in listing
    filtered = admin_client.get("/admin/routing/scoringrule/?field__exact=cf_tech_stack")
    assert "Tech stack contains any of AWS" in filtered.content.decode()
    assert "Job title is one of CTO" not in filtered.content.decode()


def test_a_field_defined_after_the_rules_were_loaded_is_seen_at_the_next_lead(tiers):
    arrive("first@example.com")  # the rule set is now cached in this process
    CustomField.objects.create(key="seats", label="Seats", kind="number")
    rule("cf_seats", "greater_than", "10", points=5)
    assert arrive("second@example.com", seats=11).score == 5


def test_a_routing_rule_on_a_custom_field_routes_the_lead(fields, tiers, alice, bob,
                                                          round_robin):
    partners = RoutingRule.objects.create(name="Partner deals to Bob", action="rep",
                                          rep=bob.user, position=1)
    condition = RoutingCondition(rule=partners, field="cf_partner", operator="equals",
                                 value="yes")
    condition.full_clean()
    condition.save()
    assert arrive("p@example.com", partner=True).owner == bob.user
    assert arrive("direct@example.com", partner=False).owner_id in (alice.user.pk,
                                                                    bob.user.pk)
    assert Lead.objects.get(email="p@example.com").assessment.rule_id == partners.pk


def test_a_type_change_that_would_break_active_rules_is_refused_naming_them(fields, bob,
                                                                             admin_client):
    rule("cf_plan", "greater_than", "Basic", name="Paying plans")
    partners = RoutingRule.objects.create(name="Partner deals to Bob", action="rep",
                                          rep=bob.user, position=1)
    RoutingCondition.objects.create(rule=partners, field="cf_partner", operator="equals",
                                    value="yes")
    plan = fields["plan"]
    page = admin_client.post(f"/admin/capture/customfield/{plan.pk}/change/", {
        "key": plan.key, "label": plan.label, "kind": "multi_choice", "choices": plan.choices,
        "help_text": "", "is_active": "on", "form_slots-TOTAL_FORMS": "0",
        "form_slots-INITIAL_FORMS": "0"})
    html = page.content.decode()
    assert page.status_code == 200 and "change or switch off these rules first" in html
    assert "scoring rule “Paying plans”" in html
    plan.refresh_from_db()
    assert plan.kind == "choice"

    fields["partner"].kind = "number"
    with pytest.raises(ValidationError, match="routing rule “Partner deals to Bob”"):
        fields["partner"].full_clean()
    ScoringRule.objects.filter(name="Paying plans").update(is_active=False)
    plan.kind = "multi_choice"
    plan.full_clean()  # a rule switched off does not hold the change back


def test_a_field_active_rules_use_is_not_deleted_and_the_rules_are_named(fields, bob,
                                                                          admin_client):
    partners = RoutingRule.objects.create(name="Partner deals to Bob", action="rep",
                                          rep=bob.user, position=1)
    RoutingCondition.objects.create(rule=partners, field="cf_partner", operator="equals",
                                    value="yes")
    partner = fields["partner"]  # no lead carries it yet
    page = admin_client.get(f"/admin/capture/customfield/{partner.pk}/change/").content.decode()
    assert "cannot be deleted" in page and "routing rule “Partner deals to Bob”" in page
    assert admin_client.post(f"/admin/capture/customfield/{partner.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    chosen = {"action": "delete_selected", "_selected_action": [partner.pk]}
    html = admin_client.post("/admin/capture/customfield/", chosen, follow=True).content.decode()
    assert "Not deleted: Active rules use “Through a partner?”" in html
    assert CustomField.objects.filter(pk=partner.pk).exists()
    partners.is_active = False
    partners.save()
    partner.delete()  # a rule switched off does not hold it back
    assert not CustomField.objects.filter(pk=partner.pk).exists()


def test_the_key_of_a_field_active_rules_use_cannot_change_and_the_rules_are_named(
        fields, tiers, admin_client):
    ScoringRule.objects.create(name="Partner deal", field="cf_partner", operator="equals",
                               value="yes", points=30)
    partner = fields["partner"]  # no lead carries it: the key could change but for the rule
    response = admin_client.post(f"/admin/capture/customfield/{partner.pk}/change/", {
        "label": "Through a partner?", "key": "via_partner", "kind": "yes_no",
        "position": "0", "is_active": "on"})
    assert response.status_code == 200
    assert "scoring rule “Partner deal”" in response.content.decode()
    partner.refresh_from_db()
    assert partner.key == "partner"
    lead = receive_lead(IntakeInput(channel=Channel.API, fields={"first_name": "Ann"},
                                    custom={"partner": True}, summary="API")).lead
    assert lead.score == 30  # the rule still matches
    ScoringRule.objects.update(is_active=False)
    fields["seats"].key = "licences"  # nothing uses it: free to change
    fields["seats"].full_clean()


def test_try_it_takes_custom_field_values(fields, tiers, admin_client):
    rule("cf_seats", "between", "100, 500", points=30, name="Mid-size rollout")
    page = admin_client.get("/admin/routing/scoringrule/try/").content.decode()
    assert 'name="cf_seats"' in page and 'name="cf_tech_stack"' in page
    response = admin_client.post("/admin/routing/scoringrule/try/", {
        "email": "x@example.com", "cf_seats": "250", "draft_field": "cf_tech_stack",
        "draft_operator": "contains_all", "draft_value": "AWS, GCP", "draft_points": "7",
        "cf_tech_stack": ["AWS", "GCP"]})
    html = response.content.decode()
    assert "<strong>Score 37</strong>" in html and "Mid-size rollout" in html
    bad = admin_client.post("/admin/routing/scoringrule/try/", {"cf_seats": "many"})
    assert "is not a number" in bad.content.decode()
    assert not Lead.objects.exists()


def test_the_backtest_replays_rules_on_custom_fields(fields, tiers, admin_client):
    arrive("a@example.com", seats=200)
    arrive("b@example.com", seats=5)
    response = admin_client.post("/admin/routing/scoringrule/backtest/", {
        "days": "30", "draft_name": "Big rollout", "draft_field": "cf_seats",
        "draft_operator": "greater_than", "draft_value": "100", "draft_points": "70"})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r"hot</td>\s*<td[^>]*>0</td>\s*<td[^>]*>1<", html), html[-4000:]


# --- the queue's filters and its export --------------------------------------------------------

@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def stocked(alice, fields):
    lead_for(alice.user, first_name="Cloudy", custom_fields={
        "tech_stack": ["AWS", "GCP"], "seats": 120, "contract_end": "2027-02-01",
        "partner": True, "plan": "Pro", "contact_time": "mornings"})
    lead_for(alice.user, first_name="Onprem", custom_fields={
        "tech_stack": ["on-premises"], "seats": 8, "contract_end": "2026-11-30",
        "partner": False, "plan": "Basic", "contact_time": "=1+2"})
    lead_for(alice.user, first_name="Blank")


@pytest.mark.parametrize(("query", "names"), [
    ("cf_tech_stack=GCP", ["Cloudy Lovelace"]),
    ("cf_tech_stack=GCP&cf_tech_stack=on-premises", ["Cloudy Lovelace", "Onprem Lovelace"]),
    ("cf_seats_min=100", ["Cloudy Lovelace"]),
    ("cf_seats_min=5&cf_seats_max=10", ["Onprem Lovelace"]),
    ("cf_contract_end_after=2027-01-01", ["Cloudy Lovelace"]),
    ("cf_contract_end_before=2026-12-31", ["Onprem Lovelace"]),
    ("cf_partner=no", ["Onprem Lovelace"]),
    ("cf_plan=Pro", ["Cloudy Lovelace"]),
    # A typed or shared URL in other capitals filters the same, as a form's value does.
    ("cf_plan=pro", ["Cloudy Lovelace"]),
    ("cf_tech_stack=gcp&cf_tech_stack=ON-PREMISES", ["Cloudy Lovelace", "Onprem Lovelace"]),
    ("cf_contact_time=MORNING", ["Cloudy Lovelace"]),
])
def test_the_queue_filters_by_each_type(as_alice, stocked, query, names):
    assert sorted(names_in(as_alice.get(f"/queue/?{query}"))) == names


@pytest.mark.parametrize(("bound", "error"), [
    ("1e16", "Enter a number smaller than 1,000,000,000,000,000."),
    ("1e400", "Enter a number smaller than 1,000,000,000,000,000."),
    ("-1e20", "Enter a number greater than -1,000,000,000,000,000."),
    ("abc", "is not a number."),
])
def test_a_number_filter_out_of_range_is_a_form_error_on_the_queue_and_its_export(
        as_alice, stocked, bound, error):
    page = as_alice.get(f"/queue/?cf_seats_min={bound}")
    assert page.status_code == 200 and error in page.content.decode()
    assert names_in(page) == []
    export = as_alice.get(f"/queue/export.csv?cf_seats_min={bound}")
    # Not a file that looks like an empty queue: the reason, and nothing exported.
    assert export.status_code == 400 and error in export.content.decode()


@pytest.mark.parametrize(("query", "error"), [
    ("cf_seats_min=100&cf_seats_max=10", "The second number is smaller than the first."),
    ("cf_contract_end_after=2027-06-01&cf_contract_end_before=2027-01-01",
     "The end date is before the start date."),
])
def test_a_custom_range_typed_backwards_says_so_instead_of_showing_an_empty_queue(
        as_alice, stocked, query, error):
    """A rep who typed seats 100 to 10 saw "Nothing here right now." and no reason, while the
    created dates typed the wrong way round had their message."""
    page = as_alice.get(f"/queue/?{query}")
    assert page.status_code == 200 and error in page.content.decode()
    export = as_alice.get(f"/queue/export.csv?{query}")
    assert export.status_code == 400 and error in export.content.decode()


def test_a_number_filter_reads_thousands_separators_as_the_api_does(as_alice, stocked):
    assert names_in(as_alice.get("/queue/?cf_seats_min=1,00")) == []  # not a number
    assert names_in(as_alice.get("/queue/?cf_seats_min=1%2C000")) == []
    assert names_in(as_alice.get("/queue/?cf_seats_max=1%2C000&cf_seats_min=100")) == [
        "Cloudy Lovelace"]


def test_the_filters_are_in_the_queue_form_and_archived_fields_are_not(as_alice, stocked,
                                                                       fields):
    fields["notes"].is_active = False
    fields["notes"].save()
    html = as_alice.get("/queue/").content.decode()
    assert 'name="cf_tech_stack"' in html and 'name="cf_seats_min"' in html
    assert 'name="cf_notes"' not in html


def test_the_queue_reads_each_field_by_the_names_a_key_is_checked_against(as_alice, fields):
    from capture.custom_field_models import filter_names

    html = as_alice.get("/queue/").content.decode()
    shown = set(re.findall(r'name="cf_([a-z0-9_]+)"', html))
    expected = set().union(*(filter_names(f.key, f.kind) - (
        {f.key} if f.kind in ("number", "date") else set()) for f in fields.values()))
    assert shown == expected


@pytest.mark.parametrize("count", [1, 12])
def test_the_queue_page_s_queries_do_not_grow_with_the_custom_fields(
        as_alice, alice, count, django_assert_num_queries):
    for i in range(count):
        CustomField.objects.create(key=f"field_{i}", label=f"Field {i}",
                                   kind=["number", "choice", "multi_choice", "date"][i % 4],
                                   choices="A\nB")
    for i in range(5):
        lead_for(alice.user, email=f"q{i}@example.com", custom_fields={"field_0": i})
    # the queue's own queries and one for the custom field definitions, however many
    with django_assert_num_queries(QUEUE_QUERIES):
        response = as_alice.get("/queue/?cf_field_0_min=1")
    assert response.status_code == 200 and len(names_in(response)) == 4


def test_the_csv_export_has_a_column_per_custom_field_and_neutral_formulas(as_alice,
                                                                            stocked):
    response = as_alice.get("/queue/export.csv?cf_seats_max=200")
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["first_name"] for r in rows} == {"Cloudy", "Onprem"}
    cloudy = next(r for r in rows if r["first_name"] == "Cloudy")
    assert (cloudy["tech_stack"], cloudy["seats"], cloudy["partner"], cloudy["plan"]) == (
        "AWS; GCP", "120", "yes", "Pro")
    onprem = next(r for r in rows if r["first_name"] == "Onprem")
    assert onprem["contact_time"] == "'=1+2"  # a spreadsheet shows it, never computes it


def test_the_export_shows_only_the_rep_s_own_leads(as_alice, stocked, bob):
    lead_for(bob.user, first_name="Bobs")
    text = b"".join(as_alice.get("/queue/export.csv").streaming_content).decode("utf-8-sig")
    assert "Bobs" not in text and "Cloudy" in text


# --- the demo ----------------------------------------------------------------------------------

def test_seed_demo_puts_tech_stack_and_seats_on_the_quote_form_with_a_rule_each(db, client):
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)  # idempotent
    stack = CustomField.objects.get(key="tech_stack")
    assert stack.kind == "multi_choice" and stack.choice_list == [
        "AWS", "Azure", "GCP", "on-premises", "Microsoft 365", "Google Workspace"]
    assert CustomField.objects.get(key="seats").kind == "number"
    form = IntakeForm.objects.get(slug="quote")
    assert FormCustomField.objects.filter(form=form).count() == 2
    assert ScoringRule.objects.filter(field="cf_tech_stack").count() == 1
    assert ScoringRule.objects.filter(field="cf_seats").count() == 1
    html = client.get("/q/quote/").content.decode()
    assert 'name="cf_tech_stack"' in html and 'name="cf_seats"' in html
    assert Lead.objects.exclude(custom_fields={}).exists()


def test_a_routing_rule_s_saved_conditions_read_as_words_not_code(fields, admin_client):
    """Above each saved condition, and on the delete page, the admin printed the stored names
    ("cf_tech_stack contains_any Azure", "country one_of DE, GB")."""
    routed = RoutingRule.objects.create(name="Azure shops", action="nurture")
    RoutingCondition.objects.create(rule=routed, field="cf_tech_stack",
                                    operator="contains_any", value="Azure")
    RoutingCondition.objects.create(rule=routed, field="country", operator="one_of",
                                    value="DE, GB")
    url = f"/admin/routing/routingrule/{routed.pk}/"
    for page in (admin_client.get(url + "change/").content.decode(),
                 admin_client.get(url + "delete/").content.decode()):
        assert "cf_tech_stack contains_any" not in page and "country one_of" not in page
        assert "Tech stack contains any of Azure" in page
        assert "Country is one of DE, GB" in page


def test_rules_are_found_by_the_name_of_the_field_they_test(fields, admin_client):
    """Searching the rule lists for "Tech stack" or "country" found nothing: the search read
    the rule's name and value, never the field the condition tests."""
    rule("cf_tech_stack", "contains_any", "Azure", name="Azure shops")
    rule("job_title", "contains", "CTO", name="C-level")
    routed = RoutingRule.objects.create(name="Europe", action="nurture")
    RoutingCondition.objects.create(rule=routed, field="country", operator="one_of",
                                    value="DE, FR")
    RoutingCondition.objects.create(rule=routed, field="company", operator="is_set")
    page = admin_client.get("/admin/routing/scoringrule/", {"q": "tech STACK"}).content.decode()
    assert "Azure shops" in page and "C-level" not in page
    page = admin_client.get("/admin/routing/routingrule/", {"q": "Country"}).content.decode()
    assert "Europe" in page and "1 routing rule" in page  # once, though it has two conditions


def test_a_range_typed_as_10_50_is_saved_and_shown_one_way_in_rules_and_history(
        fields, tiers, sales_team, admin_client):
    """Sales ops type “10-50” or “10 to 50”; the rule engine, the lists and the rule history
    read “10, 50” (“Seats is between 10 and 50”) whichever way it was typed."""
    page = admin_client.get("/admin/routing/scoringrule/add/").content.decode()
    assert "For “is between”: the lowest and the highest, both included: 10-50, 10 to 50" in page
    data = {"name": "Mid-size", "group": "fit", "field": "cf_seats", "operator": "between",
            "value": "10-50", "points": "20", "is_active": "on", "position": "1"}
    assert admin_client.post("/admin/routing/scoringrule/add/", data).status_code == 302
    saved = ScoringRule.objects.get(name="Mid-size")
    assert saved.value == "10, 50"
    assert [arrive(f"p{n}@example.com", seats=n).score for n in (9, 10, 50, 51)] == [
        0, 20, 20, 0]
    listing = admin_client.get("/admin/routing/scoringrule/").content.decode()
    assert "Seats is between 10 and 50" in listing
    admin_client.post(f"/admin/routing/scoringrule/{saved.pk}/change/",
                      {**data, "value": "20 to 60"})
    assert ScoringRule.objects.get(pk=saved.pk).value == "20, 60"
    change = RuleChange.objects.order_by("-id").first()
    history = admin_client.get(f"/admin/routing/rulechange/{change.pk}/change/").content.decode()
    assert "<td>value</td><td>10, 50</td><td>20, 60</td>" in history

    refused = admin_client.post("/admin/routing/scoringrule/add/",
                                {**data, "name": "Odd", "value": "10 or so"})
    assert "“10 or so” is not a range. Give two values, the lowest first" in (
        refused.content.decode())
    assert not ScoringRule.objects.filter(name="Odd").exists()

    # A routing rule's conditions: the range help is in the inline's heading, not only in a
    # tooltip, and the score's range is saved the same way.
    page = admin_client.get("/admin/routing/routingrule/add/").content.decode()
    assert "“is between” takes a range: 10-50, 10 to 50 or 10, 50" in page
    response = admin_client.post("/admin/routing/routingrule/add/", {
        "name": "Warm", "position": "10", "is_active": "on", "action": "round_robin",
        "team": sales_team.pk, "conditions-TOTAL_FORMS": "1", "conditions-INITIAL_FORMS": "0",
        "conditions-0-field": "score", "conditions-0-operator": "between",
        "conditions-0-value": "30 - 59"})
    assert response.status_code == 302
    assert RoutingCondition.objects.get(rule__name="Warm").value == "30, 59"
