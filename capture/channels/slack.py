"""Slack Events API at /inbound/slack/: messages in a shared channel and app mentions.

Every request is signed: X-Slack-Signature is "v0=" + HMAC-SHA256 of "v0:<timestamp>:<body>"
with SLACK_SIGNING_SECRET, and X-Slack-Request-Timestamp must be within five minutes
(WEBHOOK_TOLERANCE_SECONDS). The `url_verification` challenge is answered once signed. The key
is the message itself (team, channel, ts): Slack's retries (X-Slack-Retry-Num) and the
`message` + `app_mention` pair one mention produces are one event. Bot messages (ours too),
edits and deletions are not stored; in a Slack Connect channel, a message by a member of our own
workspace (a rep answering there) makes no lead: it is the first response of the lead it
answers (the thread's, else the channel's latest), or kept as ignored when it answers none.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from capture.channels import hmac_timestamped
from capture.channels.base import (
    BadSignature,
    Channel,
    Malformed,
    RawEvent,
    from_epoch,
    json_body,
    platform_id,
    platform_text,
    post_only,
    read_json,
    receive,
)
from capture.intake import Ignored, IntakeInput, OurReply, PlatformAccount, Rejected
from capture.models import Channel as LeadChannel
from capture.models import ChannelSettings, InboundEvent, Interaction, Lead, Platform

SETTINGS = ChannelSettings.Name.SLACK
HANDLED = ("message", "app_mention")
PEOPLE_SUBTYPES = ("", "file_share", "thread_broadcast")  # other subtypes: edits, joins, bots


def verify(request: HttpRequest) -> None:
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        raise BadSignature("SLACK_SIGNING_SECRET is not set on this server.")
    signature = request.headers.get("X-Slack-Signature", "")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not signature or not timestamp:
        raise BadSignature("X-Slack-Signature or X-Slack-Request-Timestamp is missing.")
    hmac_timestamped.verify(secret, timestamp, request.body, signature,
                            signer=hmac_timestamped.sign_slack)


def _body(request: HttpRequest) -> dict:
    return read_json(request, shape=lambda b: isinstance(b, dict)
                     and isinstance(b.get("type"), str),
                     shape_error="Expected a Slack Events API body with a 'type'.")


def events(request: HttpRequest) -> list[RawEvent]:
    body = _body(request)
    if body["type"] != "event_callback":
        return []  # url_verification (answered in reply), app_rate_limited, ...
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") not in HANDLED:
        return []
    if event.get("bot_id") or event.get("subtype", "") not in PEOPLE_SUBTYPES:
        return []  # our own posts, other bots, edits and deletions
    team = body.get("team_id") or event.get("team", "")
    if not all(isinstance(event.get(k), str) and event[k] for k in ("user", "ts", "channel")) \
            or not isinstance(team, str) or not team:
        # Slack's ids are strings; without them there is no one to answer and no key.
        raise Malformed("A Slack message event without its team, user, channel or ts.")
    wanted = settings.SLACK_CHANNEL_IDS
    if wanted and event["channel"] not in wanted and event["type"] != "app_mention":
        return []  # a channel the app is in, but not one sales ops listed
    raw = RawEvent(external_id=f"{team}:{event['channel']}:{event['ts']}",
                   payload={"team_id": team, "event_id": body.get("event_id", ""),
                            "event": event})
    if body.get("is_ext_shared_channel") and body.get("team_id") and (
            event.get("user_team") or event.get("team")) == body["team_id"]:
        # In a Slack Connect channel the prospect's people write from their workspace; one of
        # ours (a rep answering there, as replies to Slack are written) is no prospect, but
        # the answer of the lead who wrote there (normalise: _our_answer).
        return [RawEvent(raw.external_id, {**raw.payload, "ours": True})]
    return [raw]


def _answered_lead(event: InboundEvent, item: dict) -> Lead | None:
    """The lead our message answers: in a thread, the lead of the message that started it;
    else (or when that was no lead's) the prospect who wrote last in that channel. Read from
    the stored events, keyed team:channel:ts: the lead's account only remembers the channel it
    wrote in last."""
    in_channel = f"{event.payload['team_id']}:{item['channel']}:"
    stored = InboundEvent.objects.filter(channel=channel.name, lead__isnull=False,
                                         lead__erased_at__isnull=True)
    thread = item.get("thread_ts")
    started = (stored.filter(external_id=in_channel + thread).values_list("lead", flat=True)
               .first() if isinstance(thread, str) and thread != item["ts"] else None)
    # A prospect's message, not one of our answers (those carry "ours" and the lead answered).
    latest = started or (stored.filter(external_id__startswith=in_channel)
                         .filter(payload__ours__isnull=True).order_by("-received_at", "-id")
                         .values_list("lead", flat=True).first())
    return Lead.objects.get(pk=latest) if latest else None


def _our_answer(event: InboundEvent) -> OurReply:
    try:
        item = event.payload["event"]
        text = platform_text(item.get("text"), "text").strip() or "[file]"
        when = from_epoch(item["ts"])
        if when is None:
            raise ValueError(f"ts {item['ts']!r}")
        lead = _answered_lead(event, item)
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed Slack event: {type(exc).__name__}: {exc}") from None
    if lead is None:
        raise Ignored("A message by a member of our own Slack workspace, in a channel where "
                      "no lead has written.")
    return OurReply(lead=lead, channel=LeadChannel.CHAT, occurred_at=when,
                    summary=f"Answered on Slack: {text[:80]}",
                    body=f"{text}\n\n(Slack user {item['user']} of our workspace, in channel "
                    f"{item['channel']})", message_id=str(item["ts"]))


def normalise(event: InboundEvent) -> IntakeInput | OurReply:
    if event.payload.get("ours"):
        return _our_answer(event)
    try:
        item = event.payload["event"]
        user = platform_id(item["user"], "user")
        text = platform_text(item.get("text"), "text").strip() or "[file]"
        profile = item.get("user_profile") or {}
        name = str(profile.get("real_name") or profile.get("display_name") or "")
        when = from_epoch(item["ts"])
        if when is None:
            raise ValueError(f"ts {item['ts']!r}")
    except (TypeError, AttributeError, LookupError, ValueError) as exc:
        raise Rejected(f"Malformed Slack event: {type(exc).__name__}: {exc}") from None
    first, _, last = name.partition(" ")
    how = "mentioned us" if item.get("type") == "app_mention" else "wrote"
    return IntakeInput(
        channel=LeadChannel.CHAT, fields={"message": text, "first_name": first,
                                          "last_name": last},
        summary=f"Slack: {text[:80]}",
        body=f"{text}\n\n(Slack user {user} {how} in channel {item['channel']})",
        occurred_at=when, source=ChannelSettings.for_channel(SETTINGS).source or "slack",
        kind=Interaction.Kind.MESSAGE, notify_prospect=False,
        identity=PlatformAccount(Platform.SLACK, user, name, str(item["channel"])),
    )


def reply(request: HttpRequest, stored: list[InboundEvent]) -> HttpResponse:
    body = json_body(request)  # read as events() read it
    if body.get("type") == "url_verification":
        return JsonResponse({"challenge": str(body.get("challenge", ""))})
    return JsonResponse({"received": len(stored)})


channel = Channel(name="slack", verify=verify, events=events, normalise=normalise,
                  reply=reply, settings_name=SETTINGS)


@csrf_exempt
@post_only
def slack_view(request: HttpRequest) -> HttpResponse:
    return receive(request, channel)
