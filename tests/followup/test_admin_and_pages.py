"""Sales ops in the admin (sequences, preview with a real lead, the outbox) and the queue's
notification list."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.template import TemplateSyntaxError
from django.test import Client

from followup.models import EmailTemplate, Notification, OutboundMessage, Sequence
from followup.sequences import enrol_lead
from followup.services import render_text
from routing.services import escalate_due_breaches
from tests.factories import LeadFactory, UserFactory
from tests.followup.conftest import submit, sweep_at

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_sales_ops_build_a_sequence_with_steps_in_the_admin(ops_client):
    response = ops_client.post("/admin/followup/sequence/add/", {
        "name": "Webinar no-shows", "is_active": "on", "position": "10",
        "trigger": "no_response", "no_response_hours": "48", "sources": "",
        "window_starts": "09:00", "window_ends": "17:00", "then_nurture": "on",
        "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-delay": "2", "steps-0-delay_unit": "hours",
        "steps-0-channel": "email", "steps-0-subject": "Sorry we missed you",
        "steps-0-body": "Hi {{ first_name }}",
        "steps-1-position": "2", "steps-1-delay": "1", "steps-1-delay_unit": "business_days",
        "steps-1-channel": "task", "steps-1-subject": "Call", "steps-1-body": "Call them",
    })
    assert response.status_code == 302, response.context["errors"] if response.context else ""
    sequence = Sequence.objects.get(name="Webinar no-shows")
    assert [s.channel for s in sequence.steps.all()] == ["email", "task"]


def test_a_broken_step_template_is_refused_with_a_clear_error(ops_client):
    response = ops_client.post("/admin/followup/sequence/add/", {
        "name": "Broken", "trigger": "on_arrival", "no_response_hours": "24", "position": "1",
        "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-delay": "1", "steps-0-delay_unit": "days",
        "steps-0-channel": "email", "steps-0-subject": "Hi", "steps-0-body": "{% if %}",
    })
    assert response.status_code == 200 and "This template has an error" in \
        response.content.decode()
    assert not Sequence.objects.filter(name="Broken").exists()


EARLY_SEQUENCE = {
    "name": "Early birds", "trigger": "on_arrival", "no_response_hours": "24", "position": "1",
    "window_starts": "06:00", "window_ends": "07:30",
    "steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "0",
    "steps-0-position": "1", "steps-0-delay": "1", "steps-0-delay_unit": "days",
    "steps-0-channel": "email", "steps-0-subject": "Hi", "steps-0-body": "Hello",
    "steps-1-position": "2", "steps-1-delay": "1", "steps-1-delay_unit": "days",
    "steps-1-channel": "sms", "steps-1-subject": "", "steps-1-body": "Hello",
}


@pytest.mark.parametrize("channel", ["sms", "task"])
def test_an_sms_or_call_step_outside_any_time_it_may_go_out_is_refused(ops_client, channel):
    response = ops_client.post("/admin/followup/sequence/add/",
                               {**EARLY_SEQUENCE, "steps-1-channel": channel})
    html = response.content.decode()
    assert response.status_code == 200
    assert "SMS and call tasks go out only between 08:00 and 21:00" in html
    assert "(06:00-07:30) has no time in there" in html
    assert not Sequence.objects.filter(name="Early birds").exists()
    emails_only = {**EARLY_SEQUENCE, "steps-TOTAL_FORMS": "1"}
    assert ops_client.post("/admin/followup/sequence/add/", emails_only).status_code == 302


@pytest.mark.parametrize(("starts", "ends"), [("22:00", "06:00"), ("09:00", "09:00")])
def test_an_inverted_window_is_the_one_error_shown(ops_client, starts, ends):
    for steps in ("1", "2"):  # emails only; an email and an SMS
        response = ops_client.post("/admin/followup/sequence/add/", {
            **EARLY_SEQUENCE, "steps-TOTAL_FORMS": steps, "window_starts": starts,
            "window_ends": ends})
        html = response.content.decode()
        assert "The window must end after it starts." in html
        assert "SMS and call tasks go out only" not in html


@pytest.mark.parametrize(("changes", "said"), [
    ({"steps-0-delay": "2000000000"}, "Keep the delay within a year: at most 365 days."),
    ({"steps-0-delay": "9000", "steps-0-delay_unit": "hours"},
     "Keep the delay within a year: at most 8760 hours."),
    ({"steps-0-delay": "261", "steps-0-delay_unit": "business_days"},
     "Keep the delay within a year: at most 260 business days."),
    ({"trigger": "no_response", "no_response_hours": "2000000000"},
     "Keep the wait within a year: at most 8760 hours."),
])
def test_a_delay_past_any_calendar_is_refused_not_left_to_fail_every_lead(ops_client, changes,
                                                                         said):
    """Saved, such a sequence made every matching lead's intake fail (OverflowError adding the
    delay to the date), so the leads it should follow up were never created."""
    response = ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", **changes})
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not Sequence.objects.filter(name="Early birds").exists()
    a_year = {"steps-0-delay": "365", "steps-0-delay_unit": "days", "trigger": "no_response",
              "no_response_hours": "8760"}
    assert ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", **a_year}).status_code == 302


def test_a_reps_mobile_number_is_checked_and_stored_as_e164(ops_client):
    """Hot-lead alerts are texted to it: a number Twilio cannot read failed every such alert."""
    from followup.models import SenderProfile

    rep = UserFactory(username="rita")
    response = ops_client.post("/admin/followup/senderprofile/add/", {
        "user": rep.pk, "mobile_phone": "not a phone", "signature": ""})
    assert response.status_code == 200
    assert "This does not look like a phone number." in response.content.decode()
    assert not SenderProfile.objects.exists()
    response = ops_client.post("/admin/followup/senderprofile/add/", {
        "user": rep.pk, "mobile_phone": "(212) 555-0143", "signature": ""})
    assert response.status_code == 302
    assert SenderProfile.objects.get().mobile_phone == "+12125550143"


def test_narrowing_the_window_of_a_sequence_with_an_sms_step_is_refused(ops_client):
    ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "07:00", "window_ends": "09:00"})
    sequence = Sequence.objects.get(name="Early birds")
    email, sms = sequence.steps.order_by("position")
    data = {**EARLY_SEQUENCE, "steps-INITIAL_FORMS": "2", "steps-0-id": email.pk,
            "steps-0-sequence": sequence.pk, "steps-1-id": sms.pk,
            "steps-1-sequence": sequence.pk}
    response = ops_client.post(f"/admin/followup/sequence/{sequence.pk}/change/", data)
    assert "has no time in there" in response.content.decode()
    sequence.refresh_from_db()
    assert sequence.window_ends.hour == 9


def test_the_preview_says_each_steps_delay_as_people_say_it(ops_client, routing_rules):
    from followup.models import SequenceStep

    sequence = Sequence.objects.create(name="Quick", trigger="on_arrival")
    for position, (delay, unit) in enumerate(
            ((1, "hours"), (1, "days"), (2, "days"), (1, "business_days"), (3, "business_days")),
            1):
        SequenceStep.objects.create(sequence=sequence, position=position, delay=delay,
                                    delay_unit=unit, channel="email", subject="Hi", body="Hi")
    submit(email="grace@navy.mil")
    page = ops_client.get(f"/admin/followup/sequence/{sequence.pk}/preview/").content.decode()
    said = re.findall(r"Email to the prospect, after\s+([^<]+?)\s*</h2>", page)
    assert said == ["1 hour", "1 day", "2 days", "1 business day", "3 business days"]


def test_the_preview_renders_every_step_for_a_real_lead(ops_client, routing_rules,
                                                        default_sequence):
    lead = submit(email="grace@navy.mil", company="US Navy")
    response = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                              f"?lead={lead.pk}")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Your request for US Navy" in page and "Hi Grace," in page
    assert "Alice Rep" in page and "Unsubscribe: http://127.0.0.1:8000/u/" in page
    assert "There is no lead" not in page and "No lead matches" not in page


@pytest.mark.parametrize(("asked", "said"), [
    ("99999", "There is no lead #99999."),
    ("abc", "No lead matches “abc” (a lead id, or a name, email, phone or company)."),
    ("²", "No lead matches “²” (a lead id, or a name, email, phone or company)."),  # not int()
    ("99999999999999999999", "There is no lead #99999999999999999999."),
])
def test_the_preview_says_when_the_asked_lead_is_not_found_and_whom_it_shows(
        ops_client, routing_rules, default_sequence, asked, said):
    submit(email="grace@navy.mil")
    newest = submit(first_name="Ada", email="ada@example.com")
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          f"?lead={asked}").content.decode()
    assert f"{said} Showing the newest lead, Ada (#{newest.pk}), instead." in page
    assert "Hi Ada," in page


def test_the_preview_says_when_there_is_no_lead_at_all(ops_client, default_sequence):
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          "?lead=7").content.decode()
    assert "There is no lead #7. There are no leads to show instead." in page
    assert "There is no lead to preview with yet." in page


@pytest.mark.parametrize(("body", "said"), [
    ("{% debug %}", "Line 1: {% debug %}"),
    ("{% load static %}{% static 'x.css' %}", "Line 1: {% load %}"),
    ("{% include 'base.html' %}", "Line 1: {% include %}"),
    ("{% extends 'base.html' %}", "Line 1: {% extends %}"),
    ("{% url 'admin:index' %}", "Line 1: {% url %}"),
    ("{% ssi '/etc/passwd' %}", "Line 1: {% ssi %}"),
    ("Hi{% if first_name %}\n{% csrf_token %}{% endif %}", "Line 2: {% csrf_token %}"),
])
def test_a_step_that_would_read_outside_the_leads_details_is_refused(ops_client, body, said):
    response = ops_client.post("/admin/followup/sequence/add/", {
        "name": "Nosy", "trigger": "on_arrival", "no_response_hours": "24", "position": "1",
        "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-position": "1", "steps-0-delay": "1", "steps-0-delay_unit": "days",
        "steps-0-channel": "email", "steps-0-subject": "Hi", "steps-0-body": body,
    })
    assert response.status_code == 200
    assert f"This template has an error: {said} is not allowed here." in \
        response.content.decode()
    assert not Sequence.objects.filter(name="Nosy").exists()


def test_an_email_template_with_debug_is_refused_and_the_usual_tags_are_not():
    with pytest.raises(ValidationError) as refused:
        EmailTemplate(name="Nosy", subject="Hi {% debug %}", body="Hi").full_clean()
    assert "{% debug %} is not allowed here" in refused.value.message_dict["subject"][0]
    EmailTemplate(name="Fine", subject="Hi {{ first_name|default:'there' }}", body=(
        "{% if company %}At {{ company }}{% endif %}{% for x in '' %}{% empty %}-{% endfor %}"
        "{% with n=first_name %}{{ n|upper }}{% endwith %}{% now 'Y' %}"
        "{% templatetag openblock %}{% comment %}{% debug %}{% endcomment %}")).full_clean()


def test_a_debug_tag_stored_before_the_check_renders_as_an_error_not_a_dump(
        ops_client, routing_rules, default_sequence):
    lead = submit(email="grace@navy.mil")
    default_sequence.steps.filter(position=1).update(body="Hi {% debug %}")
    with pytest.raises(TemplateSyntaxError, match=r"\{% debug %\} is not allowed"):
        render_text("Hi {% debug %}", {"first_name": "Grace"})
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    assert "This template has an error: Line 1: {% debug %} is not allowed here." in page
    assert "&lt;module" not in page and "sys.modules" not in page


def test_the_preview_escapes_what_the_prospect_typed(ops_client, routing_rules,
                                                     default_sequence):
    lead = submit(email="x@navy.mil", first_name="<b>Bold</b>", company="<script>x()</script>")
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    assert "<script>x()</script>" not in page and "<b>Bold</b>" not in page
    assert "Your request for &lt;script&gt;x()&lt;/script&gt;" in page


def test_a_failed_message_is_visible_in_the_outbox(ops_client, routing_rules, settings):
    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    moment = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        submit(email="grace@navy.mil")
    for minutes in range(0, 50, 10):
        sweep_at(moment + timedelta(minutes=minutes))
    assert OutboundMessage.objects.get().status == "failed"
    page = ops_client.get("/admin/followup/outboundmessage/?status__exact=failed")
    assert "New lead for you: Grace" in page.content.decode()
    assert "Last error" in page.content.decode()
    error = OutboundMessage.objects.get().last_error
    assert "SMTP server unreachable" in error
    assert f'<td class="field-error"><span title="{error}">' in page.content.decode()


def test_the_outbox_shows_a_waiting_steps_subject_as_it_would_go(ops_client, routing_rules,
                                                                  default_sequence):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def listed() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            page = ops_client.get("/admin/followup/outboundmessage/?kind__exact=sequence")
        return page.content.decode(), len(queries)

    enrol_lead(lead=submit(email="grace@navy.mil", company="US Navy"),
               sequence=default_sequence)
    page, queries = listed()
    assert "Your request for US Navy" in page and "{% if company %}" not in page
    for n in range(3):  # more rows, more owners: no more queries
        enrol_lead(lead=submit(email=f"p{n}@example.com", company=f"Firm {n}"),
                   sequence=default_sequence)
    page, more = listed()
    assert "Your request for Firm 2" in page and more == queries


def test_a_long_last_error_is_cut_short_in_the_outbox_list(ops_client, routing_rules):
    submit(email="grace@navy.mil")
    OutboundMessage.objects.update(status="failed", last_error="Refused: " + "x" * 300)
    page = ops_client.get("/admin/followup/outboundmessage/").content.decode()
    shown = re.search(r'<td class="field-error"><span title="Refused: x{300}">([^<]*)</span>',
                      page).group(1)
    assert shown.startswith("Refused: xxx") and shown.endswith("…") and len(shown) == 80


def test_retrying_a_message_the_sweeper_sends_first_reports_it_sent(
        ops_client, routing_rules, settings, monkeypatch, mailoutbox):
    """Made due by the action, the row went out with the running sweeper before the action's
    own kick: the message once said "Sent 0 message(s)." as a warning."""
    from followup import admin as followup_admin
    from followup.tasks import dispatch_due_messages

    settings.EMAIL_BACKEND = "tests.followup.failing_backend.FailingBackend"
    moment = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        submit(email="grace@navy.mil")
    for minutes in range(0, 50, 10):
        sweep_at(moment + timedelta(minutes=minutes))
    failed = OutboundMessage.objects.get(status="failed")
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    kick = followup_admin.send_outbound

    def sweeper_first(message_id):
        dispatch_due_messages()
        return kick(message_id)

    monkeypatch.setattr(followup_admin, "send_outbound", sweeper_first)
    page = ops_client.post("/admin/followup/outboundmessage/", {
        "action": "send_again_now", "_selected_action": [failed.pk]}, follow=True)
    said = [(m.level_tag, m.message) for m in page.context["messages"]]
    assert said == [("success", "Sent 1 of 1 message(s).")]
    assert len(mailoutbox) == 1


def test_the_queue_shows_the_reps_unread_notifications_until_read(routing_rules, alice,
                                                                   client):
    lead = submit(email="grace@navy.mil")
    client.force_login(alice.user)
    page = client.get("/queue/").content.decode()
    assert "New cold lead: Grace" in page
    assert f'href="/leads/{lead.pk}/">New cold lead: Grace' in page  # opens the lead
    assert re.search(r'id="nav-notifications"[^>]*>Notifications <span[^>]*>1<', page)
    note = Notification.objects.get(user=alice.user)
    response = client.post(f"/queue/notifications/{note.pk}/read/", {"next": "/queue/?tab=new"})
    assert response.status_code == 302 and response["Location"] == "/queue/?tab=new"
    page = client.get("/queue/").content.decode()
    assert "New cold lead: Grace" not in page and "nav-notifications" not in page
    assert Notification.objects.get().read_at is not None


def test_a_managers_queue_page_shows_the_breach_notice(routing_rules, sla_policies, manager,
                                                       client):
    arrived = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    with time_machine.travel(arrived, tick=False):
        submit(email="grace@navy.mil")
    with time_machine.travel(arrived + timedelta(days=2), tick=False):
        assert escalate_due_breaches() == 1
    client.force_login(manager)
    page = client.get("/queue/").content.decode()
    assert "Deadline missed for lead Grace" in page and "list-group-item-danger" in page
    assert "Notifications" in client.get("/dashboard/").content.decode()  # the menu's count


def test_nobody_marks_someone_elses_notification_read(routing_rules, alice, bob, client):
    submit(email="grace@navy.mil")
    note = Notification.objects.get(user=alice.user)
    client.force_login(bob.user)
    assert client.post(f"/queue/notifications/{note.pk}/read/").status_code == 404
    assert client.post("/queue/notifications/read/", {"up_to": note.pk}).status_code == 302
    client.force_login(alice.user)
    assert client.get(f"/queue/notifications/{note.pk}/read/").status_code == 405
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(alice.user)
    assert guarded.post(f"/queue/notifications/{note.pk}/read/").status_code == 403
    note.refresh_from_db()
    assert note.read_at is None


def test_the_queue_shows_the_newest_twenty_and_mark_all_leaves_what_came_later(alice, client):
    start = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    for i in range(25):
        Notification.objects.create(user=alice.user, kind="task", text=f"Task number {i}.",
                                    created_at=start + timedelta(minutes=i))
    client.force_login(alice.user)
    page = client.get("/queue/").content.decode()
    shown = [int(n) for n in re.findall(r'aria-label="Mark read: Task number (\d+)\.', page)]
    assert shown == list(range(24, 4, -1)) and "and 5 older" in page
    newest = Notification.objects.get(text="Task number 24.")
    Notification.objects.create(user=alice.user, kind="task", text="Arrived since.",
                                created_at=start + timedelta(hours=1))
    client.post("/queue/notifications/read/", {"up_to": newest.pk})
    assert list(Notification.objects.filter(read_at__isnull=True).values_list(
        "text", flat=True)) == ["Arrived since."]


def test_enrollments_are_found_by_the_leads_name_email_or_company(
        ops_client, routing_rules, default_sequence):
    for name, email, company in (("Grace", "grace@navy.mil", "US Navy"),
                                 ("Ada", "ada@engine.org", "Engine")):
        enrol_lead(lead=submit(first_name=name, email=email, company=company),
                   sequence=default_sequence)
    for term in ("navy.mil", "US Navy", "Grace"):
        page = ops_client.get("/admin/followup/enrollment/", {"q": term}).content.decode()
        assert "Grace in No answer yet" in page and "Ada in" not in page, term
    page = ops_client.get("/admin/followup/enrollment/", {"q": "Engine"}).content.decode()
    assert "Ada in No answer yet" in page and "Grace in" not in page


def test_notifications_are_found_by_text_or_user_and_filtered_by_read(
        ops_client, routing_rules, alice, bob, django_assert_max_num_queries):
    submit(email="grace@navy.mil", company="US Navy")  # to alice
    submit(email="ada@engine.org", first_name="Ada")  # to bob (round robin)
    Notification.objects.filter(user=bob.user).update(read_at=datetime.now(UTC))
    page = ops_client.get("/admin/followup/notification/", {"q": "alice"}).content.decode()
    assert "New cold lead: Grace" in page and "Ada" not in page
    page = ops_client.get("/admin/followup/notification/", {"q": "lead: Ada"}).content.decode()
    assert "New cold lead: Ada" in page and "Grace" not in page
    page = ops_client.get("/admin/followup/notification/", {"read": "no"}).content.decode()
    assert "New cold lead: Grace" in page and "New cold lead: Ada" not in page
    with django_assert_max_num_queries(12):  # users are joined, not fetched row by row
        ops_client.get("/admin/followup/notification/")


def test_seed_demo_installs_the_default_sequence_once(monkeypatch):
    from django.core.management import call_command

    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-1")
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    sequence = Sequence.objects.get()
    assert [(s.delay, s.channel) for s in sequence.steps.all()] == [
        (1, "email"), (3, "email"), (5, "email")]
    assert sequence.trigger == "no_response" and sequence.no_response_hours == 24


def test_a_sequence_switched_on_without_steps_is_refused(ops_client, routing_rules):
    """Saved first and its steps left for later, an empty sequence switched on took every new
    lead it matched and, its last step "done" at once, moved them straight to nurture."""
    empty = {**EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
             "steps-TOTAL_FORMS": "0", "is_active": "on", "then_nurture": "on"}
    response = ops_client.post("/admin/followup/sequence/add/", empty)
    assert response.status_code == 200
    assert "Add at least one step" in response.content.decode()
    assert not Sequence.objects.exists()
    draft = {**empty}
    del draft["is_active"]
    assert ops_client.post("/admin/followup/sequence/add/", draft).status_code == 302
    assert submit(email="grace@navy.mil").status == "new"


def test_the_preview_names_the_timezone_the_steps_go_out_in(ops_client, default_sequence):
    """A lead without a country or phone is reached in its owner's timezone; the preview said
    the server's (UTC) while the steps went out on New York's clock."""
    from routing.models import RepProfile

    owner = UserFactory(username="nora")
    RepProfile.objects.create(user=owner, timezone="America/New_York")
    lead = LeadFactory(owner=owner)
    page = ops_client.get(f"/admin/followup/sequence/{default_sequence.pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    assert "in their timezone America/New_York" in page



def three_step_sequence(starts: int = 9, ends: int = 18) -> Sequence:
    """An email, a text and a call task, in a weekday window of `starts` to `ends`."""
    from datetime import time

    from followup.models import SequenceStep

    sequence = Sequence.objects.create(name=f"Reach them {starts}-{ends}", trigger="on_arrival",
                                       window_starts=time(starts), window_ends=time(ends))
    for position, channel in enumerate(("email", "sms", "task"), 1):
        SequenceStep.objects.create(sequence=sequence, position=position, delay=1,
                                    delay_unit="days", channel=channel, subject="Hi",
                                    body="Hi {{ first_name }}")
    return sequence


def hours_said(page: str) -> list[str]:
    """What the preview says under each step's heading about when it goes out."""
    return [" ".join(html.unescape(said).split())
            for said in re.findall(r"</h2>\s*<p[^>]*>([^<]+)</p>", page)]


def test_the_preview_names_every_zone_a_text_or_call_to_the_number_is_kept_in(ops_client):
    """A +1 605 number rings in Denver's zone and in Central time: the sender keeps texts and
    call tasks within their hours in both, while the preview named Denver's alone."""
    lead = LeadFactory(first_name="Grace", phone="+16055550123", country="US")
    page = ops_client.get(f"/admin/followup/sequence/{three_step_sequence().pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    both = ("Goes out between 9:00 and 18:00, Monday to Friday, in every zone this number may "
            "ring in: America/Denver, America/North_Dakota/Center.")
    assert hours_said(page) == [
        "Goes out between 9:00 and 18:00, Monday to Friday, America/Denver time.", both, both]
    assert "in their timezone America/Denver" in page  # where its emails are timed


def test_the_preview_says_which_zones_of_a_toll_free_number_share_the_hours(ops_client):
    """A US toll-free number rings from Samoa to Guam: in 9:00-18:00 its zones share no hour,
    so texts keep to its US zones; in 9:00-10:00 not even those do, so the lead's own."""
    lead = LeadFactory(first_name="Grace", phone="+18005550123", country="US")
    page = ops_client.get(f"/admin/followup/sequence/{three_step_sequence().pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    text = hours_said(page)[1]
    in_us = re.fullmatch(r"Goes out between 9:00 and 18:00, Monday to Friday, in each of this "
                         r"number's zones in the lead's country: (.+) \(its \d+ other zones "
                         r"share no hour of it with them\)\.", text)
    assert in_us and "America/New_York" in in_us[1] and "Pacific/Honolulu" in in_us[1]
    assert "Pacific/Guam" not in text

    page = ops_client.get(f"/admin/followup/sequence/{three_step_sequence(9, 10).pk}/preview/"
                          f"?lead={lead.pk}").content.decode()
    assert re.fullmatch(r"Goes out between 9:00 and 10:00, Monday to Friday, America/New_York "
                        r"time \(the lead's timezone\): the \d+ zones this number may ring in "
                        r"share no hour of it\.", hours_said(page)[1])


def test_a_step_printing_a_variable_steps_do_not_have_is_refused(ops_client):
    response = ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "1", "steps-0-body": "Hi {{ first_name }}, {{ rep_name }} here"})
    assert response.status_code == 200
    assert "{{ rep_name }} is not a variable of this message" in response.content.decode()
    assert not Sequence.objects.exists()


def test_a_draft_without_steps_cannot_be_switched_on_from_the_list(ops_client):
    draft = Sequence.objects.create(name="Draft", is_active=False, position=5)
    response = ops_client.post("/admin/followup/sequence/", {
        "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": draft.pk,
        "form-0-is_active": "on", "form-0-position": "5", "_save": "Save"})
    assert response.status_code == 200
    assert "Add at least one step" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.is_active


def test_a_prospects_waiting_steps_are_found_in_the_outbox_by_their_name_email_or_company(
        ops_client, routing_rules, default_sequence):
    """A step waiting to go out has no address yet (it is filled in when it goes out), so a
    search for the prospect's email, name or company found none of their scheduled steps."""
    for name, email, company in (("Grace", "grace@navy.mil", "US Navy"),
                                 ("Ada", "ada@engine.org", "Engine")):
        enrol_lead(lead=submit(first_name=name, email=email, company=company),
                   sequence=default_sequence)
    for term in ("grace@navy.mil", "US Navy", "Grace"):
        page = ops_client.get("/admin/followup/outboundmessage/",
                              {"q": term, "kind__exact": "sequence"}).content.decode()
        assert "Your request for US Navy" in page and "Engine" not in page, term


def test_steps_added_without_a_position_follow_the_others_in_page_order(ops_client):
    """Every new step came with position 1: adding two steps, or a step to a sequence that had
    one, answered "Please correct the duplicate data for position" until sales ops numbered
    them by hand. A new step's position is now empty, meaning after the steps above."""
    form = ops_client.get("/admin/followup/sequence/add/").content.decode()
    assert re.search(r'name="steps-__prefix__-position"[^>]*value="1"', form) is None
    response = ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "steps-0-position": "", "steps-1-position": ""})
    assert response.status_code == 302
    sequence = Sequence.objects.get(name="Early birds")
    assert [(s.position, s.channel) for s in sequence.steps.all()] == [(1, "email"), (2, "sms")]
    first, second = sequence.steps.all()
    response = ops_client.post(f"/admin/followup/sequence/{sequence.pk}/change/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "steps-TOTAL_FORMS": "3", "steps-INITIAL_FORMS": "2",
        "steps-0-id": first.pk, "steps-0-sequence": sequence.pk,
        "steps-1-id": second.pk, "steps-1-sequence": sequence.pk,
        "steps-2-position": "", "steps-2-delay": "3", "steps-2-delay_unit": "days",
        "steps-2-channel": "task", "steps-2-subject": "Call", "steps-2-body": "Call them"})
    assert response.status_code == 302
    assert [(s.position, s.channel) for s in sequence.steps.all()] == [
        (1, "email"), (2, "sms"), (3, "task")]


def test_a_source_no_lead_came_from_is_pointed_out_when_the_sequence_is_saved(ops_client):
    """Sources are names such as a form's slug ("quote"); a sequence limited to "Website" or
    to a form's title was saved without a word and never enrolled anybody."""
    from capture.models import IntakeForm

    IntakeForm.objects.create(title="Request a quote", slug="quote", fields=["email"])
    LeadFactory(source="partner-portal")
    page = ops_client.post("/admin/followup/sequence/add/", {
        **EARLY_SEQUENCE, "window_starts": "09:00", "window_ends": "17:00",
        "sources": "Website, quote, Partner-Portal"}, follow=True).content.decode()
    assert Sequence.objects.filter(name="Early birds").exists()
    assert "No lead has come from “website” yet" in page
    assert "“quote”" not in page and "partner-portal”" not in page
