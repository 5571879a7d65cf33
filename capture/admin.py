"""The back office for capture: leads with their timeline, intake forms, raw events, blocklists."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, F, Q
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from capture import custom_fields
from capture.channels import webhook
from capture.channels.base import reprocess
from capture.custom_field_admin import FormCustomFieldInline, custom_list_filters
from capture.forms import IntakeFormAdminForm, own_html_form
from capture.identity import email_key, phone_search, region_problem
from capture.models import (
    WORKING_STATUSES,
    ApiKey,
    BlockRule,
    ChannelSettings,
    InboundEvent,
    IntakeForm,
    Interaction,
    Lead,
    LeadIdentity,
    LinkedInForm,
    WebhookSource,
)
from capture.services import person_name, record_staff_edit


class InteractionInline(admin.TabularInline):
    model = Interaction
    fk_name = "lead"
    extra = 0
    fields = ("occurred_at", "direction", "kind", "channel", "summary", "body", "actor")
    readonly_fields = fields
    ordering = ("-occurred_at", "-id")
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Timeline (newest first)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class InboundEventInline(admin.TabularInline):
    model = InboundEvent
    fk_name = "lead"
    extra = 0
    fields = ("received_at", "channel", "external_id", "status", "reason")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Raw inbound events"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LeadCustomFieldsForm(forms.ModelForm):
    """The lead's change form with one field per active custom field (cf_<key>), checked by
    the field's type like everywhere else."""

    custom_defs: tuple = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        values = self.instance.custom_fields or {}
        for definition in self.custom_defs:
            name = custom_fields.FORM_PREFIX + definition.key
            if name in self.fields:  # bound too: changed_data compares with it
                self.initial[name] = custom_fields.initial_value(
                    definition, values.get(definition.key))

    def clean(self):
        data = super().clean()
        self.instance.custom_fields = custom_fields.values_from_form(
            data, self.custom_defs, current=self.instance.custom_fields)
        if "email" in data:  # the key the one-open-lead-per-email constraint compares
            self.instance.email_key = email_key(data["email"] or "")
        return data

    def _get_validation_exclusions(self):
        # email_key is not on the form, so Django would leave that constraint out of the
        # checks: a second open lead of one email was a 500 on save, not a message.
        exclude = super()._get_validation_exclusions()
        exclude.discard("email_key")
        return exclude


class LeadIdentityInline(admin.TabularInline):
    model = LeadIdentity
    extra = 0
    fields = ("platform", "external_id", "display_name", "address", "last_inbound_at",
              "blocked_at", "blocked_reason")
    readonly_fields = ("platform", "external_id", "last_inbound_at")
    verbose_name_plural = "Platform identities (Instagram, Telegram, Slack, X, ...)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # identities come from the prospect's own messages


@admin.register(LeadIdentity)
class LeadIdentityAdmin(admin.ModelAdmin):
    list_display = ("__str__", "platform", "external_id", "lead", "last_inbound_at",
                    "blocked_at")
    list_filter = ("platform", ("blocked_at", admin.EmptyFieldListFilter))
    search_fields = ("external_id", "display_name", "lead__email", "lead__phone",
                     "lead__last_name")
    list_select_related = ("lead",)
    raw_id_fields = ("lead",)
    readonly_fields = ("platform", "external_id", "created_at", "last_inbound_at")

    def get_search_results(self, request, queryset, search_term):
        found, may_repeat = super().get_search_results(request, queryset, search_term)
        if (by_phone := phone_search(search_term, "lead__phone")) is not None:
            found |= queryset.filter(by_phone)
        return found, may_repeat

    def has_add_permission(self, request) -> bool:
        return False


class TierFilter(admin.SimpleListFilter):
    """The score tiers sales ops defined (not a DISTINCT over every lead)."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        tiers = apps.get_model("routing", "ScoreTier").objects.values_list("name", flat=True)
        return [(name, name) for name in tiers]

    def queryset(self, request, queryset):
        return queryset.filter(tier=self.value()) if self.value() else queryset


class ResponseFilter(admin.SimpleListFilter):
    """Where each lead stands against its response deadline."""

    title = "response deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [("overdue", "Unanswered, overdue"), ("due", "Unanswered, not yet due"),
                ("met", "Answered in time"), ("late", "Answered late")]

    def queryset(self, request, queryset):
        now = timezone.now()
        # A lead resting in long-term nurture, or an erased person's, owes no answer: the queue
        # never shows it breached, and neither does this filter.
        unanswered = Q(first_response_at__isnull=True, status__in=WORKING_STATUSES,
                       erased_at__isnull=True)
        wanted = {
            "overdue": unanswered & Q(respond_by__lt=now),
            "due": unanswered & Q(respond_by__gte=now),
            "met": Q(first_response_at__lte=F("respond_by")),
            "late": Q(first_response_at__gt=F("respond_by")),
        }.get(self.value())
        return queryset.filter(wanted) if wanted is not None else queryset


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    change_list_template = "capture/admin/lead_change_list.html"
    list_display = ("display_name", "email", "phone", "company", "status", "channel", "form",
                    "owner_name", "score", "tier", "created_at", "respond_by")
    list_filter = ("status", TierFilter, ResponseFilter, "channel", "form", "owner",
                   "needs_callback", ("created_at", admin.DateFieldListFilter))
    search_fields = ("first_name", "last_name", "email", "email_key", "phone", "company")

    def get_search_results(self, request, queryset, search_term):
        found, may_repeat = super().get_search_results(request, queryset, search_term)
        if (by_phone := phone_search(search_term)) is not None:  # "(415) 555-2671" too
            found |= queryset.filter(by_phone)
        return found, may_repeat
    date_hierarchy = "created_at"
    list_select_related = ("form", "owner")

    @admin.display(description="owner", ordering="owner__first_name")
    def owner_name(self, lead: Lead) -> str:
        return person_name(lead.owner, nobody="-")
    list_per_page = 50
    show_full_result_count = False  # no COUNT(*) over millions of leads on every page
    autocomplete_fields = ("owner",)
    raw_id_fields = ("previous_lead",)
    readonly_fields = ("email_key", "created_at", "updated_at", "last_activity_at",
                       "first_response_at", "respond_by", "score", "tier", "previous_lead",
                       "consent_at", "consent_ip", "consent_text", "has_consent")
    inlines = (LeadIdentityInline, InteractionInline, InboundEventInline)
    fieldsets = (
        ("Contact", {"fields": (("first_name", "last_name"), ("email", "email_key"), "phone",
                                ("company", "job_title"))}),
        ("Qualification", {"fields": (("company_size", "industry", "country"),
                                      ("budget", "urgency", "service"), "message")}),
        ("Work", {"fields": (("status", "owner"), ("score", "tier"),
                             ("created_at", "respond_by", "first_response_at"),
                             ("last_activity_at", "updated_at"), "previous_lead",
                             ("needs_callback", "do_not_text", "snoozed_until"))}),
        ("Consent", {"fields": (("has_consent", "consent_at", "consent_ip"), "consent_text")}),
        ("Attribution", {"classes": ("collapse",), "fields": (
            ("channel", "form", "source"), ("utm_source", "utm_medium", "utm_campaign"),
            ("utm_term", "utm_content"), ("gclid", "fbclid"), "referrer", "landing_page")}),
    )

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), *custom_list_filters())

    def _custom_defs(self, request) -> tuple:
        if not hasattr(request, "_lead_custom_defs"):
            request._lead_custom_defs = tuple(
                custom_fields.definitions(active_only=True).values())
        return request._lead_custom_defs

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        names = [custom_fields.FORM_PREFIX + d.key for d in self._custom_defs(request)]
        if names:
            fieldsets.insert(2, ("Custom fields", {"fields": names}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        defs = self._custom_defs(request)
        declared = {custom_fields.FORM_PREFIX + d.key: custom_fields.form_field(d)
                    for d in defs}
        kwargs["form"] = type("LeadAdminForm", (LeadCustomFieldsForm,),
                              {**declared, "custom_defs": defs})
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            record_staff_edit(lead=obj, changed_fields=form.changed_data, user=request.user)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:  # the access trail: one insert for the page's leads
            from capture.privacy import record_access

            record_access(request.user, "listed", listed=[lead.pk for lead in
                                                           changelist.result_list],
                          detail="admin lead list")
        return response

    # The lead whose page a "Save and continue editing" redirects back to: that page is the
    # save's answer (on the trail as "Changed in the admin"), not the lead opened again.
    SAVED_SESSION_KEY = "capture_lead_saved"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Only a lead this user may open (get_queryset) and that exists: the trail holds
        # what was shown, and its foreign key refuses an id with no lead.
        if request.method == "GET":
            after_save = request.session.pop(self.SAVED_SESSION_KEY, None) == str(object_id)
            if (not after_save and str(object_id).isdigit()
                    and self.get_queryset(request).filter(pk=object_id).exists()):
                from capture.privacy import record_access

                record_access(request.user, "admin_viewed", lead=int(object_id))
        response = super().change_view(request, object_id, form_url, extra_context)
        if (request.method == "POST" and response.status_code == 302
                and urlsplit(response["Location"]).path == request.path):
            request.session[self.SAVED_SESSION_KEY] = str(object_id)
        return response

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_view),
                      name="capture_lead_import")]
        return extra + super().get_urls()

    def import_view(self, request):
        if not self.has_add_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        return import_leads_view(request)


@admin.register(IntakeForm)
class IntakeFormAdmin(admin.ModelAdmin):
    form = IntakeFormAdminForm
    list_display = ("title", "slug", "is_active", "leads_last_30_days", "public_link")
    list_filter = ("is_active",)
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("embed_snippets", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "slug", "is_active", "intro", "submit_label")}),
        ("Fields", {"fields": ("fields", "required_fields", "default_region")}),
        ("Answers to choose from", {"fields": ("company_size_choices", "budget_choices",
                                               "urgency_choices", "service_choices",
                                               "industry_choices")}),
        ("Consent", {"fields": ("consent_text", "consent_required")}),
        ("After submitting", {"fields": ("thank_you_text", "redirect_url", "response_promise",
                                         "ack_subject", "ack_body")}),
        ("Spam and embedding", {"fields": ("min_fill_seconds", "allowed_origins",
                                           "embed_snippets")}),
        (None, {"fields": ("created_at", "updated_at")}),
    )
    inlines = (FormCustomFieldInline,)

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else ()  # place custom fields once it is saved

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        # Not an error (a call-back form may ask for a phone only), but the default subject is
        # filled in, so without this the form looked set to acknowledge visitors it cannot.
        if obj.ack_subject.strip() and "email" not in (obj.fields or ()):
            self.message_user(request, "This form does not ask for an email address, so new "
                              "visitors get no acknowledgement email (only people already in "
                              "the CRM with one do). Add Email under Fields, or empty the "
                              "acknowledgement subject.", messages.WARNING)

    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=30)
        return super().get_queryset(request).annotate(
            recent_leads=Count("leads", filter=Q(leads__created_at__gte=since))
        )

    @admin.display(description="Leads (30 days)", ordering="recent_leads")
    def leads_last_30_days(self, obj) -> int:
        return obj.recent_leads

    @admin.display(description="Public page")
    def public_link(self, obj) -> str:
        return format_html('<a href="{}" target="_blank">/q/{}/</a>', obj.get_absolute_url(),
                           obj.slug)

    @admin.display(description="Embed on your site")
    def embed_snippets(self, obj) -> str:
        if not obj.pk:
            return "Save the form to get its embed snippets."
        url = f"{settings.SITE_URL.rstrip('/')}{obj.get_absolute_url()}"
        iframe = (f'<iframe src="{url}" title="{obj.title}" style="width:100%;min-height:720px;'
                  'border:0" loading="lazy"></iframe>')
        return format_html(
            "<p>An iframe:</p><pre>{}</pre><p>Or your own HTML form posting here, with this "
            "form's fields (add your site to “allowed origins” first):</p><pre>{}</pre>",
            iframe, own_html_form(obj, url),
        )


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "channel", "external_id", "status", "attempts", "lead",
                    "created_lead", "short_reason")
    list_filter = ("status", "channel", ("received_at", admin.DateFieldListFilter))
    search_fields = ("external_id", "reason")
    list_select_related = ("lead",)
    show_full_result_count = False
    actions = ("reprocess",)
    readonly_fields = ("channel", "external_id", "form", "status", "reason", "attempts", "lead",
                       "created_lead", "received_at", "processed_at", "remote_ip", "headers",
                       "payload", "raw_body")
    exclude = ("body",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Reason or error")
    def short_reason(self, obj) -> str:
        return obj.reason[:120]

    @admin.display(description="Raw body")
    def raw_body(self, obj) -> str:
        return format_html("<pre class='lc-pre'>{}</pre>", obj.body_text[:20000])

    @admin.action(description="Reprocess the selected failed or received events",
                  permissions=["view"])
    def reprocess(self, request, queryset) -> None:
        # The ids first: once reprocessed, an event is no longer failed or received.
        chosen = list(queryset.values_list("id", flat=True))
        retryable = list(queryset.filter(
            status__in=[InboundEvent.Status.FAILED, InboundEvent.Status.RECEIVED])
            .values_list("id", flat=True))
        done = sum(1 for event_id in retryable if reprocess(event_id))
        failed = len(retryable) - done
        skipped = len(chosen) - len(retryable)
        level = messages.SUCCESS if done and not failed else messages.WARNING
        text = f"Reprocessed {done} event(s)"
        if failed:
            text += f"; {failed} failed again (see their reason)"
        if skipped:
            text += f"; {skipped} skipped (already processed, rejected or ignored)"
        self.message_user(request, text + ".", level)


@admin.register(BlockRule)
class BlockRuleAdmin(admin.ModelAdmin):
    list_display = ("kind", "value", "is_active", "note", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("value", "note")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("occurred_at", "lead", "direction", "kind", "channel", "summary")
    list_filter = ("direction", "kind", "channel")
    search_fields = ("summary", "lead__email", "lead__last_name")
    list_select_related = ("lead",)
    raw_id_fields = ("lead", "inbound_event", "actor")
    show_full_result_count = False


# --- channels ---------------------------------------------------------------------------------

class MappingField(forms.JSONField):
    """A mapping box sales ops may empty: no mapping is {} (an empty JSON box reads as None,
    which the NOT NULL column refused with a server error). A box that is no JSON says how to
    write one, not "Enter a valid JSON"."""

    default_error_messages = {
        "invalid": 'Write each pair in double quotes, separated by commas, inside { }: '
                   '{"FirstName": "first_name", "Mail": "email"}.'}

    def to_python(self, value):
        return {} if value in self.empty_values else super().to_python(value)


MAPPING_BOX = {models.JSONField: {"form_class": MappingField}}


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "prefix", "is_active", "accepts_form_posts",
                    "rate_limit_per_minute", "last_used_at", "created_at")
    list_filter = ("is_active", "accepts_form_posts")
    search_fields = ("name", "source", "prefix")
    readonly_fields = ("prefix", "last_used_at", "created_at")
    formfield_overrides = MAPPING_BOX
    fields = ("name", "source", "is_active", "field_mapping", "accepts_form_posts",
              "return_origins", "default_region", "rate_limit_per_minute", "acknowledge_with",
              "prefix", "last_used_at", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The admin renders help texts as HTML: written in the model, "<source>" was taken for
        # a tag and the address read "/api/v1/forms//". This key's own address once it has one.
        form = super().get_form(request, obj, change, **kwargs)
        if "accepts_form_posts" in form.base_fields:
            form.base_fields["accepts_form_posts"].help_text = format_html(
                "Accept HTML form posts at {} (no key: a browser cannot keep one secret), e.g. "
                "an existing Salesforce Web-to-Lead form with a new action URL.",
                f"/api/v1/forms/{obj.source if obj and obj.source else '<source>'}/")
        return form

    def save_model(self, request, obj, form, change) -> None:
        key = "" if change else obj.set_new_key()
        super().save_model(request, obj, form, change)
        if key:
            self.message_user(request, format_html(
                "The key for {} is <code>{}</code>. Copy it now: it is stored hashed and "
                "never shown again.", obj.name, key), messages.WARNING)


@admin.register(WebhookSource)
class WebhookSourceAdmin(admin.ModelAdmin):
    """The signing secret is shown to those who may change the source (sales ops, superusers),
    who hand it to the sender and give it a new one; a user who may only view sees its end."""

    list_display = ("name", "slug", "is_active", "endpoint", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    formfield_overrides = MAPPING_BOX
    actions = ("new_secret",)

    def get_fieldsets(self, request, obj=None):
        # Who may see the secret picks the fields and the examples, per request (the admin is
        # one instance for every request: it keeps nothing about who is looking).
        shows = self.has_change_permission(request, obj)
        secret = obj.secret if shows and obj is not None and obj.pk else "<the secret>"
        return [
            (None, {"fields": ("name", "slug", "is_active", "secret" if shows else "secret_hint",
                               "field_mapping", "default_region", "acknowledge_with",
                               "endpoint")}),
            ("How the sender signs its requests", {
                "fields": (), "description": self.signing_help(obj, secret)}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return ("secret_hint", "endpoint")

    @admin.display(description="Secret")
    def secret_hint(self, obj) -> str:
        if not obj or not obj.pk:
            return "Generated when you save."
        return f"…{obj.secret[-4:]} (shown to those who may change this source)"

    @admin.display(description="Endpoint")
    def endpoint(self, obj) -> str:
        if not obj or not obj.slug:
            return ""
        return f"{settings.SITE_URL.rstrip('/')}/inbound/webhook/{obj.slug}/"

    def signing_help(self, obj, secret: str) -> str:
        """What the verifier checks (capture.channels.webhook.verify), and the examples."""
        url = self.endpoint(obj) or f"{settings.SITE_URL.rstrip('/')}/inbound/webhook/<slug>/"
        shell, python = webhook.sender_examples(url, secret)
        return format_html(
            "<p>Each request is a <code>POST</code> to <code>{url}</code> with "
            "<code>Content-Type: application/json</code> and one JSON object as its body (at "
            "most {kb} KB; lead field names are read as they are, other keys through the field "
            "mapping), and these headers:</p><ul class=\"lc-list\">"
            "<li><code>{ts}</code>: the time of sending in Unix seconds; a request more than "
            "{tolerance} seconds away from this server's clock is refused (403).</li>"
            "<li><code>{sig}</code>: <code>{prefix}</code> and the hex HMAC-SHA256, keyed with "
            "the secret, of the timestamp, a dot and the raw body, byte for byte as sent "
            "(<code>&lt;timestamp&gt;.&lt;body&gt;</code>): sign the bytes you send, not JSON "
            "made again from them.</li>"
            "<li><code>{event}</code> (optional): the event's own id. A retry with the same id "
            "(else the same <code>\"id\"</code> in the body, else the same body) adds "
            "nothing.</li></ul>"
            "<p>Answers: 200 with <code>lead_id</code>; 403 for a wrong signature or "
            "timestamp; 400 for a body that is no JSON object or has fields that are not "
            "valid; 404 while the source is not active; 415 for another Content-Type. To "
            "replace the secret, select this source "
            "in the list and run “Give the selected sources a new secret”: the old one stops "
            "working at once.</p>"
            "<p>With a shell (openssl and curl):</p><pre>{shell}</pre>"
            "<p>In Python:</p><pre>{python}</pre>",
            url=url, ts=webhook.TIMESTAMP_HEADER, sig=webhook.SIGNATURE_HEADER,
            prefix=webhook.SIGNATURE_PREFIX, event=webhook.EVENT_ID_HEADER,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS, kb=webhook.channel.max_body // 1024,
            shell=shell, python=python)

    @admin.action(description="Give the selected sources a new secret (the old one stops working)",
                  permissions=["change"])
    def new_secret(self, request, queryset) -> None:
        from capture.channel_models import new_webhook_secret

        for source in queryset:
            WebhookSource.objects.filter(pk=source.pk).update(secret=new_webhook_secret())
        self.message_user(request, f"New secrets for {queryset.count()} source(s); give them "
                          "to the senders.", messages.WARNING)


def channel_stats(since) -> list[dict]:
    """Per adapter, since `since`: events received, leads created/matched, rejected, ..."""
    status = InboundEvent.Status
    rows = (
        InboundEvent.objects.filter(received_at__gte=since)
        .values("channel")
        .annotate(
            received=Count("id"),
            created=Count("id", filter=Q(status=status.PROCESSED, created_lead=True)),
            matched=Count("id", filter=Q(status=status.PROCESSED) & ~Q(created_lead=True)),
            rejected=Count("id", filter=Q(status=status.REJECTED)),
            ignored=Count("id", filter=Q(status=status.IGNORED)),
            failed=Count("id", filter=Q(status=status.FAILED)),
            waiting=Count("id", filter=Q(status=status.RECEIVED)),
        )
        .order_by("channel")
    )
    return list(rows)


@admin.register(ChannelSettings)
class ChannelSettingsAdmin(admin.ModelAdmin):
    """Each channel's non-secret settings, with the last 24 hours of every adapter above them."""

    change_list_template = "capture/admin/channel_settings_change_list.html"
    formfield_overrides = MAPPING_BOX
    list_display = ("channel", "is_active", "source", "default_region", "forward_to",
                    "updated_at")
    fieldsets = (
        (None, {"fields": ("channel", "is_active", "source", "default_region")}),
        ("Twilio calls and SMS", {"fields": ("forward_to", "greeting", "reply_text")}),
        ("Email", {"fields": ("own_addresses",)}),
        ("Meta Lead Ads", {"fields": ("field_mapping",)}),
    )

    def changelist_view(self, request, extra_context=None):
        # Every channel has its row to open, as docs/channels.md says ("Channel settings →
        # Twilio calls and SMS"), with the defaults the channel runs on until it is saved.
        if self.has_add_permission(request):
            ChannelSettings.objects.bulk_create(
                [ChannelSettings(channel=name) for name in ChannelSettings.Name.values],
                ignore_conflicts=True)
        since = timezone.now() - timedelta(hours=24)
        extra_context = {**(extra_context or {}), "channel_stats": channel_stats(since),
                         "stats_since": since}
        return super().changelist_view(request, extra_context=extra_context)


class ImportLeadsForm(forms.Form):
    file = forms.FileField(help_text="A .csv or .xlsx file; the first row names the columns "
                           "(first_name, last_name, email, phone, company, ...).")
    source = forms.CharField(max_length=100, required=False,
                             help_text="Recorded as the leads' source (default: the file name).")
    region = forms.CharField(max_length=2, required=False,
                             help_text="Region for phone numbers without +country code, e.g. GB.")
    dry_run = forms.BooleanField(required=False, initial=True,
                                 help_text="Check every row and preview; write nothing.")

    def clean_region(self) -> str:
        if problem := region_problem(self.cleaned_data["region"]):
            raise forms.ValidationError(problem)
        return self.cleaned_data["region"].strip().upper()


# Rows the page imports in one request: about 15 ms each through the whole intake, and gunicorn
# stops a worker after 30 s, half-way through a longer file. More: import_leads.
ADMIN_IMPORT_MAX_ROWS = 1000
# Rows a preview checks: about 1.2 ms each (a 20,000-row file took 25 s on a busy machine,
# near gunicorn's 30 s). A longer file is previewed by its first rows, and the page says so.
ADMIN_PREVIEW_MAX_ROWS = 10000


def import_leads_view(request):
    """Admin page: upload, preview (dry run) with per-row errors, then import."""
    from capture.channels.imports import ImportFileError, import_rows, options_for, read_table

    report, too_long = None, ""
    form = ImportLeadsForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        name = upload.name
        options = options_for(form.cleaned_data["source"] or name.rsplit(".", 1)[0],
                              form.cleaned_data["region"])
        try:  # the whole file read first: one that breaks half-way imports nothing
            rows = list(read_table(upload.read(), name))
            if len(rows) > ADMIN_IMPORT_MAX_ROWS:
                too_long = (f"{name} has {len(rows):,} rows; this page imports up to "
                            f"{ADMIN_IMPORT_MAX_ROWS:,} at a time (a longer import outlasts "
                            "the web request and stops half-way). Use python manage.py "
                            "import_leads FILE, or split the file.")
                if not form.cleaned_data["dry_run"]:
                    raise ImportFileError(too_long)
                if len(rows) > ADMIN_PREVIEW_MAX_ROWS:
                    too_long += (f" This preview checked its first {ADMIN_PREVIEW_MAX_ROWS:,} "
                                 "rows only.")
                    rows = rows[:ADMIN_PREVIEW_MAX_ROWS]
            report = import_rows(rows, options, dry_run=form.cleaned_data["dry_run"])
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            if not form.cleaned_data["dry_run"]:
                messages.success(request, f"Imported {name}: {report.summary()}.")
    context = {**admin.site.each_context(request), "title": "Import leads", "form": form,
               "report": report, "dry_run": form.data.get("dry_run") if form.is_bound else True,
               "max_rows": f"{ADMIN_IMPORT_MAX_ROWS:,}", "too_long": too_long,
               "opts": Lead._meta}
    return TemplateResponse(request, "capture/admin/import_leads.html", context,
                            status=400 if form.is_bound and form.errors else 200)


@admin.register(LinkedInForm)
class LinkedInFormAdmin(admin.ModelAdmin):
    """Which LinkedIn Lead Gen Form question is which lead field (the responses carry ids)."""

    list_display = ("name", "form_id", "source", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "form_id")
    fields = ("name", "form_id", "is_active", "question_mapping", "source", "default_region")
    formfield_overrides = MAPPING_BOX

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "form_id" in form.base_fields:  # "<number>" in the model's text read as a tag
            form.base_fields["form_id"].help_text = format_html(
                "The number in the form's URN {} (Campaign Manager shows it in the form's URL).",
                "urn:li:leadGenForm:<number>")
        return form


from capture import privacy_admin  # noqa: E402,F401  (export, erasure, retention, access trail)
