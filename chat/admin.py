"""Chat widgets and their conversations in the admin; the change page shows the embed snippet."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.utils.html import format_html

from chat.models import PRECHAT_FIELDS, ChatWidget, Conversation


class ChatWidgetForm(forms.ModelForm):
    prechat_fields = forms.MultipleChoiceField(
        choices=[(f, f.replace("_", " ")) for f in PRECHAT_FIELDS], required=False,
        widget=forms.CheckboxSelectMultiple, help_text="Asked of the visitor.")

    class Meta:
        model = ChatWidget
        fields = "__all__"  # noqa: DJ007  (every field is configuration)


def embed_snippet(widget: ChatWidget) -> str:
    src = settings.SITE_URL.rstrip("/") + static("chat/widget.js")
    return f'<script src="{src}" data-widget="{widget.key}" async></script>'


@admin.register(ChatWidget)
class ChatWidgetAdmin(admin.ModelAdmin):
    form = ChatWidgetForm
    list_display = ("name", "is_active", "team", "business_hours", "origins", "waiting_now")
    list_filter = ("is_active", "team")
    search_fields = ("name", "allowed_origins", "key")
    readonly_fields = ("key", "embed", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "is_active", "allowed_origins", "embed", "key")}),
        ("What the visitor sees", {"fields": ("greeting", "prechat_fields", "prechat_mode",
                                              "offline_message")}),
        ("Who answers, and how fast", {"fields": ("team", "business_hours",
                                                  "no_answer_seconds",
                                                  "first_response_seconds", "source")}),
        ("When nobody answered", {"fields": ("ack_subject", "ack_body")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Sites")
    def origins(self, obj: ChatWidget) -> str:
        return ", ".join(obj.origin_list)

    @admin.display(description="Waiting now")
    def waiting_now(self, obj: ChatWidget) -> int:
        return obj.conversations.filter(status=Conversation.Status.ACTIVE,
                                        waiting_since__isnull=False).count()

    @admin.display(description="Embed on your site")
    def embed(self, obj: ChatWidget) -> str:
        if not obj.pk:
            return "Save the widget to get its embed snippet."
        return format_html(
            "<p>Paste before <code>&lt;/body&gt;</code> on every page of the allowed sites:</p>"
            "<pre>{}</pre><p>With a Content-Security-Policy, allow <code>{}</code> in "
            "<code>script-src</code>, <code>style-src</code> and <code>connect-src</code>.</p>",
            embed_snippet(obj), settings.SITE_URL.rstrip("/"))


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("started_at", "widget", "lead", "status", "waiting", "first_reply_at",
                    "page_url")
    list_filter = ("status", "widget", ("started_at", admin.DateFieldListFilter))
    search_fields = ("thread", "page_url", "lead__email", "lead__first_name", "lead__last_name")
    list_select_related = ("widget", "lead")
    readonly_fields = ("widget", "lead", "thread", "status", "page_url", "referrer",
                       "visitor_ip", "started_at", "last_visitor_at", "waiting_since",
                       "first_reply_at", "contact_left_at", "messages")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Visitor waiting")
    def waiting(self, obj: Conversation) -> str:
        from chat.services import waiting_seconds
        from chat.templatetags.chat_tags import waited

        seconds = waiting_seconds(obj)  # none once answered or handed over, as on the lead page
        return "—" if seconds is None else waited(seconds)

    @admin.display(description="Messages")
    def messages(self, obj: Conversation) -> str:
        from chat.services import transcript

        return format_html("<pre>{}</pre>", transcript(obj))  # escaped: shown as text
