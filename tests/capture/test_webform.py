"""The public quote-request page /q/<slug>/: render, submit, validation, abuse, attribution."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from capture.forms import sign_started
from capture.models import BlockRule, InboundEvent, Lead

pytestmark = pytest.mark.django_db

GOOD = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.mil",
        "phone": "(415) 555-2671", "company": "US Navy", "message": "We need a cloud move."}


def test_the_page_renders_the_chosen_fields_and_an_unticked_consent_box(visitor):
    html = visitor.load().content.decode()
    for name in ("first_name", "email", "phone", "company_size", "budget", "service"):
        assert f'name="{name}"' in html
    assert 'name="job_title"' not in html  # not chosen for this form
    consent = re.search(r'<input[^>]*name="consent"[^>]*>', html).group(0)
    assert "checked" not in consent
    assert "I agree to be contacted about my request." in html
    assert "/static/bootstrap/css/bootstrap.min.css" in html  # served locally, no CDN
    # Nothing loaded from another host (a random CSRF token once contained "cdn").
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_an_inactive_or_unknown_form_is_a_404(client, quote_form):
    assert client.get("/q/nope/").status_code == 404
    quote_form.is_active = False
    quote_form.save()
    assert client.get("/q/quote/").status_code == 404


def test_a_submission_redirects_to_thanks_and_creates_the_lead(visitor, client):
    response = visitor.submit(**GOOD, consent="on")
    assert response.status_code == 302
    assert response["Location"] == "/q/quote/thanks/"
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email, lead.phone) == ("Grace", "grace@navy.mil",
                                                         "+14155552671")
    assert lead.channel == "web_form" and lead.form.slug == "quote" and lead.source == "quote"
    assert lead.has_consent and lead.consent_text == "I agree to be contacted about my request."
    assert lead.consent_ip == "127.0.0.1" and lead.consent_at is not None
    event = InboundEvent.objects.get()
    assert event.status == InboundEvent.Status.PROCESSED and event.lead == lead
    assert b"grace%40navy.mil" in bytes(event.body)
    thanks = client.get(response["Location"])
    assert "We have your request" in thanks.content.decode()


def test_no_consent_ticked_means_no_consent_recorded(visitor):
    visitor.submit(**GOOD)
    assert not Lead.objects.get().has_consent


def test_a_required_consent_box_must_be_ticked(visitor, quote_form):
    quote_form.consent_required = True
    quote_form.save()
    response = visitor.submit(**GOOD)
    assert response.status_code == 400
    assert "Please tick the box to agree" in response.content.decode()
    assert Lead.objects.count() == 0


def test_utm_click_ids_referrer_and_landing_page_are_captured_unseen(visitor):
    visitor.load("?utm_source=google&utm_medium=cpc&utm_campaign=q4&gclid=abc123",
                 HTTP_REFERER="https://www.google.com/")
    visitor.submit(**GOOD)
    lead = Lead.objects.get()
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.gclid) == (
        "google", "cpc", "q4", "abc123")
    assert lead.referrer == "https://www.google.com/"
    assert lead.landing_page.startswith("http://testserver/q/quote/?utm_source=google")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "grace@", "Enter a valid email address, like name@company.com."),
        ("phone", "12", "This does not look like a phone number."),
        # A London number on a form read in the US: the visitor is told what to add.
        ("phone", "020 7946 0958", "This is not a valid US phone number: from another "
         "country, start with + and its country code, for example +44 20 7946 0958."),
        ("first_name", "", "Please fill in your first name."),
        ("email", "", "Please fill in your email."),
        ("company", "C" * 201, "Ensure this value has at most 200 characters"),
        ("budget", "a million", "Please pick one of the listed answers."),
    ],
)
def test_each_validation_error_is_a_human_message_and_nothing_is_saved(
    visitor, field, value, message
):
    response = visitor.submit(**{**GOOD, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Lead.objects.count() == 0 and InboundEvent.objects.count() == 0


def test_a_display_name_email_is_accepted_and_fills_the_name(visitor, quote_form):
    quote_form.required_fields = ["email"]
    quote_form.save()
    visitor.submit(email='"Ada Lovelace" <Ada@Example.com>')
    lead = Lead.objects.get()
    assert (lead.email, lead.email_key, lead.first_name, lead.last_name) == (
        "Ada@Example.com", "ada@example.com", "Ada", "Lovelace")


def test_a_second_submission_with_the_phone_in_another_format_adds_to_the_lead(client,
                                                                               quote_form):
    from tests.conftest import FormVisitor

    FormVisitor(client).submit(**GOOD)
    FormVisitor(client).submit(first_name="Grace", email="g.hopper@other.org",
                               phone="+1 415 555 2671", message="Any news?")
    lead = Lead.objects.get()
    assert lead.interactions.filter(kind="submission").count() == 2


def test_a_double_clicked_submit_is_one_submission(visitor):
    visitor.submit(**GOOD)
    second = visitor.submit(**GOOD)  # the same rendered page: the same submission id
    assert second.status_code == 302
    assert InboundEvent.objects.count() == 1
    assert Lead.objects.get().interactions.count() == 1


def test_a_corrected_resubmission_from_the_same_page_is_taken_in(visitor):
    """Back, fix the email, submit again: the same page's submission id, other answers."""
    visitor.submit(**{**GOOD, "email": "grace@navy.mli"})
    again = visitor.submit(**{**GOOD, "message": "We need a cloud move. (Email fixed.)"})
    assert again.status_code == 302
    assert InboundEvent.objects.count() == 2
    lead = Lead.objects.get()  # the same phone: the same person
    assert lead.interactions.filter(kind="submission").count() == 2
    assert "(Email fixed.)" in lead.interactions.latest("id").body
    assert visitor.submit(**{**GOOD, "message": "We need a cloud move. (Email fixed.)"}
                          ).status_code == 302  # and its double click is still one
    assert InboundEvent.objects.count() == 2


def test_a_listed_site_typed_with_capitals_and_its_default_port_is_recognised(csrf_client,
                                                                              quote_form):
    quote_form.allowed_origins = "HTTPS://WWW.Acme.example:443/\n"
    quote_form.save()
    response = csrf_client.post("/q/quote/", {**GOOD, "submission_id": "c0ffee"},
                                HTTP_ORIGIN="https://www.acme.example")
    assert response.status_code == 302 and Lead.objects.count() == 1


def test_a_listed_site_s_corrected_resubmission_is_taken_in(csrf_client, quote_form):
    quote_form.allowed_origins = "https://www.acme.example\n"
    quote_form.save()
    page = {"submission_id": "b9e1c0de5f6a4b3c9d8e7f6a5b4c3d2e"}  # from the site's own form
    for email in ("grace@navy.mil", "grace@navy.mil", "grace.hopper@navy.mil"):
        response = csrf_client.post("/q/quote/", {**GOOD, **page, "email": email},
                                    HTTP_ORIGIN="https://www.acme.example")
        assert response.status_code == 302
    assert InboundEvent.objects.count() == 2
    assert Lead.objects.get().interactions.filter(kind="submission").count() == 2


def test_a_listed_site_s_post_with_a_field_to_fix_is_taken_in_once_fixed_on_our_page(
        csrf_client, quote_form, time_machine):
    # The site's own form carries neither our start token nor a submission id. The page we
    # return with the field to fix lacked them too, so the corrected submission from it was
    # refused as spam ("form start token missing"): the person was told "We could not
    # accept this submission".
    import html as html_lib

    quote_form.allowed_origins = "https://www.acme.example\n"
    quote_form.save()
    time_machine.move_to(timezone.now(), tick=False)
    response = csrf_client.post("/q/quote/", {**GOOD, "phone": "12"},
                                HTTP_ORIGIN="https://www.acme.example")
    assert response.status_code == 400
    page = response.content.decode()
    assert "This does not look like a phone number." in page
    hidden = {name: html_lib.unescape(value) for name, value in
              re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page)}
    fields = {**GOOD, **hidden}
    time_machine.shift(timedelta(seconds=20))  # the visitor fixes the phone
    response = csrf_client.post("/q/quote/", {**fields, "phone": "(415) 555-2671"},
                                HTTP_ORIGIN="http://testserver")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Lead.objects.get().phone == "+14155552671"
    assert not InboundEvent.objects.filter(status="rejected").exists()
    # A double click on the corrected page is still one submission.
    csrf_client.post("/q/quote/", {**fields, "phone": "(415) 555-2671"},
                     HTTP_ORIGIN="http://testserver")
    assert InboundEvent.objects.count() == 1


def test_lead_fields_a_site_s_own_form_posts_but_ours_does_not_show_are_kept_on_the_timeline(
        csrf_client, quote_form):
    quote_form.allowed_origins = "https://www.acme.example\n"
    quote_form.save()
    assert "industry" not in quote_form.fields
    response = csrf_client.post("/q/quote/", {**GOOD, "industry": "Retail", "utm_source": "ad"},
                                HTTP_ORIGIN="https://www.acme.example")
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.industry == ""  # the form's settings say what it asks
    body = lead.interactions.get().body
    assert "Industry (not on this form): Retail" in body
    assert "not on this form): ad" not in body  # attribution is the form's own hidden field


def test_markup_is_stored_as_typed_and_shown_escaped(visitor, admin_client):
    visitor.submit(**{**GOOD, "first_name": "<script>alert(1)</script>"})
    lead = Lead.objects.get()
    assert lead.first_name == "<script>alert(1)</script>"
    html = admin_client.get(f"/admin/capture/lead/{lead.pk}/change/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sales_ops_texts_on_the_form_are_shown_as_typed(visitor, quote_form):
    quote_form.title = "<i>Quote</i>"
    quote_form.submit_label = "<b>Send</b> {{ request.path }}"  # crispy renders labels as templates
    quote_form.consent_text = "<u>I agree</u>"
    quote_form.service_choices = "<s>Cloud</s>"
    quote_form.save()
    html = visitor.load().content.decode()
    assert 'value="&lt;b&gt;Send&lt;/b&gt; {{ request.path }}"' in html
    for text in ("<i>Quote</i>", "<b>Send</b>", "<u>I agree</u>", "<s>Cloud</s>", "/q/quote/ "):
        assert text not in html


def test_the_honeypot_rejects_and_keeps_the_event(visitor):
    response = visitor.submit(**GOOD, website="http://spam.example")
    assert response.status_code == 400
    assert "We could not accept this submission" in response.content.decode()
    assert Lead.objects.count() == 0
    event = InboundEvent.objects.get()
    assert (event.status, event.reason) == ("rejected", "honeypot field filled")


def test_a_submission_faster_than_the_minimum_fill_time_is_rejected(visitor, quote_form):
    quote_form.min_fill_seconds = 30
    quote_form.save()
    response = visitor.submit(**GOOD)
    assert response.status_code == 400 and Lead.objects.count() == 0
    assert "after the page loaded" in InboundEvent.objects.get().reason


def test_a_slow_enough_submission_passes_the_fill_time(visitor, quote_form):
    import time_machine

    quote_form.min_fill_seconds = 30
    quote_form.save()
    visitor.load()
    later = timezone.now() + timedelta(hours=20)  # the page left open all day
    with time_machine.travel(later, tick=True):
        response = visitor.submit(**GOOD)
    assert response.status_code == 302 and Lead.objects.count() == 1


def test_a_start_token_older_than_a_day_is_refused_and_the_page_gives_a_new_one(visitor):
    """A bot that fetched the page once cannot skip the fill time for ever; a person whose page
    was open since yesterday is asked to send again, and can."""
    import time_machine

    visitor.load()
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=True):
        refused = visitor.submit(**GOOD)
        assert refused.status_code == 400 and Lead.objects.count() == 0
        old = visitor.hidden["started"]
        visitor.hidden.update(dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"',
                                              refused.content.decode())))
        assert visitor.hidden["started"] != old  # a new token in the page sent back
        assert visitor.submit(**GOOD).status_code == 302
    assert Lead.objects.count() == 1


def test_a_forged_start_token_is_rejected(visitor, quote_form):
    visitor.load()
    visitor.hidden["started"] = sign_started(quote_form.pk + 1)
    assert visitor.submit(**GOOD).status_code == 400
    assert InboundEvent.objects.get().reason == \
        "form start token missing, forged or older than a day"


def test_blocked_domains_and_phrases_reject(visitor):
    BlockRule.objects.create(kind=BlockRule.Kind.EMAIL_DOMAIN, value="@Spam.Example")
    BlockRule.objects.create(kind=BlockRule.Kind.PHRASE, value="SEO services")
    refused = visitor.submit(**{**GOOD, "email": "x@mail.spam.example"})
    assert refused.status_code == 400
    # Waiting never gets past a block rule: the page does not ask them to try again.
    page = refused.content.decode()
    assert "Please write to us directly." in page and "submit again" not in page
    visitor.load()
    assert visitor.submit(**{**GOOD, "message": "Cheap seo SERVICES!"}).status_code == 400
    reasons = sorted(InboundEvent.objects.values_list("reason", flat=True))
    assert reasons == ["blocked email domain spam.example", "blocked phrase “seo services”"]
    assert Lead.objects.count() == 0


@pytest.mark.parametrize("message", [
    "Win big at CRYPTO   Casino", "crypto\u00a0casino", "crypto\u200b casino", "crypto\ncasino",
    "\uff23\uff32\uff39\uff30\uff34\uff2f casino",  # full-width letters
])
def test_a_blocked_phrase_is_not_slipped_past_with_other_spaces_or_letters(visitor, message):
    BlockRule.objects.create(kind=BlockRule.Kind.PHRASE, value="crypto casino")
    assert visitor.submit(**{**GOOD, "message": message}).status_code == 400
    assert Lead.objects.count() == 0


def test_the_rate_limit_answers_429_after_the_limit(client, quote_form, settings):
    from tests.conftest import FormVisitor

    settings.FORM_RATE_LIMIT_PER_MINUTE = 3
    codes = [FormVisitor(client).submit(**{**GOOD, "email": f"p{i}@x.co",
                                           "phone": ""}).status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Lead.objects.count() == 3
    assert InboundEvent.objects.filter(status="rejected", reason="rate limit exceeded").count() == 2


def test_a_flood_past_the_limit_gets_short_answers_and_is_not_stored_row_by_row(
        client, quote_form, settings):
    from tests.conftest import FormVisitor

    settings.FORM_RATE_LIMIT_PER_MINUTE = 3
    answers = [FormVisitor(client).submit(**{**GOOD, "email": f"p{i}@x.co", "phone": ""})
               for i in range(20)]
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 17 and all(int(a["Retry-After"]) >= 1 for a in refused)
    # The first refused ones get the form back with what was typed, and are kept...
    assert all('name="email"' in a.content.decode() for a in refused[:3])
    # ...the flood beyond gets a short answer, and only a few rows are written for it all.
    assert all(a.content.decode() == "Too many submissions from your network. Please try "
               "again in a minute." for a in refused[3:])
    assert InboundEvent.objects.filter(reason="rate limit exceeded").count() == 3


def test_a_post_without_the_csrf_token_gets_a_clear_403(csrf_client, quote_form):
    response = csrf_client.post("/q/quote/", GOOD)
    assert response.status_code == 403
    assert "reload the page" in response.content.decode().lower()
    assert Lead.objects.count() == 0


def test_a_post_with_the_csrf_token_passes_the_check(csrf_client, quote_form):
    from tests.conftest import FormVisitor

    response = FormVisitor(csrf_client).submit(**GOOD)
    assert response.status_code == 302 and Lead.objects.count() == 1


def test_an_allowed_site_may_post_its_own_html_form_without_our_token(csrf_client, quote_form):
    quote_form.allowed_origins = "https://www.acme.example\n"
    quote_form.save()
    ok = csrf_client.post("/q/quote/", GOOD, HTTP_ORIGIN="https://www.acme.example")
    assert ok.status_code == 302
    other = csrf_client.post("/q/quote/", {**GOOD, "email": "o@x.co"},
                             HTTP_ORIGIN="https://evil.example")
    assert other.status_code == 403
    assert Lead.objects.count() == 1


def test_non_utf8_bytes_are_a_form_answer_not_a_500_nor_a_mangled_lead(client, quote_form):
    from tests.conftest import FormVisitor

    v = FormVisitor(client)
    v.load()
    from urllib.parse import urlencode

    body = urlencode(v.hidden).encode() + b"&first_name=Gr%FF%FEace&email=g%40x.co"
    response = client.post("/q/quote/", body, content_type="application/x-www-form-urlencoded")
    # It was taken in as "Gr\ufffd\ufffdace": the page again now, saying to send it again.
    assert response.status_code == 400
    html = response.content.decode()
    assert "could not read the form" in html and "not in UTF-8" in html and 'name="email"' in html
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/x-www-form-urlencoded; charset=ISO-8859-1",
     b"first_name=Jos%E9&last_name=Mu%F1oz&email=jose%40example.com"),
    # A browser never declares the charset of a form post; it fills the _charset_ field.
    ("application/x-www-form-urlencoded",
     b"_charset_=windows-1252&first_name=Jos%E9&last_name=Mu%F1oz&email=jose%40example.com"),
])
def test_a_listed_site_s_latin_1_form_keeps_the_visitor_s_accents(csrf_client, quote_form,
                                                                   content_type, body):
    # A site whose pages are Latin-1 posts its own form here: Django refused the declared
    # charset (a bare 400 page) and read an undeclared one as "Jos\ufffd".
    quote_form.allowed_origins = "https://www.acme.example\n"
    quote_form.save()
    response = csrf_client.generic("POST", "/q/quote/", body, content_type=content_type,
                                   HTTP_ORIGIN="https://www.acme.example")
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("José", "Muñoz")


def test_an_oversized_body_gets_the_form_again_saying_what_to_do(client, quote_form):
    response = client.post("/q/quote/", {"message": "x" * 400_000})
    assert response.status_code == 413
    html = response.content.decode()
    assert "longer than this form takes (256 KB)" in html and 'name="email"' in html
    assert Lead.objects.count() == 0


def test_the_form_and_thanks_page_may_be_embedded_in_an_iframe(client, quote_form):
    assert "X-Frame-Options" not in client.get("/q/quote/")
    assert client.get("/admin/login/")["X-Frame-Options"] == "DENY"


def test_the_redirect_url_replaces_the_thanks_page(visitor, quote_form):
    quote_form.redirect_url = "https://www.acme.example/thank-you"
    quote_form.save()
    assert visitor.submit(**GOOD)["Location"] == "https://www.acme.example/thank-you"


def test_the_acknowledgement_is_sent_after_a_real_submission(visitor, sync_tasks,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        visitor.submit(**GOOD)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["grace@navy.mil"]
