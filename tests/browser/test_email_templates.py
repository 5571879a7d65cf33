"""Chromium: the rep picks an email template on the lead page, edits it, and sends it."""

from __future__ import annotations

import pytest
from django.core import mail

from followup.models import EmailTemplate
from tests.browser.test_queue import sign_in, team  # noqa: F401 - the fixture
from tests.routing.pages import lead_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_picking_a_template_fills_the_email_for_the_lead(live_server, page, team,  # noqa: F811
                                                        sync_tasks):
    EmailTemplate.objects.create(name="Could not reach you",
                                 subject="Your request for {{ company }}",
                                 body="Hi {{ first_name }},\nI tried to call you.")
    lead = lead_for(team["alice"], team["team"], first_name="Grace", company="US Navy",
                    email="grace@navy.mil")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("button[data-bs-target='#act-email']")
    page.select_option("#email-template", label="Could not reach you")
    assert page.input_value("#act-email [name=subject]") == "Your request for US Navy"
    assert page.input_value("#act-email [name=body]") == "Hi Grace,\nI tried to call you."
    page.fill("#act-email [name=body]", "Hi Grace,\nI tried to call you twice.")
    page.click("#act-email button[type=submit]")
    page.wait_for_url(f"**/leads/{lead.pk}/")
    page.click("button[data-bs-target='#act-email']")
    assert "accepted" in page.inner_text("#email-history")  # the Email tab shows it went
    assert mail.outbox[-1].subject == "Your request for US Navy"
    assert mail.outbox[-1].body == "Hi Grace,\nI tried to call you twice."
    # Sent from a template: the mail client's own unsubscribe button (followup.md).
    assert mail.outbox[-1].extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert errors == []
