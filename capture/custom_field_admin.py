"""The back office for custom lead fields: define, order, archive and restore them, and place
them on intake forms (an inline on the intake form)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core import validators
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Count

from capture.admin_guards import GuardedDeleteMixin
from capture.custom_field_models import CustomField, FormCustomField


class CustomFieldForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = ("label", "key", "kind", "choices", "min_value", "max_value", "help_text",
                  "position", "is_active")
        widgets = {"choices": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if key := self.fields.get("key"):
            # The model's clean() says what a key may hold (and that one is needed), its length
            # included, with a key close to the one typed: the field's own "at most 49
            # characters" or "required" said it again. The box's maxlength stays for a browser.
            key.required = False
            key.validators = [v for v in key.validators
                              if not isinstance(v, validators.MaxLengthValidator)]

    def add_error(self, field, error):
        """The model names its fields in its errors; one this form does not show (the key,
        read-only once leads carry it) is said above the form instead of a ValueError (500)."""
        if field is None and isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            shown = {name: errors for name, errors in error.error_dict.items()
                     if name in self.fields or name == NON_FIELD_ERRORS}
            hidden = [e for name, errors in error.error_dict.items() if name not in shown
                      for e in errors]
            if hidden:
                shown.setdefault(NON_FIELD_ERRORS, []).extend(hidden)
                error = ValidationError(shown)
        super().add_error(field, error)


@admin.register(CustomField)
class CustomFieldAdmin(GuardedDeleteMixin, admin.ModelAdmin):
    form = CustomFieldForm
    list_display = ("label", "key", "kind", "answers", "on_forms", "is_active", "position")
    list_editable = ("position",)
    list_filter = ("is_active", "kind")
    search_fields = ("label", "key", "help_text", "choices")
    actions = ("archive", "restore", "delete_selected")
    fieldsets = (
        (None, {"fields": ("label", "key", "kind", "choices", ("min_value", "max_value"),
                           "help_text")}),
        ("Where it shows", {"fields": ("position", "is_active"), "description":
            "Put the field on a form under Capture → Intake forms → “Custom fields on this "
            "form”. Leads, the queue's filters, exports, the API, imports and rules see every "
            "active field."}),
    )

    class Media:
        # Fills the key from the label with _ (prepopulated_fields would write hyphens).
        js = ("js/custom_field_key.js",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(form_count=Count("form_slots"))

    def get_readonly_fields(self, request, obj=None):
        # The key is fixed once leads carry it: the API, imports and exports use it.
        if obj is not None and obj.leads_carrying().exists():
            return ("key",)
        return ()

    @admin.display(description="Answers")
    def answers(self, obj) -> str:
        choices = obj.choice_list
        if not choices:
            return "-"
        shown = ", ".join(choices[:4])
        return shown + (f" (+{len(choices) - 4})" if len(choices) > 4 else "")

    @admin.display(description="Forms", ordering="form_count")
    def on_forms(self, obj) -> int:
        return obj.form_count

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        report = getattr(obj, "conversion", None)
        if report is None:
            return
        # New answers run the same conversion (values take the answers' spelling); only a new
        # type is worth telling.
        change = "type" if "kind" in form.changed_data else "answers"
        if change == "type":
            messages.info(request, f"Converted the values of {report.converted} lead(s) to "
                                   f"{report.new_kind_label}.")
        if report.failed:
            messages.warning(request, report.message(change))

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.why_not_deletable():
            return False  # leads carry it (archive instead) or active rules use it
        return super().has_delete_permission(request, obj)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        if request.method == "GET" and obj is not None and (reason := obj.why_not_deletable()):
            messages.info(request, f"This field cannot be deleted. {reason}")
        return super().change_view(request, object_id, form_url, extra_context)

    def refusal(self, obj, reason: str) -> str:
        return f"Not deleted: {reason}"

    @admin.action(description="Archive: hide from forms, the API and filters (values kept)")
    def archive(self, request, queryset) -> None:
        count = 0
        for obj in queryset.filter(is_active=True):
            obj.is_active = False
            obj.save(update_fields=["is_active", "updated_at"])
            count += 1
        messages.success(request, f"Archived {count} field(s); the leads keep their values.")

    @admin.action(description="Restore archived fields")
    def restore(self, request, queryset) -> None:
        count = 0
        for obj in queryset.filter(is_active=False):
            obj.is_active = True
            obj.save(update_fields=["is_active", "updated_at"])
            count += 1
        messages.success(request, f"Restored {count} field(s).")


class FormCustomFieldInline(admin.TabularInline):
    model = FormCustomField
    extra = 1
    fields = ("field", "is_required", "after", "position")
    verbose_name = "custom field on this form"
    verbose_name_plural = "Custom fields on this form (define them under Custom lead fields)"


class CustomValueListFilter(admin.SimpleListFilter):
    """The lead list's filter on one choice or yes/no custom field (made per definition)."""

    definition: CustomField

    def lookups(self, request, model_admin):
        if self.definition.kind == CustomField.Kind.YES_NO:
            return [("yes", "Yes"), ("no", "No")]
        return [(c, c) for c in self.definition.choice_list]

    def queryset(self, request, queryset):
        from capture import custom_fields

        value = self.value()
        if not value:
            return queryset
        if self.definition.kind == CustomField.Kind.YES_NO:
            if value not in ("yes", "no"):  # a hand-edited address: no filter, not "no"
                return queryset
            return custom_fields.filter_yes_no(queryset, self.definition, value == "yes")
        return custom_fields.filter_any_of(queryset, self.definition, [value])


def custom_list_filters() -> list[type[admin.SimpleListFilter]]:
    """One list filter per active choice, several-choices and yes/no field (one query)."""
    from capture.custom_fields import definitions

    kinds = (*CustomField.CHOICE_KINDS, CustomField.Kind.YES_NO)
    return [
        type(f"CustomFilter_{d.key}", (CustomValueListFilter,),
             {"title": d.label, "parameter_name": f"cf_{d.key}", "definition": d})
        for d in definitions(active_only=True).values() if d.kind in kinds
    ]
