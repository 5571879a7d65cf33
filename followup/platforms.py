"""Messages to prospects on their messaging platforms: WhatsApp Cloud API, the Messenger Send
API (Messenger and Instagram) and the Telegram Bot API, each at a configurable base URL
(META_GRAPH_URL, TELEGRAM_API_URL; tests point them at a stub on 127.0.0.1).

A refusal the platform will repeat (a closed window, a blocked account, a bad token) raises
Refused(permanent=True) and the outbox marks the row failed at once; a network error, a 429
or a 5xx raises and the outbox retries with backoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from django.conf import settings

TIMEOUT = 10  # seconds; the outbox retries a message that surely did not reach the platform


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    status: str  # "sent": the platform accepted it; delivery comes by status callbacks


class Refused(Exception):
    """The platform said no. `permanent`: sending again will not help; `blocked`: the
    prospect blocked us (or cannot be reached on this platform)."""

    def __init__(self, message: str, *, permanent: bool, blocked: bool = False,
                 window_closed: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.blocked = blocked
        self.window_closed = window_closed


# How Meta says a message came outside the messaging window: WhatsApp's 131047 (re-engagement:
# more than 24 hours since the prospect wrote), the Send API's (#10) "sent outside of allowed
# window" (subcode 2018278).
WINDOW_CLOSED_CODES = {131047}
WINDOW_CLOSED_SUBCODES = {2018278}


def says_window_closed(text: str, code: object = None, subcode: object = None) -> bool:
    """Is this refusal (or a failed delivery report's error) the platform's closed window?"""
    return (code in WINDOW_CLOSED_CODES or subcode in WINDOW_CLOSED_SUBCODES
            or "outside of allowed window" in text.lower()
            or any(str(c) in text.split() for c in WINDOW_CLOSED_CODES))


def _post(platform: str, url: str, *, secret_in_url: str = "", **kwargs) -> requests.Response:
    """POST to a platform's send API. Sending is not idempotent on any of them (no idempotency
    key), so what happens when the answer does not come matters:

    - the request never left (no connection, a connect timeout): raised as it is, and the
      outbox tries again with backoff;
    - it left and no answer came within TIMEOUT (a read timeout, a connection dropped after
      sending): the platform may have delivered it, so it is not sent again by itself but
      fails with a reason the rep reads on the timeline (Refused, permanent).
    """
    try:
        return requests.post(url, timeout=TIMEOUT, **kwargs)
    except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
        raise requests.ConnectionError(_without(str(exc), secret_in_url)) from None
    except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
        raise Refused(f"{platform} did not answer within {TIMEOUT} s after taking the message; "
                      "it may have reached the prospect. Check the conversation there before "
                      "sending it again.", permanent=True) from exc
    except requests.RequestException as exc:
        raise requests.ConnectionError(_without(str(exc), secret_in_url)) from None


def _without(text: str, secret: str) -> str:
    """An error's text without the secret a URL carries (the Telegram bot token)."""
    return text.replace(secret, "…") if secret else text


def _check(response: requests.Response, platform: str) -> dict:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if response.status_code < 300 and not (isinstance(data, dict) and data.get("ok") is False):
        return data if isinstance(data, dict) else {}
    error = data.get("error") if isinstance(data, dict) else None
    window_closed = False
    if isinstance(error, dict):  # Graph API: {"error": {"message", "code", "error_subcode"}}
        code = error.get("code")
        text = f"{platform} refused the message ({code}): {error.get('message', '')}"
        blocked = code in (551,) or error.get("error_subcode") in (1545041, 2018108)
        window_closed = says_window_closed(str(error.get("message", "")), code,
                                           error.get("error_subcode"))
    elif isinstance(data, dict) and "description" in data:  # Telegram: {"ok": false, ...}
        code = data.get("error_code")
        text = f"{platform} refused the message ({code}): {data['description']}"
        blocked = code == 403
    else:
        text = f"{platform} answered HTTP {response.status_code}"
        blocked = False
    retryable = response.status_code == 429 or response.status_code >= 500
    raise Refused(text[:500], permanent=not retryable, blocked=blocked,
                  window_closed=window_closed)


ACCEPTED_WITHOUT_ID = ("{platform} accepted the message but returned no message id; it may "
                       "have reached the prospect, so it is not sent again by itself.")


def send_whatsapp(*, to: str, phone_number_id: str, body: str,
                  template: str = "", language: str = "") -> Receipt:
    """A text inside the 24-hour window, else (template given) an approved template."""
    token = settings.WHATSAPP_ACCESS_TOKEN
    if not token or not phone_number_id:
        raise Refused("WhatsApp replies are not configured (WHATSAPP_ACCESS_TOKEN, "
                      "WHATSAPP_PHONE_NUMBER_ID).", permanent=True)
    message: dict = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if template:
        message |= {"type": "template",
                    "template": {"name": template, "language": {"code": language}}}
    else:
        message |= {"type": "text", "text": {"preview_url": False, "body": body}}
    response = _post(
        "WhatsApp", f"{settings.META_GRAPH_URL.rstrip('/')}/{phone_number_id}/messages",
        json=message, headers={"Authorization": f"Bearer {token}"})
    data = _check(response, "WhatsApp")
    ids = [m.get("id") for m in data.get("messages") or [] if isinstance(m, dict)]
    if not ids or not ids[0]:
        raise Refused(ACCEPTED_WITHOUT_ID.format(platform="WhatsApp"), permanent=True)
    return Receipt(provider_id=str(ids[0]), status="sent")


def send_messenger(*, to: str, body: str, instagram: bool = False,
                   human_agent: bool = False, comment_id: str = "") -> Receipt:
    """The Send API: Messenger (page-scoped id) and Instagram (Instagram-scoped id).

    Inside 24 hours of the prospect's last message a RESPONSE; up to 7 days, a reply a person
    writes may go with the HUMAN_AGENT tag. With `comment_id`, a private reply to that comment
    (recipient {"comment_id"}): Meta allows one per comment, within 7 days of it."""
    token = (settings.INSTAGRAM_ACCESS_TOKEN if instagram else "") \
        or settings.META_PAGE_ACCESS_TOKEN
    name = "Instagram" if instagram else "Messenger"
    if not token:
        raise Refused(f"{name} replies are not configured (META_PAGE_ACCESS_TOKEN"
                      f"{' or INSTAGRAM_ACCESS_TOKEN' if instagram else ''}).", permanent=True)
    if comment_id:
        message: dict = {"recipient": {"comment_id": comment_id}, "message": {"text": body}}
    else:
        message = {"recipient": {"id": to}, "message": {"text": body}}
        if human_agent:
            message |= {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        else:
            message["messaging_type"] = "RESPONSE"
    response = _post(name, f"{settings.META_GRAPH_URL.rstrip('/')}/me/messages",
                     headers={"Authorization": f"Bearer {token}"},  # never in the URL
                     json=message)
    data = _check(response, name)
    if not data.get("message_id"):
        raise Refused(ACCEPTED_WITHOUT_ID.format(platform=name), permanent=True)
    return Receipt(provider_id=str(data["message_id"]), status="sent")


def send_telegram(*, chat_id: str, body: str) -> Receipt:
    token = settings.TELEGRAM_BOT_TOKEN
    if not token:
        raise Refused("Telegram replies are not configured (TELEGRAM_BOT_TOKEN).",
                      permanent=True)
    response = _post("Telegram",
                     f"{settings.TELEGRAM_API_URL.rstrip('/')}/bot{token}/sendMessage",
                     secret_in_url=token, json={"chat_id": chat_id, "text": body})
    data = _check(response, "Telegram")
    result = data.get("result") or {}
    if not isinstance(result, dict) or "message_id" not in result:
        raise Refused(ACCEPTED_WITHOUT_ID.format(platform="Telegram"), permanent=True)
    # Telegram reports no deliveries: accepted by the Bot API is as far as we can know.
    return Receipt(provider_id=f"{chat_id}:{result['message_id']}", status="sent")
