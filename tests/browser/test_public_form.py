"""Chromium fills /q/quote/ on a phone-sized screen; the lead then shows in the admin."""

import pytest
from django.contrib.auth.models import User

from capture.models import Lead

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def enrol_two_factor(page) -> None:
    """Read the key the enrolment page shows, as a person's authenticator app would."""
    from base64 import b32decode

    from django_otp.oath import totp

    page.wait_for_url("**/accounts/two-factor/**")
    secret = page.inner_text("#totp-secret")
    page.fill("#id_token", f"{totp(b32decode(secret)):06d}")
    page.click("#two-factor-form button[type=submit]")
    assert page.locator("#backup-codes li").count() == 10  # shown once, to be saved
    page.click("text=I have saved them: continue")


def test_a_visitor_submits_the_quote_form_and_sales_ops_find_the_lead(live_server, page,
                                                                       quote_form):
    quote_form.min_fill_seconds = 1
    quote_form.save()
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/q/quote/?utm_source=linkedin&utm_campaign=cloud")
    assert page.locator("h1").inner_text() == "Request a quote"
    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot["x"] + honeypot["width"] < 0  # the honeypot stays out of sight
    page.fill("#id_first_name", "Grace")
    page.fill("#id_last_name", "Hopper")
    page.fill("#id_email", "grace@navy.mil")
    page.fill("#id_phone", "(415) 555-2671")
    page.select_option("#id_service", "Cloud migration")
    page.fill("#id_message", "<b>Move 40 servers</b> to the cloud")
    page.check("#id_consent")
    page.wait_for_timeout(1100)  # a person takes longer than the minimum fill time
    page.click("text=Request a quote >> nth=-1")
    page.wait_for_url("**/q/quote/thanks/")
    assert "We have your request" in page.inner_text("[data-testid=thanks]")

    lead = Lead.objects.get()
    assert (lead.phone, lead.utm_source, lead.service) == ("+14155552671", "linkedin",
                                                           "Cloud migration")

    User.objects.create_superuser("boss", "boss@example.com", "a-long-password-42")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "a-long-password-42")
    page.click("input[type=submit]")
    enrol_two_factor(page)  # a superuser turns on two-factor sign-in first
    page.goto(f"{live_server.url}/admin/capture/lead/?q=grace")
    page.click("text=Grace Hopper")
    page.wait_for_url("**/change/**")
    page.locator("text=Submitted the form “Request a quote”").first.wait_for()
    assert page.input_value("#id_email") == "grace@navy.mil"
    assert console_errors == []


def test_validation_messages_show_next_to_the_fields(live_server, page, quote_form):
    page.goto(f"{live_server.url}/q/quote/")
    page.fill("#id_first_name", "Grace")
    page.fill("#id_email", "grace@")
    page.fill("#id_phone", "12")
    page.click("text=Request a quote >> nth=-1")
    text = page.inner_text("form")
    assert "Enter a valid email address" in text
    assert "does not look like a phone number" in text
    assert page.input_value("#id_first_name") == "Grace"  # what was typed is kept
    assert Lead.objects.count() == 0
