"""The lead page's action forms (rendered with crispy-forms, Bootstrap 5)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from capture.models import ALLOWED_TRANSITIONS, LeadStatus
from routing.actions import CallOutcome

NEEDS_REASON = {LeadStatus.LOST, LeadStatus.DISQUALIFIED}


class CallForm(forms.Form):
    outcome = forms.ChoiceField(choices=CallOutcome.choices)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                            max_length=5000)


class NoteForm(forms.Form):
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 2}),
                           max_length=5000)


class EmailForm(forms.Form):
    subject = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), max_length=20000)


class SmsForm(forms.Form):
    body = forms.CharField(label="Text message", widget=forms.Textarea(attrs={"rows": 2}),
                           max_length=640)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=LeadStatus.choices)
    reason = forms.CharField(required=False, max_length=1000,
                             help_text="Required for lost and disqualified.")

    def __init__(self, *args, current: str, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = ALLOWED_TRANSITIONS.get(current, set())
        self.fields["status"].choices = [(v, label) for v, label in LeadStatus.choices
                                         if v in allowed]

    def clean(self):
        data = super().clean()
        if data.get("status") in NEEDS_REASON and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the lead is lost or disqualified.")
        return data


class ReassignForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(),
                                   empty_label="Nobody (back to the team queue)", required=False)
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(
            is_active=True, rep_profile__isnull=False).order_by("username")
        self.fields["owner"].label_from_instance = (
            lambda u: u.get_full_name() or u.get_username())
