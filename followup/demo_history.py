"""Eight weeks of worked leads for the demo, so the dashboard has something to show.

Each lead goes through the real intake (scored, routed to a rep) with its arrival backdated;
its owner then calls it some minutes later and moves it on (contacted, qualified, won, lost)
through the same services the lead page uses, at backdated times. The alerts and warnings the
intake queued for these old leads are cancelled: nobody needs an email today about a lead
that was answered weeks ago. Idempotent: a person already in the database is left alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone
from faker import Faker

from capture.identity import email_key
from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, IntakeForm, Interaction, Lead, LeadStatus
from capture.services import log_rep_contact, set_lead_status
from followup.models import Notification, OutboundMessage
from followup.services import schedule_sla_warning
from routing.models import LeadAssessment
from routing.ruleset import current_ruleset
from routing.services import clock_for
from routing.sla import Calendar

HISTORY_SIZE = 24
# Minutes from arrival to the first call: most within the SLA, a few well over it.
RESPONSE_MINUTES = [4, 12, 35, 7, 95, 3, 18, 240, 9, 55, 26, 600]
# Where each lead ended up (the open ones stay in their rep's queue).
OUTCOMES = [
    (LeadStatus.CONTACTED, LeadStatus.WON),
    (LeadStatus.CONTACTED, LeadStatus.LOST),
    (LeadStatus.CONTACTED, LeadStatus.QUALIFIED),
    (LeadStatus.CONTACTED,),
    (LeadStatus.CONTACTED, LeadStatus.QUALIFIED, LeadStatus.WON),
    (LeadStatus.DISQUALIFIED,),
]
NOTES = {LeadStatus.LOST: "Went with a competitor on price.",
         LeadStatus.DISQUALIFIED: "A student project, no budget."}
CHANNELS = [Channel.WEB_FORM, Channel.EMAIL, Channel.API, Channel.CALL, Channel.WEB_FORM,
            Channel.SMS]
CAMPAIGNS = ["spring-webinar", "", "cloud-audit", "", "brand"]


def seed_worked_history(form: IntakeForm) -> int:
    fake = Faker("en_US")
    fake.seed_instance(1999)  # other people than the fresh sample leads
    services = form.choices_for("service") or [""]  # emptied by sales ops: left blank
    sizes = form.choices_for("company_size") or [""]
    now = timezone.now()
    office = office_calendar()
    made = []
    for i in range(HISTORY_SIZE):
        first, last = fake.first_name(), fake.last_name()
        email = f"{first}.{last}@{fake.domain_name()}".lower()
        company, job, country = fake.company(), fake.job()[:150], fake.country_code()
        if Lead.objects.filter(email_key=email_key(email)).exists():
            continue
        arrived = during_office_hours(now - timedelta(days=3 + i * 2.2),
                                      minutes_after_opening=30 + (i * 47) % 390, office=office)
        channel = CHANNELS[i % len(CHANNELS)]
        result = receive_lead(IntakeInput(
            channel=channel,
            fields={"first_name": first, "last_name": last, "email": email, "company": company,
                    "job_title": job, "country": country,
                    "company_size": sizes[(i * 3) % len(sizes)],
                    "service": services[i % len(services)],
                    "message": f"Looking for help with {services[i % len(services)].lower()}.",
                    "utm_source": ["google", "linkedin", "newsletter", ""][i % 4],
                    "utm_campaign": CAMPAIGNS[i % len(CAMPAIGNS)]},
            summary=f"Demo lead via {Channel(channel).label}",
            body="Created by seed_demo (history).",
            occurred_at=arrived,
            form_id=form.id if channel == Channel.WEB_FORM else None,
            source="demo",
            notify_prospect=False,
        ))
        lead = result.lead
        backdate_arrival(lead, arrived)
        made.append(lead.pk)
        if lead.owner is None:
            continue  # nobody to answer it: it shows as unanswered
        answered = arrived + timedelta(minutes=RESPONSE_MINUTES[i % len(RESPONSE_MINUTES)])
        log_rep_contact(lead=lead, user=lead.owner, kind=Interaction.Kind.CALL,
                        summary=f"Call by {lead.owner.get_short_name() or lead.owner}: "
                                "Spoke with them", at=answered)
        for step, status in enumerate(OUTCOMES[i % len(OUTCOMES)], start=1):
            set_lead_status(lead=lead, status=status, user=lead.owner,
                            note=NOTES.get(status, ""), at=answered + timedelta(days=step))
    OutboundMessage.objects.filter(lead_id__in=made, status=OutboundMessage.Status.SCHEDULED
                                   ).update(status=OutboundMessage.Status.CANCELLED,
                                            last_error="Demo history: answered long ago.")
    Notification.objects.filter(lead_id__in=made, read_at__isnull=True).update(read_at=now)
    return len(made)


def office_calendar() -> Calendar | None:
    """The opening hours the demo's SLA policies count in (seed_demo's "Head office")."""
    return next((spec.calendar for spec in current_ruleset().sla.values() if spec.calendar),
                None)


def during_office_hours(moment: datetime, *, minutes_after_opening: int,
                        office: Calendar | None) -> datetime:
    """That day's opening (or the last business day's before it) plus some minutes, before
    closing. Worked leads arrive while the office is open, so which of them met their deadline
    does not depend on the hour or the weekday seed_demo happens to run on."""
    if office is None:
        return moment
    day = moment.astimezone(office.tz).date()
    for _ in range(31):
        if intervals := office.intervals(day):
            opens, closes = intervals[0]
            return min(opens + timedelta(minutes=minutes_after_opening),
                       closes - timedelta(minutes=1))
        day -= timedelta(days=1)
    return moment


def backdate_arrival(lead: Lead, arrived: datetime) -> None:
    """Move the lead and its first interaction to its arrival time, and give it the deadline
    its SLA policy sets for that arrival (opening hours counted from then, not from now)."""
    shift = lead.created_at - arrived
    changes: dict[str, object] = {"created_at": arrived, "last_activity_at": arrived}
    clock = clock_for(lead.tier, arrived, current_ruleset()) if lead.respond_by else None
    if clock is not None:
        changes["respond_by"] = clock.respond_by
        LeadAssessment.objects.filter(lead=lead).update(sla_started_at=clock.started_at,
                                                        warn_at=clock.warn_at)
    Lead.objects.filter(pk=lead.pk).update(**changes)
    for name, value in changes.items():
        setattr(lead, name, value)
    Interaction.objects.filter(lead=lead, occurred_at__gt=arrived).update(
        occurred_at=F("occurred_at") - shift)
    if clock is not None:  # the warning queued for the old deadline stands down when it is due
        schedule_sla_warning(lead, warn_at=clock.warn_at)
