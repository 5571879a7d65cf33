"""The intake form's admin page refuses settings that would quietly break the public form, and
says where the form lives."""

from __future__ import annotations

import pytest

from capture.models import IntakeForm, Lead
from tests.conftest import FormVisitor

pytestmark = pytest.mark.django_db

ADD = "/admin/capture/intakeform/add/"


def form_data(**changes) -> dict:
    data = {"title": "Quote", "slug": "quote-2", "fields": ["first_name", "email", "phone"],
            "required_fields": ["email"], "submit_label": "Go", "thank_you_text": "Thanks",
            "response_promise": "soon", "min_fill_seconds": "3", "ack_subject": "Hi",
            "ack_body": "Hi", "default_region": "", "allowed_origins": "", "is_active": "on"}
    data.update(changes)
    return data


@pytest.mark.parametrize("region", ["XX", "zz", "1", "00"])
def test_a_default_region_phone_numbers_do_not_know_is_refused(admin_client, region):
    response = admin_client.post(ADD, form_data(default_region=region))
    assert response.status_code == 200
    assert "is not a country code phone numbers know" in response.content.decode()
    assert not IntakeForm.objects.exists()


def test_a_three_letter_region_is_refused(admin_client):
    response = admin_client.post(ADD, form_data(default_region="gbr"))
    assert response.status_code == 200 and not IntakeForm.objects.exists()


def test_a_lower_case_region_is_saved_in_capitals_and_reads_local_numbers(admin_client, client):
    # A browser keeps two letters of "gbr" (the box's maxlength): "gb" must still work.
    assert admin_client.post(ADD, form_data(default_region="gb")).status_code == 302
    assert IntakeForm.objects.get().default_region == "GB"
    IntakeForm.objects.update(min_fill_seconds=0)
    visitor = FormVisitor(client, "quote-2")
    page = visitor.load().content.decode()
    assert "With country code if you are outside GB." in page
    visitor.submit(first_name="Ada", email="ada@example.com", phone="020 7946 0018")
    assert Lead.objects.get().phone == "+442079460018"


@pytest.mark.parametrize(("origins", "message"), [
    ("notaurl", "Line 1, “notaurl”, is not an origin"),
    ("https://www.example.com\nhttps://ok.example.com/path",
     "Line 2, “https://ok.example.com/path”, has more than scheme, host and port: write only "
     "https://ok.example.com."),
    ("ftp://files.example.com", "Line 1, “ftp://files.example.com”, is not an origin"),
    ("https://shop.example.com:99999", "has a port that is not a number up to 65535"),
])
def test_allowed_origins_must_be_origins(admin_client, origins, message):
    response = admin_client.post(ADD, form_data(allowed_origins=origins))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not IntakeForm.objects.exists()


def test_real_origins_are_saved(admin_client):
    origins = "https://www.example.com\nhttp://localhost:8080/\n\nhttps://shop.example.org"
    assert admin_client.post(ADD, form_data(allowed_origins=origins)).status_code == 302
    assert IntakeForm.objects.get().origin_list == [
        "https://www.example.com", "http://localhost:8080", "https://shop.example.org"]


@pytest.mark.parametrize("seconds", ["601", "9223372036854775807"])
def test_min_fill_seconds_is_capped_at_ten_minutes(admin_client, seconds):
    response = admin_client.post(ADD, form_data(min_fill_seconds=seconds))
    assert response.status_code == 200
    assert "Choose at most 600 seconds (10 minutes)." in response.content.decode()
    assert not IntakeForm.objects.exists()
    assert admin_client.post(ADD, form_data(min_fill_seconds="600")).status_code == 302


def test_answers_differing_only_in_capitals_are_refused_and_repeats_shown_once(admin_client,
                                                                              client):
    response = admin_client.post(ADD, form_data(fields=["email", "budget"],
                                                budget_choices="Low\nHigh\nlow\nLOW"))
    assert response.status_code == 200 and not IntakeForm.objects.exists()
    assert ("Answers must differ in more than capitals: “Low” and “low” and “LOW”. Keep one of "
            "each.") in response.content.decode()
    assert admin_client.post(ADD, form_data(fields=["email", "budget"],
                                            budget_choices="Low\nHigh\nLow")).status_code == 302
    page = FormVisitor(client, "quote-2").load().content.decode()
    assert page.count('<option value="Low">') == 1


def test_the_slug_help_says_where_the_page_lives(admin_client, quote_form):
    add = admin_client.get(ADD).content.decode()
    assert "The page will live at /q/&lt;slug&gt;/" in add
    change = admin_client.get(f"/admin/capture/intakeform/{quote_form.pk}/change/")
    html = change.content.decode()
    assert "The page lives at /q/quote/." in html and "/q//" not in html


def test_a_misspelt_variable_in_the_acknowledgement_is_refused_beside_the_field(admin_client):
    """{{ firstname }} saved quietly and every prospect got "Hi ," (an unknown variable prints
    nothing); variables a {% for %} or {% with %} defines are fine."""
    response = admin_client.post(ADD, form_data(ack_subject="Thanks, {{ firstname }}"))
    assert response.status_code == 200
    assert ("{{ firstname }} is not a variable of this message (it would print nothing). Use "
            "{{ first_name }}, {{ last_name }}, {{ company }}, {{ message }}, "
            "{{ response_promise }}, {{ form_title }}.") in response.content.decode()
    assert not IntakeForm.objects.exists()
    body = ("Hi {{ first_name|default:'there' }},{% with co=company %} {{ co }}{% endwith %}"
            "{% for word in message.split %} {{ word }}{% endfor %}")
    assert admin_client.post(ADD, form_data(ack_body=body)).status_code == 302


@pytest.mark.parametrize(("text", "said"), [
    ("Hi {{ first_name", "A “{{” is not closed with “}}”"),
    ("Hi {% if company {{ company }}", "A “{%” is not closed with “%}”"),
])
def test_an_unclosed_variable_or_tag_is_refused_not_sent_as_typed(admin_client, text, said):
    """Django prints "Hi {{ first_name" as it stands: prospects would have read it."""
    response = admin_client.post(ADD, form_data(ack_subject=text))
    assert response.status_code == 200 and said in response.content.decode()
    assert not IntakeForm.objects.exists()


def test_a_required_field_left_off_the_form_is_named_as_its_box_is(admin_client):
    """The message said "budget, urgency": names sales ops never see on the page."""
    response = admin_client.post(ADD, form_data(required_fields=["email", "budget", "urgency"]))
    assert response.status_code == 200
    assert ("Required fields must be on the form: tick Budget range, When do you need it? "
            "under Fields too, or untick them here.") in response.content.decode()
    assert not IntakeForm.objects.exists()


def test_the_embed_snippet_is_a_working_form_with_this_form_s_fields(admin_client, client):
    """It showed '<form …> … </form>' and sent sales ops to the README; the snippet is now the
    form itself, and a site listed in allowed origins that pastes it gets its leads."""
    import html
    import re

    form = IntakeForm.objects.create(
        slug="demo-day", title="Demo day", fields=["first_name", "email", "company_size",
                                                   "message"],
        required_fields=["email"], consent_text="Contact me <about> this", consent_required=True,
        allowed_origins="https://shop.example", submit_label="Book a demo")
    page = admin_client.get(f"/admin/capture/intakeform/{form.pk}/change/").content.decode()
    snippet = html.unescape(re.findall(r"<pre>(.*?)</pre>", page, re.S)[-1])
    assert "README" not in page.split("Embed on your site")[-1][:2000]
    assert re.findall(r'name="([a-z_]+)"', snippet) == [
        "first_name", "email", "company_size", "message", "consent", "website"]
    assert '<input name="email" type="email" required>' in snippet
    assert "<option>11-50</option>" in snippet and "Contact me &lt;about&gt; this" in snippet
    assert "<button>Book a demo</button>" in snippet
    action = re.search(r'action="([^"]+)"', snippet).group(1)
    assert action.endswith("/q/demo-day/")
    posted = client.post("/q/demo-day/", {"first_name": "Ada", "email": "ada@shop.example",
                                          "company_size": "11-50", "message": "Hi",
                                          "consent": "on", "website": ""},
                         HTTP_ORIGIN="https://shop.example")
    assert posted.status_code == 302
    assert Lead.objects.get().company_size == "11-50"


def test_a_form_without_an_email_field_says_its_visitors_get_no_acknowledgement(admin_client):
    """Saved with its acknowledgement (the default subject is filled in), a phone-only form
    said nothing, and its new visitors were never acknowledged: there is no address to write
    to. The form is saved, and the page says so."""
    phone_only = form_data(fields=["first_name", "phone"], required_fields=["phone"])
    page = admin_client.post(ADD, phone_only, follow=True).content.decode()
    assert IntakeForm.objects.filter(slug="quote-2").exists()
    assert "does not ask for an email address" in page
    page = admin_client.post(ADD, form_data(slug="quote-3"), follow=True).content.decode()
    assert "does not ask for an email address" not in page
    page = admin_client.post(ADD, {**phone_only, "slug": "quote-4", "ack_subject": ""},
                             follow=True).content.decode()
    assert "does not ask for an email address" not in page  # no acknowledgement wanted


@pytest.mark.parametrize("typed", ["thanks.html", "thank-you.php", "danke.htm?from=form"])
def test_a_page_name_as_redirect_is_refused_not_sent_to_a_site_of_that_name(admin_client,
                                                                            typed):
    """"thanks.html" was saved as https://thanks.html: every visitor was sent after
    submitting to a site that does not exist."""
    response = admin_client.post(ADD, form_data(redirect_url=typed))
    assert response.status_code == 200 and not IntakeForm.objects.exists()
    assert "write the whole address" in response.content.decode()
    assert admin_client.post(ADD, form_data(redirect_url="www.example.com/thanks.html")
                             ).status_code == 302
    assert IntakeForm.objects.get().redirect_url == "https://www.example.com/thanks.html"
