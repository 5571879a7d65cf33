"""followup listens to capture and routing: each event writes its outbox rows in the same
transaction, then queues a kick (the one-minute sweeper covers a lost one)."""

from __future__ import annotations

import logging
import signal
import time

from django.conf import settings
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django_q.signals import post_spawn

from capture.intake import IntakeInput
from capture.models import Interaction, Lead
from capture.queue import queue_task_with_data
from capture.signals import delivery_reported, lead_received, lead_touched
from followup.models import Notification, Suppression
from followup.sequences import (
    plan_enrolment,
    stop_enrollment,
    stop_on_prospect_reply,
    write_timers,
)
from followup.services import (
    acknowledgement_for,
    alert_breach,
    alert_owner_of_assignment,
    notify,
    notify_once_per_lead,
    prospect_wrote_text,
    retire_notices_of_lost_lead,
    schedule_sla_warning,
    sla_warning_row,
)
from followup.suppression import lift_stop, suppress
from routing.signals import deadline_moved, lead_assigned, lead_queued, sla_breached

logger = logging.getLogger(__name__)


@receiver(post_spawn, dispatch_uid="followup.stop_sweeping_on_sigint")
def stop_sweeping_on_sigint(sender, proc_name: str, **kwargs) -> None:
    """In each qcluster worker: a SIGINT (Ctrl-C in qcluster's terminal, `serve` stopping it)
    ends a running sweep at once, so the cluster's graceful stop need not wait for it.
    django-q2 has its workers ignore SIGINT; this handler only sets a flag."""
    import multiprocessing
    import threading

    from followup.tasks import stop_sweeping

    # django-q2 sends post_spawn from a task run in sync mode too (tests, Q_CLUSTER sync), in
    # whatever process and thread runs it: a web server's request thread cannot set a signal
    # handler (ValueError, and the request never answered), and the main process's Ctrl-C
    # must stay a KeyboardInterrupt. Only a spawned worker process takes the handler.
    if (multiprocessing.parent_process() is None
            or threading.current_thread() is not threading.main_thread()):
        return
    signal.signal(signal.SIGINT, stop_sweeping)

INBOUND_REPLY = {
    Interaction.Kind.EMAIL: "the prospect replied by email",
    Interaction.Kind.SMS: "the prospect texted",
    Interaction.Kind.CALL: "the prospect called",
    Interaction.Kind.MESSAGE: "the prospect wrote",
    Interaction.Kind.SUBMISSION: "the prospect got in touch again",
}


@receiver(lead_received, dispatch_uid="followup.acknowledge_prospect")
def acknowledge_prospect(
    sender, *, lead: Lead, interaction: Interaction, created: bool, data: IntakeInput, **kwargs
) -> None:
    if not data.notify_prospect:
        return
    message = acknowledgement_for(lead, interaction, message=data.fields.get("message", ""),
                                  acknowledge_with=data.acknowledge_with, form=data.form,
                                  given=data.fields)
    if message is not None:
        queue_send_on_commit(message.id)


@receiver(lead_received, dispatch_uid="followup.follow_up_received_lead")
def follow_up_received_lead(
    sender, *, lead: Lead, interaction: Interaction, created: bool, data: IntakeInput, **kwargs
) -> None:
    """Routing has scored, routed and clocked the lead (its receiver runs first)."""
    if data.flags.get("do_not_text") and lead.phone:
        suppress(kind=Suppression.Kind.PHONE, value=lead.phone, reason=Suppression.Reason.STOP,
                 lead=lead)
        stop_enrollment(lead=lead, reason="the prospect texted STOP")
    elif data.flags.get("do_not_text") is False and lead.phone:  # texted START again
        lift_stop(lead.phone)
        if not created:
            stop_on_prospect_reply(lead=lead, reason=INBOUND_REPLY[Interaction.Kind.SMS])
    elif not created and interaction.channel == Lead.Channel.BOOKING:
        # A meeting or a call someone took is a conversation, whatever the sequence sent.
        stop_enrollment(lead=lead, reason="the prospect booked a meeting")
    elif not created and data.flags.get("answered"):
        stop_enrollment(lead=lead, reason="the prospect's call was answered")
    elif not created:
        stop_on_prospect_reply(lead=lead, reason=INBOUND_REPLY.get(
            interaction.kind, "the prospect got in touch"))
    warning = [sla_warning_row(lead)]
    follow_up = data.notify_prospect if data.follow_up is None else data.follow_up
    if created and follow_up:  # imports and demo data are never emailed unasked
        plan_enrolment(lead, timers=warning)  # one INSERT for both timers
    else:
        write_timers(warning)


@receiver(lead_received, dispatch_uid="followup.tell_owner_prospect_wrote")
def tell_owner_of_inbound(
    sender, *, lead: Lead, interaction: Interaction, created: bool, data: IntakeInput, **kwargs
) -> None:
    """The prospect wrote again on a lead someone owns (in nurture too, or with its follow-up
    stopped): the owner hears in the app, or a "please call me" waits unseen. Not for a new
    lead, nor a lead this message had routed to them (the new-owner alert covers both), nor a
    lead nobody owns (it waits in the team queue). Not for STOP/START, a call that was put
    through, an import, or the live chat (it tells the owner itself)."""
    if (created or not lead.owner_id or not data.tell_owner
            or interaction.direction != Interaction.Direction.INBOUND
            or "do_not_text" in data.flags
            or (interaction.kind == Interaction.Kind.CALL and not data.flags.get("needs_callback"))
            or getattr(lead, "_owner_alerted_id", None) == lead.owner_id):
        return
    # One notice per lead while unread: five texts in a row bring one up to date.
    notify_once_per_lead(lead.owner_id, lead, Notification.Kind.PROSPECT_WROTE,
                         prospect_wrote_text(lead, interaction,
                                             message=data.fields.get("message", "")))


@receiver(lead_touched, dispatch_uid="followup.stop_on_touch")
def stop_on_touch(sender, *, lead: Lead, interaction: Interaction | None = None,
                  **kwargs) -> None:
    """A person acted: the prospect wrote (inbound) or a rep worked the lead (an actor, or a
    contact with none: our answer on their platform, whose webhook names no user of ours).
    Our automatic sends are not announced here."""
    if interaction is None:
        return
    if interaction.direction == Interaction.Direction.INBOUND:
        stop_on_prospect_reply(lead=lead, reason=INBOUND_REPLY.get(
            interaction.kind, "the prospect got in touch"))
    elif interaction.actor_id is not None or (
            interaction.direction == Interaction.Direction.OUTBOUND):
        what = ("a rep changed the status" if interaction.kind == Interaction.Kind.STATUS
                else "a rep contacted the prospect")
        stop_enrollment(lead=lead, reason=what)
    schedule_sla_warning(lead)  # a new tier may have moved the deadline


@receiver(deadline_moved, dispatch_uid="followup.warn_before_new_deadline")
def warn_before_new_deadline(sender, *, lead: Lead, **kwargs) -> None:
    """A new tier's deadline gets its own warning (the old one is cancelled when it is due)."""
    schedule_sla_warning(lead)


@receiver(lead_assigned, dispatch_uid="followup.alert_new_owner")
def alert_new_owner(sender, *, lead: Lead, owner_id: int, acting_user=None,
                    previous_owner_id: int | None = None, **kwargs) -> None:
    # An intake that routed the lead has told its owner: tell_owner_of_inbound adds nothing.
    lead._owner_alerted_id = owner_id
    if previous_owner_id is not None and previous_owner_id != owner_id:
        retire_notices_of_lost_lead(lead, previous_owner_id)
    if acting_user is not None and acting_user.pk == owner_id:
        return  # a rep who claimed a lead (or took it by working it) knows it is theirs
    for message in alert_owner_of_assignment(lead, owner_id):
        queue_send_on_commit(message.id)


QUEUE_COUNT_SHOWN = 100  # the team lead's notice says "More than 100 leads wait" past it


@receiver(lead_queued, dispatch_uid="followup.tell_team_lead")
def tell_team_lead(sender, *, lead: Lead, team_lead_id: int | None = None,
                   team_id: int | None = None, **kwargs) -> None:
    """One notice while the team lead has not read it: each lead nobody could take (a night of
    reps off, every rep full) gave one, 230 in a load test. An unread one is brought up to
    date instead: how many wait in the team's queue now, and the latest of them."""
    from routing.selectors import unassigned_queue

    if not team_lead_id:
        return
    # The unread notice of this team's queue (a manager may lead two teams).
    unread = (Notification.objects.select_for_update()
              .filter(user_id=team_lead_id, kind=Notification.Kind.QUEUED, read_at__isnull=True,
                      lead__assessment__team_id=team_id)
              .order_by("-created_at", "-id").first()) if team_id else None
    # Counted up to QUEUE_COUNT_SHOWN, not in full: this runs for each lead queued (every row
    # of an import while the reps are full), and counting a queue of 10,000 took 24 ms a lead.
    waiting = len(unassigned_queue(team_id).order_by().values_list("pk", flat=True)[
        :QUEUE_COUNT_SHOWN + 1]) if unread else 1
    if unread is None or waiting <= 1:
        notify(team_lead_id, lead, Notification.Kind.QUEUED,
               f"Nobody could take {lead.display_name}: it waits in the team queue")
        return
    how_many = (f"More than {QUEUE_COUNT_SHOWN}" if waiting > QUEUE_COUNT_SHOWN
                else str(waiting))
    Notification.objects.filter(pk=unread.pk).update(
        lead=lead, created_at=timezone.now(),
        text=f"{how_many} leads wait in the team queue: nobody could take them (the latest: "
        f"{lead.display_name})"[:255])


@receiver(sla_breached, dispatch_uid="followup.escalate_breach")
def send_breach_alerts(sender, *, lead: Lead, manager_ids: list[int],
                       reassign_tried: bool = False, reassigned_to_id: int | None = None,
                       **kwargs) -> None:
    for message in alert_breach(lead, manager_ids=manager_ids, reassign_tried=reassign_tried,
                                reassigned_to_id=reassigned_to_id):
        queue_send_on_commit(message.id)


@receiver(delivery_reported, dispatch_uid="followup.record_delivery")
def record_delivery_report(sender, *, platform: str, ids: list[str], status: str,
                           error: str = "", recipient: str = "", before=None, **kwargs) -> None:
    from followup.replies import record_delivery

    record_delivery(platform=platform, ids=ids, status=status, error=error,
                    recipient=recipient, before=before)


class KickThrottle:
    """When a send kick this process queued last committed (time.monotonic()).

    Stamped on commit: a kick rolled back with its transaction (an intake retried after a
    concurrent twin) holds nothing back, and the rows of one transaction each keep theirs.
    """

    last = 0.0

    @classmethod
    def allow(cls, interval_s: float) -> bool:
        return not interval_s or time.monotonic() - cls.last >= interval_s

    @classmethod
    def committed(cls) -> None:
        cls.last = time.monotonic()

    @classmethod
    def reset(cls) -> None:
        cls.last = 0.0


def queue_send_on_commit(message_id: int) -> None:
    """Queue the send with the row's transaction; the sweeper covers a lost kick.

    A process queues at most one kick per FOLLOWUP_KICK_INTERVAL_MS. A kick takes every due
    row (up to KICK_BATCH), those committed while it sends too, so a row written in between
    goes out with the next kick of any process, or else with the sweeper's half-second loop.
    A kick costs the workers more than the email it sends (the broker's round trips and
    pickling): with one kick per row the queue, not the sending, held up the acknowledgements
    under load. In django-q2's sync mode (tests) every kick runs at once.
    """
    from django_q.conf import Conf

    if not Conf.SYNC:
        if not KickThrottle.allow(settings.FOLLOWUP_KICK_INTERVAL_MS / 1000):
            return
        transaction.on_commit(KickThrottle.committed)
    queue_task_with_data("followup.tasks.send_outbound", message_id)


try:  # bounces and complaints from the ESP's tracking webhooks (django-anymail)
    from anymail.signals import tracking
except ImportError:  # pragma: no cover
    tracking = None

if tracking is not None:
    @receiver(tracking, dispatch_uid="followup.suppress_bounces")
    def suppress_bounces(sender, event, esp_name: str = "", **kwargs) -> None:
        from capture.identity import email_key
        from capture.models import OPEN_STATUSES
        from followup.services import unsubscribe_lead

        reason = {"bounced": Suppression.Reason.BOUNCE, "rejected": Suppression.Reason.BOUNCE,
                  "complained": Suppression.Reason.COMPLAINT,
                  "unsubscribed": Suppression.Reason.UNSUBSCRIBED}.get(event.event_type)
        if reason is None or not event.recipient:
            return
        key = email_key(event.recipient)
        leads = list(Lead.objects.filter(email_key=key, status__in=OPEN_STATUSES)) if key else []
        for lead in leads:
            unsubscribe_lead(lead, reason=reason)
        if not leads:
            suppress(kind=Suppression.Kind.EMAIL, value=event.recipient, reason=reason)
