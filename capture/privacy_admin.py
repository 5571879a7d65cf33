"""The privacy back office: export or erase a person, the retention policy and its runs, the
access trail. Export and erasure are for sales ops (the `export_person` / `erase_person`
permissions) and superusers; the pages come from get_urls() + admin_view."""

from __future__ import annotations

import io
import zipfile

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from capture import privacy
from capture.privacy_models import LeadAccess, PrivacyRequest, RetentionPolicy, RetentionRun


class PersonForm(forms.Form):
    email = forms.CharField(required=False, max_length=254,
                            widget=forms.EmailInput(attrs={"size": 40}))
    phone = forms.CharField(required=False, max_length=40, help_text="With +country code, or "
                            "a number of PHONE_DEFAULT_REGION.")
    note = forms.CharField(required=False, max_length=200, label="Reference",
                           help_text="A ticket number or how the request came in; no personal "
                           "data (it is kept after an erasure).")

    def clean(self):
        data = super().clean()
        try:
            data["key"], data["e164"] = privacy.read_identity(data.get("email", ""),
                                                              data.get("phone", ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return data


class ReadOnly:
    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(ReadOnly, admin.ModelAdmin):
    change_list_template = "capture/admin/privacy_change_list.html"
    list_display = ("created_at", "kind", "requested_by", "lead_count", "note")
    list_filter = ("kind", ("created_at", admin.DateFieldListFilter))
    search_fields = ("note",)
    readonly_fields = ("kind", "requested_by", "created_at", "lead_ids", "counts",
                       "identity_hashes", "note")

    @staticmethod
    def may_export(request) -> bool:
        return request.user.has_perm("capture.export_person")

    @staticmethod
    def may_erase(request) -> bool:
        return request.user.has_perm("capture.erase_person")

    def has_module_permission(self, request) -> bool:
        return self.may_export(request) or self.may_erase(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    @admin.display(description="leads")
    def lead_count(self, obj) -> int:
        return len(obj.lead_ids)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("export/", view(self.export_view), name="capture_privacy_export"),
                path("erase/", view(self.erase_view), name="capture_privacy_erase"),
                *super().get_urls()]

    def _page(self, request, template, **context):
        return TemplateResponse(request, f"capture/admin/{template}", {
            **self.admin_site.each_context(request), "opts": self.model._meta, **context})

    def export_view(self, request):
        if not self.may_export(request):
            raise PermissionDenied
        form = PersonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            person = privacy.find_person(form.cleaned_data["key"], form.cleaned_data["e164"])
            if _names_person(form, person):
                return self._page(request, "privacy_export.html", form=form,
                                  title="Export a person's data")
            try:
                text, summary, record = privacy.export_person(person, request.user,
                                                              form.cleaned_data["note"])
            except privacy.PersonNotFound as exc:
                form.add_error(None, str(exc))
            else:
                return _zip_response(record, text, summary)
        return self._page(request, "privacy_export.html", form=form,
                          title="Export a person's data")

    def erase_view(self, request):
        if not self.may_erase(request):
            raise PermissionDenied
        form = PersonForm(request.POST if request.method == "POST" else None)
        context = {"form": form, "title": "Erase a person (forget)"}
        if request.method == "POST" and form.is_valid():
            person = privacy.find_person(form.cleaned_data["key"], form.cleaned_data["e164"])
            if "confirm" in request.POST and _names_person(form, person):
                pass  # the error is beside the reference; the preview shows again
            elif "confirm" in request.POST:
                if request.POST.get("lead_ids") != ",".join(map(str, person.lead_ids)):
                    form.add_error(None, "What this person's data covers changed since the "
                                   "preview: check the preview again.")
                else:
                    record = privacy.erase_person(person, request.user,
                                                  form.cleaned_data["note"])
                    mentions = record.counts.get(privacy.MENTIONS, 0)
                    self.message_user(request, f"Erased: {len(record.lead_ids)} lead(s) "
                                      f"anonymised, {mentions} mention(s) on other records "
                                      "cut; the email and phone are suppressed.",
                                      messages.SUCCESS)
                    return redirect(reverse("admin:capture_privacyrequest_change",
                                            args=[record.pk]))
            context.update(person=person, preview=privacy.erasure_preview(person),
                           lead_ids=",".join(map(str, person.lead_ids)),
                           leads=person.leads.select_related("owner"))
        return self._page(request, "privacy_erase.html", **context)


def _names_person(form: PersonForm, person: privacy.Person) -> bool:
    """The reference is kept after an erasure: the person's address or number in it would be
    left behind. Refused beside the field."""
    if privacy.names_person(form.cleaned_data["note"], person):
        form.add_error("note", "Leave the person's email address and phone number out of the "
                       "reference: it is kept after an erasure.")
        return True
    return False


def _zip_response(record: PrivacyRequest, text: str, summary: str) -> HttpResponse:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("person.json", text)
        archive.writestr("summary.html", summary)
    name = f"privacy-export-{record.pk}-{timezone.now():%Y%m%d}.zip"
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


RUN_NOW_SECONDS = 15  # "Run the policy now" in the admin: well within a web request's timeout


class PolicyAccess:
    """Sales ops (who may erase) and superusers edit the policy and read the runs."""

    def has_module_permission(self, request) -> bool:
        return request.user.has_perm("capture.erase_person")

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(PolicyAccess, admin.ModelAdmin):
    list_display = ("__str__", "is_active", "updated_at")
    actions = ("dry_run", "run_now")
    # The policy's page has the actions as buttons: the list's actions need the one row ticked.
    change_form_template = "capture/admin/retention_policy_change_form.html"

    def has_add_permission(self, request) -> bool:
        return self.has_module_permission(request) and not RetentionPolicy.objects.exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        RetentionPolicy.current()  # the one row always exists
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [path("run/<str:action>/", self.admin_site.admin_view(self.run_view),
                     name="capture_retention_run"), *super().get_urls()]

    def run_view(self, request, action: str):
        """A button on the policy's page: the list's action of that name, with the checks the
        list makes (the action offered to this user, who may change the policy)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        offered = self.get_actions(request)
        if action not in offered or not self.has_change_permission(request):
            raise PermissionDenied
        func = offered[action][0]
        func(self, request, self.get_queryset(request))
        return redirect(reverse("admin:capture_retentionpolicy_change",
                                args=[RetentionPolicy.current().pk]))

    @admin.action(description="Dry run: report what the policy would do now")
    def dry_run(self, request, queryset) -> None:
        run = privacy.run_retention(dry_run=True, user=request.user)
        self._report(request, run)

    @admin.action(description="Run the policy now")
    def run_now(self, request, queryset) -> None:
        # Within the page's time; the worker goes on with any leads left (a first run on an
        # old database has thousands).
        run = privacy.run_retention(dry_run=False, user=request.user,
                                    max_seconds=RUN_NOW_SECONDS)
        privacy.continue_retention(run)
        self._report(request, run)

    def _report(self, request, run: RetentionRun) -> None:
        r = run.report
        verb = "would purge" if run.dry_run else "purged"
        self.message_user(request, f"Retention {'dry run' if run.dry_run else 'run'} "
                          f"#{run.pk}: {verb} {r['raw_payloads_purged']} raw payload(s), "
                          f"{r['rejected_events_deleted']} rejected event(s), "
                          f"{r['leads_anonymised']} inactive lead(s)."
                          + (f" {r['leads_left']} more inactive lead(s) are being anonymised "
                             "in the background (Retention runs)." if r.get("leads_left") else ""),
                          messages.SUCCESS)


@admin.register(RetentionRun)
class RetentionRunAdmin(PolicyAccess, ReadOnly, admin.ModelAdmin):
    list_display = ("started_at", "dry_run", "triggered_by", "payloads", "rejected", "leads")
    list_filter = ("dry_run",)
    readonly_fields = ("started_at", "finished_at", "dry_run", "triggered_by", "settings",
                       "report")

    @admin.display(description="raw payloads")
    def payloads(self, obj) -> int:
        return obj.report.get("raw_payloads_purged", 0)

    @admin.display(description="rejected events")
    def rejected(self, obj) -> int:
        return obj.report.get("rejected_events_deleted", 0)

    @admin.display(description="leads anonymised")
    def leads(self, obj) -> int:
        return obj.report.get("leads_anonymised", 0)


@admin.register(LeadAccess)
class LeadAccessAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ("at", "who", "action", "lead", "detail")
    list_filter = ("action", ("at", admin.DateFieldListFilter), "user")
    search_fields = ("=lead__id", "actor", "detail")  # the login, kept once a user is deleted
    list_select_related = ("user", "lead")
    readonly_fields = ("at", "who", "action", "lead", "listed_ids", "detail")

    @admin.display(description="user", ordering="actor")
    def who(self, obj) -> str:
        return obj.who
    show_full_result_count = False
    date_hierarchy = "at"
