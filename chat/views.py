"""The widget's public JSON API under /chat/w/<key>/, called cross-origin from customers' sites.

Each widget answers only the origins sales ops listed for it: a request whose Origin is not on
the list gets a 403 and no CORS headers (so the browser shows the page nothing). No cookies are
used; the visitor's conversation is named by a signed token in the X-Chat-Token header.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from capture import abuse
from capture.channels.base import request_headers, unreadable_json
from chat import services
from chat.models import ChatWidget, Conversation
from chat.services import ChatRefused

MAX_BODY = 16 * 1024


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}".lower()


def _origin(request: HttpRequest) -> str:
    """The page's origin: the Origin header, or our own for a same-origin GET (which browsers
    send without one)."""
    origin = request.headers.get("Origin", "")
    if not origin and request.headers.get("Sec-Fetch-Site") == "same-origin":
        return _own_origin(request)
    return origin.rstrip("/").lower()


def _cors(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type, X-Chat-Token"
    response["Access-Control-Max-Age"] = "600"
    response["Vary"] = "Origin"
    response["Cache-Control"] = "no-store"
    return response


def _error(message: str, status: int, origin: str = "", **extra) -> JsonResponse:
    response = JsonResponse({"error": message, **extra}, status=status)
    return _cors(response, origin) if origin else response


def widget_api(view):
    """Find the active widget, enforce its origins, answer the CORS preflight, map refusals."""

    @csrf_exempt
    def wrapper(request: HttpRequest, key: str) -> HttpResponse:
        # A NUL byte is in no key, and PostgreSQL cannot even compare a text holding one.
        widget = None if "\x00" in key else ChatWidget.objects.filter(
            key=key, is_active=True).select_related("team", "business_hours").first()
        if widget is None:
            return _error("No active chat widget has this key.", 404)
        origin = _origin(request)
        if not origin:
            return _error("This chat answers browsers on the widget's sites only (no Origin "
                          "header).", 403)
        if not (widget.allows(origin) or origin == _own_origin(request)):
            return _error(f"The site {origin} may not use this chat widget. Add it to the "
                          "widget's allowed origins in the admin.", 403)
        if request.method == "OPTIONS":
            return _cors(HttpResponse(status=204), origin)
        try:
            response = view(request, widget)
        except ChatRefused as exc:
            response = JsonResponse({"error": exc.message, **exc.extra}, status=exc.status)
            if exc.retry_after is not None:
                response["Retry-After"] = str(exc.retry_after)
        return _cors(response, origin)

    return wrapper


def _json_body(request: HttpRequest) -> dict:
    length = int(request.META.get("CONTENT_LENGTH") or 0) if str(
        request.META.get("CONTENT_LENGTH") or "0").isdigit() else MAX_BODY + 1
    if length > MAX_BODY or len(request.body) > MAX_BODY:
        raise ChatRefused(f"The request is larger than {MAX_BODY} bytes.", status=413)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ChatRefused("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ChatRefused("Expected a JSON object.")
    if problem := unreadable_json(data, limit=8):
        raise ChatRefused(problem)
    return data


def _conversation(request: HttpRequest, widget: ChatWidget) -> Conversation | None:
    return services.conversation_for(request.headers.get("X-Chat-Token", ""), widget)


def _limit(request: HttpRequest, scope: str, limit: int, who: str = "") -> None:
    if abuse.is_rate_limited(request, scope, limit, who=who):
        key = abuse.rate_key(request, scope, who)
        raise ChatRefused("You are sending messages too fast. Please wait a minute.",
                          status=429,
                          retry_after=max(1, abuse.seconds_until_allowed(key, limit)))


def _state(widget: ChatWidget, conversation: Conversation | None) -> dict:
    now = timezone.now()
    online = services.is_online(widget, now)
    no_answer = bool(conversation) and services.is_unanswered_too_long(conversation, now)
    return {"online": online, "no_answer": no_answer,
            "status": conversation.status if conversation else "",
            "contact_left": bool(conversation and conversation.contact_left_at)}


@widget_api
def config(request: HttpRequest, widget: ChatWidget) -> HttpResponse:
    if request.method != "GET":
        raise ChatRefused("Use GET.", status=405)
    _limit(request, "chat-poll", settings.CHAT_POLL_RATE_PER_IP)
    conversation = _conversation(request, widget)
    return JsonResponse({
        "name": widget.name, "greeting": widget.greeting,
        "offline_message": widget.offline_message,
        "prechat_fields": [f for f in widget.prechat_fields if f],
        "prechat_mode": widget.prechat_mode, "poll_seconds": settings.CHAT_POLL_SECONDS,
        "max_chars": settings.CHAT_MAX_MESSAGE_CHARS, "conversation": bool(conversation),
        **_state(widget, conversation),
    })


@widget_api
def messages(request: HttpRequest, widget: ChatWidget) -> HttpResponse:
    conversation = _conversation(request, widget)
    if request.method == "GET":
        _limit(request, "chat-poll", settings.CHAT_POLL_RATE_PER_IP)
        if conversation is None:
            raise ChatRefused("This chat token is not valid (or expired): start a new chat.",
                              status=404)
        try:
            after = int(request.GET.get("after") or 0)
        except ValueError:
            raise ChatRefused("`after` must be a message id.") from None
        return JsonResponse({"messages": services.messages_after(conversation, after),
                             **_state(widget, conversation)})
    if request.method != "POST":
        raise ChatRefused("Use GET or POST.", status=405)
    _limit(request, "chat-ip", settings.CHAT_RATE_PER_IP)  # first: unreadable posts count too
    data = _json_body(request)
    if request.headers.get("X-Chat-Token") and conversation is None:
        raise ChatRefused("This chat token is not valid (or expired): start a new chat.",
                          status=404)
    if conversation is not None:
        _limit(request, "chat-visitor", settings.CHAT_RATE_PER_VISITOR, who=conversation.thread)
    text = services.read_text(data.get("text"))
    read = services.read_visitor_fields(data.get("fields"), services.message_fields(widget))
    if read.errors:
        raise ChatRefused("Please check the details you gave.", fields=read.errors)
    attribution = services.attribution_from(data.get("page"))  # checked on every message
    if conversation is not None:  # the conversation has its page already
        attribution = {}
    conversation, _event = services.receive_visitor_message(
        widget=widget, conversation=conversation, text=text,
        client_id=str(data.get("client_id") or ""), fields=read.fields,
        attribution=attribution, ip=abuse.client_ip(request), headers=request_headers(request),
        body=request.body)
    return JsonResponse({"token": services.token_for(conversation), "stored": True,
                         **_state(widget, conversation)}, status=201)


@widget_api
def contact(request: HttpRequest, widget: ChatWidget) -> HttpResponse:
    if request.method != "POST":
        raise ChatRefused("Use POST.", status=405)
    _limit(request, "chat-ip", settings.CHAT_RATE_PER_IP)
    conversation = _conversation(request, widget)
    if conversation is None:
        raise ChatRefused("Write a message first: there is no chat to attach these details to.",
                          status=404)
    _limit(request, "chat-visitor", settings.CHAT_RATE_PER_VISITOR, who=conversation.thread)
    data = _json_body(request)
    read = services.read_visitor_fields(data.get("fields"), services.contact_fields(widget))
    if read.errors:
        raise ChatRefused("Please check the details you gave.", fields=read.errors)
    reason = "details" if data.get("reason") == "details" else "offline"
    services.leave_contact(conversation=conversation, fields=read.fields,
                           ip=abuse.client_ip(request), reason=reason)
    return JsonResponse({"saved": True, **_state(widget, conversation)})


@csrf_exempt  # a page: a POST is a 405, not the CSRF page
@require_safe
def demo_page(request: HttpRequest) -> HttpResponse:
    """A page that embeds the demo widget the way a customer's site would (seed_demo)."""
    widget = ChatWidget.objects.filter(is_active=True, name=settings.CHAT_DEMO_WIDGET).first()
    return render(request, "chat/demo.html", {"widget": widget,
                                              "own_origin": _own_origin(request)})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
