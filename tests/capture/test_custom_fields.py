"""Custom lead fields end to end: defined in the admin, on the public form, the API, webhooks
and imports by key, stored checked, shown escaped, archived and restored, type changes."""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ValidationError

from capture.channels.imports import ImportOptions, import_rows
from capture.models import CustomField, FormCustomField, InboundEvent, Lead, WebhookSource
from tests.capture.test_api import post as api_post
from tests.capture.test_webhook import signed_post
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

GOOD = {"first_name": "Grace", "email": "grace@navy.mil"}




@pytest.fixture
def on_form(fields, quote_form):
    for position, key in enumerate(fields):
        FormCustomField.objects.create(form=quote_form, field=fields[key], position=position,
                                       is_required=key == "seats",
                                       after="company" if key == "tech_stack" else "")
    return quote_form


@pytest.fixture
def partner_key():
    from capture.models import ApiKey

    return ApiKey.issue("Partner Acme", "acme")[1]


# --- definitions in the admin ----------------------------------------------------------------

def admin_add(admin_client, **data):
    base = {"label": "", "key": "", "kind": "short_text", "choices": "", "help_text": "",
            "position": 0, "is_active": "on"}
    return admin_client.post("/admin/capture/customfield/add/", {**base, **data})


def test_sales_ops_define_a_field_in_the_admin(admin_client):
    response = admin_add(admin_client, label="Tech stack", key="tech_stack",
                         kind="multi_choice", choices="AWS\nAzure\n\nAWS\nGCP")
    assert response.status_code == 302
    field = CustomField.objects.get(key="tech_stack")
    assert field.choice_list == ["AWS", "Azure", "GCP"]  # blank lines and repeats dropped
    assert "Tech stack" in admin_client.get("/admin/capture/customfield/").content.decode()


@pytest.mark.parametrize(("data", "message"), [
    ({"key": "email"}, "is a built-in name"),
    ({"key": "Tech Stack"}, "lower case letters"),
    ({"key": "9lives"}, "lower case letters"),
    ({"key": "stack", "kind": "choice", "choices": ""}, "List the answers"),
    # Saved, the answers were kept and never used: the form showed a free-text box.
    ({"key": "plan", "kind": "short_text", "choices": "Starter\nGrowth"},
     "Answers are only offered by “One choice” and “Several choices”"),
    ({"key": "seats", "kind": "number", "choices": "1-10\n11-50"}, "Answers are only offered"),
])
def test_a_bad_definition_is_refused_with_a_clear_message(admin_client, data, message):
    response = admin_add(admin_client, label="Something", **data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CustomField.objects.exists()


@pytest.mark.parametrize(("typed", "suggested"), [
    ("tech stack", "tech_stack"), ("Tech-Stack", "tech_stack"), (" Größe (m²) ", "grosse_m2"),
    ("2nd phone", "f_2nd_phone"),
])
def test_a_key_typed_otherwise_gets_one_message_with_a_key_close_to_it(admin_client, typed,
                                                                       suggested):
    """A key holding a space got two messages for one mistake, one of them (Django's slug
    check) saying hyphens were fine."""
    response = admin_add(admin_client, label="Tech stack", key=typed)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["key"]
    assert errors == [
        "A key may hold only lower case letters (a-z), digits and _, starting with a letter, "
        f"at most 49 characters: “{typed.strip()}” could be “{suggested}”."]
    assert not CustomField.objects.exists()
    assert admin_add(admin_client, label="Tech stack", key=suggested).status_code == 302


def test_a_key_with_no_usable_key_close_to_it_gets_an_example_instead(admin_client):
    response = admin_add(admin_client, label="Email again", key="E-mail!")  # "e_mail": fine
    assert "“E-mail!” could be “e_mail”" in response.content.decode()
    response = admin_add(admin_client, label="Email again", key="Email")  # "email": built in
    assert response.context["adminform"].form.errors["key"] == [
        "A key may hold only lower case letters (a-z), digits and _, starting with a letter, "
        "at most 49 characters (e.g. tech_stack)."]
    response = admin_add(admin_client, label="Dashes", key="---")
    assert "(e.g. tech_stack)" in response.content.decode()


@pytest.mark.parametrize(("data", "clash"), [
    ({"key": "seats_max"}, "cf_seats_max"),  # the number field "seats" filters by seats_max
    ({"key": "contract_end_before", "kind": "yes_no"}, "cf_contract_end_before"),
    ({"key": "seats_total", "kind": "date"}, None),
])
def test_a_key_the_queue_filters_another_field_by_is_refused(admin_client, fields, data, clash):
    response = admin_add(admin_client, label="Something", **data)
    if clash is None:
        assert response.status_code == 302
        return
    assert response.status_code == 200
    assert "The queue would filter this field and" in response.content.decode()
    assert clash in response.content.decode()
    assert not CustomField.objects.filter(key=data["key"]).exists()


def test_a_number_or_date_field_whose_filter_names_are_taken_is_refused(fields):
    CustomField.objects.create(key="budget_k_after", label="After", kind="short_text")
    with pytest.raises(ValidationError, match="cf_budget_k_after"):
        CustomField(key="budget_k", label="Budget", kind="date").full_clean()
    CustomField(key="budget_k", label="Budget", kind="number").full_clean()  # _min, _max: free
    fields["notes"].key, fields["notes"].kind = "seats_min", "long_text"
    with pytest.raises(ValidationError, match="cf_seats_min"):
        fields["notes"].full_clean()


def test_fields_sharing_a_filter_name_from_before_the_check_can_still_be_edited(admin_client,
                                                                               fields):
    """`seats` (number: cf_seats_max) and `seats_max` were saved before the check, and leads
    carry both, so their keys are read-only: editing their labels saves, not a 500."""
    seats_max = CustomField.objects.create(key="seats_max", label="Most seats",
                                           kind="short_text")
    LeadFactory(custom_fields={"seats": 12, "seats_max": "40"})
    for field, kind in ((fields["seats"], "number"), (seats_max, "short_text")):
        url = f"/admin/capture/customfield/{field.pk}/change/"
        response = admin_client.post(url, {
            "label": f"{field.label} (edited)", "kind": kind, "choices": "", "help_text": "",
            "position": 0, "is_active": "on"})
        assert response.status_code == 302
        assert CustomField.objects.get(pk=field.pk).label == f"{field.label} (edited)"
    # A new type that brings a name already taken is refused on the type.
    fields["contact_time"].kind = "number"
    CustomField.objects.create(key="contact_time_min", label="Earliest", kind="short_text")
    with pytest.raises(ValidationError, match="cf_contact_time_min") as refused:
        fields["contact_time"].full_clean()
    assert list(refused.value.error_dict) == ["kind"]


def test_an_error_on_the_read_only_key_shows_above_the_form(fields):
    from capture.custom_field_admin import CustomFieldForm

    form = CustomFieldForm(instance=fields["seats"])
    del form.fields["key"]  # as the admin shows it once leads carry it
    form.cleaned_data = {}
    form.add_error(None, ValidationError({"key": "Taken.", "label": "Say what it is."}))
    assert form.non_field_errors() == ["Taken."]
    assert form.errors["label"] == ["Say what it is."]


@pytest.mark.parametrize("kind", ["choice", "multi_choice"])
def test_answers_differing_only_in_capitals_are_refused_naming_them(admin_client, kind):
    # The API and imports match answers ignoring case: "a" would always be kept as "A".
    response = admin_add(admin_client, label="Grade", key="grade", kind=kind,
                         choices="A\nA\na\nB\nb\nC")
    assert response.status_code == 200
    assert ("Answers must differ in more than capitals: “A” and “a”; “B” and “b”. Keep one of "
            "each.") in response.content.decode()
    assert not CustomField.objects.exists()


def test_a_bulk_delete_deletes_the_unused_fields_and_names_those_leads_carry(admin_client,
                                                                             fields):
    LeadFactory(custom_fields={"seats": 12})
    chosen = {"action": "delete_selected",
              "_selected_action": [fields["seats"].pk, fields["plan"].pk]}
    confirm = admin_client.post("/admin/capture/customfield/", chosen, follow=True)
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "Are you sure you want to delete the selected custom lead field?" in html
    assert "Not deleted: Leads carry values of “Seats”: archive the field instead" in html
    done = admin_client.post("/admin/capture/customfield/",
                             {**chosen, "_selected_action": [fields["plan"].pk], "post": "yes"},
                             follow=True)
    assert "Successfully deleted 1 custom lead field." in done.content.decode()
    assert set(CustomField.objects.values_list("key", flat=True)) >= {"seats"}
    assert not CustomField.objects.filter(key="plan").exists()
    # the fields leads carry, alone: nothing to confirm, the refusal named
    only = admin_client.post("/admin/capture/customfield/",
                             {**chosen, "_selected_action": [fields["seats"].pk]}, follow=True)
    assert "Not deleted: Leads carry values of “Seats”" in only.content.decode()
    assert CustomField.objects.filter(key="seats").exists()


def test_the_key_is_fixed_and_delete_refused_once_leads_carry_the_field(admin_client, fields):
    seats = fields["seats"]
    LeadFactory(custom_fields={"seats": 12})
    page = admin_client.get(f"/admin/capture/customfield/{seats.pk}/change/").content.decode()
    assert 'name="key"' not in page  # read-only now
    assert admin_client.post(f"/admin/capture/customfield/{seats.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    with pytest.raises(ValidationError, match="archive the field"):
        seats.delete()
    seats.key = "licences"
    with pytest.raises(ValidationError, match="cannot change"):
        seats.full_clean()
    seats.refresh_from_db()
    seats.label = "Licences"  # renaming the label is free
    seats.full_clean()
    seats.save()
    fields["plan"].delete()  # no lead carries it: deleting is fine
    assert not CustomField.objects.filter(key="plan").exists()


def test_a_type_change_that_would_not_convert_is_refused_with_the_leads_named(fields):
    good = LeadFactory(custom_fields={"contact_time": "1200"})
    bad = LeadFactory(custom_fields={"contact_time": "after lunch"})
    field = fields["contact_time"]
    field.kind = CustomField.Kind.NUMBER
    with pytest.raises(ValidationError) as refused:
        field.full_clean()
    message = " ".join(refused.value.messages)
    assert f"lead #{bad.pk}" in message and "after lunch" in message
    assert f"lead #{good.pk}" not in message
    bad.custom_fields = {}
    bad.save()
    field.full_clean()
    field.save()
    assert field.conversion.converted == 1
    good.refresh_from_db()
    assert good.custom_fields == {"contact_time": 1200}


def test_removing_an_answer_leads_still_carry_is_refused(fields):
    LeadFactory(custom_fields={"plan": "Pro"})
    plan = fields["plan"]
    plan.choices = "Basic\nEnterprise"
    with pytest.raises(ValidationError, match="“Pro”") as refused:
        plan.full_clean()
    assert "are not among the answers any more" in str(refused.value)
    plan.choices = "Basic\nPro\nEnterprise\nUltimate"  # adding one is fine
    plan.full_clean()


def test_the_admin_says_values_were_converted_only_when_the_type_changed(admin_client, fields):
    for _ in range(6):
        LeadFactory(custom_fields={"plan": "Pro"})
    plan = fields["plan"]
    url = f"/admin/capture/customfield/{plan.pk}/change/"
    data = {"label": "Price plan", "key": "plan", "kind": "choice", "help_text": "",
            "choices": "Basic\nPro\nEnterprise\nUltimate", "position": 0, "is_active": "on"}
    html = admin_client.post(url, data, follow=True).content.decode()
    assert "was changed successfully" in html and "Converted" not in html
    assert CustomField.objects.get(pk=plan.pk).choice_list[-1] == "Ultimate"
    html = admin_client.post(url, {**data, "kind": "multi_choice"}, follow=True).content.decode()
    assert "Converted the values of 6 lead(s) to several choices." in html


def test_limits_tighter_than_values_leads_hold_are_refused_naming_them(fields):
    held = LeadFactory(custom_fields={"seats": 250, "tech_stack": ["AWS", "GCP"]})
    seats = fields["seats"]
    seats.max_value = 10
    with pytest.raises(ValidationError, match="outside the new lowest or highest") as refused:
        seats.full_clean()
    assert f"lead #{held.pk}: “250” (Enter 10 or less.)" in str(refused.value)
    seats.max_value = 250
    seats.full_clean()  # the value fits: fine
    stack = fields["tech_stack"]
    stack.choices = "Azure"
    with pytest.raises(ValidationError, match="“AWS, GCP”"):  # the list, as people read it
        stack.full_clean()


def test_one_choice_becomes_several_choices_with_its_values_kept(fields):
    lead = LeadFactory(custom_fields={"plan": "Pro"})
    plan = fields["plan"]
    plan.kind = CustomField.Kind.MULTI_CHOICE
    plan.full_clean()
    plan.save()
    lead.refresh_from_db()
    assert lead.custom_fields == {"plan": ["Pro"]}


# --- storage: checked on every write -----------------------------------------------------------

def test_the_json_column_takes_only_defined_keys_and_valid_values(fields):
    with pytest.raises(ValidationError, match="not a custom field"):
        LeadFactory(custom_fields={"shoe_size": 44})
    with pytest.raises(ValidationError, match="not a number"):
        LeadFactory(custom_fields={"seats": "lots"})
    lead = LeadFactory(custom_fields={"seats": "1,200", "tech_stack": ["gcp", "AWS"],
                                      "partner": "yes", "contract_end": "2027-03-31",
                                      "plan": "pro", "contact_time": ""})
    lead.refresh_from_db()
    assert lead.custom_fields == {"tech_stack": ["AWS", "GCP"], "seats": 1200,
                                  "contract_end": "2027-03-31", "partner": True, "plan": "Pro"}


# --- the public form ---------------------------------------------------------------------------

def submit(visitor, **fields):
    """As a browser posts: several ticked boxes are repeated keys."""
    from urllib.parse import urlencode

    visitor.load()
    return visitor.client.post(visitor.url, urlencode({**visitor.hidden, **fields}, doseq=True),
                               content_type="application/x-www-form-urlencoded")


def test_the_form_shows_each_type_with_its_widget_in_its_place(visitor, on_form):
    html = visitor.load().content.decode()
    assert re.search(r'type="checkbox"[^>]*name="cf_tech_stack" value="AWS"', html)
    assert re.search(r'<select name="cf_plan"', html)
    assert re.search(r'<select name="cf_partner"', html)
    assert re.search(r'type="date" name="cf_contract_end"', html)
    assert re.search(r'name="cf_seats" inputmode="decimal"[^>]*required', html)
    assert re.search(r'<textarea name="cf_notes"', html)
    names = re.findall(r'name="(company|cf_tech_stack|email|message|cf_notes)"', html)
    assert names.index("cf_tech_stack") == names.index("company") + 1  # placed after company
    assert names.index("cf_notes") > names.index("message")  # the rest at the end


def test_a_valid_submission_stores_every_type(visitor, on_form):
    response = submit(visitor, **GOOD, cf_tech_stack=["GCP", "AWS"], cf_seats="250",
                              cf_contract_end="2027-01-31", cf_partner="no", cf_plan="Pro",
                              cf_contact_time="mornings", cf_notes="Two sites\nOne DC")
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Lead.objects.get().custom_fields == {
        "tech_stack": ["AWS", "GCP"], "seats": 250, "contract_end": "2027-01-31",
        "partner": False, "plan": "Pro", "contact_time": "mornings",
        "notes": "Two sites\nOne DC"}


@pytest.mark.parametrize(("typed", "message"), [
    ({"cf_seats": ""}, "Please fill in seats."),
    ({"cf_seats": "a dozen"}, "is not a number"),
    ({"cf_seats": "12", "cf_contract_end": "next spring"}, "is not a date"),
    ({"cf_seats": "12", "cf_plan": "Platinum"}, "Please pick one of the listed answers."),
    ({"cf_seats": "12", "cf_tech_stack": ["AWS", "Oracle"]}, "Please pick from the listed"),
    ({"cf_seats": "12", "cf_partner": "maybe"}, "Please answer yes or no."),
    ({"cf_seats": "12", "cf_contact_time": "x" * 256}, "at most 255 characters"),
])
def test_each_invalid_answer_gets_a_clear_message_and_no_lead(visitor, on_form, typed,
                                                              message):
    response = submit(visitor, **GOOD, **typed)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Lead.objects.exists()


def test_an_archived_field_leaves_the_form_and_comes_back_when_restored(visitor, on_form,
                                                                       fields, admin_client):
    lead = LeadFactory(custom_fields={"plan": "Pro"})
    admin_client.post("/admin/capture/customfield/", {
        "action": "archive", "_selected_action": [fields["plan"].pk]})
    fields["plan"].refresh_from_db()
    assert not fields["plan"].is_active
    assert 'name="cf_plan"' not in visitor.load().content.decode()
    lead.refresh_from_db()
    assert lead.custom_fields == {"plan": "Pro"}  # archiving keeps the data
    admin_client.post("/admin/capture/customfield/", {
        "action": "restore", "_selected_action": [fields["plan"].pk]})
    assert 'name="cf_plan"' in visitor.load().content.decode()


# --- the JSON API, webhooks and imports: by key ------------------------------------------------

def test_the_api_takes_custom_fields_by_key(client, partner_key, fields):
    response = api_post(client, partner_key, {**GOOD, "tech_stack": ["Azure"], "seats": 40,
                                              "partner": True})
    assert response.status_code == 201
    assert Lead.objects.get().custom_fields == {"tech_stack": ["Azure"], "seats": 40,
                                                "partner": True}


def test_unknown_keys_are_a_400_that_names_them(client, partner_key, fields):
    response = api_post(client, partner_key, {**GOOD, "shoe_size": 44, "favourite": "x"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Unknown fields: shoe_size, favourite."
    assert body["unknown"] == ["shoe_size", "favourite"]
    assert not Lead.objects.exists()


def test_an_invalid_custom_value_is_a_400_under_its_key(client, partner_key, fields):
    response = api_post(client, partner_key, {**GOOD, "seats": "many", "plan": "Gold"})
    assert response.status_code == 400
    errors = response.json()["fields"]
    assert "is not a number" in errors["seats"][0]
    assert "not one of the answers" in errors["plan"][0]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("answers", [[None, None], ["Azure", None], ["", "AWS"], [["AWS"]],
                                     [True]])
def test_a_list_of_answers_holding_a_non_answer_is_a_400(client, partner_key, fields, answers):
    # [null, null] was a 201 that stored nothing, against the published description (each
    # item one of the answers): a partner's mapping bug went unseen.
    response = api_post(client, partner_key, {**GOOD, "tech_stack": answers})
    assert response.status_code == 400
    assert "empty and null answers are not answers" in response.json()["fields"]["tech_stack"][0]
    assert not Lead.objects.exists()


def test_a_cell_of_answers_still_skips_the_blanks_between_commas(fields):
    from capture.custom_fields import coerce

    assert coerce(fields["tech_stack"], "AWS, , gcp,") == ["AWS", "GCP"]


@pytest.mark.parametrize(("key", "sent", "message"), [
    ("seats", "1_000", "“1_000” is not a number."),  # Python's grouping, not a number format
    ("contract_end", 20270101, "“20270101” is not a date: use YYYY-MM-DD."),  # a JSON number
    ("contract_end", "20270101", "“20270101” is not a date: use YYYY-MM-DD."),
    ("contract_end", "2027-W01-1", "“2027-W01-1” is not a date: use YYYY-MM-DD."),
])
def test_the_api_takes_numbers_and_dates_only_as_documented(client, partner_key, fields, key,
                                                            sent, message):
    response = api_post(client, partner_key, {**GOOD, key: sent})
    assert response.status_code == 400
    assert response.json()["fields"][key] == [message]
    assert not Lead.objects.exists()


def test_a_number_outside_the_field_s_limits_is_refused_everywhere(client, partner_key, fields,
                                                                   visitor, on_form):
    seats = fields["seats"]
    seats.min_value, seats.max_value = 1, 5000
    seats.save()
    for seats, message in ((-5, "Enter 1 or more."), (0.5, "Enter 1 or more."),
                           ("12,000", "Enter 5000 or less.")):
        response = api_post(client, partner_key, {**GOOD, "seats": seats})
        assert response.status_code == 400
        assert response.json()["fields"]["seats"] == [message]
    response = submit(visitor, **GOOD, cf_seats="-3")
    assert response.status_code == 400
    assert "Enter 1 or more." in response.content.decode()
    assert not Lead.objects.exists()
    assert api_post(client, partner_key, {**GOOD, "seats": 5000}).status_code == 201


def test_number_limits_are_checked_when_sales_ops_set_them(admin_client):
    response = admin_add(admin_client, label="Seats", key="seats", kind="number",
                         min_value="10", max_value="5")
    assert "The highest number must not be below the lowest." in response.content.decode()
    assert not CustomField.objects.exists()
    admin_add(admin_client, label="Plan", key="plan", kind="choice", choices="A\nB",
              min_value="1")
    assert CustomField.objects.get().min_value is None  # a limit means nothing for a choice


def test_a_choice_field_turned_into_text_drops_its_answers_without_asking(admin_client):
    """The answers still in the box when the type changes are the old ones: no need to empty
    it by hand (the values leads hold are converted as for any type change)."""
    plan = CustomField.objects.create(key="plan", label="Plan", kind="choice", choices="A\nB")
    response = admin_client.post(f"/admin/capture/customfield/{plan.pk}/change/", {
        "label": "Plan", "key": "plan", "kind": "short_text", "choices": "A\r\nB",
        "help_text": "", "position": 0, "is_active": "on"})
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.kind, plan.choices) == ("short_text", "")


def test_an_archived_field_is_not_accepted_by_the_api(client, partner_key, fields):
    fields["plan"].is_active = False
    fields["plan"].save()
    response = api_post(client, partner_key, {**GOOD, "plan": "Pro"})
    assert response.status_code == 400 and response.json()["unknown"] == ["plan"]


def test_a_webhook_maps_its_own_names_to_custom_keys(client, fields):
    source = WebhookSource.objects.create(
        slug="chat", name="Chat", secret="whsec_test",
        field_mapping={"visitor.email": "email", "answers.stack": "tech_stack",
                       "answers.users": "seats"})
    body = json.dumps({"visitor": {"email": "ada@example.com"},
                       "answers": {"stack": ["AWS", "Microsoft 365"], "users": "75"}}).encode()
    response = signed_post(client, source.slug, body)
    assert response.status_code == 200, response.content
    assert Lead.objects.get().custom_fields == {"tech_stack": ["AWS", "Microsoft 365"],
                                                "seats": 75}


def test_a_webhook_mapping_to_an_unknown_field_is_refused(fields):
    source = WebhookSource(slug="x", name="X", secret="s", field_mapping={"a": "nope"})
    with pytest.raises(ValidationError, match="Unknown lead fields: nope"):
        source.full_clean()
    source.field_mapping = {"a": "seats"}
    source.full_clean()


def test_an_import_reads_custom_columns_by_key_and_reports_bad_values(fields):
    rows = [
        {"email": "a@example.com", "tech_stack": "AWS; GCP", "seats": "30", "plan": "basic"},
        {"email": "b@example.com", "tech_stack": "Mainframe", "seats": "3"},
        {"email": "c@example.com", "Number of users": "12"},
    ]
    report = import_rows(rows, ImportOptions(mapping={"Number of users": "seats"}))
    assert (report.created, report.invalid) == (2, 1)
    assert "not one of the answers" in report.errors[0][1]["tech_stack"][0]
    assert Lead.objects.get(email="a@example.com").custom_fields == {
        "tech_stack": ["AWS", "GCP"], "seats": 30, "plan": "Basic"}
    assert Lead.objects.get(email="c@example.com").custom_fields == {"seats": 12}
    assert InboundEvent.objects.filter(status="rejected").count() == 1


def test_a_match_fills_empty_custom_fields_and_never_overwrites(client, partner_key, fields):
    api_post(client, partner_key, {**GOOD, "seats": 10})
    api_post(client, partner_key, {**GOOD, "seats": 99, "plan": "Pro"})
    assert Lead.objects.get().custom_fields == {"seats": 10, "plan": "Pro"}


# --- the lead page and the admin change form ---------------------------------------------------

def test_values_are_shown_escaped_on_the_lead_page_and_the_admin(admin_client, fields):
    evil = '<script>alert("x")</script>'
    lead = LeadFactory(custom_fields={"contact_time": evil, "tech_stack": ["AWS"]},
                       owner=None)
    page = admin_client.get(f"/leads/{lead.pk}/").content.decode()
    assert evil not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert re.search(r'data-key="tech_stack">AWS<', page)
    change = admin_client.get(f"/admin/capture/lead/{lead.pk}/change/").content.decode()
    assert evil not in change and "Custom fields" in change


def test_sales_ops_help_text_is_shown_escaped_wherever_the_field_is_edited(
        client, admin_client, fields, on_form):
    evil = "<script>alert(4)</script>"
    fields["seats"].help_text = evil
    fields["seats"].save()
    lead = LeadFactory(owner=None)
    for url in ("/q/quote/", f"/leads/{lead.pk}/", f"/admin/capture/lead/{lead.pk}/change/"):
        page = (client if url.startswith("/q/") else admin_client).get(url).content.decode()
        assert evil not in page, url
        assert "&lt;script&gt;alert(4)&lt;/script&gt;" in page, url


def _admin_form_data(admin_client, lead) -> dict:
    form = admin_client.get(f"/admin/capture/lead/{lead.pk}/change/").context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or name in ("owner",):
            continue
        if isinstance(value, list):
            data[name] = value
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        else:
            data[name] = value
    for prefix in ("interactions", "inbound_events", "identities"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return data


def test_the_admin_change_form_edits_custom_fields_with_the_same_checks(admin_client, fields):
    lead = LeadFactory(custom_fields={"seats": 5})
    data = _admin_form_data(admin_client, lead)
    assert data["cf_seats"] == "5"
    bad = admin_client.post(f"/admin/capture/lead/{lead.pk}/change/",
                            {**data, "cf_seats": "plenty"})
    assert bad.status_code == 200 and "is not a number" in bad.content.decode()
    ok = admin_client.post(f"/admin/capture/lead/{lead.pk}/change/",
                           {**data, "cf_seats": "12", "cf_tech_stack": ["GCP"]})
    assert ok.status_code == 302
    lead.refresh_from_db()
    assert lead.custom_fields == {"tech_stack": ["GCP"], "seats": 12}
    assert "cf_seats" in lead.staff_set_fields  # a later submission will not overwrite it


def test_saving_a_lead_in_the_admin_marks_only_what_changed_as_edited(admin_client, fields):
    from capture.models import Interaction

    lead = LeadFactory(custom_fields={"seats": 5, "tech_stack": ["AWS"], "partner": True,
                                      "plan": "Pro"})
    data = _admin_form_data(admin_client, lead)
    assert admin_client.post(f"/admin/capture/lead/{lead.pk}/change/", data).status_code == 302
    lead.refresh_from_db()
    assert not lead.staff_set_fields
    assert not Interaction.objects.filter(lead=lead, summary__contains="edited").exists()
    admin_client.post(f"/admin/capture/lead/{lead.pk}/change/", {**data, "cf_plan": "Basic"})
    lead.refresh_from_db()
    assert lead.staff_set_fields == ["cf_plan"]


def test_the_lead_page_edits_custom_fields_and_shows_errors(client, fields):
    rep = UserFactory(username="rita", is_staff=True, is_superuser=True)
    client.force_login(rep)
    lead = LeadFactory(owner=rep, custom_fields={"seats": 5})
    url = f"/leads/{lead.pk}/custom-fields/"
    bad = client.post(url, {"cf_seats": "a lot", "cf_plan": "Pro"})
    assert bad.status_code == 400 and "is not a number" in bad.content.decode()
    lead.refresh_from_db()
    assert lead.custom_fields == {"seats": 5}  # nothing half-written
    assert client.post(url, {"cf_seats": "7", "cf_plan": "Pro"}).status_code == 302
    lead.refresh_from_db()
    assert lead.custom_fields == {"seats": 7, "plan": "Pro"}
    assert lead.interactions.filter(summary__contains="cf_plan").exists()


def test_a_stored_submission_reads_again_with_all_its_ticked_boxes(visitor, on_form):
    from capture.channels.webform import normalise

    submit(visitor, **GOOD, cf_tech_stack=["AWS", "GCP"], cf_seats="12")
    event = InboundEvent.objects.get()
    assert event.payload["cf_tech_stack"] == ["AWS", "GCP"]
    assert normalise(event).custom == {"tech_stack": ["AWS", "GCP"], "seats": 12}


def test_an_import_dry_run_previews_the_custom_values(fields):
    report = import_rows([{"email": "a@example.com", "tech_stack": "GCP, AWS", "seats": "9"}],
                         ImportOptions(), dry_run=True)
    assert report.preview[0]["custom"] == "tech_stack: AWS, GCP; seats: 9"
    assert not Lead.objects.exists()


def test_the_timeline_shows_the_custom_answers_of_a_submission(visitor, on_form):
    submit(visitor, **GOOD, cf_tech_stack=["AWS", "GCP"], cf_seats="12", cf_partner="yes")
    body = Lead.objects.get().interactions.get().body
    assert "Tech stack: AWS, GCP" in body and "Seats: 12" in body  # labels, as people read
    assert "Through a partner?: Yes" in body and "True" not in body


def test_the_admin_pages_load_and_the_form_places_custom_fields(admin_client, on_form, fields):
    for url in ("/admin/capture/customfield/", "/admin/capture/customfield/add/",
                f"/admin/capture/customfield/{fields['seats'].pk}/change/",
                "/admin/capture/customfield/?is_active__exact=0&q=seats",
                f"/admin/capture/intakeform/{on_form.pk}/change/"):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(f"/admin/capture/intakeform/{on_form.pk}/change/").content.decode()
    assert "Custom fields on this form" in page and 'name="custom_field_slots-0-after"' in page


def test_sales_ops_place_a_field_on_a_form_in_the_admin_and_it_shows(admin_client, visitor,
                                                                     quote_form, fields):
    url = f"/admin/capture/intakeform/{quote_form.pk}/change/"
    form = admin_client.get(url).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    data.update({"custom_field_slots-TOTAL_FORMS": 1, "custom_field_slots-INITIAL_FORMS": 0,
                 "custom_field_slots-0-field": fields["seats"].pk,
                 "custom_field_slots-0-is_required": "on",
                 "custom_field_slots-0-after": "email",
                 "custom_field_slots-0-position": 0})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    html = visitor.load().content.decode()
    names = re.findall(r'name="(email|cf_seats|phone)"', html)
    assert names[:2] == ["email", "cf_seats"]
    assert submit(visitor, **GOOD).status_code == 400  # required on this form


def test_the_admin_lead_list_filters_by_choice_and_yes_no_fields(admin_client, fields):
    LeadFactory(first_name="Cloud", custom_fields={"tech_stack": ["GCP"], "partner": True})
    LeadFactory(first_name="Metal", custom_fields={"tech_stack": ["on-premises"]})
    page = admin_client.get("/admin/capture/lead/?cf_tech_stack=GCP").content.decode()
    assert "Cloud" in page and "Metal" not in page
    page = admin_client.get("/admin/capture/lead/?cf_partner=yes").content.decode()
    assert "Cloud" in page and "Metal" not in page


def test_an_unknown_yes_no_filter_value_is_ignored_not_read_as_no(admin_client, fields):
    LeadFactory(first_name="Cloud", custom_fields={"partner": True})
    LeadFactory(first_name="Metal", custom_fields={"partner": False})
    page = admin_client.get("/admin/capture/lead/?cf_partner=xyz").content.decode()
    assert "Cloud" in page and "Metal" in page


def test_a_key_too_long_gets_one_message_with_a_key_that_fits(admin_client):
    """A script posting a 60-letter key (a browser stops at 49) got Django's "at most 49
    characters" besides the key's own message, which says so and offers a key that fits."""
    typed = "how_many_seats_does_the_customer_expect_to_buy_in_the_first_year"
    response = admin_add(admin_client, label="Seats", key=typed)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["key"] == [
        "A key may hold only lower case letters (a-z), digits and _, starting with a letter, "
        f"at most 49 characters: “{typed}” could be “{typed[:49].rstrip('_')}”."]
    assert 'maxlength="49"' in response.content.decode()  # the browser's limit stays
    assert not CustomField.objects.exists()
    field = CustomField(label="Seats", key=typed)
    with pytest.raises(ValidationError) as refused:
        field.full_clean()
    assert len(refused.value.message_dict["key"]) == 1


def test_an_empty_key_gets_one_message(admin_client):
    response = admin_add(admin_client, label="Seats", key="")
    assert response.context["adminform"].form.errors["key"] == ["This field cannot be blank."]
    assert not CustomField.objects.exists()
