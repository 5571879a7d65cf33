"""The email template's preview in the admin: the template filled in for a real lead, as the
rep sees it on the lead page, for the seeded sales-ops login."""

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from capture.models import Lead
from followup.models import EmailTemplate
from followup.services import email_templates_for
from followup.suppression import unsubscribe_url
from tests.factories import LeadFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-1")
    call_command("seed_demo", verbosity=0)
    client.force_login(User.objects.get(username="ops"))
    return client


@pytest.fixture
def offer(db):
    return EmailTemplate.objects.create(
        name="Offer", subject="An offer for {{ first_name }} at {{ company }}",
        body="Hi {{ first_name }} {{ last_name }},\n{{ owner_signature }}\n"
             "Not for you? {{ unsubscribe_url }}")


def preview(client, template, lead=""):
    url = f"/admin/followup/emailtemplate/{template.pk}/preview/"
    return client.get(url, {"lead": lead} if lead else {})


def test_sales_ops_see_the_template_filled_in_for_a_real_lead_as_the_rep_does(ops_client,
                                                                              offer):
    change = ops_client.get(f"/admin/followup/emailtemplate/{offer.pk}/change/").content.decode()
    assert f'href="/admin/followup/emailtemplate/{offer.pk}/preview/"' in change
    lead = Lead.objects.exclude(first_name="").exclude(company="").exclude(owner=None).first()
    response = preview(ops_client, offer, lead.pk)
    page = response.content.decode()
    assert response.status_code == 200
    assert f"An offer for {lead.first_name} at {lead.company}" in page
    assert f"Hi {lead.first_name} {lead.last_name}," in page
    offered = next(t for t in email_templates_for(lead) if t["id"] == offer.pk)
    assert response.context["filled"] == offered  # the lead page's own text, not a copy
    assert f"Not for you? {unsubscribe_url(lead)}" in page
    assert "There is no lead" not in page and "No lead matches" not in page


def test_the_newest_lead_by_default_and_another_by_name(ops_client, offer):
    newest = LeadFactory(first_name="Grace", last_name="Hopper", company="US Navy")
    assert "An offer for Grace at US Navy" in preview(ops_client, offer).content.decode()
    LeadFactory(first_name="Ada", last_name="Lovelace", company="Analytical Engines")
    page = preview(ops_client, offer, "grace hopper").content.decode()
    assert "An offer for Grace at US Navy" in page and f"#{newest.pk}" in page
    page = preview(ops_client, offer, "nobody-like-this").content.decode()
    assert ("No lead matches “nobody-like-this” (a lead id, or a name, email, phone or "
            "company). Showing the newest lead, Ada Lovelace") in page
    assert "An offer for Ada at Analytical Engines" in page


def test_what_the_prospect_typed_is_shown_escaped(ops_client, offer):
    lead = LeadFactory(first_name="<script>alert(1)</script>", company="A & B")
    page = preview(ops_client, offer, lead.pk).content.decode()
    assert "<script>alert(1)" not in page
    assert "An offer for &lt;script&gt;alert(1)&lt;/script&gt; at A &amp; B" in page


def test_an_empty_database_says_so(client, offer):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = preview(client, offer, "7")
    assert response.status_code == 200
    page = response.content.decode()
    assert "There is no lead #7. There are no leads to show instead." in page
    assert "There is no lead to preview with yet." in page


def test_only_users_who_may_view_email_templates_see_the_preview(ops_client, offer, client):
    lead = Lead.objects.first()
    client.force_login(User.objects.get(username="manager"))  # staff; reads leads only
    assert preview(client, offer, lead.pk).status_code == 403
    client.force_login(User.objects.get(username="alice"))  # a rep: not in the admin
    assert preview(client, offer, lead.pk).status_code == 302


def test_a_template_that_does_not_render_says_why(ops_client):
    broken = EmailTemplate.objects.create(name="Broken", subject="Hi", body="{% if %}")
    page = preview(ops_client, broken).content.decode()
    assert re.search(r"This template has an error: .+", page)
