"""The rep's queue, the lead page and their actions: parse the input, call one service, render.

followup (sequences, SMS) is read here through lazy imports: the pages are the top of the stack
and show what every app knows about a lead; routing's engine modules never import followup.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Subquery
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import capfirst
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST, require_safe

from capture.models import OPEN_STATUSES, Lead, LeadAccess
from capture.privacy import record_access, trail_for
from capture.services import person_name, set_lead_status
from routing import actions
from routing.access import is_manager, is_rep, may_reassign, may_view, sees_every_lead
from routing.custom_field_views import custom_field_context, edit_custom_fields
from routing.filters import QueueFilter
from routing.forms import (
    CallForm,
    EmailForm,
    LeadDetailsForm,
    NoteForm,
    ReassignForm,
    SmsForm,
    SnoozeForm,
    StatusForm,
    rep_zone,
)
from routing.queue import (
    COUNT_CAP,
    TAB_SLUGS,
    TABS,
    assigned_since,
    my_team_ids,
    page_of,
    queue_page,
    tab_counts,
)
from routing.queue import tab_leads as tab_leads_of
from routing.routing import Outcome
from routing.services import reassign_lead, sla_state_of
from routing.timezones import SESSION_KEY as SESSION_ZONE

PAGE_SIZES = (25, 50, 100)
# A page past the end is empty; one past this is read as this one, so its offset stays a
# number the database takes (an OFFSET beyond a bigint was a 500).
MAX_PAGE = 100_000
QUEUE_COLUMNS = ("id", "first_name", "last_name", "company", "email", "phone", "message",
                 "status", "tier", "score", "channel", "source", "owner_id", "created_at",
                 "respond_by", "first_response_at", "needs_callback", "erased_at",
                 "snoozed_until")


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


MAX_ID = 2**63 - 1  # a bigint primary key


def _row_id(value) -> int:
    """A primary key from the query string, held within a bigint's range (0 if not a number)."""
    return min(max(_int(value, 0), 0), MAX_ID)


@csrf_exempt  # a POST is a 405, not the CSRF page
@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The site's own address, which `make run` prints: each role's page (DESIGN's table),
    signing in first at the page every role can sign in at. It led to the admin's login, which
    refuses reps and managers who are not staff with a message about a staff account."""
    user = request.user
    if user.is_staff and sees_every_lead(user):
        return redirect("admin:index")
    if is_manager(user) and not is_rep(user):
        return redirect("routing:dashboard")
    return redirect("routing:queue")


@login_required
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    tab = request.GET.get("tab", "all")
    if tab not in TAB_SLUGS:
        tab = "all"
    size = _int(request.GET.get("size"), PAGE_SIZES[0])
    size = size if size in PAGE_SIZES else PAGE_SIZES[0]
    filters = QueueFilter(request.GET, queryset=tab_leads_of(request.user, tab, now))
    leads = filters.qs if filters.is_valid() else filters.queryset.none()
    number = min(max(_int(request.GET.get("page"), 1), 1), MAX_PAGE)
    # Read before the rows: a lead another worker commits while the page is put together is
    # news on the first poll, not passed over by a newest id read after it.
    fragment = request.GET.get("fragment") == "rows"
    baselines = None if fragment else poll_baselines(request.user, now=now)
    if tab == "snoozed":  # the next to come back first
        page = page_of(leads.only(*QUEUE_COLUMNS).order_by("snoozed_until", "id"), number, size)
    else:
        page = queue_page(leads.only(*QUEUE_COLUMNS), number, size, now)
    query = request.GET.copy()
    query.pop("page", None)
    kept = query.copy()  # the search and filters, kept when another tab is chosen
    for name in ("tab", "fragment"):
        kept.pop(name, None)
    context = {
        "nav": "queue", "tab": tab, "tabs": TABS, "filters": filters, "page": page, "now": now,
        "can_claim": tab == "team" and is_rep(request.user),  # the Claim buttons
        "size": size, "page_sizes": PAGE_SIZES, "query": query.urlencode(),
        "kept_query": kept.urlencode(),
        "poll_seconds": settings.QUEUE_POLL_SECONDS,
    }
    # The access trail: one insert per page, listing the leads it showed.
    record_access(request.user, LeadAccess.Action.LISTED, listed=[r.id for r in page.rows])
    if fragment:
        return render(request, "routing/_queue_rows.html", context)
    context["counts"] = tab_counts(request.user, now)
    context.update(baselines)
    context["seen"] = ",".join(str(lead_id) for lead_id in baselines["seen"])
    return render(request, "routing/queue.html", context)


# A lead, or an assignment notice, written less than this ago may belong to a transaction that
# took its id (or its time) before a newer one committed, and commit after it. The poll's
# baselines stop short of them, and the page sends back the ids it was told of (`seen`), so
# each lead is news exactly once, whatever order its transaction committed in.
POLL_SETTLE = timedelta(seconds=30)


def _newest_lead_id(written_by: datetime | None = None) -> int:
    """The newest lead of all, read backwards along the primary key: what a poll counts up
    to, or with `written_by` (POLL_SETTLE ago) the poll's lead baseline: a few seconds of
    leads, never a rep's old ones (a newest lead of mine walked past everyone else's, 350 ms
    in a million)."""
    leads = Lead.objects.filter(created_at__lte=written_by) if written_by else Lead.objects
    return next(iter(leads.order_by("-id").values_list("id", flat=True)[:1]), 0)


def _settled_notice_id(user, now: datetime) -> int:
    from followup.models import Notification

    # Newest first through notification_unread_idx (user, -created_at): a rep's thousands of
    # notices are not sorted by id for one row.
    newest = (Notification.objects.filter(user=user, kind=Notification.Kind.ASSIGNED,
                                          created_at__lte=now - POLL_SETTLE)
              .order_by("-created_at", "-id").values_list("id", flat=True)[:1])
    return next(iter(newest), 0)


def poll_baselines(user, after: int = 0, now: datetime | None = None) -> dict:
    """Where the page's next poll starts: the settled baselines (the lead's never behind the
    one it had), and the ids of my leads past them: those the page shows, or was told of."""
    now = now or timezone.now()
    after = max(after, _newest_lead_id(written_by=now - POLL_SETTLE))
    notice = _settled_notice_id(user, now)
    seen = assigned_since(user, after, _handed_over(user, notice, after))
    return {"newest_id": after, "newest_notice": notice, "seen": seen}


def _row_ids(value: str | None) -> set[int]:
    """The `seen` list of a poll: ids, comma separated; anything else is left out."""
    return {_row_id(part) for part in (value or "").split(",")[:COUNT_CAP]
            if part.strip().isdigit()}


@login_required
@require_GET
def queue_poll(request: HttpRequest) -> JsonResponse:
    """What the queue page asks every few seconds: leads assigned to me since it loaded."""
    now = timezone.now()
    after = _row_id(request.GET.get("after"))
    notice = _row_id(request.GET.get("notice"))
    seen = _row_ids(request.GET.get("seen"))
    # The newest lead first, and only leads up to it counted; the next baselines after the
    # count: a lead another worker commits meanwhile is news on the next poll, not passed over.
    newest = _newest_lead_id()
    ids = assigned_since(request.user, after, _handed_over(request.user, notice, after),
                         upto=newest)
    baselines = poll_baselines(request.user, after, now)
    arrived = len([lead_id for lead_id in ids if lead_id not in seen])
    counts = tab_counts(request.user) if arrived else None
    return JsonResponse({
        "arrived": arrived,
        "new": counts["new"] if counts else None,
        "counts": counts,  # every tab's badge
        "newest_id": baselines["newest_id"],
        "newest_notice": baselines["newest_notice"],
        # Counted now (told of now or before) and past the next baselines: not news again.
        "seen": sorted(set(ids) & set(baselines["seen"])),
    })


def _handed_over(user, notice_id: int, after_id: int) -> QuerySet:
    """Older leads handed to me since the page's notice baseline (their ids, a subquery): a
    reassignment, an escalation, a claim (every change of owner tells the new owner:
    followup's notification)."""
    from followup.models import Notification

    notices = Notification.objects.filter(user=user, kind=Notification.Kind.ASSIGNED,
                                          lead_id__lte=after_id)
    if notice_id:
        # Newer in the order _settled_notice_id reads them, (created_at, id): two notices
        # written at once by two workers may have their ids the other way round.
        baseline = Subquery(Notification.objects.filter(pk=notice_id).values("created_at"))
        notices = notices.filter(Q(created_at__gt=baseline)
                                 | Q(created_at=baseline, id__gt=notice_id))
    return notices.values_list("lead_id", flat=True)[:COUNT_CAP]


@login_required
@require_POST
def claim(request: HttpRequest, lead_id: int) -> HttpResponse:
    if not is_rep(request.user):
        return HttpResponseForbidden(NOT_A_REP)
    if not tab_leads_of(request.user, "team").filter(pk=lead_id).exists():
        messages.warning(request, actions.TAKEN)
        return redirect(f"{reverse('routing:queue')}?tab=team")
    if actions.claim_lead(lead_id=lead_id, user=request.user):
        record_access(request.user, LeadAccess.Action.REASSIGNED, lead=lead_id,
                      detail="claimed from the team queue")
        messages.success(request, "The lead is yours.")
        return redirect("routing:lead", lead_id=lead_id)
    messages.warning(request, actions.TAKEN)
    return redirect(f"{reverse('routing:queue')}?tab=team")


NOT_A_REP = ("Only reps claim leads: give this lead to one of your reps with Reassign on "
             "its page.")


def _claimable(user, lead: Lead) -> bool:
    """Open, nobody's, waiting in one of my teams' queues, and I am a rep: the queue's Claim."""
    return (lead.owner_id is None and lead.status in OPEN_STATUSES and is_rep(user)
            and tab_leads_of(user, "team").filter(pk=lead.pk).exists())


def _visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = get_object_or_404(
        Lead.objects.select_related("owner", "form", "assessment", "assessment__team",
                                    "assessment__rule"), pk=lead_id)
    if not may_view(request.user, lead):
        raise Http404("No lead here.")  # a 404, not a 403: the lead's existence stays private
    return lead


def _sequence_state(lead: Lead) -> dict | None:
    from followup.models import Enrollment, OutboundMessage

    enrollment = (Enrollment.objects.filter(lead=lead).select_related("sequence")
                  .order_by("-enrolled_at", "-id").first())
    if enrollment is None:
        return None
    next_step = None
    waiting = {Enrollment.Status.ACTIVE: OutboundMessage.Status.SCHEDULED,
               Enrollment.Status.PAUSED: OutboundMessage.Status.PAUSED}.get(enrollment.status)
    if waiting:
        next_step = (OutboundMessage.objects.filter(enrollment=enrollment, status=waiting)
                     .order_by("due_at").only("id", "due_at", "channel", "subject").first())
    return {"enrollment": enrollment, "next_step": next_step,
            "is_active": enrollment.status == Enrollment.Status.ACTIVE,
            "is_paused": enrollment.status == Enrollment.Status.PAUSED,
            "is_undelivered": enrollment.status == Enrollment.Status.UNDELIVERED}


LEAD_FIELD_GROUPS = (
    ("Contact", ("first_name", "last_name", "email", "phone", "company", "job_title",
                 "company_size", "industry", "country")),
    ("Request", ("service", "budget", "urgency", "message")),
    ("Source", ("channel", "form", "source", "utm_source", "utm_medium", "utm_campaign",
                "utm_term", "utm_content", "gclid", "fbclid", "referrer", "landing_page")),
    ("Consent", ("has_consent", "consent_text", "consent_at", "do_not_text")),
    ("Work", ("status", "owner", "score", "tier", "needs_callback", "created_at",
              "respond_by", "first_response_at", "last_activity_at", "previous_lead")),
)


def _field_rows(lead: Lead) -> list[tuple[str, list[tuple[str, object]]]]:
    rows = []
    for group, names in LEAD_FIELD_GROUPS:
        values = []
        for name in names:
            field = Lead._meta.get_field(name)
            if field.choices:
                value = getattr(lead, f"get_{name}_display")()
            elif name == "previous_lead":
                value = f"#{lead.previous_lead_id}" if lead.previous_lead_id else ""
            elif name == "owner":  # "Alice Anders", as the header names them, not "alice"
                value = person_name(lead.owner, nobody="")
            else:
                value = getattr(lead, name)
            values.append((capfirst(field.verbose_name), value))
        rows.append((group, values))
    return rows


@login_required
@require_GET
def lead_detail(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    record_access(request.user, LeadAccess.Action.VIEWED, lead=lead)
    return render(request, "routing/lead.html", _lead_context(request, lead))


def _lead_context(request: HttpRequest, lead: Lead, **forms) -> dict:
    can_reassign = may_reassign(request.user, lead)
    timeline = list(lead.interactions.select_related("actor").order_by("-occurred_at", "-id")[:200])
    unowned = lead.owner_id is None and lead.status in OPEN_STATUSES
    return {
        "unowned": unowned, "can_claim": unowned and _claimable(request.user, lead),
        # Someone who is not a rep does not contact an unowned lead's prospect: they reassign.
        "may_contact": not unowned or is_rep(request.user),
        "lead": lead, "assessment": getattr(lead, "assessment", None),
        "field_rows": _field_rows(lead), "sla": sla_state_of(lead),
        "sequence": _sequence_state(lead), "timeline": timeline,
        "can_reassign": can_reassign,
        "call_form": forms.get("call") or CallForm(),
        "note_form": forms.get("note") or NoteForm(),
        "email_form": forms.get("email") or EmailForm(),
        "email_templates": _email_templates(lead) if lead.email else [],
        "sms_form": forms.get("sms") or SmsForm(),
        "status_form": forms.get("status") or StatusForm(current=lead.status),
        "snooze_form": forms.get("snooze") or SnoozeForm(),
        "snoozed": lead.snoozed_until is not None and lead.snoozed_until > timezone.now(),
        "custom": custom_field_context(lead, forms.get("custom")),
        "details_form": forms.get("details") or (
            LeadDetailsForm(instance=lead) if not lead.erased_at else None),
        "reassign_form": (forms.get("reassign") or ReassignForm(
            initial={"owner": lead.owner_id}, user=request.user, lead=lead)
                          ) if can_reassign else None,
        "access_trail": trail_for(lead) if is_manager(request.user) else None,
        "reply": _reply_panel(lead, forms.get("reply")),
    }


def _email_templates(lead: Lead) -> list[dict]:
    from followup.services import email_templates_for

    return email_templates_for(lead)


def _reply_panel(lead: Lead, form=None) -> dict:
    from followup.reply_views import reply_panel

    return reply_panel(lead, form)


def _reply(request, lead):
    from followup.reply_views import reply_action

    return reply_action(request, lead)


@login_required
@require_POST
def lead_action(request: HttpRequest, lead_id: int, action: str) -> HttpResponse:
    try:
        lead = _visible_lead(request, lead_id)
    except Http404:
        if _taken_from_my_team(request.user, lead_id):  # another rep claimed it since
            messages.warning(request, actions.TAKEN)
            return redirect(f"{reverse('routing:queue')}?tab=team")
        raise
    handler = ACTIONS.get(action)
    if handler is None:
        raise Http404("No such action.")
    # Contacting the prospect is the owner's: a rep claims a waiting lead by it; someone who
    # is not a rep (a manager) may close it, not mark it contacted or qualified.
    contacts = action in CONTACT_ACTIONS or (
        action == "status" and request.POST.get("status") in STATUSES_THAT_CONTACT)
    if (action in CLAIMING_ACTIONS and lead.owner_id is None and lead.status in OPEN_STATUSES
            and (contacts or is_rep(request.user))):
        with transaction.atomic():
            refused = _claim_first(request, lead)
            if refused is not None:
                return refused
            invalid = handler(request, lead)
            if invalid is not None:  # nothing done: the lead stays in the team queue
                transaction.set_rollback(True)
                lead.owner = None
        if invalid is None:
            messages.info(request, "The lead is yours now: working it claimed it from the team "
                          "queue.")
    else:
        invalid = handler(request, lead)
    if invalid is not None:  # a form with errors: the page again, the errors beside the fields
        return render(request, "routing/lead.html", _lead_context(request, lead, **invalid),
                      status=400)
    record_access(request.user, LeadAccess.Action.REASSIGNED if action == "reassign"
                  else LeadAccess.Action.CHANGED, lead=lead, detail=action)
    return redirect("routing:lead", lead_id=lead.pk)


def _taken_from_my_team(user, lead_id: int) -> bool:
    """A lead that waited in my teams' queue and another rep claimed since (I may not open it
    any more). A claim leaves the assessment's outcome QUEUED; a lead routed or reassigned
    straight to a teammate is ASSIGNED, and is a 404 as any other lead I may not see (saying
    "taken" would tell its id from others')."""
    return is_rep(user) and Lead.objects.filter(
        pk=lead_id, owner__isnull=False, assessment__team_id__in=my_team_ids(user),
        assessment__outcome=Outcome.QUEUED).exists()


def _claim_first(request, lead) -> HttpResponse | None:
    """routing.actions.claim_to_work: None once the lead is mine; else where to go."""
    refusal = actions.claim_to_work(lead=lead, user=request.user)
    if refusal is None:
        return None
    messages.warning(request, refusal)
    if refusal == actions.NOT_A_REP_TO_WORK:
        return redirect("routing:lead", lead_id=lead.pk)
    return redirect(f"{reverse('routing:queue')}?tab=team")


def _log_call(request, lead):
    form = CallForm(request.POST)
    if not form.is_valid():
        return {"call": form}
    actions.log_call(lead=lead, user=request.user, **form.cleaned_data)
    messages.success(request, "Call logged.")
    return None


def _add_note(request, lead):
    form = NoteForm(request.POST)
    if not form.is_valid():
        return {"note": form}
    actions.add_note(lead=lead, user=request.user, body=form.cleaned_data["body"])
    messages.success(request, "Note added.")
    return None


def _send_email(request, lead):
    """Queue the rep's email through the outbox: the Email tab shows whether it went."""
    from followup.replies import queue_email

    form = EmailForm(request.POST)
    if not form.is_valid():
        return {"email": form}
    data = form.cleaned_data
    return _queued(request, "email", form, lambda: queue_email(
        lead=lead, user=request.user, subject=data["subject"], body=data["body"],
        template_id=data.get("template")),
        "Email queued: it goes out now, and whether it went shows in the Email tab.")


def _send_sms(request, lead):
    """Queue the text through the outbox, as an SMS reply: the SMS tab shows whether it went."""
    from followup.models import OutboundMessage
    from followup.replies import queue_reply

    form = SmsForm(request.POST)
    if not form.is_valid():
        return {"sms": form}
    if not lead.phone:
        form.add_error(None, "This lead has no phone number.")
        return {"sms": form}
    return _queued(request, "sms", form, lambda: queue_reply(
        lead=lead, user=request.user, key=OutboundMessage.Channel.SMS,
        body=form.cleaned_data["body"]),
        "Text queued: it goes out now, and whether it went shows in the SMS tab.")


def _queued(request, name: str, form, queue, done: str):
    """Write an outbox reply: a refusal is a form error, a double click the row already
    written."""
    from followup.replies import DuplicateReply, ReplyNotAllowed

    try:
        queue()
    except ReplyNotAllowed as exc:
        form.add_error(None, str(exc))
        return {name: form}
    except DuplicateReply as exc:
        messages.info(request, str(exc))
        return None
    messages.success(request, done)
    return None


def _change_status(request, lead):
    form = StatusForm(request.POST, current=lead.status)
    if not form.is_valid():
        return {"status": form}
    try:
        set_lead_status(lead=lead, status=form.cleaned_data["status"], user=request.user,
                        note=form.cleaned_data["reason"])
    except ValueError as exc:
        form.add_error("status", str(exc))
        return {"status": form}
    messages.success(request, f"Status: {lead.get_status_display()}.")
    return None


def _reassign(request, lead):
    if not may_reassign(request.user, lead):
        raise Http404("No such action.")
    form = ReassignForm(request.POST, user=request.user, lead=lead)
    if not form.is_valid():
        return {"reassign": form}
    owner = form.cleaned_data["owner"]
    if reassign_lead(lead=lead, owner=owner, acting_user=request.user,
                     note=form.cleaned_data["note"]):
        messages.success(request, f"Reassigned to {person_name(owner, 'nobody')}.")
    else:
        messages.info(request, f"{person_name(owner, 'Nobody')} owns this lead already; "
                      "nothing changed.")
    return None


def _snooze(request, lead):
    zone = timezone.get_current_timezone() if SESSION_ZONE in request.session else rep_zone(
        request.user)  # the zone the pages show since sign-in, as the rest of the page
    form = SnoozeForm(request.POST, zone=zone)
    if not form.is_valid():
        return {"snooze": form}
    if lead.owner_id is None or lead.status not in OPEN_STATUSES:
        messages.warning(request, "Only an open lead with an owner can be snoozed.")
        return None
    until = actions.snooze_lead(lead=lead, user=request.user, until=form.cleaned_data["until"],
                                note=form.cleaned_data["note"])
    text = (f"Snoozed until {date_format(timezone.localtime(until, zone), 'DATETIME_FORMAT')}"
            f" ({zone})")
    if lead.first_response_at is None and lead.respond_by and lead.respond_by < until:
        text += "; its first-response deadline still runs and comes sooner"
    messages.success(request, text)
    return None


def _wake(request, lead):
    if actions.wake_lead(lead=lead, user=request.user):
        messages.success(request, "Back in the queue.")
    return None


def _who(request) -> str:
    return request.user.get_full_name() or request.user.get_username()


def _pause_sequence(request, lead):
    from followup.sequences import pause_enrollment

    if pause_enrollment(lead=lead, who=_who(request)):
        messages.success(request, "Sequence paused: nothing more goes out until you resume it.")
    else:
        messages.info(request, "No sequence was running.")
    return None


def _resume_sequence(request, lead):
    from followup.sequences import resume_enrollment

    if resume_enrollment(lead=lead, who=_who(request)):
        messages.success(request, "Sequence resumed.")
    else:
        messages.info(request, "The sequence was not paused.")
    return None


def _stop_sequence(request, lead):
    from followup.sequences import stop_enrollment

    if stop_enrollment(lead=lead, reason=f"stopped by {_who(request)}"):
        messages.success(request, "Sequence stopped.")
    else:
        messages.info(request, "No sequence was running.")
    return None


def _edit_details(request, lead):
    """The Details card's edit. The fields changed are staff's from now on (a later
    submission fills only what is empty), said on the timeline, and the lead is scored and
    routed again as after a custom field's edit (a new company size may make it hot)."""
    from capture.services import record_staff_edit
    from routing.services import rescore_lead

    if lead.erased_at:
        messages.warning(request, "This person's data was erased: there is nothing to edit.")
        return None
    form = LeadDetailsForm(request.POST, instance=lead)
    if not form.is_valid():
        return {"details": form}
    changed = form.changed_data
    if not changed:
        messages.info(request, "Nothing changed.")
        return None
    try:
        with transaction.atomic():
            # Only what changed: the intake may be filling another field of this lead now.
            lead.save(update_fields=[*changed, *(["email_key"] if "email" in changed else []),
                                     "updated_at"])
    except IntegrityError:  # another open lead took the email or phone since the check
        form.add_error(None, "Another open lead has just taken this email or phone: reload "
                       "the page to see it.")
        return {"details": form}
    record_staff_edit(lead=lead, changed_fields=changed, user=request.user)
    rescore_lead(lead)
    messages.success(request, "Saved: " + ", ".join(
        str(form.fields[name].label).lower() for name in changed) + ".")
    return None


# What works the lead (contacts the prospect or moves its status) is the owner's: a rep doing
# it on a lead waiting in the team queue claims the lead first. Someone who is not a rep (a
# manager, sales ops) contacts nobody on a lead with no owner, but may still close one. A note,
# custom fields and the sequence buttons claim nothing.
CONTACT_ACTIONS = frozenset({"call", "email", "sms", "reply"})
CLAIMING_ACTIONS = CONTACT_ACTIONS | {"status"}
# Moving a lead to these says someone spoke to the prospect: it stamps the first response.
STATUSES_THAT_CONTACT = frozenset({"contacted", "qualified"})

ACTIONS = {
    "call": _log_call, "note": _add_note, "email": _send_email, "sms": _send_sms,
    "status": _change_status, "reassign": _reassign, "stop-sequence": _stop_sequence,
    "pause-sequence": _pause_sequence, "resume-sequence": _resume_sequence,
    "snooze": _snooze, "wake": _wake,
    "custom-fields": edit_custom_fields, "details": _edit_details,
    "reply": _reply,
}
