"""Generic signed JSON webhooks: /inbound/webhook/<source>/ for Zapier-style tools and widgets.

The sender signs b"<X-Leadcrm-Timestamp>." + raw body with the source's secret (HMAC-SHA256,
hex, in X-Leadcrm-Signature as "sha256=<hex>"); requests older than five minutes are refused.
The source's field mapping (admin) reads their keys as lead fields.
"""

from __future__ import annotations

import hashlib
import json
import shlex

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from capture.channels import hmac_timestamped
from capture.channels.base import (
    Channel,
    Malformed,
    NotFound,
    RawEvent,
    body_with_extra,
    post_only,
    provider_event_id,
    read_json,
    read_record,
    receive,
)
from capture.intake import Consent, IntakeInput, Rejected
from capture.memo import request_memo
from capture.models import Channel as LeadChannel
from capture.models import InboundEvent, WebhookSource

CHANNEL = "webhook"
# What verify() and events() read: shown to sales ops on the source's admin page, for the sender.
TIMESTAMP_HEADER = "X-Leadcrm-Timestamp"
SIGNATURE_HEADER = "X-Leadcrm-Signature"
EVENT_ID_HEADER = "X-Leadcrm-Event-Id"
SIGNATURE_PREFIX = "sha256="


def source_named(slug: str) -> WebhookSource | None:
    """The source row, read once per request (verify, events and normalise all ask for it)."""
    return request_memo.get(("webhook_source", slug),
                            lambda: WebhookSource.objects.filter(slug=slug).first())


def _source(request: HttpRequest) -> WebhookSource:
    slug = request.resolver_match.kwargs["source"]
    source = source_named(slug)
    if source is None or not source.is_active:
        raise NotFound(f"No webhook source {slug!r}.")
    return source


def verify(request: HttpRequest) -> None:
    source = _source(request)
    if request.content_type != "application/json":
        raise Malformed("Send JSON with 'Content-Type: application/json'.", status=415)
    signature = request.headers.get(SIGNATURE_HEADER, "").removeprefix(SIGNATURE_PREFIX)
    hmac_timestamped.verify(source.secret, request.headers.get(TIMESTAMP_HEADER, ""),
                            request.body, signature)


def sender_examples(url: str, secret: str) -> tuple[str, str]:
    """A request to `url` signed as verify() checks it, in shell (openssl and curl) and in
    Python: what a sender's developer copies. `secret` is written in as given."""
    example = {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com"}
    body = json.dumps(example)
    shell = "\n".join([
        f"SECRET={shlex.quote(secret)}",
        f"BODY={shlex.quote(body)}",
        "TS=$(date +%s)",
        "SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" "
        "| awk '{print $NF}')",
        f"curl -sS -X POST {shlex.quote(url)} \\",
        "  -H 'Content-Type: application/json' \\",
        f"  -H \"{TIMESTAMP_HEADER}: $TS\" \\",
        f"  -H \"{SIGNATURE_HEADER}: {SIGNATURE_PREFIX}$SIG\" \\",
        "  --data-raw \"$BODY\"",
    ])
    python = "\n".join([
        "import hashlib, hmac, json, time, urllib.request",
        "",
        f"URL = {json.dumps(url)}",
        f"SECRET = {json.dumps(secret)}",
        f"body = json.dumps({body}).encode()",
        "timestamp = str(int(time.time()))",
        'signed = timestamp.encode() + b"." + body  # the raw bytes sent, not re-serialised',
        "digest = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()",
        'request = urllib.request.Request(URL, data=body, method="POST", headers={',
        '    "Content-Type": "application/json",',
        f'    "{TIMESTAMP_HEADER}": timestamp,',
        f'    "{SIGNATURE_HEADER}": "{SIGNATURE_PREFIX}" + digest,',
        "})",
        "print(urllib.request.urlopen(request).read().decode())",
    ])
    return shell, python


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """{"contact": {"email": "x"}} -> {"contact.email": "x"}; lists keep their index (and a
    list of plain values is also kept whole under its own name)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat: dict[str, object] = {}
    if isinstance(value, list) and prefix and all(
            not isinstance(v, dict | list) for v in value):
        flat[prefix] = value  # a list of answers, whole too (a "several choices" field)
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def events(request: HttpRequest) -> list[RawEvent]:
    source = _source(request)
    payload = read_json(request, shape=lambda p: isinstance(p, dict),
                        shape_error="Send one JSON object per request.")
    if header := request.headers.get(EVENT_ID_HEADER):
        key = provider_event_id(header, EVENT_ID_HEADER)
    elif payload.get("id") not in (None, ""):
        key = provider_event_id(payload["id"], "id")
    else:
        key = hashlib.sha256(request.body).hexdigest()
    checked = read_record(flatten(payload), mapping=source.field_mapping,
                          region=source.default_region, unknown="keep")
    if checked.errors:
        raise Malformed("Some fields are not valid.", fields=checked.errors)
    return [RawEvent(external_id=f"{source.slug}:{key}",
                     payload={"source": source.slug, "data": payload})]


def normalise(event: InboundEvent) -> IntakeInput:
    source = source_named(str(event.payload.get("source") or ""))
    if source is None:
        raise Rejected("The webhook source of this event was deleted.")
    checked = read_record(flatten(event.payload.get("data") or {}),
                          mapping=source.field_mapping, region=source.default_region,
                          unknown="keep")
    if checked.errors:
        raise Rejected(f"Invalid fields: {json.dumps(checked.errors)}")
    return IntakeInput(
        channel=LeadChannel.API,
        fields=checked.fields,
        summary=f"Sent by {source.name}",
        body=body_with_extra(checked.fields.get("message", ""), checked.extra),
        occurred_at=event.received_at,
        source=source.slug,
        custom=checked.custom,
        acknowledge_with=source.acknowledge_with_id,
        consent=Consent(text=f"Consent given through {source.name}",
                        given_at=event.received_at) if checked.consent else None,
    )


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    from django.http import JsonResponse

    event = stored[0]
    # "created" as the API's 201/200 tells it: a new person, or one already a lead. A retry
    # gets its first answer again (the event keeps whether it made the lead).
    return JsonResponse({"event_id": event.pk, "status": event.status,
                         "lead_id": event.lead_id, "created": bool(event.created_lead)})


channel = Channel(name=CHANNEL, verify=verify, events=events, normalise=normalise, reply=reply)


@csrf_exempt
@post_only
def webhook_view(request: HttpRequest, source: str) -> HttpResponse:
    return receive(request, channel)
