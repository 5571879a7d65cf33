"""What every channel shares: the Channel triple, the one receive() view, errors as JSON 4xx,
and reading a flat record (API body, webhook JSON, CSV row) as lead fields."""

from __future__ import annotations

import codecs
import contextlib
import functools
import io
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation, ValidationError
from django.db import transaction
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
    QueryDict,
)
from django.http.multipartparser import MultiPartParser, MultiPartParserError
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt

from capture import abuse
from capture.custom_fields import FALSE_WORDS, TRUE_WORDS  # the yes/no words custom fields read
from capture.fields import LEAD_FIELDS, MAX_LENGTHS
from capture.identity import InvalidPhone, normalise_phone, parse_email, phone_region
from capture.intake import (
    IntakeInput,
    event_key,
    process_inbound_event,
    receive_event,
    register_normaliser,
)
from capture.models import ChannelSettings, InboundEvent
from capture.queue import queue_task_with_data

logger = logging.getLogger(__name__)

STORED_HEADERS = (
    "User-Agent", "Content-Type", "X-Twilio-Signature", "X-Hub-Signature-256",
    "Calendly-Webhook-Signature", "Idempotency-Key", "X-Leadcrm-Timestamp",
    "X-Leadcrm-Signature", "X-Leadcrm-Event-Id", "X-LI-Signature", "X-Slack-Signature",
    "X-Slack-Request-Timestamp", "X-Slack-Retry-Num", "X-Slack-Retry-Reason",
    "X-Twitter-Webhooks-Signature",
)  # never X-Telegram-Bot-Api-Secret-Token: it is the secret itself


class ChannelError(Exception):
    """A request we refuse: answered with `status` and {"error": message}, nothing stored."""

    status = 400

    def __init__(self, message: str, status: int | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra
        if status is not None:
            self.status = status

    def response(self) -> JsonResponse:
        return JsonResponse({"error": self.message, **self.extra}, status=self.status)


class BadSignature(ChannelError):
    status = 403


class Malformed(ChannelError):
    status = 400


class NotFound(ChannelError):
    status = 404


@dataclass(frozen=True)
class RawEvent:
    """One event found in a request: the provider's id and the part of the payload it is."""

    external_id: str
    payload: object
    status: str = InboundEvent.Status.RECEIVED
    reason: str = ""


@dataclass(frozen=True)
class Channel:
    name: str  # the InboundEvent.channel value: "twilio-sms", "meta", "calendly", ...
    verify: Callable[[HttpRequest], None]  # raises ChannelError
    events: Callable[[HttpRequest], Iterable[RawEvent]]  # raises Malformed
    normalise: Callable[[InboundEvent], IntakeInput]  # may raise Rejected / Ignored
    # The answer to the provider; an event's `stored_now` is False when the request is a retry.
    reply: Callable[[HttpRequest, list[InboundEvent]], HttpResponse] | None = None
    settings_name: str = ""  # the ChannelSettings row that can switch it off
    max_body: int = 256 * 1024
    # The django-q2 task that processes an event (after commit) instead of the request; "" = now.
    task: Callable[[RawEvent | InboundEvent], str] | None = None

    def __post_init__(self) -> None:
        register_normaliser(self.name)(self.normalise)


def method_not_allowed(message: str, allowed: str = "POST") -> JsonResponse:
    """The JSON 405, with the Allow header HTTP requires on it."""
    response = JsonResponse({"error": message}, status=405)
    response["Allow"] = allowed
    return response


def post_only(view):
    """Like require_POST, with the JSON 405 every channel answers bad requests with."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method != "POST":
            return method_not_allowed("Use POST.")
        return view(request, *args, **kwargs)

    return wrapper


@csrf_exempt  # a POST to a wrong address gets this answer, not the CSRF failure page
def no_such_endpoint(request: HttpRequest) -> HttpResponse:
    """Any other path under /inbound/ and /api/: a JSON 404 like every channel's refusals,
    not the HTML 404 page. A GET that lacks only the final slash is redirected to it, as
    APPEND_SLASH would (this catch-all stops CommonMiddleware from doing it); any other method
    is told the address, since a redirect would drop its body."""
    path = request.path_info
    if not path.endswith("/"):
        try:
            match = resolve(path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "no-such-endpoint":
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
            return JsonResponse({"error": f"No endpoint at {path}; the address ends with a "
                                 f"slash: {path}/."}, status=404)
    return JsonResponse({"error": f"No endpoint at {path}. The addresses are listed in "
                         "docs/channels.md."}, status=404)


def request_headers(request: HttpRequest) -> dict[str, str]:
    return {name: request.headers[name][:500] for name in STORED_HEADERS
            if name in request.headers}


MAX_JSON_DEPTH = 32  # deeper payloads are refused: no provider nests this deep


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit` (checked without recursion: flattening,
    storing or reading a 900-level payload would raise RecursionError, a 500)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def unreadable_json(value: object, limit: int = MAX_JSON_DEPTH) -> str:
    """Why parsed JSON cannot be stored, or "": nested deeper than `limit`, or text that is
    not valid Unicode (JSON may escape a lone surrogate, "\\ud800", no database stores)."""
    if too_deep(value, limit):
        return "The JSON is nested too deeply."
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "The JSON has text that is not valid Unicode (a lone surrogate)."
        elif isinstance(item, float) and not math.isfinite(item):
            return "The JSON has NaN or Infinity, which JSON does not allow."
    return ""


# --- the charset a sender declares ------------------------------------------------------------

CHARSET_FIELD = "_charset_"  # a form field browsers fill with the page's encoding (HTML)
UNDECLARED_FORM_CHARSET = (
    "The form is not in UTF-8 and does not say which charset it is in. Add "
    'accept-charset="UTF-8" to the <form>, or a hidden field named _charset_ (browsers fill '
    "in the page's charset), or the charset to the Content-Type (e.g. "
    "application/x-www-form-urlencoded; charset=ISO-8859-1).")

UNDECLARED_JSON_CHARSET = (
    "The body is not UTF-8: send the JSON in UTF-8, or say its charset (Content-Type: "
    "application/json; charset=ISO-8859-1).")


def declared_charset(request: HttpRequest) -> str:
    """The charset of the Content-Type ("" when none), as the sender wrote it."""
    return str(request.content_params.get("charset", "")).strip().strip('"')


def _codec(charset: str, *, for_form: bool = False) -> str:
    """Python's codec for a declared charset, or Malformed naming it. A form body must be in
    a charset that writes "a=b&c" as ASCII does (not UTF-16): its separators are bytes."""
    try:
        name = codecs.lookup(charset).name
        ascii_like = "_=&+%".encode(name) == b"_=&+%"  # LookupError for bytes-to-bytes codecs
    except (LookupError, ValueError):
        raise Malformed(f"The body's charset {charset!r} is not one this server knows; send "
                        "it in UTF-8 or say which charset it is in the Content-Type.") from None
    if for_form and not ascii_like:
        raise Malformed(f"A form body cannot be in {charset}; send it in UTF-8.")
    return name


def decode_text(data: bytes, charset: str, *, for_form: bool = False) -> str:
    """Bytes in a declared charset as text, or Malformed (a 400) naming the charset.

    Latin-1 is read as windows-1252 when it is (browsers send 0x80-0x9F of a page labelled
    Latin-1 as windows-1252's euro sign and curly quotes, as the WHATWG Encoding standard
    says), else as Latin-1, which has a character for every byte."""
    codec = _codec(charset, for_form=for_form)
    if codec == "iso8859-1":
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("cp1252")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise Malformed(f"The body is not valid {charset} text (the charset it declares): "
                        "declare the charset it is in, or send it in UTF-8.") from None


def read_form(request: HttpRequest) -> QueryDict:
    """A form post's fields (urlencoded or multipart), read in the charset the sender declares:
    the Content-Type's charset, else the `_charset_` field browsers fill, else UTF-8.

    Django reads a form in UTF-8 only: it refused a declared Latin-1 body, and read an
    undeclared one with U+FFFD for every accent. Here a body that is not in its charset is
    Malformed (a 400 naming it), never a lead with its letters lost. The fields become
    request.POST (without `_charset_`), so what reads request.POST later sees them too. A body
    of another type has no fields, as Django reads it."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.POST
    body = request.body
    files = MultiValueDict()
    try:
        if request.content_type == "multipart/form-data":
            # Read byte for byte (Latin-1 maps each byte to one character), decoded below.
            fields, files = MultiPartParser(request.META, io.BytesIO(body),
                                            request.upload_handlers, "latin-1").parse()
            pairs = [(key, value) for key, values in fields.lists() for value in values]
        else:
            pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True,
                              encoding="latin-1",
                              max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
    except (MultiPartParserError, SuspiciousOperation, BadRequest, ValueError) as exc:
        raise Malformed(f"The form could not be read: {exc}") from None
    declared = declared_charset(request) or next(
        (value for key, value in pairs if key == CHARSET_FIELD and value), "")
    post = QueryDict(mutable=True)
    try:
        for key, value in pairs:
            if key != CHARSET_FIELD:
                post.appendlist(
                    decode_text(key.encode("latin-1"), declared or "utf-8", for_form=True),
                    decode_text(value.encode("latin-1"), declared or "utf-8", for_form=True))
    except Malformed:
        if declared:
            raise
        raise Malformed(UNDECLARED_FORM_CHARSET) from None
    post._mutable = False
    request._post, request._files = post, files
    return post


def json_body(request: HttpRequest) -> object:
    """The body parsed as JSON, in the charset its Content-Type declares. Without one (or with
    UTF-8, or one no codec knows), JSON's own rule: UTF-8, or the UTF-16/32 its first bytes
    show. Malformed when the body is not in its declared charset, or declares none and is not
    UTF-8; ValueError or RecursionError when it is no JSON."""
    charset = declared_charset(request)
    try:
        codec = _codec(charset) if charset else "utf-8"
    except Malformed:
        # JSON defines no charset parameter (RFC 8259): a label we cannot name is ignored, as
        # before, not held against a provider's retries.
        codec = "utf-8"
    if codec == "utf-8":
        try:
            return json.loads(request.body)
        except UnicodeDecodeError:  # the JSON may be fine: say what is wrong (its encoding)
            raise Malformed(UNDECLARED_JSON_CHARSET) from None
    return json.loads(decode_text(request.body, charset))


def read_json(request: HttpRequest, *, shape: Callable[[object], bool] | None = None,
              shape_error: str = "") -> object:
    """The body as JSON, or Malformed: not JSON, not the channel's `shape`, or not storable."""
    try:
        payload = json_body(request)
    except (ValueError, RecursionError):
        raise Malformed("The body is not valid JSON.") from None
    if shape is not None and not shape(payload):
        raise Malformed(shape_error)
    if problem := unreadable_json(payload):
        raise Malformed(problem)
    return payload


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, refused with 413 when it is larger than `limit`: the channel's own limit.

    The stream is read here, at most limit + 1 bytes, not through request.body, which applies
    DATA_UPLOAD_MAX_MEMORY_SIZE (256 KB, kept for ordinary form posts) before the channel's
    limit (Meta's is 1 MiB). What was read becomes request.body for the signature check, the
    parsing and the stored event, as Django keeps what request.body reads itself."""
    too_big = ChannelError(f"The body is larger than {limit} bytes.", status=413)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Malformed("Content-Length is not a number.") from None
    if length > limit:
        raise too_big
    if hasattr(request, "_body"):  # read already (a view that looked at it first)
        body = request.body
    else:
        stream = request  # the WSGI stream, which Django stops at Content-Length
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not length:
            # A streamed body (Go, Java, .NET, requests with a generator) has no
            # Content-Length, and Django reads it as empty: the sender was told its JSON was
            # missing or its signature wrong. gunicorn ends the decoded chunks itself
            # (wsgi.input_terminated), so that input is read up to the limit instead; a server
            # that does not cannot tell where the body ends.
            if not request.META.get("wsgi.input_terminated"):
                raise ChannelError("Send the body with a Content-Length header: this server "
                                   "cannot read a chunked body.", status=411)
            stream = request.META["wsgi.input"]
        try:
            body = stream.read(limit + 1)
        except OSError as exc:
            raise Malformed(f"The body could not be read: {exc}.") from None
        request._body = body
        request._stream = io.BytesIO(body)
    if len(body) > limit:
        raise too_big
    return body


# How long a request spends taking in the events of one delivery before it stores the rest for
# the worker: a provider batching many (Meta: up to 1,000 changes a POST) gets its answer in
# seconds, not gunicorn's 500 after 30 s, and every event in it is a lead within a minute.
INLINE_SECONDS = 5.0
PROCESS_TASK = "capture.tasks.process_inbound_event"
LATE_CHUNK = 25  # events stored for the worker per transaction (as imports commit: SQLite's lock)


def store_and_process(
    channel: Channel, request: HttpRequest, raws: Iterable[RawEvent]
) -> list[InboundEvent]:
    raws = list(raws)
    # A delivery of several events that the provider sends again: its stored events are found
    # in one query, not each by a failed INSERT (a 1,000-message retry took longer than the
    # first delivery, and never finished).
    known = {}
    if len(raws) > 1:
        keys = {event_key(raw.external_id) for raw in raws}
        known = {event.external_id: event for event in InboundEvent.objects.filter(
            channel=channel.name, external_id__in=keys).defer("body")}
    # The raw body is kept once, on the first event stored from it: each event's own part is
    # its payload (40 copies of a delivery's bytes made its storage grow with its square).
    body = request.body
    started = time.monotonic()
    stored: list[InboundEvent] = []
    late = 0  # events stored for the worker so far (past the time budget)

    def store(raw: RawEvent, task: str, *, own_transaction: bool) -> None:
        nonlocal body
        # The task row commits with its event; without a task, receive_event() is the
        # transaction (no savepoint inside an outer one).
        with transaction.atomic() if own_transaction else contextlib.nullcontext():
            event, created, _ = receive_event(
                channel=channel.name, external_id=raw.external_id, body=body,
                payload=raw.payload, headers=request_headers(request),
                remote_ip=abuse.client_ip(request), status=raw.status, reason=raw.reason,
                process=not task,
            )
            if created and task and event.status == InboundEvent.Status.RECEIVED:
                queue_task_with_data(task, event.id)
        if created:
            body = b""
        event.stored_now = created
        stored.append(event)

    with contextlib.ExitStack() as chunk:
        for raw in raws:
            if (event := known.get(event_key(raw.external_id))) is not None:
                event.stored_now = False
                stored.append(event)
                continue
            # A channel that processes in a task (Meta lead ads fetch their answers) stores
            # only. So does any channel once this request has spent its time on the others:
            # the rest are stored LATE_CHUNK to a transaction, each with its task, and the
            # worker takes them in. A chunk committed stays if the request is cut short (a
            # worker timeout): the provider's retry finds it and stores what is left.
            task = (channel.task(raw) if channel.task else "")
            if late or (stored and time.monotonic() - started > INLINE_SECONDS):
                if not late % LATE_CHUNK:
                    chunk.close()  # commits the chunk before
                    chunk.enter_context(transaction.atomic())
                late += 1
                store(raw, task or PROCESS_TASK, own_transaction=False)
            else:
                store(raw, task, own_transaction=bool(task))
    return stored


class _Preparers(dict):
    """Channels whose reprocessing needs a step first (Meta lead ads fetch their answers)."""

    def register(self, channel_name: str):
        def decorator(func):
            self[channel_name] = func
            return func

        return decorator


PREPARERS: _Preparers = _Preparers()


def reprocess(event_id: int) -> bool:
    """The admin's reprocess: the channel's own step when it has one, else the intake's."""
    event = InboundEvent.objects.filter(id=event_id).first()
    if event is None:
        return False
    if prepare := PREPARERS.get(event.channel):
        return bool(prepare(event))
    return process_inbound_event(event_id) is not None


def platform_id(value: object, what: str) -> str:
    """A platform's id for a user, chat or message (a number or a short string) as text.

    Raises ValueError for anything else (an object, a list, true, an empty or huge string), so
    a signed but malformed event is refused instead of keyed by "{'a': 1}"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 200 and value.isprintable():
        return value
    raise ValueError(f"{what} is not an id: {str(value)[:40]!r}")


def provider_event_id(value: object, field: str) -> str:
    """A provider's id for its event, the key a retry finds it by: a 400 naming the field for
    anything platform_id() refuses, rather than a key made of "{'a': 1}" or of an id cut short."""
    try:
        return platform_id(value, field)
    except ValueError:
        problem = "Send the event's id as a string (at most 200 characters) or a whole number."
        raise Malformed(f"{field}: {problem}", fields={field: [problem]}) from None


def platform_text(value: object, what: str) -> str:
    """Text a person wrote on a platform ("" when absent); ValueError when it is not text."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def from_epoch(value: object, *, per_second: int = 1) -> datetime | None:
    """A provider's Unix time (seconds; milliseconds with per_second=1000) in UTC, or None when
    it is missing, not a number or out of range: a year past 9999 raises OverflowError, and on
    Linux a huge one OSError (EOVERFLOW), which once crashed a WhatsApp event in the fuzzer."""
    try:
        return datetime.fromtimestamp(float(str(value)) / per_second, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def over_webhook_rate(request: HttpRequest, scope: str) -> JsonResponse | None:
    """The 429 for a sender past WEBHOOK_RATE_LIMIT_PER_MINUTE on one channel, else None.

    Checked before the body is read or the signature computed, so a flood of forged requests
    costs a cache increment each. The limit is per sending IP and channel, and high by default:
    providers send from pools of addresses, and a 429 only makes them retry later."""
    if not abuse.is_rate_limited(request, f"hook:{scope}", settings.WEBHOOK_RATE_LIMIT_PER_MINUTE):
        return None
    response = JsonResponse({"error": "Too many requests from this address; retry in a minute."},
                            status=429)
    response["Retry-After"] = "60"
    return response


def receive(request: HttpRequest, channel: Channel) -> HttpResponse:
    """Authenticate, store every event first, process it, answer the provider."""
    if limited := over_webhook_rate(request, channel.name):
        return limited
    try:
        if channel.settings_name and not ChannelSettings.for_channel(
            channel.settings_name
        ).is_active:
            raise NotFound("This channel is switched off.")
        read_body(request, channel.max_body)
        channel.verify(request)
        raws = list(channel.events(request))
    except ChannelError as exc:
        return exc.response()
    stored = store_and_process(channel, request, raws)
    if channel.reply:
        return channel.reply(request, stored)
    return JsonResponse({"received": len(stored)})


def channel_region(settings_name: str) -> str:
    return ChannelSettings.for_channel(settings_name).default_region or ""


# --- reading flat records (API, webhooks, imports) -------------------------------------------



@dataclass(frozen=True)
class ReadRecord:
    fields: dict[str, str]
    consent: bool
    extra: dict[str, str]  # unmapped keys (kept for the timeline where the channel allows it)
    errors: dict[str, list[str]]
    custom: dict[str, object] = field(default_factory=dict)  # custom field values by key
    unknown: tuple[str, ...] = ()  # keys that are no field at all (refused by the API)

    def error_body(self) -> dict:
        """The JSON of a 400: the field errors, and the unknown keys named in the message."""
        if self.unknown:
            message = (f"Unknown field{'s' if len(self.unknown) > 1 else ''}: "
                       f"{', '.join(self.unknown)}.")
            if len(self.unknown) < len(self.errors):
                message += " Some other fields are not valid too."
        else:
            message = "Some fields are not valid."
        return {"error": message, "fields": self.errors,
                **({"unknown": list(self.unknown)} if self.unknown else {})}


def read_record(
    record: Mapping[str, object],
    *,
    mapping: Mapping[str, str] | None = None,
    region: str = "",
    unknown: str = "error",  # "error" (API), "keep" (webhooks, imports: into extra)
    require_contact: bool = True,
    custom_defs: Mapping | None = None,  # active custom fields by key; None reads them
) -> ReadRecord:
    """Map their names to lead fields and check values the way the public form does.

    A custom field is named by its key (or mapped to it); its value is checked by its type.
    """
    from capture.custom_fields import active_definitions, coerce

    mapping = mapping or {}
    fields: dict[str, str] = {}
    extra: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    custom: dict[str, object] = {}
    unknown_keys: list[str] = []
    consent = False
    if custom_defs is None:
        custom_defs = active_definitions()
    for key, value in record.items():
        name = mapping.get(key, key)
        if name == "":
            continue
        if name == "consent":
            if value in (None, "") or isinstance(value, bool) or str(value).strip().casefold() in (
                    TRUE_WORDS | FALSE_WORDS):
                consent = _truthy(value)
            else:  # "maybe" is no answer: say so, rather than read it as a no
                errors.setdefault(key, []).append("Send true or false (yes / no).")
            continue
        if name in custom_defs:
            try:
                checked = coerce(custom_defs[name], value)
            except ValidationError as exc:
                errors.setdefault(key, []).extend(exc.messages)
                continue
            if checked is not None:
                custom[name] = checked
            continue
        if name not in LEAD_FIELDS:
            if unknown == "error":
                unknown_keys.append(key)
                errors.setdefault(key, []).append(
                    "Unknown field. Use the lead field names or the custom field keys (see "
                    "the docs), or ask for a field mapping."
                )
            elif value not in (None, "") and not isinstance(value, list):
                extra[key] = _as_text(value)
            continue
        if value is None:
            continue
        if isinstance(value, dict | list):
            errors.setdefault(key, []).append("Expected text, got a JSON object or list.")
            continue
        text = _as_text(value).replace("\x00", "").strip()
        if not text:
            continue
        if len(text) > MAX_LENGTHS[name]:
            errors.setdefault(key, []).append(
                f"At most {MAX_LENGTHS[name]} characters (got {len(text)})."
            )
            continue
        if name in fields and fields[name] and text != fields[name]:
            fields[name] = f"{fields[name]} {text}" if name == "message" else fields[name]
            continue
        fields[name] = text

    if fields.get("email"):
        try:
            display, fields["email"] = parse_email(fields["email"])
        except ValidationError as exc:
            errors.setdefault(_key_for("email", mapping, record), []).extend(exc.messages)
            fields.pop("email")
        else:
            if display and not fields.get("first_name"):
                first, _, last = display.partition(" ")
                fields["first_name"] = first[: MAX_LENGTHS["first_name"]]
                if last and not fields.get("last_name"):
                    fields["last_name"] = last[: MAX_LENGTHS["last_name"]]
    if fields.get("phone"):
        # A national number is read in the person's own country when the record names it
        # ("020 7946 0958" with country "United Kingdom"), else the source's region: it was
        # refused as a US number unless the key's region happened to be theirs.
        try:
            fields["phone"] = normalise_phone(
                fields["phone"], phone_region(fields.get("country", ""), region))
        except InvalidPhone as exc:
            errors.setdefault(_key_for("phone", mapping, record), []).append(str(exc))
            fields.pop("phone")
    if require_contact and not errors and not (fields.get("email") or fields.get("phone")):
        errors.setdefault(_key_for("email", mapping, record), []).append(
            "Give an email address or a phone number so the lead can be reached."
        )
    return ReadRecord(fields=fields, consent=consent, extra=extra, errors=errors, custom=custom,
                      unknown=tuple(unknown_keys))


def set_aside_unreadable_contacts(fields: dict[str, str], other: list[str], region: str) -> None:
    """A lead ad's email and phone as the platform collected them: one that does not read is
    taken out of the lead's fields and kept among the other answers ("phone (not valid): 12"),
    so the rep still sees what the person typed. A national number is read in the person's
    own country when an answer names it, else in `region` (the form's or the page's)."""
    if fields.get("email"):
        try:
            fields["email"] = parse_email(fields["email"])[1]
        except ValidationError:
            other.append(f"email (not valid): {fields.pop('email')}")
    if fields.get("phone"):
        try:
            fields["phone"] = normalise_phone(
                fields["phone"], phone_region(fields.get("country", ""), region))
        except InvalidPhone:
            other.append(f"phone (not valid): {fields.pop('phone')}")


def _key_for(name: str, mapping: Mapping[str, str], record: Mapping[str, object]) -> str:
    """Report an error under the name the sender used, or, for a field they did not send, the
    name their mapping reads it from ("visitor.contact.email", not "email")."""
    for key in record:
        if mapping.get(key, key) == name:
            return key
    return next((key for key, field_name in mapping.items() if field_name == name), name)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _truthy(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().casefold() in TRUE_WORDS


def body_with_extra(message: str, extra: Mapping[str, str]) -> str:
    lines = [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join([message, "", *lines]).strip() if lines else message
