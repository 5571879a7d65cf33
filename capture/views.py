"""Public quote-request pages: /q/<slug>/ (GET the form, POST a submission) and thank-you."""

from __future__ import annotations

import hashlib
import json
import uuid

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from capture import abuse
from capture.channels.base import ChannelError, read_form
from capture.channels.webform import CHANNEL, input_from_form, payload_from_post
from capture.forms import (
    STARTED,
    SUBMISSION_ID,
    build_public_form,
    form_helper,
    initial_for_page,
    page_form_html,
    sign_started,
)
from capture.intake import receive_event, store_inbound_event
from capture.memo import ProcessMemo
from capture.models import InboundEvent, IntakeForm, canonical_origin
from capture.security import allow_framing

# Active forms by slug, re-read every 10 s per process (and at once after a save here).
intake_forms_memo: ProcessMemo[IntakeForm | None] = ProcessMemo(ttl=10.0)

STORED_HEADERS = ("User-Agent", "Referer", "Origin", "Accept-Language", "Content-Type")


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Django's own CSRF check, run here because embedding sites may post without a token."""
    check = CsrfViewMiddleware(lambda r: HttpResponse())
    return check.process_view(request, _csrf_probe, (), {})


def _csrf_probe(request):  # a stand-in view: CsrfViewMiddleware only reads its attributes
    return None


def _is_allowed_cross_origin(request: HttpRequest, intake_form: IntakeForm) -> bool:
    origin = canonical_origin(request.headers.get("Origin", ""))
    return bool(origin) and origin in intake_form.origin_list


@csrf_exempt  # checked in the view: our own page needs the token, listed embedding sites do not
@xframe_options_exempt  # embedded in iframes: the CSP's frame-ancestors says by whom
@require_http_methods(["GET", "POST"])
def intake_form_page(request: HttpRequest, slug: str) -> HttpResponse:
    intake_form = intake_forms_memo.get(slug, lambda: IntakeForm.objects.filter(
        slug=slug, is_active=True).first())
    if intake_form is None:
        raise Http404("No active form at this address.")
    if request.method == "GET":
        # get_token sets the CSRF cookie the form's token pairs with.
        form_html = page_form_html(intake_form, initial_for_page(intake_form, request),
                                   get_token(request))
        return _render_form(request, intake_form, None, form_html=form_html)

    try:
        raw_body = request.body  # read (and size-checked) before the form parses it
    except RequestDataTooBig:
        # The fields cannot be read back into the form: say what to do, not a bare 400.
        form = build_public_form(intake_form, initial=initial_for_page(intake_form, request),
                                 for_display=True)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
        return _render_form(request, intake_form, form, status=413, error=(
            f"What you sent is longer than this form takes ({limit} KB). Please shorten your "
            "message and send it again."))
    try:
        # In the charset the posting page declares (a site's own Latin-1 form), so the CSRF
        # check and the form below read request.POST as the visitor typed it.
        read_form(request)
    except ChannelError as exc:
        form = build_public_form(intake_form, initial=initial_for_page(intake_form, request),
                                 for_display=True)
        return _render_form(request, intake_form, form, status=400, error=(
            f"We could not read the form as it was sent. {exc.message} Please fill it in "
            "again below."))
    cross_origin = _is_allowed_cross_origin(request, intake_form)
    if not cross_origin and (failure := _csrf_failure(request)) is not None:
        return failure

    raw = payload_from_post(request.POST)
    form = build_public_form(intake_form, data=request.POST)
    limit = settings.FORM_RATE_LIMIT_PER_MINUTE
    ip = abuse.client_ip(request)
    rate_key = f"form:{intake_form.pk}:{ip}"  # per form and sending address
    if abuse.over_limit(rate_key, limit):
        # A person past the limit gets the form back with what they typed, and the refused
        # submission is kept. A flood (as many refused again in a minute) gets a short answer
        # and is not stored row by row: 1,500 refused posts wrote 1,500 rows in 30 s.
        if not abuse.over_limit(f"form-refused:{intake_form.pk}:{ip}", limit):
            _store_rejected(request, intake_form, raw, "rate limit exceeded")
            response = _render_form(request, intake_form, form, error=abuse.FRIENDLY["rate"],
                                    status=429)
        else:
            response = HttpResponse(abuse.FRIENDLY["rate"], status=429,
                                    content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(max(1, abuse.seconds_until_allowed(rate_key, limit)))
        return response
    if not form.is_valid():
        # The visitor is still on the page and fixes the fields; nothing is stored yet.
        if cross_origin and not request.POST.get(STARTED):
            # A site's own form carries no start token nor submission id: the page going back
            # gets them, as a page we serve does, or its corrected post would be refused as
            # spam ("form start token missing").
            data = request.POST.copy()
            data[STARTED] = sign_started(intake_form.id)
            data[SUBMISSION_ID] = data.get(SUBMISSION_ID) or uuid.uuid4().hex
            form = build_public_form(intake_form, data=data)
            form.is_valid()  # the same errors, shown beside the fields
        return _render_form(request, intake_form, form, status=400)
    if reason := abuse.spam_reason(intake_form, form.cleaned_data, raw,
                                   cross_origin=cross_origin):
        _store_rejected(request, intake_form, raw, reason)
        # The page again with a new start token: a person whose page was open too long (or
        # who was too quick) waits a few seconds and sends, as the message asks.
        data = request.POST.copy()
        data[STARTED] = sign_started(intake_form.id)
        form = build_public_form(intake_form, data=data)
        error = abuse.FRIENDLY["blocked" if reason.startswith(abuse.BLOCKED) else "spam"]
        return _render_form(request, intake_form, form, error=error, status=400)

    receive_event(
        channel=CHANNEL,
        external_id=submission_key(form.cleaned_data),
        # The form is valid: its cleaned data is the input (reprocessing reads the payload).
        data=input_from_form(intake_form, form.cleaned_data, received_at=timezone.now(),
                             remote_ip=ip, posted=raw),
        body=raw_body,
        payload=raw,
        headers=_headers(request),
        remote_ip=ip,
        form=intake_form,
    )  # a processing failure stays on the stored event (retried); the visitor is thanked
    if intake_form.redirect_url:
        return redirect(intake_form.redirect_url)
    return redirect(reverse("capture:thanks", kwargs={"slug": intake_form.slug}))


def submission_key(cleaned_data: dict) -> str:
    """The event's key: the page's submission id and a digest of what was submitted, so a
    double click (the same post twice) is one submission, while a corrected resubmission from
    the same page (Back, fix the email, submit) is taken in. Without an id: a new key."""
    submission_id = cleaned_data.get(SUBMISSION_ID)
    if not submission_id:
        return uuid.uuid4().hex
    answers = {name: value for name, value in cleaned_data.items()
               if name not in (SUBMISSION_ID, STARTED)}
    canonical = json.dumps(answers, sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8", errors="replace")).hexdigest()
    return f"{submission_id}:{digest}"


@csrf_exempt  # a page: a POST is a 405, not the CSRF page
@require_safe
@xframe_options_exempt
def thanks_page(request: HttpRequest, slug: str) -> HttpResponse:
    intake_form = get_object_or_404(IntakeForm, slug=slug)
    return allow_framing(render(request, "capture/thanks.html", {"intake_form": intake_form}),
                         intake_form)


def _render_form(request, intake_form, form, *, error: str = "", status: int = 200,
                 form_html: str = ""):
    if form is not None and not hasattr(form, "helper"):
        form.helper = form_helper(intake_form, form)
    context = {"intake_form": intake_form, "form": form, "error": error, "form_html": form_html}
    return allow_framing(render(request, "capture/form.html", context, status=status),
                         intake_form)


def _headers(request: HttpRequest) -> dict[str, str]:
    return {name: request.headers[name][:500] for name in STORED_HEADERS if name in request.headers}


def _store_rejected(request, intake_form: IntakeForm, raw: dict, reason: str) -> InboundEvent:
    event, _ = store_inbound_event(
        channel=CHANNEL,
        external_id=f"rejected-{uuid.uuid4().hex}",
        body=request.body,
        payload=raw,
        headers=_headers(request),
        remote_ip=abuse.client_ip(request),
        form=intake_form,
        status=InboundEvent.Status.REJECTED,
        reason=reason,
    )
    return event
