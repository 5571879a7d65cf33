"""Chromium: the chat widget embedded on a customer's page served from a second origin
(127.0.0.1, a tiny http.server with a strict Content-Security-Policy); a visitor chats, a rep
in another browser context answers from the lead page; the offline path; a refused site.
A screenshot of the widget goes to docs/screenshots/ for the README."""

from __future__ import annotations

import socket
import threading
from datetime import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from capture.models import Lead
from chat.models import ChatWidget, Conversation
from followup.models import OutboundMessage
from routing.models import RepProfile, RoutingRule, Team
from tests.browser.test_queue import PASSWORD, shoot, sign_in
from tests.routing.conftest import make_rep

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PORTS = range(18450, 18499)  # this worktree's share of the machine's ports


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("No free port in 18450-18498")


class HostSite:
    """A customer's site on its own origin: one page embedding the widget, a strict CSP."""

    def __init__(self, crm_url: str):
        self.crm_url = crm_url
        self.key = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/host.css":  # the site's own styles, which must stay its own
                    body = b"button { background: rgb(255, 105, 180); font-size: 40px; }"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/css")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                body = (
                    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                    "<link rel='stylesheet' href='/host.css'>"
                    "<title>Acme pricing</title></head><body><h1>Pricing</h1>"
                    "<p>Our managed cloud plans.</p><button>Host button</button>"
                    f"<script src='{site.crm_url}/static/chat/widget.js' "
                    f"data-widget='{site.key}' async></script></body></html>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                # No 'unsafe-inline', no 'unsafe-eval': only leadcrm's origin is allowed.
                self.send_header("Content-Security-Policy",
                                 f"default-src 'none'; script-src {site.crm_url}; "
                                 f"style-src 'self' {site.crm_url}; connect-src {site.crm_url}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.origin = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/pricing?utm_source=linkedin&utm_campaign=q3") -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site(live_server):
    site = HostSite(live_server.url)
    yield site
    site.close()


@pytest.fixture
def chat_setup(db, host_site, settings):
    settings.CHAT_POLL_SECONDS = 1
    settings.QUEUE_POLL_SECONDS = 1
    team = Team.objects.create(name="Sales")
    alice = make_rep("alice", team, work_days=list(range(7)), work_starts=time(0),
                     work_ends=time(23, 59, 59)).user
    alice.set_password(PASSWORD)
    alice.save()
    RoutingRule.objects.create(name="Everyone", action="round_robin", team=team,
                               is_default=True)
    widget = ChatWidget.objects.create(name="Acme", allowed_origins=host_site.origin,
                                       team=team, no_answer_seconds=60,
                                       greeting="Hi! Ask us anything about our plans.")
    host_site.key = widget.key
    return {"widget": widget, "alice": alice, "team": team}


def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_a_visitor_chats_and_a_rep_answers_from_the_lead_page(browser, live_server, host_site,
                                                             chat_setup):
    visitor_context = browser.new_context(viewport={"width": 390, "height": 844})
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(15_000)
    visitor_errors = console_errors(visitor)
    visitor.goto(host_site.url())

    launcher = visitor.get_by_role("button", name="Chat with us")
    launcher.click()
    assert launcher.get_attribute("aria-expanded") == "true"
    dialog = visitor.get_by_role("dialog", name="Acme")
    assert "Online" in dialog.inner_text()
    assert "Ask us anything" in dialog.inner_text()
    # The pre-chat fields have labels; the first one has the focus.
    visitor.get_by_label("First name").fill("Ada")
    visitor.get_by_label("Email").fill("ada@example.com")
    message = visitor.get_by_label("Your message")
    message.fill('Do you do Kubernetes? <img src=x onerror="window.pwned=1">')
    message.press("Enter")
    visitor.locator(".lc-msg-visitor").wait_for()
    assert "<img src=x" in visitor.locator(".lc-msg-visitor").inner_text()  # text, not markup
    assert visitor.evaluate("window.pwned") is None
    # The host page's own styles do not reach the widget, and the widget's do not leak out.
    style = "b => getComputedStyle(b).backgroundColor + ' ' + getComputedStyle(b).fontSize"
    assert visitor.eval_on_selector("body > button", style) == "rgb(255, 105, 180) 40px"
    send_style = visitor.get_by_role("button", name="Send", exact=True).evaluate(style)
    assert "255, 105, 180" not in send_style and "40px" not in send_style
    shoot(visitor, "chat-widget")

    lead = Lead.objects.get()
    assert (lead.email, lead.channel, lead.utm_source) == ("ada@example.com", "chat", "linkedin")
    assert lead.owner_id == chat_setup["alice"].pk

    rep_context = browser.new_context(viewport={"width": 1280, "height": 900})
    rep = rep_context.new_page()
    rep.set_default_timeout(15_000)
    rep_errors = console_errors(rep)
    sign_in(rep, live_server, "alice")
    waiting = rep.locator("#waiting-chats")
    assert "Ada" in waiting.inner_text() and "waiting" in waiting.inner_text()
    waiting.get_by_role("link", name="Ada").click()
    rep.wait_for_url(f"**/leads/{lead.pk}/")
    assert "Do you do Kubernetes?" in rep.inner_text("#chat-log")
    assert rep.evaluate("window.pwned") is None
    assert "Visitor waiting" in rep.inner_text("#chat-waiting")
    assert "not yet" in rep.inner_text("#first-response")
    assert rep.locator(".countdown[data-respond-by]").count() == 1
    rep.fill("#chat-reply-text", "Hi Ada, yes: managed Kubernetes on any cloud.")
    rep.press("#chat-reply-text", "Enter")
    rep.locator("#chat-log .chat-msg-rep").wait_for()
    # The first reply stopped the clock: the header says so without a reload, and no
    # countdown runs on towards "overdue".
    assert rep.inner_text("#sla-state") == "SLA: Met"
    assert "text-bg-success" in rep.get_attribute("#sla-state", "class")
    assert rep.locator(".countdown[data-respond-by]").count() == 0
    first_response = rep.inner_text("#first-response")
    assert "not yet" not in first_response and "after capture" in first_response

    # The visitor sees the answer at the next poll, without a reload.
    visitor.locator(".lc-msg-rep:not(.lc-greeting)").wait_for()
    assert "managed Kubernetes" in visitor.locator(".lc-msg-rep:not(.lc-greeting)").inner_text()
    shoot(visitor, "chat-widget")

    # The visitor writes again: the rep's page shows it without a reload.
    visitor.get_by_label("Your message").fill("Great, can we talk tomorrow?")
    visitor.get_by_label("Your message").press("Enter")
    rep.locator("#chat-log >> text=can we talk tomorrow").wait_for()

    # A reload of the host page continues the same conversation.
    visitor.reload()
    visitor.get_by_role("button", name="Chat with us").click()
    visitor.locator(".lc-msg-rep:not(.lc-greeting)").wait_for()
    assert visitor.locator(".lc-msg").count() == 4  # greeting + 3 messages
    assert Conversation.objects.count() == 1

    # The lead's timeline has the transcript, and the first response is stamped.
    rep.reload()
    timeline = rep.inner_text("#timeline")
    assert "Chat: Do you do Kubernetes?" in timeline
    assert "Chat reply: Hi Ada" in timeline
    assert "not yet" not in rep.inner_text("#first-response")
    shoot(rep, "chat-lead")
    lead.refresh_from_db()
    assert lead.first_response_at is not None

    # Escape closes the dialog and gives the focus back to the launcher.
    visitor.get_by_label("Your message").press("Escape")
    assert visitor.get_by_role("button", name="Chat with us").get_attribute(
        "aria-expanded") == "false"
    assert not [e for e in visitor_errors + rep_errors if "Content Security Policy" in e]
    assert visitor_errors == [] and rep_errors == []
    visitor_context.close()
    rep_context.close()


def test_nobody_online_turns_the_chat_into_an_acknowledged_lead(page, host_site, chat_setup):
    RepProfile.objects.update(is_available=False)
    errors = console_errors(page)
    page.goto(host_site.url())
    page.get_by_role("button", name="Chat with us").click()
    dialog = page.get_by_role("dialog", name="Acme")
    dialog.get_by_text("Nobody is available to chat right now").wait_for()
    assert "Offline" in dialog.inner_text()
    page.locator("#lc-contact-email").fill("grace@example.com")
    page.locator("#lc-contact-first_name").fill("Grace")
    page.get_by_label("Your message").fill("Please call me about 40 laptops")
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_text("Thank you! We will get back to you at grace@example.com").wait_for()

    lead = Lead.objects.get()
    assert (lead.email, lead.first_name) == ("grace@example.com", "Grace")
    assert "40 laptops" in lead.message
    ack = OutboundMessage.objects.get(lead=lead, kind=OutboundMessage.Kind.ACKNOWLEDGEMENT)
    assert ack.to_address == "grace@example.com" and "40 laptops" in ack.body
    assert Conversation.objects.get().status == "offline"
    assert errors == []


def test_a_send_whose_answer_was_lost_is_sent_again_as_the_same_message(page, host_site,
                                                                       chat_setup):
    answers = []

    def lose_the_first_answer(route):
        if route.request.method != "POST" or answers:
            route.continue_()
            return
        answers.append(route.fetch().status)  # leadcrm has the message and answers...
        route.abort("connectionreset")  # ...but the answer never reaches the visitor

    page.route(lambda url: url.endswith("/messages/"), lose_the_first_answer)
    page.goto(host_site.url())
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_label("Your message").fill("Do you ship to Norway?")
    page.get_by_label("Your message").press("Enter")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert answers == [201]
    assert "check your connection" in alert.inner_text()
    assert "Failed to fetch" not in alert.inner_text()
    assert page.get_by_label("Your message").input_value() == "Do you ship to Norway?"

    page.get_by_role("button", name="Send", exact=True).click()
    page.locator(".lc-msg-visitor").wait_for()
    assert alert.is_hidden()
    assert Conversation.objects.count() == 1 and Lead.objects.count() == 1
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.OWNER_ALERT).count() == 1
    assert page.locator(".lc-msg-visitor").count() == 1


def test_after_nobody_answered_the_widget_and_the_lead_page_agree(browser, live_server,
                                                                  host_site, chat_setup):
    widget = chat_setup["widget"]
    widget.no_answer_seconds = 2
    widget.save()
    visitor_context = browser.new_context(viewport={"width": 390, "height": 844})
    visitor = visitor_context.new_page()
    visitor.set_default_timeout(15_000)
    errors = console_errors(visitor)
    visitor.goto(host_site.url())
    visitor.get_by_role("button", name="Chat with us").click()
    status = visitor.locator(".lc-status")
    # Empty until the widget's first poll answers: waited for, not read at once (on a loaded
    # machine the read came first and the test failed with '' == 'Online').
    visitor.locator(".lc-status", has_text="Online").wait_for()
    visitor.get_by_label("Your message").fill("Anyone there?")
    visitor.get_by_label("Your message").press("Enter")
    visitor.locator(".lc-msg-visitor:not(.lc-pending)").wait_for()
    lead = Lead.objects.get()

    rep_context = browser.new_context(viewport={"width": 1280, "height": 900})
    rep = rep_context.new_page()
    rep.set_default_timeout(15_000)
    sign_in(rep, live_server, "alice")
    rep.goto(f"{live_server.url}/leads/{lead.pk}/")
    rep.locator("#chat-waiting").wait_for()
    assert rep.locator("#chat-offline").is_hidden()

    # Nobody answered: the header says what the body says.
    visitor.get_by_text("Nobody is available to chat right now").wait_for()
    assert status.inner_text() == "Offline"
    visitor.locator("#lc-contact-email").fill("ada@example.com")
    visitor.get_by_role("button", name="Send my details").click()
    visitor.get_by_text("Thank you! We will get back to you at ada@example.com").wait_for()
    assert status.inner_text() == "Offline"

    # The lead page stops counting the visitor's wait once the chat is handed over.
    rep.locator("#chat-offline").wait_for(state="visible")
    assert rep.locator("#chat-waiting").is_hidden()
    rep.wait_for_timeout(1500)  # a poll later, it stays so
    assert rep.locator("#chat-waiting").is_hidden()
    assert errors == []
    visitor_context.close()
    rep_context.close()


@pytest.mark.parametrize("width", [390, 360])
def test_the_demo_page_fits_a_phone_and_its_chat_button_can_be_tapped(browser, live_server,
                                                                      chat_setup, width):
    from chat.demo import seed_chat

    widget, _ = seed_chat()
    context = browser.new_context(viewport={"width": width, "height": 780}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = console_errors(page)
    page.goto(f"{live_server.url}/chat/demo/")
    launcher = page.get_by_role("button", name="Chat with us")
    launcher.wait_for()
    # Nothing is wider than the screen (the snippet's long URL wraps), so nothing is off it.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = launcher.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    launcher.tap()
    page.get_by_role("dialog", name=widget.name).wait_for()
    assert launcher.get_attribute("aria-expanded") == "true"
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert errors == []
    context.close()


def test_a_site_that_is_not_allowed_gets_no_widget(page, host_site, chat_setup):
    widget = chat_setup["widget"]
    widget.allowed_origins = "https://www.someone-else.test"
    widget.save()
    failed, blocked = [], []
    page.on("requestfailed", lambda r: failed.append(r.url) if "/chat/w/" in r.url else None)
    page.on("console", lambda m: blocked.append(m.text) if "CORS policy" in m.text else None)
    page.goto(host_site.url())
    page.wait_for_function("() => !document.querySelector('[data-leadcrm-chat]')")
    # leadcrm answered 403 without CORS headers, so the browser gave the page nothing.
    assert any(url.endswith("/config/") for url in failed)
    assert blocked and "Access-Control-Allow-Origin" in blocked[0]
    assert page.get_by_role("button", name="Chat with us").count() == 0
    assert not Lead.objects.exists()


def test_a_message_whose_intake_fails_is_kept_and_shown_once_it_is_taken_in(
        page, host_site, chat_setup, monkeypatch):
    import capture.intake as intake
    from capture.models import InboundEvent

    real = intake._take_in

    def broken(event, data=None):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(intake, "_take_in", broken)
    page.goto(host_site.url())
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_label("Your message").fill("Is this thing on?")
    page.get_by_label("Your message").press("Enter")
    page.locator(".lc-pending").wait_for()  # stored, shown as sent, not yet taken in
    assert InboundEvent.objects.get().status == "failed"

    monkeypatch.setattr(intake, "_take_in", real)
    assert intake.retry_failed_events() == 1  # the one-minute sweeper
    page.locator(".lc-msg-visitor:not(.lc-pending)").wait_for()
    assert page.locator(".lc-pending").count() == 0
    assert Lead.objects.get().interactions.filter(body="Is this thing on?").exists()
    assert Conversation.objects.get().lead is not None


def chat_on_lead(widget) -> Lead:
    """A visitor's first message, taken in: a lead with a chat waiting for an answer."""
    from chat import services

    conversation, _ = services.receive_visitor_message(
        widget=widget, conversation=None, text="Do you support SSO?",
        client_id="first-message-1", fields={"first_name": "Ada"})
    return conversation.lead


def alice_on_lead_page(browser, live_server, lead: Lead):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    rep = context.new_page()
    rep.set_default_timeout(15_000)
    sign_in(rep, live_server, "alice")
    rep.goto(f"{live_server.url}/leads/{lead.pk}/")
    return context, rep


def test_a_double_clicked_chat_reply_reaches_the_visitor_once(browser, live_server,
                                                              chat_setup):
    lead = chat_on_lead(chat_setup["widget"])
    context, rep = alice_on_lead_page(browser, live_server, lead)
    rep.fill("#chat-reply-text", "Yes: SAML and OIDC.")
    rep.dblclick("#chat-reply button[type=submit]")
    rep.locator("#chat-log .chat-msg-rep").first.wait_for()
    rep.wait_for_timeout(1500)  # the second click's request would have answered by now
    assert rep.locator("#chat-log .chat-msg-rep").count() == 1
    assert rep.locator("#chat-error").is_hidden()  # no second request, nor its failure
    assert lead.interactions.filter(summary__startswith="Chat reply").count() == 1
    context.close()


def test_a_chat_reply_after_signing_out_says_so_and_keeps_the_text(browser, live_server,
                                                                   chat_setup):
    lead = chat_on_lead(chat_setup["widget"])
    context, rep = alice_on_lead_page(browser, live_server, lead)
    context.clear_cookies()  # signed out meanwhile (another tab, "log out everywhere")
    rep.fill("#chat-reply-text", "Yes: SAML and OIDC.")
    rep.press("#chat-reply-text", "Enter")
    error = rep.locator("#chat-error")
    error.wait_for(state="visible")
    # Said in words, not the browser's "Unexpected token '<'" about the sign-in page's HTML.
    assert "signed out" in error.inner_text() and "token" not in error.inner_text()
    assert rep.input_value("#chat-reply-text") == "Yes: SAML and OIDC."
    assert not lead.interactions.filter(summary__startswith="Chat reply").exists()
    context.close()


def test_the_lead_page_of_an_ended_chat_has_no_script_error(page, live_server, chat_setup):
    """Seen on a lead whose chat had ended (no reply box): rep.js stopped at the missing form,
    so the card never polled again, and the console showed a TypeError."""
    from tests.routing.pages import lead_for

    lead = lead_for(chat_setup["alice"], chat_setup["team"], first_name="Ended", channel="chat")
    Conversation.objects.create(widget=chat_setup["widget"], lead=lead, status="closed")
    errors = console_errors(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    assert "This chat has ended" in page.inner_text("#chat-panel")
    # The card polls on (CHAT_POLL_SECONDS is 1 here).
    with page.expect_response(lambda r: f"/chat/leads/{lead.pk}/messages/" in r.url):
        pass
    assert errors == []
