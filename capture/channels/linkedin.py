"""LinkedIn Lead Gen Forms at /inbound/linkedin/ (Lead Sync API lead notifications).

As LinkedIn documents its webhooks (learn.microsoft.com/linkedin/shared/api-guide/
webhook-validation): a GET with `challengeCode` is answered with JSON
{"challengeCode": ..., "challengeResponse": hex(HMAC-SHA256(challengeCode, clientSecret))};
every POST carries X-LI-Signature, the HMAC-SHA256 of the body under the client secret
(LINKEDIN_CLIENT_SECRET), and is deduplicated on the notification's id. A notification names
the form response only: a django-q2 task fetches it from the Lead Sync API
(LINKEDIN_API_URL/leadFormResponses/<id>) and maps its answers through the form's mapping in
the admin (LinkedInForm), as Meta lead ads are fetched in capture.channels.meta.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from urllib.parse import quote

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt

from capture.channels.base import (
    PREPARERS,
    BadSignature,
    Channel,
    Malformed,
    RawEvent,
    from_epoch,
    method_not_allowed,
    provider_event_id,
    read_json,
    receive,
    set_aside_unreadable_contacts,
)
from capture.channels.http import retrying_session
from capture.intake import (
    AWAITING_FETCH,
    Consent,
    IntakeInput,
    Rejected,
    process_inbound_event,
)
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, LinkedInForm

logger = logging.getLogger(__name__)

NAME = "linkedin"
SETTINGS = ChannelSettings.Name.LINKEDIN
SIGNATURE_PREFIX = "hmacsha256="
FORM_NUMBER = re.compile(r"leadGenForm:(\d+)")


def challenge_response(code: str, secret: str) -> str:
    return hmac.new(secret.encode(), code.encode(), hashlib.sha256).hexdigest()


def signature_for(body: bytes, secret: str) -> str:
    """The X-LI-Signature value LinkedIn sends for `body`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(request: HttpRequest) -> None:
    """LinkedIn's wording ("the HMACSHA256 hash of the JSON-encoded string representation of
    the POST body prefixed by hmacsha256=") reads two ways: the header is "hmacsha256=" + the
    hex HMAC of the body (what we send in tests), or the HMAC is over "hmacsha256=" + body.
    Both need the client secret, so both are accepted; anything else is refused."""
    secret = settings.LINKEDIN_CLIENT_SECRET
    if not secret:
        raise BadSignature("LINKEDIN_CLIENT_SECRET is not set on this server.")
    header = request.headers.get("X-LI-Signature", "").strip()
    if not header:
        raise BadSignature("X-LI-Signature is missing.")
    given = header.removeprefix(SIGNATURE_PREFIX).lower()
    body = request.body
    candidates = (
        hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        hmac.new(secret.encode(), SIGNATURE_PREFIX.encode() + body, hashlib.sha256).hexdigest(),
    )
    if not any(constant_time_compare(given, expected) for expected in candidates):
        raise BadSignature("X-LI-Signature does not match the body.")


def events(request: HttpRequest) -> list[RawEvent]:
    payload = read_json(request)
    items = payload if isinstance(payload, list) else [payload]
    found = []
    for item in items:
        if not isinstance(item, dict) or not item.get("notificationId"):
            raise Malformed("Expected a LinkedIn lead notification with a notificationId.")
        if not isinstance(item.get("leadGenFormResponse"), str):
            raise Malformed("The notification has no leadGenFormResponse URN.")
        key = provider_event_id(item["notificationId"], "notificationId")
        raw = RawEvent(external_id=f"notification:{key}",
                       payload={"notification": item})
        action = str(item.get("leadAction") or "CREATED").upper()
        if action != "CREATED":
            raw = RawEvent(raw.external_id, raw.payload, InboundEvent.Status.IGNORED,
                           f"Lead action {action}: nothing to take in.")
        found.append(raw)
    return found


def form_number(*urns: object) -> str:
    for urn in urns:
        if isinstance(urn, str) and (found := FORM_NUMBER.search(urn)):
            return found.group(1)
    return ""


def answer_text(answer: dict) -> str:
    details = answer.get("answerDetails") or {}
    if text := details.get("textQuestionAnswer"):
        return str(text.get("answer", ""))
    if choice := details.get("multipleChoiceAnswer"):
        return ", ".join(str(option) for option in choice.get("options") or [])
    return ""


def normalise(event: InboundEvent) -> IntakeInput:
    try:
        return _normalise(event)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed LinkedIn form response: {type(exc).__name__}: {exc}") \
            from None


def _normalise(event: InboundEvent) -> IntakeInput:
    response = event.payload.get("response")
    if not response:
        raise RuntimeError("The form response is not fetched yet (task fetch_form_response).")
    notification = event.payload["notification"]
    number = form_number(response.get("versionedLeadGenFormUrn"),
                         notification.get("leadGenForm"))
    form = LinkedInForm.objects.filter(form_id=number).first()
    if form is None:
        # Failed, not rejected: once sales ops add the mapping, the admin's reprocess works.
        raise RuntimeError(f"No mapping for LinkedIn form {number or '(unknown)'}: add it under "
                           "LinkedIn lead gen forms in the admin, then reprocess this event.")
    if not form.is_active:
        raise Rejected(f"LinkedIn form {number} is switched off in the admin.")
    fields: dict[str, str] = {}
    other: list[str] = []
    for answer in (response.get("formResponse") or {}).get("answers") or []:
        question = str(answer.get("questionId", ""))
        value = answer_text(answer).strip()
        target = form.question_mapping.get(question)
        if target and value:
            fields.setdefault(target, value)
        elif target != "" and value:
            other.append(f"question {question}: {value}")
    set_aside_unreadable_contacts(fields, other, form.default_region or "")
    if not (fields.get("email") or fields.get("phone")):
        raise Rejected(f"The LinkedIn form response has no valid email or phone (form {number}).")
    test = " (test lead)" if response.get("testLead") else ""
    occurred_at = from_epoch(response.get("submittedAt") or notification.get("occuredAt"),
                             per_second=1000) or event.received_at
    # The form's consent boxes the member ticked (LinkedIn keeps their wording in the form).
    accepted = [str(c.get("consentId", "")) for c in
                (response.get("formResponse") or {}).get("consentResponses") or []
                if isinstance(c, dict) and c.get("accepted") is True]
    consent = Consent(text="Ticked the consent box of LinkedIn lead gen form "
                      f"{form.name} (consent {', '.join(accepted)})"[:2000],
                      given_at=occurred_at) if accepted else None
    return IntakeInput(
        channel=LeadChannel.SOCIAL, fields=fields,
        summary=f"LinkedIn lead gen form: {form.name}{test}"[:255], body="\n".join(other),
        occurred_at=occurred_at, consent=consent,
        source=ChannelSettings.for_channel(SETTINGS).source or form.source,
    )


def task_for(raw: RawEvent) -> str:
    return "capture.channels.linkedin.fetch_form_response"


channel = Channel(name=NAME, verify=verify, events=events, normalise=normalise,
                  settings_name=SETTINGS, max_body=256 * 1024, task=task_for)


# --- the Lead Sync API ------------------------------------------------------------------------

class LeadSyncClient:
    """GET /leadFormResponses/<id> with retries on 429 and 5xx; base URL LINKEDIN_API_URL."""

    def __init__(self, base_url: str | None = None, token: str | None = None):
        self.base_url = (base_url or settings.LINKEDIN_API_URL).rstrip("/")
        self.token = token if token is not None else settings.LINKEDIN_ACCESS_TOKEN
        self.session = retrying_session(attempts=2, backoff=0.3)

    def form_response(self, urn: str) -> dict:
        response_id = urn.rsplit(":", 1)[-1]
        response = self.session.get(
            f"{self.base_url}/leadFormResponses/{quote(response_id, safe='')}",
            headers={"Authorization": f"Bearer {self.token}",
                     "LinkedIn-Version": settings.LINKEDIN_API_VERSION,
                     "X-Restli-Protocol-Version": "2.0.0"},
            timeout=10,
        )
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("The Lead Sync API answered something other than an object.")
        return data


AWAITING_FETCH[NAME] = lambda event: not event.payload.get("response")


def fetch_form_response(event_id: int) -> bool:
    """django-q2 task: fetch the form response (outside any transaction), then process.

    Raises when the Lead Sync API fails, so the queue retries; the event stays stored and the
    schedule (and the admin's reprocess) fetch it again.
    """
    event = InboundEvent.objects.filter(
        id=event_id, channel=NAME,
        status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED]).first()
    if event is None:
        return False
    if not event.payload.get("response"):
        if not event.payload.get("notification"):  # purged by retention: nothing to fetch
            return False
        urn = event.payload["notification"]["leadGenFormResponse"]
        fetches = int(event.payload.get("fetch_attempts", 0)) + 1
        try:
            response = LeadSyncClient().form_response(urn)
        except (requests.RequestException, ValueError) as exc:
            InboundEvent.objects.filter(id=event.id).update(
                status=InboundEvent.Status.FAILED,
                payload={**event.payload, "fetch_attempts": fetches},
                reason=f"Fetching {urn} from the Lead Sync API failed ({fetches} tries): "
                f"{exc}"[:2000])
            raise
        InboundEvent.objects.filter(id=event.id).update(
            payload={**event.payload, "response": response})
    return process_inbound_event(event.id) is not None


@PREPARERS.register(NAME)
def prepare(event: InboundEvent) -> bool:
    """The admin's reprocess fetches first when the form response is missing."""
    if not event.payload.get("response"):
        try:
            return fetch_form_response(event.id)
        except (requests.RequestException, ValueError):
            return False
    return process_inbound_event(event.id) is not None


MAX_FETCHES = 12  # every five minutes: an hour of Lead Sync API outage


def retry_form_response_fetches(limit: int = 50) -> int:
    """Schedule: notifications whose form response could not be fetched yet are tried again."""
    waiting = InboundEvent.objects.filter(
        channel=NAME, status__in=[InboundEvent.Status.RECEIVED, InboundEvent.Status.FAILED],
    ).order_by("received_at").values_list("id", "payload")[: limit * 4]
    ids = [event_id for event_id, payload in waiting  # (a purged payload has no notification)
           if payload.get("notification") and not payload.get("response")
           and payload.get("fetch_attempts", 0) < MAX_FETCHES]
    done = 0
    for event_id in ids[:limit]:
        try:
            done += fetch_form_response(event_id)
        except (requests.RequestException, ValueError):
            logger.warning("LinkedIn event %s: the Lead Sync API is still failing", event_id)
    return done


@csrf_exempt
def linkedin_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        code = request.GET.get("challengeCode", "")
        secret = settings.LINKEDIN_CLIENT_SECRET
        if not secret:  # as every provider channel whose secret is not set (docs/channels.md)
            return JsonResponse({"error": "LINKEDIN_CLIENT_SECRET is not set on this server."},
                                status=403)
        if not code:
            return JsonResponse({"error": "Expected a challengeCode."}, status=400)
        return JsonResponse({"challengeCode": code,
                             "challengeResponse": challenge_response(code, secret)})
    if request.method != "POST":
        return method_not_allowed("Use GET (validation) or POST.", "GET, POST")
    return receive(request, channel)
