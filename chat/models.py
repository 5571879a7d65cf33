"""Chat widgets sales ops configure, and the conversations visitors have through them.

A conversation's messages are Interactions on its lead (kind "message", channel "chat"), all
carrying the conversation's `thread` as their message_id: the lead's timeline is the transcript.
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from capture.models import canonical_origin, canonical_origins

PRECHAT_FIELDS = ("first_name", "last_name", "email", "phone", "company")


def new_widget_key() -> str:
    return secrets.token_urlsafe(12)


def new_thread() -> str:
    return f"chat-{uuid.uuid4().hex}"


def _default_prechat() -> list[str]:
    return ["first_name", "email"]


def check_origin(origin: str) -> str | None:
    """Why `origin` is not a web origin (scheme://host[:port]), or None."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"“{origin}” is not an origin like https://www.example.com."
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return f"“{origin}” has more than scheme, host and port: write only those."
    return None


# What a chat acknowledgement's subject and text may print (chat.services._hand_over).
CHAT_ACK_VARIABLES = ("first_name", "last_name", "transcript")


class ChatWidget(models.Model):
    """One chat box on one or more sites, answered by one team."""

    class PrechatMode(models.TextChoices):
        BEFORE = "before", "Before the first message"
        DURING = "during", "During the chat (optional, after the first message)"

    name = models.CharField(max_length=100, unique=True)
    key = models.CharField(max_length=32, unique=True, default=new_widget_key,
                           help_text="The public id in the embed snippet (not a secret).")
    allowed_origins = models.TextField(
        help_text="The sites that may show this widget, one origin per line (e.g. "
        "https://www.example.com). Requests from any other site are refused.")
    greeting = models.CharField(max_length=300, default="Hi! How can we help you today?")
    team = models.ForeignKey(
        "routing.Team", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="chat_widgets",
        help_text="Whose reps answer: the widget is online while one of them is available "
        "and at work. Routing rules still pick the lead's owner (match channel = chat).")
    business_hours = models.ForeignKey(
        "routing.BusinessHours", null=True, blank=True, on_delete=models.SET_NULL,
        help_text="Outside these hours the widget is offline; empty: the team's hours only.")
    prechat_fields = models.JSONField(
        default=_default_prechat, blank=True,
        help_text=f"Lead fields asked of the visitor, from: {', '.join(PRECHAT_FIELDS)}.")
    prechat_mode = models.CharField(max_length=10, choices=PrechatMode.choices,
                                    default=PrechatMode.BEFORE)
    offline_message = models.CharField(
        max_length=500,
        default="Nobody is available to chat right now. Leave your email or phone number "
        "and we will get back to you shortly.")
    no_answer_seconds = models.PositiveIntegerField(
        default=90, help_text="If no rep has answered this long after the visitor wrote, "
        "the widget says so and asks for an email or phone number.")
    first_response_seconds = models.PositiveIntegerField(
        default=120, help_text="The chat's first-response target (the SLA clock), in seconds; "
        "a tighter deadline than the tier's replaces it.")
    source = models.SlugField(max_length=100, default="website-chat",
                              help_text="Recorded as the source of the leads this widget makes.")
    ack_subject = models.CharField(
        max_length=200, blank=True, default="Thanks for your message",
        help_text="Acknowledgement email when the visitor leaves an email because nobody "
        "answered; empty sends none.")
    ack_body = models.TextField(
        blank=True,
        default="Hi {{ first_name|default:'there' }},\n\nThanks for chatting with us. Nobody "
        "could answer right away; a specialist will get back to you shortly.\n\nYour "
        "messages:\n{{ transcript }}\n",
        help_text="Plain text. Variables: {{ first_name }}, {{ last_name }}, {{ transcript }}.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "chat widget"

    def __str__(self) -> str:
        return self.name

    @property
    def origin_list(self) -> list[str]:
        return canonical_origins(self.allowed_origins)

    def allows(self, origin: str) -> bool:
        return canonical_origin(origin) in self.origin_list

    def clean(self) -> None:
        from capture.templating import template_problem

        errors: dict[str, str] = {}
        problems = [p for o in self.origin_list if (p := check_origin(o))]
        if not self.origin_list:
            errors["allowed_origins"] = "Give at least one site (origin) that shows the widget."
        elif problems:
            errors["allowed_origins"] = " ".join(problems)
        fields = self.prechat_fields
        if not isinstance(fields, list) or any(f not in PRECHAT_FIELDS for f in fields):
            errors["prechat_fields"] = f"Choose among: {', '.join(PRECHAT_FIELDS)}."
        if not self.no_answer_seconds or self.no_answer_seconds < 10:
            errors["no_answer_seconds"] = "Give the reps at least 10 seconds."
        if not self.first_response_seconds:
            errors["first_response_seconds"] = "The target must be more than zero."
        for name in ("ack_subject", "ack_body"):
            if problem := template_problem(getattr(self, name), CHAT_ACK_VARIABLES):
                errors[name] = problem
        if errors:
            raise ValidationError(errors)


class Conversation(models.Model):
    """One visitor's chat through one widget; its messages are the lead's Interactions."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        OFFLINE = "offline", "Left contact details (nobody answered)"
        # The visitor wrote nothing for CHAT_ABANDONED_MINUTES (chat.services
        # .close_abandoned_conversations): off the waiting box; their next message reopens it.
        ABANDONED = "abandoned", "Abandoned (the visitor left)"
        CLOSED = "closed", "Closed"

    widget = models.ForeignKey(ChatWidget, on_delete=models.PROTECT,
                               related_name="conversations")
    lead = models.ForeignKey("capture.Lead", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="chat_conversations")
    thread = models.CharField(max_length=64, unique=True, default=new_thread, editable=False,
                              help_text="The message_id every message of this chat carries.")
    first_client_id = models.CharField(
        max_length=64, blank=True, default="", editable=False,
        help_text="The widget's id of the visitor's first message: a retry of that message "
        "(its answer lost, so the widget has no token yet) finds this conversation.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    page_url = models.CharField(max_length=500, blank=True)
    referrer = models.CharField(max_length=500, blank=True)
    visitor_ip = models.GenericIPAddressField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_visitor_at = models.DateTimeField(null=True, blank=True)
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="The visitor's oldest unanswered message.")
    first_reply_at = models.DateTimeField(null=True, blank=True)
    contact_left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["waiting_since"], name="chat_waiting_idx",
                         condition=Q(waiting_since__isnull=False)),
            # The abandoned-chat sweep reads the open chats by their visitor's last message.
            models.Index(fields=["last_visitor_at"], name="chat_active_idx",
                         condition=Q(status="active")),
        ]
        constraints = [
            # Two tries of one first message arriving together open one conversation.
            models.UniqueConstraint(fields=["widget", "first_client_id"],
                                    condition=~Q(first_client_id=""),
                                    name="chat_first_message_once"),
        ]

    def __str__(self) -> str:
        return f"Chat {self.thread[5:13]} on {self.widget}"
