"""Headers on every page type: a Content-Security-Policy without 'unsafe-inline', no inline
script or style in what we render, framing only for the public form pages and only by their
form's allowed origins, HttpOnly/SameSite cookies, HSTS under HTTPS."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from capture.models import Lead
from followup.suppression import unsubscribe_url
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a <script> without src
    re.compile(r"<[a-z][^>]*\sstyle=", re.I),  # a style= attribute
    re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I),  # an onclick= (or any on*) handler
    re.compile(r"<style[\s>]", re.I),  # a <style> block
]


def directives(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.fixture
def staff_pages(quote_form):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    lead = LeadFactory(first_name="Grace", email="grace@navy.mil")
    client = Client()
    client.force_login(admin)
    return client, lead, quote_form


def staff_urls(lead: Lead, form) -> list[str]:
    return ["/queue/", f"/leads/{lead.pk}/", "/dashboard/", "/accounts/security/", "/admin/",
            "/admin/capture/lead/", f"/admin/capture/lead/{lead.pk}/change/",
            f"/admin/capture/intakeform/{form.pk}/change/", "/admin/capture/privacyrequest/erase/",
            "/admin/capture/retentionpolicy/", "/admin/followup/sequence/",
            "/admin/capture/channelsettings/"]


def assert_strict(response, url: str) -> None:
    assert response.status_code == 200, url
    policy = directives(response)
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header, url
    assert policy["default-src"] == "default-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["script-src"].startswith("script-src 'self'")
    html = response.content.decode()
    for pattern in INLINE:
        assert not pattern.search(html), f"{url}: {pattern.search(html).group(0)}"


def test_every_staff_page_has_the_strict_policy_and_cannot_be_framed(staff_pages):
    client, lead, form = staff_pages
    for url in staff_urls(lead, form):
        response = client.get(url)
        assert_strict(response, url)
        assert directives(response)["frame-ancestors"] == "frame-ancestors 'none'", url
        assert response["X-Frame-Options"] == "DENY", url


def test_public_pages_have_the_strict_policy(client, quote_form):
    lead = LeadFactory(email="grace@navy.mil")
    for url in ("/accounts/login/", "/accounts/password_reset/",
                unsubscribe_url(lead).removeprefix("http://127.0.0.1:8000"), "/admin/login/"):
        assert_strict(client.get(url), url)


def test_the_form_pages_may_be_framed_by_their_allowed_origins_only(client, quote_form):
    quote_form.allowed_origins = "https://www.example.com\nhttps://shop.example.org"
    quote_form.redirect_url = "https://www.example.com/thank-you"
    quote_form.save()
    for url in ("/q/quote/", "/q/quote/thanks/"):
        response = client.get(url)
        assert_strict(response, url)
        assert "X-Frame-Options" not in response
        assert directives(response)["frame-ancestors"] == (
            "frame-ancestors 'self' https://www.example.com https://shop.example.org")
    # After submitting, the browser may follow the form's redirect (form-action).
    assert "https://www.example.com" in directives(client.get("/q/quote/"))["form-action"]


def test_a_form_without_allowed_origins_is_framed_by_our_own_pages_only(client, quote_form):
    response = client.get("/q/quote/")
    assert directives(response)["frame-ancestors"] == "frame-ancestors 'self'"
    assert directives(response)["form-action"] == "form-action 'self'"


def test_error_and_json_answers_carry_the_policy_too(client, quote_form):
    for url in ("/q/no-such-form/", "/healthz"):
        assert "unsafe-inline" not in client.get(url)["Content-Security-Policy"]


def test_cookies_are_httponly_and_samesite(client, quote_form):
    client.get("/q/quote/")
    csrf = client.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    user = UserFactory(username="dave")
    user.set_password("a-long-password-1")
    user.save()
    client.post("/accounts/login/", {"username": "dave", "password": "a-long-password-1"})
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


def test_https_answers_carry_hsts_and_secure_cookies_in_production(client, quote_form,
                                                                   settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.CSRF_COOKIE_SECURE = True
    response = client.get("/q/quote/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert client.cookies["csrftoken"]["secure"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
