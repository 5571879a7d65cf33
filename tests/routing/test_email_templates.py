"""Email templates: sales ops write them in the admin; the rep picks one on the lead page, sees it
filled in for the lead, edits it, sends it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from capture.privacy import is_suppressed
from followup.models import STEP_VARIABLES, EmailTemplate, OutboundMessage
from followup.services import email_template_context, fill_email_template
from followup.suppression import unsubscribe_url
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def templates(db):
    EmailTemplate.objects.create(name="After a call", subject="Our call, {{ company }}",
                                 body="Hi {{ first_name }},\nthanks.\n{{ owner_signature }}")
    EmailTemplate.objects.create(name="Old one", subject="Hello", body="Old", is_active=False)


def test_the_email_tab_offers_the_active_templates_filled_in_for_the_lead(as_alice, alice,
                                                                           templates):
    lead = lead_for(alice.user, first_name="Grace", company="Navy & Co", email="g@navy.mil")
    response = as_alice.get(f"/leads/{lead.pk}/")
    offered = response.context["email_templates"]
    assert [t["name"] for t in offered] == ["After a call"]
    assert offered[0]["subject"] == "Our call, Navy & Co"
    assert offered[0]["body"] == "Hi Grace,\nthanks.\nAlice"
    html = response.content.decode()
    assert 'data-subject="Our call, Navy &amp; Co"' in html and ">Old one<" not in html


def test_lead_fields_are_escaped_in_the_page_and_a_lead_without_email_gets_no_picker(
        as_alice, alice, templates):
    lead = lead_for(alice.user, first_name='"><script>x()</script>', email="x@example.com")
    html = as_alice.get(f"/leads/{lead.pk}/").content.decode()
    assert "<script>x()" not in html and "&quot;&gt;&lt;script&gt;x()" in html
    no_email = lead_for(alice.user, email="", phone="+14155550100")
    assert 'id="email-template"' not in as_alice.get(f"/leads/{no_email.pk}/").content.decode()


def test_the_rep_sends_the_edited_text(as_alice, alice, templates, sync_tasks,
                                      django_capture_on_commit_callbacks):
    lead = lead_for(alice.user, first_name="Grace", email="g@navy.mil")
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.post(f"/leads/{lead.pk}/email/", {"subject": "Our call, Navy",
                                                   "body": "Hi Grace,\nthanks again."})
    assert mail.outbox[-1].subject == "Our call, Navy" and mail.outbox[-1].to == ["g@navy.mil"]


def test_the_admin_refuses_a_template_that_does_not_parse(admin_client):
    response = admin_client.post("/admin/followup/emailtemplate/add/", {
        "name": "Broken", "subject": "Hi {{ first_name", "body": "{% if %}", "is_active": "on"})
    html = response.content.decode()
    assert response.status_code == 200 and "This template has an error" in html
    assert not EmailTemplate.objects.filter(name="Broken").exists()


def test_the_unsubscribe_variable_is_the_prospects_working_link(as_alice, alice, client,
                                                                sync_tasks):
    """{{ unsubscribe_url }} was accepted on save but printed nothing in the rep's email: the
    prospect read "Unsubscribe here: " and no link. It is now the lead's own link, which
    unsubscribes them."""
    EmailTemplate.objects.create(name="Offer", subject="Our offer, {{ first_name }}",
                                 body="Hi {{ first_name }}.\nNot for you? {{ unsubscribe_url }}")
    lead = lead_for(alice.user, first_name="Grace", email="g@navy.mil")
    body = as_alice.get(f"/leads/{lead.pk}/").context["email_templates"][0]["body"]
    link = re.search(r"Not for you\? (\S+)$", body)
    assert link is not None and link.group(1) == unsubscribe_url(lead)
    client.logout()
    client.post(urlsplit(link.group(1)).path)
    assert is_suppressed(lead, "email")


def test_the_help_text_names_exactly_the_variables_a_rep_email_fills_in(alice):
    """The help text left out {{ unsubscribe_url }}, which saving accepted; every variable it
    names now prints something for a lead, and saving accepts exactly those."""
    named = re.findall(r"\{\{ (\w+) \}\}", EmailTemplate._meta.get_field("body").help_text)
    assert sorted(set(named)) == sorted(STEP_VARIABLES)
    lead = lead_for(alice.user, first_name="Grace", last_name="Hopper", company="Navy",
                    email="g@navy.mil")
    context = email_template_context(lead)
    for name in named:
        template = EmailTemplate(name=name, subject=name, body=f"{{{{ {name} }}}}")
        template.full_clean()
        assert fill_email_template(template, context)["body"].strip(), name


def test_an_email_sent_from_a_template_carries_the_one_click_unsubscribe_headers(
        as_alice, alice, templates, sync_tasks, django_capture_on_commit_callbacks, client,
        admin_client):
    """A rep's email from a sales-ops template went without List-Unsubscribe, unlike the
    sequence's: the mail client showed no unsubscribe button on the company's commercial mail.
    It now carries the sequence's headers, and the mail client's one-click POST unsubscribes."""
    lead = lead_for(alice.user, first_name="Grace", email="g@navy.mil")
    picked = EmailTemplate.objects.get(name="After a call")
    page = as_alice.get(f"/leads/{lead.pk}/").content.decode()
    assert '<input type="hidden" name="template" id="id_email-template">' in page
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.post(f"/leads/{lead.pk}/email/", {
            "subject": "Our call, Navy", "body": "Hi Grace,\nthanks again.",
            "template": picked.pk})
    [sent] = mail.outbox
    link = unsubscribe_url(lead)
    assert sent.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.reply_to[0] == alice.user.email  # still the rep's own email
    row = OutboundMessage.objects.get(kind="reply")
    shown = admin_client.get(f"/admin/followup/outboundmessage/{row.pk}/change/")
    assert "From email template" in shown.content.decode() and "After a call" in \
        shown.content.decode()

    client.logout()
    response = client.post(urlsplit(link).path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and is_suppressed(lead, "email")


def test_an_email_the_rep_typed_carries_no_list_unsubscribe_headers(
        as_alice, alice, templates, sync_tasks, django_capture_on_commit_callbacks):
    lead = lead_for(alice.user, first_name="Grace", email="g@navy.mil")
    with django_capture_on_commit_callbacks(execute=True):
        as_alice.post(f"/leads/{lead.pk}/email/", {"subject": "Quick question",
                                                   "body": "Hi Grace", "template": ""})
    [sent] = mail.outbox
    assert "List-Unsubscribe" not in sent.extra_headers
    assert "List-Unsubscribe-Post" not in sent.extra_headers


@pytest.mark.parametrize("template", ["999999", "abc"])
def test_an_email_naming_a_template_that_is_not_there_is_refused_plainly(
        as_alice, alice, templates, template):
    lead = lead_for(alice.user, first_name="Grace", email="g@navy.mil")
    response = as_alice.post(f"/leads/{lead.pk}/email/", {"subject": "Hi", "body": "Hi",
                                                          "template": template})
    assert response.status_code == 400  # the lead page again, the form saying why
    assert "That email template" in response.content.decode()
    assert not OutboundMessage.objects.filter(kind="reply").exists() and mail.outbox == []
