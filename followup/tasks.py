"""followup's django-q2 tasks: they take ids, claim their row, and do nothing the second time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from followup.models import OutboundMessage
from followup.services import deliver_outbound

# A message claimed longer ago than this belongs to a worker that died mid-send. A live worker
# sends a kick's rows within its task's timeout (Q_CLUSTER["timeout"], 60 s: django-q2 kills it
# then), and a sweep's rows each right after renewing their claim; so past two minutes nobody
# is sending the row, and a crash holds an acknowledgement back two minutes, not ten.
STALE_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500
FANOUT_CHUNK = 50
KICK_BATCH = 50  # rows one kick may take along (send_outbound)
RELATED = ("step", "lead", "lead__owner")
Status = OutboundMessage.Status
# True in a qcluster worker told to stop (receivers.stop_sweeping_on_sigint): a running sweep
# then returns within half a second. The worker reads django-q2's stop only between tasks, so
# the cluster's graceful stop waited for the sweep's 50 to 110 s.
_stopping = False


def stop_sweeping(*_args) -> None:
    """SIGINT in a worker: end the running sweep at its next turn (what is claimed is sent)."""
    global _stopping
    _stopping = True


def send_outbound(message_id: int) -> bool:
    """The kick queued with a row: send it, and whatever else is due and unclaimed.

    One claim takes this row and up to KICK_BATCH - 1 other due rows (oldest first; SKIP
    LOCKED on PostgreSQL), and they go out over one email session. Under load a kick so drains
    what the kicks of the last moments asked for, and those find their rows gone and return at
    once. Rows committed while these went out had their kicks held back (receivers'
    queue_send_on_commit), so one more claim takes them. A repeat call after success (or while
    sending) never sends the row a second time. True when this row went out.
    """
    ids = claim_due_messages(KICK_BATCH, first=message_id)
    if not ids:
        return False
    sent = _deliver_rows(OutboundMessage.objects.filter(id__in=ids, status=Status.SENDING))
    if more := claim_due_messages(KICK_BATCH):
        _deliver_rows(OutboundMessage.objects.filter(id__in=more, status=Status.SENDING))
    return message_id in sent


def claim_due_messages(limit: int = SWEEP_BATCH, now: datetime | None = None, *,
                       first: int | None = None) -> list[int]:
    """Claim up to `limit` due rows for this worker alone (row `first` before the others).

    PostgreSQL: the rows are locked with SKIP LOCKED, so a second dispatcher takes other rows.
    SQLite: the transaction starts IMMEDIATE (settings), so one writer at a time reads and
    claims. Either way the UPDATE only moves rows still scheduled. `now` is the claim's stamp.
    """
    now = now or timezone.now()
    due = OutboundMessage.objects.select_for_update(skip_locked=True).filter(
        status=Status.SCHEDULED, due_at__lte=now)
    order = ["due_at", "id"]
    if first is not None:
        order = [Case(When(id=first, then=0), default=1), *order]
    with transaction.atomic():
        ids = list(due.order_by(*order).values_list("id", flat=True)[:limit])
        if ids:
            OutboundMessage.objects.filter(id__in=ids, status=Status.SCHEDULED).update(
                status=Status.SENDING, claimed_at=now)
    return ids


def free_rows_of_dead_workers() -> int:
    return OutboundMessage.objects.filter(
        status=Status.SENDING, claimed_at__lt=timezone.now() - STALE_AFTER
    ).update(status=Status.SCHEDULED, claimed_at=None)


def dispatch_due_messages(limit: int = SWEEP_BATCH) -> int:
    """One pass of the sweeper: send what is due and unclaimed; free rows of dead workers."""
    free_rows_of_dead_workers()
    rows = OutboundMessage.objects.filter(id__in=claim_due_messages(limit), status=Status.SENDING)
    return len(_deliver_rows(rows))


def _deliver_rows(rows, *, renew: bool = False) -> set[int]:
    """Deliver claimed rows, oldest first, over one email session; the ids that went out.

    With `renew`, each row's claim is renewed just before its delivery, and a row whose claim
    has moved on (freed and claimed by another worker meanwhile) is left to that worker.
    """
    connection = get_connection()
    sent = set()
    try:
        for message in rows.select_related(*RELATED).order_by("due_at", "id"):
            if renew and not OutboundMessage.objects.filter(
                id=message.id, status=Status.SENDING, claimed_at=message.claimed_at,
            ).update(claimed_at=timezone.now()):
                continue
            if deliver_outbound(message, connection=connection):
                sent.add(message.id)
    finally:
        connection.close()
    return sent


def deliver_claimed(message_ids: list[int], claimed_at: datetime | None = None) -> int:
    """Deliver rows a sweep claimed at `claimed_at` (a share of a big backlog handed to another
    worker). Each row's claim is renewed first: a row freed and claimed again meanwhile (its
    task waited too long) belongs to the newer claim, and a second run finds rows sent."""
    rows = OutboundMessage.objects.filter(id__in=message_ids, status=Status.SENDING)
    if claimed_at is not None:
        rows = rows.filter(claimed_at=claimed_at)
    return len(_deliver_rows(rows, renew=True))


SWEEP_NAME = "followup: dispatch due messages"
HANDOVER_S = 3.0  # how long a sweep goes on once the next one is queued (it may wait a moment)
# How often a sweep escalates the SLA deadlines that passed (routing's one-minute schedule runs
# 30 to 90 s apart), and for how long at most each time (the rest is the schedule's).
BREACH_EVERY_S = 5.0
BREACH_BUDGET_S = 2.0
# The deadlines a check looks back on: those that passed since the last few of routing's
# one-minute runs, which take the rest (a backlog after downtime, the budget's leftovers).
BREACH_LOOKBACK = timedelta(minutes=10)


def sweep_due_messages() -> int:
    """The one-minute schedule: keep claiming every half second, so a row due between two
    runs, or one whose kick was held back (receivers.queue_send_on_commit), waits half a second,
    not a minute. Every BREACH_EVERY_S it also escalates the SLA deadlines that passed, so a
    breach is alerted within seconds, not at routing's next one-minute run. A run goes on for
    at least FOLLOWUP_SWEEP_SECONDS and then until the scheduler has queued the next run (plus
    HANDOVER_S), at most FOLLOWUP_SWEEP_MAX_SECONDS:
    the scheduler looks every 30 s or so, so runs start 30 to 90 s apart, and a fixed length
    left gaps of up to a minute. Up to two chunks it sends itself; a larger claim (many
    deadlines at once, a worker back after downtime) is shared out to the other workers in
    chunks, and a chunk whose task is lost is freed after STALE_AFTER and claimed again. A
    small claim is not shared out: under load the task queue is full of kicks, and a chunk
    queued behind them would wait longer than it takes to send it here."""
    from django_q.tasks import async_task

    from routing.services import escalate_due_breaches

    start = time.monotonic()
    least = settings.FOLLOWUP_SWEEP_SECONDS
    most = max(least, settings.FOLLOWUP_SWEEP_MAX_SECONDS)
    following = _next_sweep_at()  # when the next run is due; it moves once that is queued
    handed_over: float | None = None
    breaches_checked: float | None = None
    sent = 0
    while True:
        free_rows_of_dead_workers()
        if breaches_checked is None or time.monotonic() - breaches_checked >= BREACH_EVERY_S:
            breaches_checked = time.monotonic()  # its alerts are claimed just below
            escalate_due_breaches(seconds=BREACH_BUDGET_S,
                                  since=timezone.now() - BREACH_LOOKBACK)
        claimed_at = timezone.now()
        ids = claim_due_messages(SWEEP_BATCH, claimed_at)
        if len(ids) > 2 * FANOUT_CHUNK:
            chunks = [ids[i:i + FANOUT_CHUNK] for i in range(0, len(ids), FANOUT_CHUNK)]
            for chunk in chunks[1:]:
                async_task("followup.tasks.deliver_claimed", chunk, claimed_at)
            ids = chunks[0]
        if ids:
            sent += deliver_claimed(ids, claimed_at)
        if _stopping:
            return sent
        elapsed = time.monotonic() - start
        if elapsed >= least:
            if not least or following is None or elapsed >= most:  # 0: one pass
                return sent
            if handed_over is None and _next_sweep_at() != following:
                handed_over = elapsed
            if handed_over is not None and elapsed - handed_over >= HANDOVER_S:
                return sent
        if len(ids) < FANOUT_CHUNK:
            time.sleep(0.5)


def _next_sweep_at() -> datetime | None:
    """The sweeper schedule's next run (None when there is no schedule: a one-off call)."""
    from django_q.models import Schedule

    return Schedule.objects.filter(name=SWEEP_NAME).values_list("next_run", flat=True).first()
