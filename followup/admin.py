"""Sequences, the outbox, suppressions, notifications in the admin; django_q superuser-only."""

from __future__ import annotations

import contextlib
import operator
from collections import Counter
from datetime import datetime
from functools import reduce

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template import TemplateSyntaxError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django_q import models as q_models

from capture.models import Lead
from followup.models import (
    EmailTemplate,
    Enrollment,
    Notification,
    OutboundMessage,
    SenderProfile,
    Sequence,
    SequenceStep,
    Suppression,
)
from followup.sequences import RUNNING, owner_timezone, step_context, stop_enrollment
from followup.services import email_template_context, fill_email_template, render_text
from followup.suppression import unsubscribe_url
from followup.tasks import send_outbound
from followup.windows import TCPA_CHANNELS, lead_timezone, number_zones, reach, sending_window
from routing.access import visible_leads

ERROR_SHOWN = 80  # characters of an outbox row's last error in the list


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ("due_at", "kind", "channel", "to_address", "subject_shown", "status",
                    "attempts", "sent_at", "provider_status", "error", "lead")
    list_filter = ("status", "kind", "channel")
    # A step waiting to go out has no address yet: the prospect is found by their lead too.
    search_fields = ("to_address", "subject", "message_id", "provider_id", "lead__email",
                     "lead__first_name", "lead__last_name", "lead__company")
    # The lead's owner and signature and the step: what a waiting step's subject is drawn from.
    list_select_related = ("lead", "lead__owner", "lead__owner__sender_profile", "step")
    raw_id_fields = ("lead", "interaction", "identity")
    show_full_result_count = False
    readonly_fields = ("lead", "kind", "channel", "recipient", "to_address", "subject", "body",
                       "status", "due_at", "attempts", "last_error", "claimed_at", "sent_at",
                       "interaction", "enrollment", "step", "message_id", "provider_id",
                       "provider_status", "sent_by", "template_name", "identity",
                       "created_at")
    exclude = ("dedupe_key",)
    actions = ("send_again_now",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Subject", ordering="subject")
    def subject_shown(self, obj) -> str:
        """A sequence step is rendered when it goes out (the lead's details and the step's
        text as they are then), so until then its row holds the step's template: the list
        shows it as it would go now."""
        if obj.kind != OutboundMessage.Kind.SEQUENCE or obj.step is None or obj.status not in (
                OutboundMessage.Status.SCHEDULED, OutboundMessage.Status.PAUSED):
            return obj.subject
        try:
            return " ".join(render_text(obj.step.subject, step_context(obj.lead, "")).split())
        except TemplateSyntaxError:
            return obj.subject

    @admin.display(description="Last error", ordering="last_error")
    def error(self, obj) -> str:
        """Why a row failed or was skipped, at a glance (the whole text on hover and on the
        row's page)."""
        if not obj.last_error:
            return ""
        return format_html('<span title="{}">{}</span>', obj.last_error,
                           Truncator(obj.last_error).chars(ERROR_SHOWN))

    @admin.action(description="Retry the selected failed or scheduled messages now",
                  permissions=["view"])
    def send_again_now(self, request, queryset) -> None:
        """Make the rows due now and kick them; then say what became of them. Once due, the
        running sweeper (or one kick's batch) may send a row before this request's own kick
        does, so the report reads the rows' statuses afterwards, not the kicks' answers."""
        Status = OutboundMessage.Status
        ids = list(queryset.filter(status__in=[Status.FAILED, Status.SCHEDULED])
                   .values_list("id", flat=True))
        if not ids:
            self.message_user(request, "None of the selected messages is failed or scheduled.",
                              messages.WARNING)
            return
        OutboundMessage.objects.filter(id__in=ids, status__in=[
            Status.FAILED, Status.SCHEDULED]).update(status=Status.SCHEDULED,
                                                     due_at=timezone.now())
        for message_id in ids:
            send_outbound(message_id)
        now = Counter(OutboundMessage.objects.filter(id__in=ids).values_list("status",
                                                                            flat=True))
        # A step found outside the prospect's sending window was moved to its next opening.
        waiting = OutboundMessage.objects.filter(
            id__in=ids, status=Status.SCHEDULED, due_at__gt=timezone.now()).count()
        said = [f"Sent {now[Status.SENT]} of {len(ids)} message(s)."]
        if now[Status.SENDING]:
            said.append(f"{now[Status.SENDING]} being sent by a worker just now.")
        if waiting:
            said.append(f"{waiting} waits for the prospect's sending window: it goes out at "
                        "its due time." if waiting == 1 else f"{waiting} wait for the prospects' "
                        "sending windows: they go out at their due times.")
        if left := len(ids) - now[Status.SENT] - now[Status.SENDING] - waiting:
            said.append(f"{left} not sent: see their status and last error.")
        self.message_user(request, " ".join(said),
                          messages.WARNING if left else messages.SUCCESS)


PREVIEW_SEARCH = ("first_name", "last_name", "email", "phone", "company")


def lead_to_preview(request: HttpRequest) -> tuple[Lead | None, str]:
    """The lead a preview fills its text in for, and a warning when it is not the one asked for.

    ?lead= takes a lead id, or words found in a name, email, phone or company (the newest match
    is shown); without it, the newest lead. Only leads the user may open (routing.access) are
    chosen: any other id reads as one that does not exist. A lead that is not found says so,
    and which lead is shown instead: sales ops must not take the newest lead's text for the
    lead they asked for.
    """
    asked = request.GET.get("lead", "").strip()
    leads = visible_leads(request.user).select_related("owner").order_by("-created_at", "-pk")
    # ASCII digits only: "²".isdigit() is True, yet no number int() reads.
    is_id = asked.isascii() and asked.isdecimal()
    if is_id:
        lead = leads.filter(pk=asked).first()
    elif asked:
        found = leads
        for word in asked.split():
            found = found.filter(reduce(operator.or_, (
                Q(**{f"{field}__icontains": word}) for field in PREVIEW_SEARCH)))
        lead = found.first()
    else:
        lead = None
    if lead is not None or not asked:
        return lead or leads.first(), ""
    lead = leads.first()
    missing = (f"There is no lead #{asked}." if is_id else
               f"No lead matches “{asked}” (a lead id, or a name, email, phone or company).")
    instead = (f"Showing the newest lead, {lead.display_name} (#{lead.pk}), instead." if lead
               else "There are no leads to show instead.")
    return lead, f"{missing} {instead}"


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "subject", "is_active", "updated_at")
    list_editable = ("is_active",)
    list_filter = ("is_active",)
    search_fields = ("name", "subject", "body")

    def get_urls(self):
        return [path("<int:pk>/preview/", self.admin_site.admin_view(self.preview),
                     name="followup_emailtemplate_preview"), *super().get_urls()]

    def preview(self, request: HttpRequest, pk: int):
        """The template filled in for a real lead, as the rep sees it on the lead page
        (followup.services.fill_email_template: the same text, the same variables)."""
        template = get_object_or_404(EmailTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        lead, warning = lead_to_preview(request)
        if warning:
            self.message_user(request, warning, messages.WARNING)
        filled, error = None, ""
        if lead is not None:
            try:
                filled = fill_email_template(template, email_template_context(lead))
            except TemplateSyntaxError as exc:
                error = f"This template has an error: {exc}"
        return TemplateResponse(request, "followup/admin/emailtemplate_preview.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"Preview of “{template}”", "template": template, "lead": lead,
            "filled": filled, "error": error, "asked": request.GET.get("lead", "").strip(),
        })

    @admin.display(description="preview")
    def preview_link(self, obj):
        return format_html('<a href="{}">Preview with a real lead</a>',
                           reverse("admin:followup_emailtemplate_preview", args=[obj.pk]))

    def get_readonly_fields(self, request, obj=None):
        return ("preview_link",) if obj else ()

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "preview_link"]
        return ["preview_link", *fields] if obj else fields


NO_STEPS = ("Add at least one step, or untick “On” to keep the sequence as a draft: switched "
            "on without steps it would take every lead it matches and end at once (with “then "
            "long-term nurture”, moving them to nurture).")


class SequenceStepForm(forms.ModelForm):
    """A new step's position starts empty, meaning "after the steps above": with the model's
    default (1) every added step clashed with step 1 ("Please correct the duplicate data for
    position") until it was numbered by hand."""

    position = forms.IntegerField(required=False, min_value=0,
                                  help_text="Empty: after the steps above.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            self.initial["position"] = None


class SequenceStepFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        # Number the steps left without a position after every other one, in page order,
        # before the duplicate check compares them.
        taken = [f.cleaned_data.get("position") for f in self.forms if f.cleaned_data]
        following = max((p for p in taken if p is not None), default=0)
        for form in self.forms:
            if form.cleaned_data and form.cleaned_data.get("position") is None:
                following += 1
                form.cleaned_data["position"] = form.instance.position = following
        super().clean()
        steps = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if self.instance.is_active and not steps:
            # Enrolled, a lead would finish an empty sequence at once (and go to nurture).
            raise ValidationError(NO_STEPS)


class SequenceListForm(forms.ModelForm):
    """The list's "On" box: a draft without steps stays off there too (checked for the rows
    switched on, not every active row of the page)."""

    def clean(self) -> dict:
        data = super().clean()
        if ("is_active" in self.changed_data and data.get("is_active")
                and not self.instance.steps.exists()):
            self.add_error("is_active", NO_STEPS)
        return data


class SequenceStepInline(admin.StackedInline):
    model = SequenceStep
    form = SequenceStepForm
    formset = SequenceStepFormSet
    extra = 0
    fields = (("position", "delay", "delay_unit", "channel"), "subject", "body")


def unseen_sources(sources: frozenset[str]) -> list[str]:
    """The sources listed on a sequence that no lead has had and no form, API key or webhook
    source names (sequences compare them in any case): a typo, or a form's title for its slug,
    would otherwise enrol nobody without a word."""
    from capture.models import ApiKey, IntakeForm, WebhookSource

    named = {*IntakeForm.objects.values_list("slug", flat=True),
             *ApiKey.objects.values_list("source", flat=True),
             *WebhookSource.objects.values_list("slug", flat=True)}
    left = sorted(sources - {name.casefold() for name in named})
    return [name for name in left if not Lead.objects.filter(source__iexact=name).exists()]


def sending_hours(sequence: Sequence, channel: str, lead: Lead, owner_tz: str | None,
                  now: datetime) -> str:
    """When a step on `channel` may go out to this lead, as the sender keeps it (windows.reach):
    a text or call task to a number that may ring in several zones (+1 605: Denver and
    Central time) keeps its hours in every one of them, and the preview names them all, not
    the one zone its emails are timed in."""
    if problem := sequence.window_problem(channel):
        return problem
    starts, ends = sending_window(channel, sequence.window_starts, sequence.window_ends)
    hours = (f"Goes out between {starts.hour}:{starts:%M} and {ends.hour}:{ends:%M}, "
             f"{'any day' if sequence.send_on_weekends else 'Monday to Friday'},")
    zones = reach(lead, owner_tz, channel, now, sequence.window_starts, sequence.window_ends,
                  sequence.send_on_weekends).zones
    rings_in = number_zones(lead.phone) if channel in TCPA_CHANNELS else ()
    others = [zone for zone in rings_in if zone not in zones]
    if len(zones) > 1 and not others:
        return f"{hours} in every zone this number may ring in: {', '.join(zones)}."
    if len(zones) > 1:
        return (f"{hours} in each of this number's zones in the lead's country: "
                f"{', '.join(zones)} (its {len(others)} other zones share no hour of it with "
                "them).")
    if others:
        return (f"{hours} {zones[0]} time (the lead's timezone): the {len(rings_in)} zones "
                "this number may ring in share no hour of it.")
    return f"{hours} {zones[0]} time."


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "position", "trigger", "no_response_hours",
                    "window_starts", "window_ends", "send_on_weekends", "then_nurture")
    list_editable = ("is_active", "position")
    filter_horizontal = ("tiers", "forms")
    inlines = [SequenceStepInline]
    fieldsets = (
        (None, {"fields": ("name", "is_active", "position", "then_nurture")}),
        ("Who is enrolled", {"fields": ("trigger", "no_response_hours", "tiers", "forms",
                                        "sources")}),
        ("Sending window (the lead's local time)", {
            "fields": ("window_starts", "window_ends", "send_on_weekends")}),
    )

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, form=SequenceListForm, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if unseen := unseen_sources(obj.source_set):
            names = ", ".join(f"“{name}”" for name in unseen)
            self.message_user(request, f"No lead has come from {names} yet: a source is a "
                              "form's slug (quote), an API key's source, a signed webhook's "
                              "slug or a channel's (email, twilio...). Check the spelling, or "
                              "the sequence enrols nobody from it.", messages.WARNING)

    def get_urls(self):
        return [path("<int:pk>/preview/", self.admin_site.admin_view(self.preview),
                     name="followup_sequence_preview"), *super().get_urls()]

    def preview(self, request: HttpRequest, pk: int):
        """Every step rendered for a real lead (?lead=<id or words>; the newest lead by
        default; lead_to_preview)."""
        sequence = get_object_or_404(Sequence, pk=pk)
        if not self.has_view_permission(request, sequence):
            raise PermissionDenied
        lead, warning = lead_to_preview(request)
        if warning:
            self.message_user(request, warning, messages.WARNING)
        steps = []
        if lead is not None:
            context = step_context(lead, unsubscribe_url(lead))
            owner_tz, now = owner_timezone(lead), timezone.now()
            for step in sequence.steps.order_by("position", "id"):
                try:
                    subject = render_text(step.subject, context)
                    body = render_text(step.body, context)
                except TemplateSyntaxError as exc:
                    subject, body = "", f"This template has an error: {exc}"
                if step.channel == SequenceStep.Channel.EMAIL:
                    body = (f"{body.rstrip()}\n\n--\n{settings.COMPANY_POSTAL_ADDRESS}\n"
                            f"Unsubscribe: {context['unsubscribe_url']}")
                steps.append({"step": step, "subject": subject, "body": body,
                              "hours": sending_hours(sequence, step.channel, lead, owner_tz,
                                                     now)})
        return TemplateResponse(request, "followup/admin/sequence_preview.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta,
            "title": f"Preview of “{sequence}”", "sequence": sequence, "lead": lead,
            "steps": steps, "tz": lead_timezone(lead, owner_timezone(lead)) if lead else None,
        })

    def preview_link(self, obj):
        return format_html('<a href="{}">Preview with a real lead</a>',
                           reverse("admin:followup_sequence_preview", args=[obj.pk]))

    preview_link.short_description = "preview"

    def get_readonly_fields(self, request, obj=None):
        return ("preview_link",) if obj else ()

    def get_fieldsets(self, request, obj=None):
        sets = super().get_fieldsets(request, obj)
        if obj is not None:
            sets = ((None, {"fields": ("preview_link",)}), *sets)
        return sets


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("lead", "sequence", "status", "enrolled_at", "ended_at", "stop_reason")
    list_filter = ("status", "sequence", "enrolled_at")
    list_select_related = ("lead", "sequence")
    search_fields = ("lead__first_name", "lead__last_name", "lead__email", "lead__company")
    show_full_result_count = False
    raw_id_fields = ("lead",)
    readonly_fields = ("lead", "sequence", "status", "enrolled_at", "paused_at", "ended_at",
                       "stop_reason")
    actions = ("stop_selected",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Stop the selected sequences now", permissions=["change"])
    def stop_selected(self, request, queryset) -> None:
        stopped = sum(stop_enrollment(lead=e.lead, reason=f"stopped by {request.user}")
                      for e in queryset.filter(status__in=RUNNING))
        self.message_user(request, f"Stopped {stopped} sequence(s).")


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "reason", "created_at", "lead")
    list_filter = ("kind", "reason")
    search_fields = ("value",)
    raw_id_fields = ("lead",)

    def get_search_results(self, request, queryset, search_term):
        """An erased person is found by typing their email or phone: it is hashed and compared."""
        from capture.identity import InvalidPhone, email_key, normalise_phone
        from capture.privacy import identity_hash

        found, may_repeat = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            kind = "email" if "@" in term else "phone"
            value = email_key(term) if kind == "email" else term
            if kind == "phone":  # hashed as the intake stored it: "(415) 555-2671" is +1415...
                with contextlib.suppress(InvalidPhone):
                    value = normalise_phone(term)
            found |= queryset.filter(kind=kind, value_hash=identity_hash(kind, value))
        return found, may_repeat

    # An erasure's rows are the record that the person asked to be forgotten: deleting one (or
    # turning it into another reason first) would let the intake store them again without the
    # new opt-in docs/privacy.md promises. Only that opt-in lifts them (privacy.lift_erasure).
    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not _erased(obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not _erased(obj)

    def get_deleted_objects(self, objs, request):
        """The bulk delete's confirmation refuses a selection holding an erasure's row (Django
        checks only the model's delete permission there), naming why."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if any(_erased(obj) for obj in objs):
            perms_needed = {*perms_needed, "an erased person's rows (only a new opt-in through "
                            "a form lifts an erasure)"}
        return deleted, counts, perms_needed, protected


def _erased(suppression: Suppression | None) -> bool:
    return suppression is not None and suppression.reason == Suppression.Reason.ERASED


class NotificationReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return (("no", "Unread"), ("yes", "Read"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "kind", "text", "read_at")
    list_filter = ("kind", NotificationReadFilter, "created_at")
    list_select_related = ("user",)
    search_fields = ("text", "user__username", "user__first_name", "user__last_name")
    raw_id_fields = ("user", "lead")
    show_full_result_count = False


@admin.register(SenderProfile)
class SenderProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "mobile_phone")
    raw_id_fields = ("user",)


class SuperuserOnly:
    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        # and only where django-q2's own admin allows adding: task results are the cluster's
        return self.has_module_permission(request) and super().has_add_permission(request, *args)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)


for model in (q_models.Schedule, q_models.Success, q_models.Failure, q_models.OrmQ):
    if admin.site.is_registered(model):
        admin_class = type(admin.site._registry[model])
        admin.site.unregister(model)
        admin.site.register(model, type(f"SuperuserOnly{admin_class.__name__}",
                                        (SuperuserOnly, admin_class), {}))
