"""Chromium: a rep answers a WhatsApp prospect from the lead page; the page says what the
channel allows, shows a form error on the reply tab, then the reply with its status."""

from __future__ import annotations

import pytest
from django.utils import timezone

from capture.intake import IntakeInput, PlatformAccount, receive_lead
from capture.models import Lead
from tests.browser.test_queue import PASSWORD, shoot, sign_in
from tests.routing.conftest import make_rep
from tests.stub_http import StubAPI

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def whatsapp_api(settings):
    stub = StubAPI(default=(200, {"messaging_product": "whatsapp",
                                  "messages": [{"id": "wamid.BROWSER1"}]}))
    settings.META_GRAPH_URL = f"{stub.url}/v21.0"
    settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
    yield stub
    stub.close()


def test_a_rep_replies_on_whatsapp_from_the_lead_page(live_server, page, whatsapp_api,
                                                      sync_tasks):
    from routing.models import Team

    team = Team.objects.create(name="Sales")
    alice = make_rep("alice", team).user
    alice.set_password(PASSWORD)
    alice.save()
    lead = receive_lead(IntakeInput(
        channel="chat", fields={"phone": "+14155552671", "first_name": "Grace",
                                "message": "A quote for the cloud move?"},
        summary="WhatsApp: A quote for the cloud move?", notify_prospect=False,
        occurred_at=timezone.now(), kind="message",
        identity=PlatformAccount("whatsapp", "14155552671", "Grace Hopper",
                                 "106540352242922"))).lead
    Lead.objects.filter(pk=lead.pk).update(owner=alice)
    page.set_viewport_size({"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice")

    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.click("text=Reply on their channel")
    panel = page.locator("#reply-panel")
    assert "Inside the 24-hour window" in panel.inner_text()
    assert "SMS is not configured" in panel.inner_text()
    page.click("#reply-form button[type=submit]")  # nothing written
    page.wait_for_load_state()
    assert page.locator("#reply-form").is_visible()  # the reply tab is shown again
    assert "Write the reply." in page.locator("#reply-form").inner_text()

    page.fill("#reply-form textarea[name=body]", "Hi Grace, happy to. When suits you?")
    page.click("#reply-form button[type=submit]")
    page.wait_for_url(f"**/leads/{lead.pk}/")
    assert "WhatsApp reply by" in page.locator("#timeline").inner_text()
    assert whatsapp_api.requests[-1].json["text"]["body"] == (
        "Hi Grace, happy to. When suits you?")
    page.click("text=Reply on their channel")
    page.wait_for_selector("#act-reply.show", state="visible")
    assert "sent" in page.locator("#reply-history").inner_text()
    assert "not yet" not in page.locator("#first-response").inner_text()
    shoot(page, "lead-reply")
    assert not [e for e in errors if "status of 400" not in e]  # the 400 was the error page
