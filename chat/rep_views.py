"""The rep's side of the chat: the lead page's chat panel polls and replies here, and the queue
page's "waiting chats" box refreshes from here. Short requests only (no long polling)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_POST

from capture.models import OPEN_STATUSES, Lead, LeadAccess
from capture.privacy import record_access
from chat import services
from chat.models import Conversation
from chat.services import ChatRefused
from routing.access import may_view
from routing.actions import NOT_A_REP_TO_WORK, claim_to_work
from routing.services import sla_state_of


def _visible_lead(request: HttpRequest, lead_id: int) -> Lead:
    lead = get_object_or_404(Lead.objects.select_related("assessment"), pk=lead_id)
    if not may_view(request.user, lead):
        raise Http404("No lead here.")
    return lead


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@login_required
@require_GET
def lead_messages(request: HttpRequest, lead_id: int) -> JsonResponse:
    """New messages of the lead's latest chat since `after` (the panel polls every few s)."""
    lead = _visible_lead(request, lead_id)
    services.mark_present(request.user)
    conversation = lead.chat_conversations.select_related("widget").order_by("-started_at").first()
    if conversation is None:
        return JsonResponse({"messages": [], "waiting_seconds": None})
    try:
        after = int(request.GET.get("after") or 0)
    except ValueError:
        return JsonResponse({"error": "`after` must be a message id."}, status=400)
    conversation.refresh_from_db()
    return JsonResponse({"messages": services.messages_after(conversation, after),
                         "waiting_seconds": services.waiting_seconds(conversation),
                         "status": conversation.status, "clock": _clock(lead)})


def _clock(lead: Lead) -> dict:
    """The lead page header's SLA badge and first-response line, as the page renders them: the
    panel refreshes them once a first reply stops the clock (no reload)."""
    state = sla_state_of(lead)
    at = lead.first_response_at
    return {"sla": state.value if state else "",
            "sla_label": state.label if state else "no deadline",
            "first_response_at": at.isoformat() if at else None,
            "first_response_text": localize(timezone.localtime(at)) if at else "",
            "first_response_after": timesince(lead.created_at, at) if at else ""}


@login_required
@require_POST
def reply(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = _visible_lead(request, lead_id)
    conversation = Conversation.objects.filter(
        lead=lead, thread=request.POST.get("thread", "")).select_related("widget").first()
    if conversation is None:
        error = "This chat is not on this lead any more."
        status = 404
    else:
        try:
            with transaction.atomic():
                _claim_if_waiting(request.user, lead)
                row = services.reply_to_visitor(conversation=conversation, user=request.user,
                                                text=request.POST.get("text", ""))
        except ChatRefused as exc:
            error, status = exc.message, exc.status
        else:
            record_access(request.user, LeadAccess.Action.CHANGED, lead=lead,
                          detail="chat reply")
            if _wants_json(request):
                lead.refresh_from_db(fields=["first_response_at", "respond_by"])
                return JsonResponse({"message": services.message_json(row),
                                     "clock": _clock(lead)}, status=201)
            messages.success(request, "Chat reply sent.")
            return redirect("routing:lead", lead_id=lead.pk)
    if _wants_json(request):
        return JsonResponse({"error": error}, status=status)
    messages.error(request, error)
    return redirect("routing:lead", lead_id=lead.pk)


def _claim_if_waiting(user, lead: Lead) -> None:
    """A chat reply on a lead waiting in the team queue claims it first, as working it from
    the lead page does (routing.actions.claim_to_work)."""
    if lead.owner_id is not None or lead.status not in OPEN_STATUSES:
        return
    if refusal := claim_to_work(lead=lead, user=user):
        raise ChatRefused(refusal, status=403 if refusal == NOT_A_REP_TO_WORK else 409)


@login_required
@require_GET
def waiting(request: HttpRequest) -> HttpResponse:
    """The queue page's "waiting chats" box, refreshed by polling."""
    services.mark_present(request.user)
    return render(request, "chat/_waiting.html", {
        "waiting_chats": services.waiting_conversations(request.user), "now": timezone.now(),
        "chat_poll_seconds": settings.CHAT_POLL_SECONDS})


@login_required
@require_POST
def take(request: HttpRequest, thread: str) -> HttpResponse:
    """Take a waiting chat whose owner is not online: the lead becomes yours, answer it."""
    conversation = get_object_or_404(Conversation, thread=thread)
    services.mark_present(request.user)
    try:
        lead = services.take_chat(conversation=conversation, user=request.user)
    except ChatRefused as exc:
        messages.error(request, exc.message)
        return redirect("routing:queue")
    record_access(request.user, LeadAccess.Action.REASSIGNED, lead=lead, detail="took the chat")
    messages.success(request, "The chat is yours now: answer the visitor below.")
    return redirect(reverse("routing:lead", args=[lead.pk]) + "#chat-panel")
