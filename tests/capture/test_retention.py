"""Retention with time moved: raw payloads purged after N days, rejected events deleted after
M days, idle unconverted leads anonymised after K months; a dry run changes nothing; every run
is reported; the schedule is installed on migrate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django_q.models import Schedule

from capture import privacy
from capture.models import BlockRule, InboundEvent, Lead, LeadStatus, RetentionPolicy, RetentionRun
from capture.privacy import run_retention, run_scheduled_retention
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(visitor):
    """On 5 January: Grace's form submission (a lead) and a spam submission (rejected)."""
    BlockRule.objects.create(kind=BlockRule.Kind.PHRASE, value="crypto offer")
    with time_machine.travel(START, tick=False):
        visitor.load()
        visitor.submit(first_name="Grace", last_name="Hopper", email="grace@navy.mil",
                       message="Quote please")
        visitor.load()
        visitor.submit(first_name="Spam", email="spam@example.com", message="crypto offer")
    RetentionPolicy.objects.create(raw_payload_days=90, rejected_event_days=30,
                                   inactive_lead_months=6)
    return Lead.objects.get(email_key="grace@navy.mil")


def test_nothing_is_due_before_its_time(history):
    with time_machine.travel(START + timedelta(days=29), tick=False):
        run = run_retention()
    assert run.report["rejected_events_deleted"] == 0
    assert run.report["raw_payloads_purged"] == 0 and run.report["leads_anonymised"] == 0
    assert InboundEvent.objects.count() == 2


def test_each_rule_applies_when_its_time_comes(history):
    with time_machine.travel(START + timedelta(days=31), tick=False):
        run = run_retention()
    assert run.report["rejected_events_deleted"] == 1
    assert not InboundEvent.objects.filter(status="rejected").exists()
    assert InboundEvent.objects.get().payload != {}  # the lead's payload stays 90 days

    with time_machine.travel(START + timedelta(days=91), tick=False):
        run = run_retention()
    event = InboundEvent.objects.get()
    assert run.report["raw_payloads_purged"] == 1 and run.report["raw_payload_event_ids"] == [
        event.pk]
    assert event.payload == {} and bytes(event.body) == b"" and event.headers == {}
    assert event.lead == history  # the parsed lead stays
    history.refresh_from_db()
    assert history.email == "grace@navy.mil" and history.erased_at is None

    with time_machine.travel(START + timedelta(days=92), tick=False):
        again = run_retention()
    assert again.report["raw_payloads_purged"] == 0  # purged once, not reported again

    with time_machine.travel(datetime(2026, 7, 6, 12, 0, tzinfo=UTC), tick=False):
        run = run_retention()
    assert run.report["leads_anonymised"] == 1 and run.report["lead_ids"] == [history.pk]
    history.refresh_from_db()
    assert history.erased_at and history.email == "" and history.first_name == ""
    assert not history.interactions.filter(body__contains="Quote please").exists()
    assert RetentionRun.objects.filter(dry_run=False).count() == 4


def test_a_failed_event_loses_its_raw_payload_after_n_days_too(history):
    """An event whose processing failed (and nobody reprocessed) holds what the person sent
    as much as a processed one: it is not kept for ever."""
    InboundEvent.objects.filter(lead=history).update(status=InboundEvent.Status.FAILED,
                                                     lead=None)
    with time_machine.travel(START + timedelta(days=91), tick=False):
        run = run_retention()
    event = InboundEvent.objects.get(status="failed")
    assert run.report["raw_payload_event_ids"] == [event.pk]
    assert event.payload == {} and bytes(event.body) == b"" and event.headers == {}


def test_a_won_lead_is_kept_however_long_it_is_idle(history):
    Lead.objects.filter(pk=history.pk).update(status=LeadStatus.WON)
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run = run_retention()
    assert run.report["leads_anonymised"] == 0
    assert Lead.objects.get(pk=history.pk).email == "grace@navy.mil"


def test_a_dry_run_reports_everything_and_changes_nothing(history):
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run = run_retention(dry_run=True)
    assert run.dry_run and run.report["rejected_events_deleted"] == 1
    assert run.report["raw_payloads_purged"] == 1 and run.report["leads_anonymised"] == 1
    assert InboundEvent.objects.count() == 2
    assert Lead.objects.get(pk=history.pk).email == "grace@navy.mil"


def test_the_schedule_dry_runs_while_the_policy_is_off(history):
    RetentionPolicy.objects.update(is_active=False)
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run = RetentionRun.objects.get(pk=run_scheduled_retention())
    assert run.dry_run and InboundEvent.objects.count() == 2


def test_the_daily_schedule_is_installed_on_migrate(db):
    call_command("migrate", verbosity=0)
    schedule = Schedule.objects.get(name="capture: apply the retention policy")
    assert schedule.func == "capture.privacy.run_scheduled_retention"
    assert schedule.minutes == 24 * 60
    assert "'timeout': 150" in schedule.kwargs  # above the 120 s a run works for, not 60 s


def test_a_backlog_of_idle_leads_is_worked_through_by_runs_that_each_commit(history,
                                                                           sync_tasks,
                                                                           monkeypatch):
    """A first run on an old database has thousands of idle leads. All of them in one
    transaction outlasted the task's timeout: the worker was killed and everything rolled back,
    every day. A run now works for RETENTION_RUN_SECONDS, one committed lead at a time, and
    queues the next run for the rest."""
    with time_machine.travel(START, tick=False):
        LeadFactory.create_batch(2, last_activity_at=START)
    monkeypatch.setattr(privacy, "RETENTION_RUN_SECONDS", 0)  # one lead per run
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run_scheduled_retention()
    runs = list(RetentionRun.objects.order_by("pk"))
    assert [(r.report["leads_anonymised"], r.report["leads_left"]) for r in runs] == [
        (1, 2), (1, 1), (1, 0)]
    assert all(r.finished_at for r in runs)
    assert not Lead.objects.filter(erased_at__isnull=True).exists()


def test_the_run_queued_for_the_rest_has_the_schedules_timeout_not_the_clusters(history):
    """The next run for a backlog works for 120 s, as the scheduled one: queued with the
    cluster's 60-second timeout, the worker killed it half-way every time."""
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    with time_machine.travel(START, tick=False):
        LeadFactory.create_batch(2, last_activity_at=START)
    with time_machine.travel(START + timedelta(days=400), tick=False):
        run = run_retention(max_seconds=0)  # one lead, the others left for the next run
        privacy.continue_retention(run)
    assert run.report["leads_left"] > 0
    queued = [SignedPackage.loads(row.payload) for row in OrmQ.objects.all()]
    [next_run] = [t for t in queued if t["func"] == "capture.privacy.run_scheduled_retention"]
    assert next_run["timeout"] == 150


def test_the_admin_edits_the_policy_and_runs_a_dry_run(history, admin_client):
    policy = RetentionPolicy.objects.get()
    response = admin_client.post("/admin/capture/retentionpolicy/", {
        "action": "dry_run", "_selected_action": [policy.pk]}, follow=True)
    assert "Retention dry run" in response.content.decode()
    assert RetentionRun.objects.get().dry_run
    response = admin_client.post(f"/admin/capture/retentionpolicy/{policy.pk}/change/", {
        "is_active": "on", "raw_payload_days": "0", "rejected_event_days": "30",
        "inactive_lead_months": "6"})
    assert response.status_code == 200  # 0 days is refused with a message
    assert "Ensure this value is greater than or equal to 1." in response.content.decode()


def test_an_idle_lead_loses_its_custom_field_values_too(history, fields):
    Lead.objects.filter(pk=history.pk).update(custom_fields={
        "contact_time": "after 6pm, ask for the admiral", "seats": 40})
    with time_machine.travel(datetime(2026, 7, 6, 12, 0, tzinfo=UTC), tick=False):
        run_retention()
    history.refresh_from_db()
    assert history.erased_at and history.custom_fields == {}


def test_an_idle_lead_s_anonymising_leaves_the_person_s_active_lead_s_admin_log(history):
    """The same email on a newer, active lead (a lost lead, then a new enquiry): retention
    forgets the idle lead only, and blanked the admin log of the active one too."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from tests.factories import UserFactory

    Lead.objects.filter(pk=history.pk).update(status=LeadStatus.LOST)
    active = Lead.objects.create(email="grace@navy.mil", first_name="Grace",
                                 last_activity_at=datetime(2026, 7, 1, tzinfo=UTC))
    entry = LogEntry.objects.create(
        user=UserFactory(), content_type=ContentType.objects.get_for_model(Lead),
        object_id=str(active.pk), object_repr="Grace <grace@navy.mil>", action_flag=CHANGE,
        change_message="Changed the phone of grace@navy.mil")
    with time_machine.travel(datetime(2026, 7, 6, 12, 0, tzinfo=UTC), tick=False):
        run = run_retention()
    assert run.report["lead_ids"] == [history.pk]
    entry.refresh_from_db()
    assert entry.object_repr == "Grace <grace@navy.mil>"
    assert entry.change_message == "Changed the phone of grace@navy.mil"


def test_an_email_whose_raw_message_was_purged_is_not_reprocessed_into_an_empty_lead(
        admin_client):
    """A failed email loses its raw message after N days (above). The admin's Reprocess then
    read an empty message and made a lead with no name, email or phone."""
    event = InboundEvent.objects.create(channel="email", external_id="sha256:1",
                                        status=InboundEvent.Status.FAILED, payload={"via": "imap"},
                                        body=b"From: Ada <ada@example.com>\r\n\r\nQuote?\r\n",
                                        received_at=START)
    with time_machine.travel(START + timedelta(days=91), tick=False):
        run_retention()
    admin_client.post("/admin/capture/inboundevent/",
                      {"action": "reprocess", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert not Lead.objects.exists()
    assert event.status == InboundEvent.Status.REJECTED and "sender" in event.reason


def test_an_idle_lead_with_a_long_timeline_is_anonymised_in_a_few_statements(
        history, django_assert_max_num_queries):
    """Each of a lead's rows was its own UPDATE and each table its own admin-log read: 0.1 to
    0.3 s per idle lead, so a first run on an old database took hours. The statements no longer
    grow with the timeline, and everything is still erased."""
    from capture.models import Interaction

    for n in range(20):
        Interaction.objects.create(lead=history, direction="outbound", kind="call",
                                   channel="phone", summary=f"Call {n} with Grace Hopper",
                                   body=f"Grace ({history.email}) asked for a quote")
    with time_machine.travel(datetime(2026, 7, 6, 12, 0, tzinfo=UTC), tick=False), \
            django_assert_max_num_queries(35):  # 64 before
        run = run_retention()
    assert run.report["leads_anonymised"] == 1
    assert not Interaction.objects.filter(lead=history).exclude(summary="[erased]").exists()
    assert not Interaction.objects.filter(lead=history).exclude(body="").exists()
    assert InboundEvent.objects.get(lead=history).payload == {}


@pytest.mark.parametrize(("field", "typed"), [("inactive_lead_months", "30000"),
                                              ("raw_payload_days", "3000000"),
                                              ("rejected_event_days", "3000000")])
def test_a_period_longer_than_a_century_is_refused_beside_its_field(history, admin_client,
                                                                    field, typed):
    """30000 months (a typo for 30) was saved, and the next run never ended: its cut-off fell
    before the year 1, and the admin's dry run (and the daily worker) hung on it."""
    policy = RetentionPolicy.objects.get()
    values = {"is_active": "on", "raw_payload_days": "90", "rejected_event_days": "30",
              "inactive_lead_months": "6", field: typed}
    response = admin_client.post(f"/admin/capture/retentionpolicy/{policy.pk}/change/", values)
    assert response.status_code == 200
    assert "Ensure this value is less than or equal to" in response.content.decode()
    policy.refresh_from_db()
    assert (policy.raw_payload_days, policy.rejected_event_days,
            policy.inactive_lead_months) == (90, 30, 6)


def test_a_run_with_a_cut_off_before_the_year_1_fails_instead_of_hanging(history):
    """A policy saved with such a value before the limit existed: the run stops with an error
    the worker records, instead of looping for ever."""
    RetentionPolicy.objects.update(inactive_lead_months=30000)
    with pytest.raises(ValueError):
        run_retention(dry_run=True)


@pytest.fixture
def sales_ops(db):
    from django.contrib.auth.models import Group, Permission

    from tests.factories import UserFactory

    group, _ = Group.objects.get_or_create(name="Sales ops")
    group.permissions.set(Permission.objects.filter(
        content_type__app_label="capture", codename__in=["export_person", "erase_person"]))
    user = UserFactory(username="olivia", is_staff=True)
    user.groups.add(group)
    return user


def test_the_policy_page_s_buttons_dry_run_and_run_it_without_ticking_a_row(history, client,
                                                                           sales_ops):
    policy = RetentionPolicy.objects.get()
    page = f"/admin/capture/retentionpolicy/{policy.pk}/change/"
    client.force_login(sales_ops)
    content = client.get(page).content.decode()
    assert 'action="/admin/capture/retentionpolicy/run/dry_run/"' in content
    assert 'action="/admin/capture/retentionpolicy/run/run_now/"' in content

    event = InboundEvent.objects.get(lead=history)
    with time_machine.travel(START + timedelta(days=91), tick=False):
        response = client.post("/admin/capture/retentionpolicy/run/dry_run/", follow=True)
        assert response.redirect_chain == [(page, 302)]
        assert "Retention dry run" in response.content.decode()
        assert "would purge 1 raw payload(s)" in response.content.decode()
        event.refresh_from_db()
        assert event.payload  # a dry run changes nothing

        response = client.post("/admin/capture/retentionpolicy/run/run_now/", follow=True)
        assert "purged 1 raw payload(s)" in response.content.decode()
    event.refresh_from_db()
    assert event.payload == {}
    assert [(r.dry_run, r.triggered_by) for r in RetentionRun.objects.order_by("pk")] == [
        (True, sales_ops), (False, sales_ops)]


def test_a_superuser_runs_the_policy_from_its_page(history, admin_client):
    response = admin_client.post("/admin/capture/retentionpolicy/run/run_now/", follow=True)
    assert "Retention run #" in response.content.decode()
    assert not RetentionRun.objects.get().dry_run


def test_the_policy_page_s_buttons_are_refused_to_staff_who_may_not_run_it(history, client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    manager = UserFactory(username="max", is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(content_type__app_label="capture"))
    manager.user_permissions.remove(*Permission.objects.filter(codename="erase_person"))
    client.force_login(manager)
    for action in ("dry_run", "run_now"):
        assert client.post(f"/admin/capture/retentionpolicy/run/{action}/").status_code == 403
    assert client.get("/admin/capture/retentionpolicy/run/dry_run/").status_code in (403, 405)
    assert not RetentionRun.objects.exists()


def test_only_the_policy_s_own_actions_run_from_its_page(history, admin_client):
    assert admin_client.post("/admin/capture/retentionpolicy/run/delete_selected/"
                             ).status_code == 403
    assert admin_client.get("/admin/capture/retentionpolicy/run/run_now/").status_code == 405
    assert RetentionPolicy.objects.exists() and not RetentionRun.objects.exists()
