"""The JSON intake API (POST /api/v1/leads/, Bearer keys) and HTML form posts from existing
sites (POST /api/v1/forms/<source>/, e.g. a Salesforce Web-to-Lead form with a new action)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt

from capture import abuse
from capture.channels.base import (
    Channel,
    ChannelError,
    body_with_extra,
    json_body,
    method_not_allowed,
    read_body,
    read_form,
    read_record,
    request_headers,
    unreadable_json,
)
from capture.intake import Consent, IntakeInput, Rejected, event_key, receive_event
from capture.models import ApiKey, InboundEvent, canonical_origin
from capture.models import Channel as LeadChannel
from capture.privacy import erased_event_id

CHANNEL = "api"
FORM_CHANNEL = "api-form"
MAX_BODY = 64 * 1024
# Keys the API accepts besides the lead fields.
META_KEYS = ("consent_text",)
MAX_CONSENT_TEXT = 5000

# Salesforce Web-to-Lead's field names, for `create_api_key --mapping salesforce`.
SALESFORCE_WEB_TO_LEAD = {
    "first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone",
    "mobile": "phone", "company": "company", "title": "job_title", "industry": "industry",
    "country": "country", "description": "message", "lead_source": "utm_source",
    "retURL": "", "oid": "", "debug": "", "debugEmail": "", "encoding": "",
    "captcha_settings": "", "submit": "",
}
MAPPING_PRESETS = {"salesforce": SALESFORCE_WEB_TO_LEAD}


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def authenticate(request: HttpRequest) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("lcrm_") or key.count("_") < 2:
        raise ChannelError("Send your API key as 'Authorization: Bearer <key>'.", status=401)
    prefix = key.split("_", 2)[1]
    api_key = ApiKey.objects.filter(prefix=prefix, is_active=True).first()
    from capture.channel_models import hash_api_key

    if api_key is None or not constant_time_compare(api_key.key_hash, hash_api_key(key)):
        raise ChannelError("This API key is not valid or was revoked.", status=401)
    return api_key


@csrf_exempt
def api_leads(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed("Use POST.")
    try:
        api_key = authenticate(request)
        body = read_body(request, MAX_BODY)
    except ChannelError as exc:
        # Key guessing: only refused keys are counted, and an address past
        # WEBHOOK_RATE_LIMIT_PER_MINUTE of them in a minute gets 429 for the next ones. A valid
        # key is never counted nor refused here: a partner's traffic is limited by its key's
        # own rate alone, whoever shares its address.
        if exc.status == 401 and abuse.over_limit(f"api-refused:{abuse.client_ip(request)}",
                                                  settings.WEBHOOK_RATE_LIMIT_PER_MINUTE):
            response = _error("Too many requests with a missing or wrong API key from this "
                              "address; retry in a minute.", 429)
            response["Retry-After"] = "60"
            return response
        response = exc.response()
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="leadcrm"'
        return response
    content_type = request.content_type or ""
    if content_type != "application/json":
        return _error("Send the lead as JSON with 'Content-Type: application/json'.", 415)
    rate_key = f"api:{api_key.pk}"
    if abuse.over_limit(rate_key, api_key.rate_limit_per_minute):
        response = _error(f"More than {api_key.rate_limit_per_minute} requests a minute.", 429)
        response["Retry-After"] = str(max(1, abuse.seconds_until_allowed(
            rate_key, api_key.rate_limit_per_minute)))
        return response
    try:
        record = json_body(request) if body else None
    except ChannelError as exc:  # not in the charset it declares, or not UTF-8 declaring none
        return exc.response()
    except (ValueError, RecursionError):
        return _error("The body is not valid JSON.", 400)
    if not isinstance(record, dict):
        return _error("Send one JSON object with the lead's fields.", 400)
    if problem := unreadable_json(record):
        return _error(problem, 400)
    checked = read_record(
        {k: v for k, v in record.items() if k not in META_KEYS},
        mapping=api_key.field_mapping, region=api_key.default_region, unknown="error",
    )
    if checked.errors:
        return JsonResponse(checked.error_body(), status=400)
    consent_text = record.get("consent_text")
    if consent_text is not None and (not isinstance(consent_text, str)
                                     or len(consent_text) > MAX_CONSENT_TEXT):
        return JsonResponse({"error": "Some fields are not valid.", "fields": {"consent_text": [
            f"Send the wording the person agreed to as text (at most {MAX_CONSENT_TEXT:,} "
            "characters)."]}}, status=400)

    idempotency_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idempotency_key) > 200:
        return _error("Idempotency-Key is at most 200 characters.", 400)
    ip = abuse.client_ip(request)
    if idempotency_key and (erased := InboundEvent.objects.filter(
            channel=CHANNEL, external_id=erased_event_id(
                CHANNEL, event_key(f"{api_key.pk}:{idempotency_key}"))).first()):
        # The key's first request was an erased person's (before or after it came): its event
        # is kept under a hashed key without its body. The first answer again, whatever the
        # body (there is nothing to compare it with), and nothing of this one stored.
        _mark_used(api_key)
        return _event_response(erased)
    event, created, _ = receive_event(
        channel=CHANNEL,
        external_id=f"{api_key.pk}:{idempotency_key or uuid.uuid4().hex}",
        body=body, payload={"key": api_key.pk, "record": record},
        headers=request_headers(request), remote_ip=ip,
        data=_input(api_key, record, checked, at=timezone.now(), ip=ip, form_post=False),
    )
    _mark_used(api_key)
    # A body no longer kept (an erased person's event keeps none, retention purges old ones)
    # is nothing to compare with: the key's first answer again, and nothing of theirs kept.
    if not created and event.body and bytes(event.body) != body:
        return _error("This Idempotency-Key was used with a different body.", 422)
    return _event_response(event)


def _mark_used(api_key: ApiKey) -> None:
    """Record when a key was last used, at most once a minute (not a write per lead)."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


IGNORED_REASON = ("This person is not taken in through the API; the lead was not stored and "
                  "will not be retried.")


def _event_response(event: InboundEvent) -> JsonResponse:
    if event.status == InboundEvent.Status.PROCESSED and event.lead_id:
        created = bool(event.created_lead)
        return JsonResponse(
            {"id": event.lead_id, "status": "created" if created else "matched",
             "event_id": event.pk},
            status=201 if created else 200,
        )
    if event.status == InboundEvent.Status.REJECTED:
        return _error(event.reason or "The lead was not accepted.", 400, event_id=event.pk)
    if event.status == InboundEvent.Status.IGNORED:
        # Kept, and never processed again (an erased person, say). Its reason stays in the
        # admin: telling a partner that this person asked to be erased would itself disclose
        # something about them (docs/channels.md).
        return JsonResponse({"status": "ignored", "event_id": event.pk,
                             "reason": IGNORED_REASON}, status=200)
    # Stored but not processed yet (or failed and queued for a retry): nothing is lost.
    return JsonResponse({"status": "queued", "event_id": event.pk}, status=202)


def normalise(event: InboundEvent) -> IntakeInput:
    """Reads a stored event again (reprocessing); the request passes what it checked."""
    payload = event.payload or {}
    api_key = ApiKey.objects.filter(pk=payload.get("key")).first()
    if api_key is None:
        raise Rejected("The API key this lead came with no longer exists.")
    record = payload.get("record") or {}
    form_post = event.channel == FORM_CHANNEL
    checked = read_record(
        {k: v for k, v in record.items() if k not in META_KEYS},
        mapping=api_key.field_mapping, region=api_key.default_region,
        unknown="keep" if form_post else "error",
    )
    if checked.errors:
        raise Rejected(f"Invalid fields: {json.dumps(checked.errors)}")
    return _input(api_key, record, checked, at=event.received_at, ip=event.remote_ip,
                  form_post=form_post)


def _input(api_key: ApiKey, record: dict, checked, *, at, ip: str | None,
           form_post: bool) -> IntakeInput:
    consent = None
    if checked.consent:
        consent = Consent(
            text=str(record.get("consent_text") or f"Consent given on {api_key.name}"),
            given_at=at, ip=ip if form_post else None,
        )
    return IntakeInput(
        channel=LeadChannel.API,
        fields=checked.fields,
        summary=f"{'Form posted' if form_post else 'Sent'} by {api_key.name}",
        body=body_with_extra(checked.fields.get("message", ""), checked.extra),
        occurred_at=at,
        source=api_key.source,
        consent=consent,
        custom=checked.custom,
        acknowledge_with=api_key.acknowledge_with_id,
    )

channel = Channel(name=CHANNEL, verify=authenticate, events=lambda r: [], normalise=normalise)
form_channel = Channel(
    name=FORM_CHANNEL, verify=lambda r: None, events=lambda r: [], normalise=normalise
)


@csrf_exempt  # a third-party site's own HTML form: no token; abuse checks instead
def form_post(request: HttpRequest, source: str) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed("Use POST.")
    api_key = ApiKey.objects.filter(source=source, is_active=True,
                                    accepts_form_posts=True).first()
    if api_key is None:
        return _error("No form source with this name accepts posts.", 404)
    try:
        body = read_body(request, MAX_BODY)
    except ChannelError as exc:
        return exc.response()
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _error("Post the form as application/x-www-form-urlencoded.", 415)
    scope, limit = f"api-form:{api_key.pk}", settings.FORM_RATE_LIMIT_PER_MINUTE
    if abuse.is_rate_limited(request, scope, limit):
        response = _error("Too many submissions from your network; try again in a minute.", 429)
        response["Retry-After"] = str(max(1, abuse.seconds_until_allowed(
            abuse.rate_key(request, scope), limit)))
        return response
    try:
        post = read_form(request)
    except ChannelError as exc:
        return exc.response()
    record = {key: post.get(key, "") for key in post}
    checked = read_record(record, mapping=api_key.field_mapping,
                          region=api_key.default_region, unknown="keep")
    if checked.errors:
        if "text/html" in request.headers.get("Accept", ""):
            return _error_page(checked.error_body())
        return JsonResponse(checked.error_body(), status=400)
    ip = abuse.client_ip(request)
    receive_event(
        channel=FORM_CHANNEL, external_id=uuid.uuid4().hex, body=body,
        payload={"key": api_key.pk, "record": record}, headers=request_headers(request),
        remote_ip=ip,
        data=_input(api_key, record, checked, at=timezone.now(), ip=ip, form_post=True),
    )
    back = record.get("retURL", "")
    parts = urlsplit(back)
    if back and canonical_origin(f"{parts.scheme}://{parts.netloc}") in api_key.origin_list:
        return HttpResponseRedirect(back)
    return HttpResponse(
        "<!doctype html><title>Thank you</title><p>Thank you! We have your request.</p>"
    )



def _error_page(body: dict) -> HttpResponse:
    """A plain HTML form on another site posted here: its visitor's browser gets a page that
    says what to correct, not JSON (scripts, which ask for JSON, still get the JSON body)."""
    items = format_html_join("", "<li>{}: {}</li>", (
        (field, " ".join(map(str, messages))) for field, messages in
        (body.get("fields") or {}).items()))
    return HttpResponse(format_html(
        "<!doctype html><title>Please check the form</title><h1>Please check the form</h1>"
        "<ul>{}</ul><p>Go back, correct it and send it again.</p>", items), status=400)
