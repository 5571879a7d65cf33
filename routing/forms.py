"""The lead page's action forms (rendered with crispy-forms, Bootstrap 5)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.forms.models import ModelChoiceIterator
from django.utils import timezone

from capture.models import ALLOWED_TRANSITIONS, OPEN_STATUSES, Lead, LeadStatus
from capture.services import person_name, person_sort_key
from routing.access import led_team_ids, reps_of_teams, sees_every_lead
from routing.actions import CallOutcome

NEEDS_REASON = {LeadStatus.LOST, LeadStatus.DISQUALIFIED}


class LinesField(forms.CharField):
    """Text whose lines end in "\n" whatever the browser sent (browsers post "\r\n")."""

    def to_python(self, value):
        value = super().to_python(value)
        return value.replace("\r\n", "\n") if value else value


class ActionForm(forms.Form):
    """One of the lead page's action forms. Several share field names ("body", "note"), so each
    has its own ids (id_<action>-<field>) for its labels to point at; the names it posts stay
    the field names."""

    action = ""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"id_{self.action}-%s")
        super().__init__(*args, **kwargs)


class CallForm(ActionForm):
    action = "call"
    outcome = forms.ChoiceField(choices=CallOutcome.choices)
    notes = LinesField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                            max_length=5000)


class NoteForm(ActionForm):
    action = "note"
    body = LinesField(label="Note", widget=forms.Textarea(attrs={"rows": 2}),
                           max_length=5000)


class EmailForm(ActionForm):
    action = "email"
    subject = forms.CharField(max_length=200)
    body = LinesField(widget=forms.Textarea(attrs={"rows": 5}), max_length=20000)
    # The email template the rep started from (static/js/email_templates.js sets it).
    template = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if "template" in self.errors:  # a hidden field: its error is said above the form
            del self.errors["template"]
            self.add_error(None, "That email template is not offered: pick another, or "
                                 "write your own.")
        return cleaned

    def clean_subject(self) -> str:
        subject = self.cleaned_data["subject"]
        if "\n" in subject or "\r" in subject:  # a header line: a break would add headers
            raise forms.ValidationError("Write the subject on one line.")
        return subject


class SmsForm(ActionForm):
    action = "sms"
    body = LinesField(label="Text message", widget=forms.Textarea(attrs={"rows": 2}),
                           max_length=640)


class StatusForm(ActionForm):
    action = "status"
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


def rep_zone(user) -> ZoneInfo:
    """The rep's own time zone (their rep profile's), else the site's."""
    name = (getattr(getattr(user, "rep_profile", None), "timezone", "") or "")
    try:
        return ZoneInfo(name) if name else timezone.get_current_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.get_current_timezone()


class SnoozeForm(forms.Form):
    """Until when: a quick choice, or a date and time, both in the rep's own time zone ("9:00"
    is the rep's morning, and a typed time is the rep's wall clock)."""

    CHOICES = (("1h", "In an hour"), ("tomorrow", "Tomorrow at 9:00"),
               ("3d", "In 3 days at 9:00"), ("monday", "Next Monday at 9:00"),
               ("custom", "A date and time…"))
    MAX_DAYS = 365
    prefix = "snooze"  # its note field's id must not clash with the reassign form's

    when = forms.ChoiceField(label="Snooze until", choices=CHOICES, initial="tomorrow")
    at = forms.DateTimeField(label="Date and time", required=False,
                             widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                             input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
                             help_text="Only for “A date and time…”; in your time zone (your "
                             "rep profile's).")
    note = forms.CharField(required=False, max_length=500, help_text="Why, for the timeline.")

    def __init__(self, *args, zone=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = zone or timezone.get_current_timezone()

    def clean(self):
        data = super().clean()
        now = timezone.localtime(timezone=self.zone)
        morning = now.replace(hour=9, minute=0, second=0, microsecond=0)
        when = data.get("when")
        if when == "custom":
            at = data.get("at")
            if at is None:
                self.add_error("at", "Pick the date and time the lead should come back.")
                return data
            # Django read the typed wall-clock time in the site's zone: it is the rep's.
            at = timezone.make_aware(timezone.make_naive(at), self.zone)
            if at <= now:
                self.add_error("at", "Pick a time in the future.")
                return data
            if at > now + timedelta(days=self.MAX_DAYS):
                self.add_error("at", f"At most {self.MAX_DAYS} days ahead.")
                return data
            data["until"] = at
        elif when:
            data["until"] = {
                "1h": now + timedelta(hours=1),
                "tomorrow": morning + timedelta(days=1),
                "3d": morning + timedelta(days=3),
                "monday": morning + timedelta(days=7 - now.weekday()),
            }[when]
        return data


class _PeopleByName(ModelChoiceIterator):
    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for user in sorted(self.queryset, key=person_sort_key):
            yield self.choice(user)


class PersonChoiceField(forms.ModelChoiceField):
    """A picker of people, named as the pages name them and listed in that name's order
    (person_sort_key): the reassign, dashboard, try-it and admin pickers all read so."""

    iterator = _PeopleByName

    def label_from_instance(self, obj) -> str:
        return person_name(obj)


class ReassignForm(ActionForm):
    """Who takes the lead. Sales ops and superusers pick any active rep; a manager the reps of
    the teams they lead (the same people their dashboard's rep load lists)."""

    action = "reassign"
    owner = PersonChoiceField(queryset=get_user_model().objects.none(),
                              empty_label="Nobody (back to the team queue)", required=False)
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, user=None, lead=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lead = lead
        reps = get_user_model().objects.filter(is_active=True, rep_profile__isnull=False)
        if user is not None and not sees_every_lead(user):
            # The current owner stays listed (and selected), even from another team: else
            # the picker shows "Nobody" and a note alone would send the lead back.
            reps = reps.filter(Q(pk__in=reps_of_teams(led_team_ids(user)).values("pk"))
                               | Q(pk=getattr(lead, "owner_id", None)))
        self.fields["owner"].queryset = reps

    def clean_owner(self):
        owner = self.cleaned_data["owner"]
        assessment = getattr(self.lead, "assessment", None) if self.lead is not None else None
        if owner is None and self.lead is not None and (assessment is None
                                                        or assessment.team_id is None):
            raise forms.ValidationError("This lead came through no team's queue, so nobody "
                                        "would see it there: choose who takes it.")
        return owner


class LeadDetailsForm(forms.ModelForm):
    """A rep fixing what the prospect typed (a mistyped phone, a missing job title) on the lead
    page. Read as the intake reads it: the email's match key follows it, the phone becomes
    E.164 (the lead's country, else PHONE_DEFAULT_REGION), the country its ISO code; another
    open lead holding the email or phone is named (one person, one open lead)."""

    class Meta:
        from capture.fields import CONTACT_FIELDS

        model = Lead
        fields = (*CONTACT_FIELDS, "company_size", "industry", "country", "budget", "urgency",
                  "service")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Laid out by the lead page itself: crispy's templates cost 9 ms a page for these.
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-control form-control-sm"

    def clean_email(self) -> str:
        from capture.identity import parse_email

        email = self.cleaned_data["email"].strip()
        return parse_email(email)[1] if email else ""

    def clean_phone(self) -> str:
        from capture.identity import InvalidPhone, normalise_phone, phone_region

        phone = self.cleaned_data["phone"].strip()
        if not phone or phone == self.instance.phone:
            return phone
        try:
            return normalise_phone(phone, phone_region(
                self.data.get("country", "") or self.instance.country))
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_country(self) -> str:
        from capture.intake import lead_country

        return lead_country(self.cleaned_data["country"].strip(), "")

    def validate_constraints(self):
        """The one-open-lead-per-person constraints, checked below with the new email's match
        key (the instance's is only updated on save) and the other lead named."""

    def _post_clean(self):
        from capture.identity import email_key

        super()._post_clean()
        if self.instance.status not in OPEN_STATUSES:
            return
        for name, lookup, value in (("email", "email_key", email_key(self.instance.email)),
                                    ("phone", "phone", self.instance.phone)):
            if name in self.errors or name not in self.changed_data or not value:
                continue
            other = (Lead.objects.filter(status__in=OPEN_STATUSES, **{lookup: value})
                     .exclude(pk=self.instance.pk).values_list("pk", flat=True).first())
            if other:
                self.add_error(name, f"Open lead #{other} has this {name}: the same person? "
                               "Work that lead, or close one of them first.")
