"""The scheduled sweeper shares a big backlog out to the workers and still sends each once."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from followup.models import OutboundMessage
from followup.tasks import sweep_due_messages
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_backlog_of_alerts_is_shared_out_and_each_is_sent_once(settings, sync_tasks):
    settings.FOLLOWUP_SWEEP_SECONDS = 0
    lead = LeadFactory()
    due = timezone.now() - timedelta(minutes=2)
    OutboundMessage.objects.bulk_create([
        OutboundMessage(lead=lead, kind="owner_alert", to_address=f"rep{i}@example.com",
                        subject="New lead", due_at=due) for i in range(180)])
    sweep_due_messages()
    assert Counter(Counter(m.to[0] for m in mail.outbox).values()) == {1: 180}
    assert not OutboundMessage.objects.exclude(status="sent").exists()


def test_the_sweeper_is_scheduled_every_minute_once():
    schedule = Schedule.objects.get(name="followup: dispatch due messages")
    assert schedule.func == "followup.tasks.sweep_due_messages" and schedule.minutes == 1


def test_a_chunk_whose_task_waited_past_the_lease_leaves_its_rows_to_the_newer_claim():
    from followup.tasks import STALE_AFTER, claim_due_messages, deliver_claimed

    lead = LeadFactory()
    start = timezone.now()
    row = OutboundMessage.objects.create(lead=lead, kind="owner_alert", to_address="a@x.co",
                                         subject="New lead", due_at=start)
    first = start + timedelta(seconds=1)
    assert claim_due_messages(now=first) == [row.id]
    OutboundMessage.objects.filter(id=row.id).update(status="scheduled")  # freed as stale
    second = first + STALE_AFTER + timedelta(minutes=1)
    assert claim_due_messages(now=second) == [row.id]
    assert deliver_claimed([row.id], first) == 0  # the old task, run at last
    assert deliver_claimed([row.id], second) == 1
    assert deliver_claimed([row.id], second) == 0
    assert len(mail.outbox) == 1


def test_a_dead_workers_claim_is_freed_within_minutes_but_never_under_a_live_send(settings):
    """After a crash a claimed acknowledgement waits STALE_AFTER: two minutes, not ten. A live
    kick sends within its task's timeout, so its rows are never freed while it sends them."""
    from followup.tasks import STALE_AFTER, free_rows_of_dead_workers

    assert timedelta(seconds=settings.Q_CLUSTER["timeout"]) < STALE_AFTER <= timedelta(minutes=2)
    lead = LeadFactory()
    row = OutboundMessage.objects.create(lead=lead, kind="ack", to_address="a@x.co",
                                         subject="Hi", due_at=timezone.now(), status="sending",
                                         claimed_at=timezone.now() - timedelta(seconds=61))
    free_rows_of_dead_workers()
    assert OutboundMessage.objects.get(id=row.id).status == "sending"  # may still be sending
    OutboundMessage.objects.filter(id=row.id).update(
        claimed_at=timezone.now() - timedelta(minutes=2, seconds=5))
    free_rows_of_dead_workers()
    assert OutboundMessage.objects.get(id=row.id).status == "scheduled"


# --- how long one sweep runs -----------------------------------------------------------------

class Clock:
    """followup.tasks' clock and sleep, in seconds that pass only when the sweep sleeps."""

    def __init__(self, on_tick=None):
        self.now = 0.0
        self.on_tick = on_tick or (lambda now: None)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_tick(self.now)


@pytest.fixture
def sweep_clock(monkeypatch, settings):
    from followup import tasks

    settings.FOLLOWUP_SWEEP_SECONDS, settings.FOLLOWUP_SWEEP_MAX_SECONDS = 50, 110

    def install(on_tick=None, next_queued_at=None):
        clock = Clock(on_tick)
        monkeypatch.setattr(tasks, "time", clock)
        if next_queued_at is not None:
            # The scheduler queues the next run at `next_queued_at`: its next_run moves on.
            schedule = Schedule.objects.get(name=tasks.SWEEP_NAME)

            def tick(now, first=schedule.next_run, call=clock.on_tick):
                call(now)
                if now >= next_queued_at:
                    Schedule.objects.filter(pk=schedule.pk).update(
                        next_run=first + timedelta(minutes=1))
            clock.on_tick = tick
        return clock
    return install


def test_a_sweep_goes_on_until_the_next_one_is_queued_so_no_row_waits_in_a_gap(sweep_clock):
    lead = LeadFactory()
    written = []

    def write_a_row(now):  # a row whose kick was held back, 55 s into the run
        if now >= 55 and not written:
            written.append(OutboundMessage.objects.create(
                lead=lead, kind="owner_alert", to_address="a@x.co", subject="New lead",
                due_at=timezone.now()))

    clock = sweep_clock(write_a_row, next_queued_at=75)  # the scheduler was late this time
    sweep_due_messages()
    assert 75 + 3 <= clock.now < 75 + 4  # the hand-over, not the 50 s minimum
    written[0].refresh_from_db()
    assert written[0].status == "sent" and len(mail.outbox) == 1


def test_a_sweep_stops_at_its_limit_if_the_scheduler_never_queues_the_next(sweep_clock):
    clock = sweep_clock()
    sweep_due_messages()
    assert 110 <= clock.now < 111


def test_a_one_off_sweep_without_the_schedule_runs_the_minimum(sweep_clock):
    Schedule.objects.all().delete()
    clock = sweep_clock()
    sweep_due_messages()
    assert 50 <= clock.now < 51


def test_the_sweep_task_may_outlive_the_clusters_timeout_but_not_the_brokers_retry(settings):
    import ast

    from followup.tasks import SWEEP_NAME

    options = ast.literal_eval(Schedule.objects.get(name=SWEEP_NAME).kwargs)["q_options"]
    assert settings.FOLLOWUP_SWEEP_MAX_SECONDS < options["timeout"] < \
        settings.Q_CLUSTER["retry"]


@pytest.mark.django_db(transaction=True)  # the worker's own transactions, as in a qcluster
def test_a_database_connection_lost_after_the_send_still_records_it_sent_and_sends_once(
        monkeypatch):
    """The SMTP server accepted the email, then the database dropped the worker's connection (a
    restart, a failover): the row is still marked sent once it answers again, instead of being
    left `sending` and emailed a second time two minutes later."""
    from django.db import OperationalError

    from followup import services
    from followup.tasks import STALE_AFTER, dispatch_due_messages

    row = OutboundMessage.objects.create(lead=LeadFactory(), kind="owner_alert",
                                         to_address="rep@example.com", subject="New lead")
    record_sent, lost = services._record_sent, []

    def connection_lost_once(message, lead):
        if not lost:
            lost.append(message.pk)
            raise OperationalError("terminating connection due to administrator command")
        record_sent(message, lead)

    monkeypatch.setattr(services, "_record_sent", connection_lost_once)
    monkeypatch.setattr(services, "RECORD_SENT_RETRY_WAITS", (0, 0), raising=False)
    dispatch_due_messages()
    row.refresh_from_db()
    assert row.status == "sent"
    OutboundMessage.objects.filter(pk=row.pk).update(claimed_at=timezone.now() - STALE_AFTER * 2)
    dispatch_due_messages()  # a later sweep finds nothing to send again
    assert [m.to for m in mail.outbox] == [["rep@example.com"]]


@pytest.mark.django_db(transaction=True)  # the worker's own transactions, as in a qcluster
def test_a_sent_row_whose_commit_answer_was_lost_is_recorded_once(monkeypatch):
    """The connection dropped after the database committed the row as sent but before its
    answer came back: the retry wrote the timeline entry (and a warning's notification) a
    second time."""
    from django.db import OperationalError

    from capture.models import Interaction
    from followup import services
    from followup.tasks import dispatch_due_messages

    lead = LeadFactory()
    row = OutboundMessage.objects.create(lead=lead, kind="owner_alert",
                                         to_address="rep@example.com", subject="New lead")
    record_sent, lost = services._record_sent, []

    def committed_then_answer_lost(message, lead):
        record_sent(message, lead)
        if not lost:
            lost.append(message.pk)
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(services, "_record_sent", committed_then_answer_lost)
    monkeypatch.setattr(services, "RECORD_SENT_RETRY_WAITS", (0, 0), raising=False)
    before = Interaction.objects.filter(lead=lead).count()
    dispatch_due_messages()
    row.refresh_from_db()
    assert row.status == "sent"
    assert Interaction.objects.filter(lead=lead).count() == before + 1
    assert [m.to for m in mail.outbox] == [["rep@example.com"]]


def test_a_sweep_returns_within_a_second_once_its_worker_is_told_to_stop(sweep_clock,
                                                                          monkeypatch):
    # Ctrl-C on make run (or on qcluster itself) waited for the sweep's 50 to 110 s, then
    # serve killed the cluster after 15 s: its worker never heard the cluster was stopping.
    from followup import tasks

    monkeypatch.setattr(tasks, "_stopping", False)
    clock = sweep_clock(lambda now: now >= 10 and tasks.stop_sweeping())
    sweep_due_messages()
    assert 10 <= clock.now < 11


def test_a_sigint_in_a_qcluster_worker_tells_its_sweep_to_stop(monkeypatch):
    import os
    import signal

    from django_q.signals import post_spawn

    from followup import tasks

    monkeypatch.setattr(tasks, "_stopping", False)
    before = signal.getsignal(signal.SIGINT)
    try:
        # A task run in sync mode (tests, a request thread) sends post_spawn too: the main
        # process keeps its Ctrl-C, and a request thread never tries to set a handler.
        post_spawn.send(sender="django_q", proc_name="MainProcess")
        assert signal.getsignal(signal.SIGINT) is before
        # A worker starting: a process the cluster spawned.
        monkeypatch.setattr("multiprocessing.parent_process", lambda: object())
        post_spawn.send(sender="django_q", proc_name="Process-test")
        os.kill(os.getpid(), signal.SIGINT)
        assert tasks._stopping
    finally:
        signal.signal(signal.SIGINT, before)
