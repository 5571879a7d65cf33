"""The lead page's custom fields: their values (escaped like every value) and the rep's edit."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from capture import custom_fields
from capture.models import Lead
from capture.services import set_custom_values


class CustomFieldsForm(forms.Form):
    def __init__(self, *args, lead: Lead, defs, **kwargs):
        super().__init__(*args, **kwargs)
        self.defs = [d for d in defs.values() if d.is_active]
        custom_fields.add_form_fields(self, self.defs, values=lead.custom_fields or {})


def custom_field_context(lead: Lead, form: CustomFieldsForm | None = None) -> dict:
    """What `_custom_fields.html` shows: one query for the definitions."""
    defs = custom_fields.definitions()
    return {
        "rows": custom_fields.shown_values(lead.custom_fields, defs),
        "form": form or CustomFieldsForm(lead=lead, defs=defs),
        "any": bool(defs),
    }


def edit_custom_fields(request: HttpRequest, lead: Lead):
    """The `custom-fields` action of the lead page: same checks as every other write."""
    from routing.services import rescore_lead

    form = CustomFieldsForm(request.POST, lead=lead, defs=custom_fields.definitions())
    if not form.is_valid():
        return {"custom": form}
    values = custom_fields.values_from_form(form.cleaned_data, form.defs,
                                            current=lead.custom_fields)
    changed = set_custom_values(lead=lead, values=values, user=request.user)
    if changed:
        rescore_lead(lead)
        messages.success(request, "Custom fields saved.")
    else:
        messages.info(request, "Nothing changed.")
    return None
