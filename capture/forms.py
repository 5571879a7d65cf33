"""The public quote-request form, built from an IntakeForm row, and the admin's form for it."""

from __future__ import annotations

import functools
import re
import time
import uuid

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from crispy_forms.utils import TEMPLATE_PACK, render_crispy_form
from django import forms
from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from capture import custom_fields
from capture.fields import ATTRIBUTION_FIELDS, CHOICE_FIELDS, FORM_FIELDS, MAX_LENGTHS, LeadField
from capture.identity import InvalidPhone, normalise_phone, parse_email
from capture.memo import ProcessMemo
from capture.models import FILL_SECONDS_MESSAGE, MAX_FILL_SECONDS, CustomField, IntakeForm

HONEYPOT = "website"  # a field people never see; bots fill it
STARTED = "started"  # signed time the page was served: the minimum fill time
SUBMISSION_ID = "submission_id"  # one id per rendered page: a double click is one submission

_STARTED_SALT = "capture.form-started"


def sign_started(form_id: int) -> str:
    return signing.dumps({"form": form_id, "at": time.time()}, salt=_STARTED_SALT)


# A page's start token is good for a day: a page left open overnight still sends, while a
# bot that fetched the page once cannot skip the minimum fill time for ever with that token.
STARTED_MAX_AGE = 24 * 3600


def seconds_since_started(token: str, form_id: int) -> float | None:
    """Seconds since the page was served, or None when the token is missing, forged or older
    than STARTED_MAX_AGE."""
    try:
        value = signing.loads(token or "", salt=_STARTED_SALT, max_age=STARTED_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(value, dict) or value.get("form") != form_id:
        return None
    return time.time() - float(value.get("at", 0))


class TrimmedCharField(forms.CharField):
    """Hidden attribution: cut to the column's length, never an error the visitor cannot fix."""

    def __init__(self, *, limit: int, **kwargs):
        self.limit = limit
        super().__init__(required=False, widget=forms.HiddenInput, **kwargs)

    def clean(self, value):
        return (super().clean(value) or "").replace("\x00", "")[: self.limit]


class PublicLeadForm(forms.Form):
    """Fields are added per IntakeForm in build_public_form()."""

    intake_form: IntakeForm

    def clean_email(self) -> str:
        raw = self.cleaned_data.get("email", "")
        name, address = parse_email(raw)
        self._email_display_name = name
        return address

    def clean_phone(self) -> str:
        region = self.intake_form.default_region or settings.PHONE_DEFAULT_REGION
        try:
            return normalise_phone(self.cleaned_data.get("phone", ""), region)
        except InvalidPhone as exc:
            raise forms.ValidationError(str(exc), code="invalid_phone") from None

    def clean(self):
        data = super().clean()
        shown = set(self.intake_form.fields)
        no_contact = not (data.get("email") or data.get("phone"))
        typo = self.errors.get("email") or self.errors.get("phone")
        if {"email", "phone"} & shown and no_contact and not typo:
            raise forms.ValidationError(
                    "Leave an email address or a phone number so we can get back to you.",
                    code="no_contact",
                )
        # '"Ada Lovelace" <ada@x.co>' in the email box fills an empty name.
        display = getattr(self, "_email_display_name", "")
        if display and "first_name" in shown and not data.get("first_name"):
            first, _, last = display.partition(" ")
            data["first_name"] = first[: MAX_LENGTHS["first_name"]]
            if "last_name" in shown and not data.get("last_name"):
                data["last_name"] = last[: MAX_LENGTHS["last_name"]]
        return data


def build_public_form(
    intake_form: IntakeForm, data=None, initial=None, *, for_display: bool = False
) -> PublicLeadForm:
    """The visitor's form for this IntakeForm; `for_display` adds the crispy layout."""
    form = _form_class(_config_key(intake_form))(data=data, initial=initial)
    form.intake_form = intake_form
    if for_display:
        form.helper = form_helper(intake_form, form)
    return form


def _config_key(intake_form: IntakeForm) -> tuple:
    """Everything the form class depends on: a new key builds a new class."""
    return (
        intake_form.slug, tuple(intake_form.fields or ()),
        tuple(intake_form.required_fields or ()), intake_form.consent_text,
        intake_form.consent_required, intake_form.default_region,
        _custom_slots(intake_form),
        *(tuple(intake_form.choices_for(name))
          for name in CHOICE_FIELDS),
    )


CustomSlot = tuple  # (key, label, kind, choices, help_text, required, after, lowest, highest)


# Each form's custom fields, re-read every 10 s per process like the form itself
# (capture.views.intake_forms_memo), and at once after an edit here.
custom_slots_memo: ProcessMemo[tuple[CustomSlot, ...]] = ProcessMemo(ttl=10.0)


def _custom_slots(intake_form: IntakeForm) -> tuple[CustomSlot, ...]:
    """The active custom fields placed on this form, in their order: one query, memoised."""
    if intake_form.pk is None:
        return ()
    return custom_slots_memo.get(intake_form.pk, lambda: _read_custom_slots(intake_form))


def _read_custom_slots(intake_form: IntakeForm) -> tuple[CustomSlot, ...]:
    slots = (intake_form.custom_field_slots.filter(field__is_active=True)
             .select_related("field").order_by("position", "id"))
    return tuple(
        (s.field.key, s.field.label, s.field.kind, tuple(s.field.choice_list),
         s.field.help_text, s.is_required, s.after, s.field.min_value, s.field.max_value)
        for s in slots
    )


def _definition(slot: CustomSlot) -> CustomField:
    key, label, kind, choices, help_text, _required, _after, lowest, highest = slot
    return CustomField(key=key, label=label, kind=kind, choices="\n".join(choices),
                       help_text=help_text, min_value=lowest, max_value=highest)


def forget_form_classes() -> None:
    _form_class.cache_clear()
    custom_slots_memo.clear()
    _blank_forms.clear()


# What each page load of a form sets: the hidden attribution values, the start token, the
# submission id, and the CSRF token (set on the page, not in the form's configuration).
PAGE_VALUES = (*ATTRIBUTION_FIELDS, STARTED, SUBMISSION_ID, "csrf_token")
_blank_forms: dict[tuple, str] = {}


def page_form_html(intake_form: IntakeForm, initial: dict[str, str], csrf_token: str
                   ) -> SafeString:
    """The form as a new visitor sees it (no answers, no errors). Crispy's templates took
    20 ms a page for a form of 25 fields, most of a public form's cost: the form is rendered
    once per configuration (the form class's key, its button and address) with a marker in
    each value a page load sets, and each page puts its own values, escaped as the widgets
    escape them, in place of the markers."""
    key = (_config_key(intake_form), intake_form.submit_label, intake_form.get_absolute_url())
    html = _blank_forms.get(key)
    if html is None:
        form = build_public_form(intake_form, initial={name: _marker(name)
                                                       for name in PAGE_VALUES},
                                 for_display=True)
        html = render_crispy_form(form, form.helper, {"csrf_token": _marker("csrf_token")})
        if len(_blank_forms) >= 256:  # configurations edited many times: start again
            _blank_forms.clear()
        _blank_forms[key] = html
    values = {**initial, "csrf_token": csrf_token}
    # One pass: a value that holds a marker itself (a link's ?utm_source=) stays as typed.
    filled = MARKER.sub(lambda match: escape(values.get(match[1]) or ""), html)
    return mark_safe(filled)  # noqa: S308 - crispy's output, with escaped values put in


MARKER = re.compile(r"@@leadcrm-page-value:([a-z_]+)@@")


def _marker(name: str) -> str:
    return f"@@leadcrm-page-value:{name}@@"


@functools.lru_cache(maxsize=256)
def _form_class(key: tuple) -> type[PublicLeadForm]:
    """Built once per form configuration, not on every request."""
    slug, shown, required, consent_text, consent_required, region, slots, *choices = key
    config = IntakeForm(slug=slug, fields=list(shown), required_fields=list(required),
                        consent_text=consent_text, consent_required=consent_required,
                        default_region=region)
    for name, answers in zip(CHOICE_FIELDS, choices, strict=True):
        setattr(config, f"{name}_choices", "\n".join(answers or ()))
    fields: dict[str, forms.Field] = {}
    for name in shown:
        if name in FORM_FIELDS:
            fields[name] = _field_for(config, name, required=name in required)
    for slot in slots:
        fields[custom_fields.FORM_PREFIX + slot[0]] = custom_fields.form_field(
            _definition(slot), required=slot[5], public=True)
    if consent_text.strip():
        fields["consent"] = forms.BooleanField(
            required=consent_required,
            initial=False,  # never pre-ticked
            label=consent_text,
            error_messages={"required": "Please tick the box to agree before submitting."},
        )
    for name in ATTRIBUTION_FIELDS:
        fields[name] = TrimmedCharField(limit=MAX_LENGTHS[name])
    fields[STARTED] = forms.CharField(required=False, widget=forms.HiddenInput)
    fields[SUBMISSION_ID] = forms.CharField(required=False, widget=forms.HiddenInput,
                                            max_length=64)
    fields[HONEYPOT] = forms.CharField(
        required=False,
        label="Leave this field empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    form_class = type("IntakeFormFor_" + slug.replace("-", "_"), (PublicLeadForm,), fields)
    form_class.custom_slots = slots
    return form_class


def _field_for(intake_form: IntakeForm, name: str, *, required: bool) -> forms.Field:
    label = LeadField(name).label
    limit = MAX_LENGTHS[name]
    messages = {"required": f"Please fill in your {label.lower()}."}
    if name == "email":
        return forms.CharField(
            label=label, required=required, max_length=limit, error_messages=messages,
            widget=forms.EmailInput(attrs={"autocomplete": "email", "inputmode": "email"}),
        )
    if name == "phone":
        return forms.CharField(
            label=label, required=required, max_length=limit, error_messages=messages,
            help_text="With country code if you are outside "
            f"{intake_form.default_region or settings.PHONE_DEFAULT_REGION}.",
            widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
        )
    if name == "message":
        return forms.CharField(
            label="How can we help?", required=required, max_length=limit,
            error_messages=messages, widget=forms.Textarea(attrs={"rows": 4}),
        )
    if name in CHOICE_FIELDS and (choices := intake_form.choices_for(name)):
        return forms.ChoiceField(
            label=label, required=required, error_messages={
                **messages, "invalid_choice": "Please pick one of the listed answers."},
            choices=[("", "Choose…"), *[(c, c) for c in choices]],
        )
    autocomplete = {"first_name": "given-name", "last_name": "family-name",
                    "company": "organization", "job_title": "organization-title",
                    "country": "country-name"}.get(name, "off")
    return forms.CharField(label=label, required=required, max_length=limit,
                           error_messages=messages,
                           widget=forms.TextInput(attrs={"autocomplete": autocomplete}))


class PlainSubmit(Submit):
    """A submit button whose label is shown as typed: crispy's own renders the label as a
    template (sales ops' "{{ request.path }}" would run, and its output is not escaped)."""

    def render(self, form, context, template_pack=TEMPLATE_PACK, **kwargs):
        context.update({"input": self})
        return render_to_string(self.get_template_name(template_pack), context.flatten())


def form_helper(intake_form: IntakeForm, form: forms.Form) -> FormHelper:
    helper = FormHelper()
    helper.form_method = "post"
    helper.form_action = intake_form.get_absolute_url()
    helper.attrs = {"novalidate": ""}  # server-side messages, the same for every client
    visible = _placed([n for n in form.fields if n in FORM_FIELDS],
                      getattr(form, "custom_slots", ()))
    hidden = [Field(n) for n in (*ATTRIBUTION_FIELDS, STARTED, SUBMISSION_ID)]
    helper.layout = Layout(
        *visible,
        *(["consent"] if "consent" in form.fields else []),
        Div(HONEYPOT, css_class="hp-field", aria_hidden="true"),
        *hidden,
        PlainSubmit("submit", intake_form.submit_label, css_class="btn-primary btn-lg w-100"),
    )
    return helper


def _placed(builtins: list[str], slots: tuple[CustomSlot, ...]) -> list[str]:
    """Built-in fields in order, each custom field right after the one it is placed after."""
    after: dict[str, list[str]] = {}
    for slot in slots:
        spot = slot[6] if slot[6] in builtins else ""
        after.setdefault(spot, []).append(custom_fields.FORM_PREFIX + slot[0])
    names = []
    for name in builtins:
        names += [name, *after.get(name, [])]
    return names + after.get("", [])


def initial_for_page(intake_form: IntakeForm, request) -> dict[str, str]:
    """Hidden values captured when the page is served: UTM, click ids, referrer, landing page."""
    initial = {name: request.GET.get(name, "")[: MAX_LENGTHS[name]]
               for name in ATTRIBUTION_FIELDS if name in request.GET}
    initial.setdefault("referrer", request.META.get("HTTP_REFERER", "")[:2000])
    initial.setdefault("landing_page", request.build_absolute_uri()[:2000])
    initial[STARTED] = sign_started(intake_form.id)
    initial[SUBMISSION_ID] = uuid.uuid4().hex
    return initial


# What ends a page's name, not a site's: a redirect typed as "thanks.html" names a page.
PAGE_SUFFIXES = frozenset({"html", "htm", "php", "asp", "aspx", "jsp", "cfm", "shtml"})


class IntakeFormAdminForm(forms.ModelForm):
    """Checkboxes for the fields a form shows and requires, instead of raw JSON."""

    fields = forms.MultipleChoiceField(
        choices=LeadField.choices, widget=forms.CheckboxSelectMultiple,
        help_text="Fields the form shows, in the order listed here.",
    )
    required_fields = forms.MultipleChoiceField(
        choices=LeadField.choices, widget=forms.CheckboxSelectMultiple, required=False,
        help_text="Fields the visitor must fill (they must be shown too).",
    )
    redirect_url = forms.URLField(
        required=False, assume_scheme="https",
        help_text="Send visitors here after submitting instead of the thank-you page.",
    )
    min_fill_seconds = forms.IntegerField(
        min_value=0, max_value=MAX_FILL_SECONDS, initial=3,
        error_messages={"max_value": FILL_SECONDS_MESSAGE},
        help_text="Submissions faster than this after the page loaded are rejected "
        f"(0 to {MAX_FILL_SECONDS}).",
    )

    class Meta:
        model = IntakeForm
        fields = (
            "title", "slug", "is_active", "intro", "submit_label", "fields", "required_fields",
            "default_region", "company_size_choices", "budget_choices", "urgency_choices",
            "service_choices", "industry_choices", "consent_text", "consent_required",
            "thank_you_text", "redirect_url", "response_promise", "ack_subject", "ack_body",
            "min_fill_seconds", "allowed_origins",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The admin shows help text as HTML: a bare "<slug>" would vanish as a tag.
        if self.instance.pk:
            self.fields["slug"].help_text = format_html(
                "The page lives at {}.", self.instance.get_absolute_url())
        else:
            self.fields["slug"].help_text = format_html(
                "The page will live at {}, with the slug typed here.", "/q/<slug>/")

    def clean_redirect_url(self) -> str:
        # A URL typed without https:// is read as a site: "thanks.html" became
        # https://thanks.html, a site nobody has, where every visitor was sent.
        typed = (self.data.get(self.add_prefix("redirect_url")) or "").strip()
        host = typed.split("/", 1)[0].split("?", 1)[0]
        if "://" not in typed and host.rpartition(".")[2].casefold() in PAGE_SUFFIXES:
            raise forms.ValidationError(
                f"“{typed}” is a page, not a site: write the whole address, e.g. "
                f"https://www.example.com/{typed}.")
        return self.cleaned_data["redirect_url"]

    def clean_fields(self) -> list[str]:
        chosen = set(self.cleaned_data["fields"])
        return [name for name in FORM_FIELDS if name in chosen]

    def clean_required_fields(self) -> list[str]:
        return list(self.cleaned_data.get("required_fields") or [])


INPUT_TYPES = {"email": "email", "phone": "tel"}


def own_html_form(intake_form: IntakeForm, action: str) -> str:
    """The HTML form a site can paste to post to this intake form (its origin listed in
    allowed_origins): the form's own fields, answers, consent box and honeypot, so sales ops
    copy a working snippet from the admin rather than write one."""
    required = set(intake_form.required_fields or ())
    lines = [f'<form method="post" action="{escape(action)}">']
    for name in intake_form.fields or ():
        label = escape(LeadField(name).label) if name in LeadField.values else escape(name)
        star = " required" if name in required else ""
        if choices := intake_form.choices_for(name):
            options = "".join(f"<option>{escape(c)}</option>" for c in choices)
            field = f'<select name="{name}"{star}><option value=""></option>{options}</select>'
        elif name == "message":
            field = f'<textarea name="{name}"{star}></textarea>'
        else:
            field = f'<input name="{name}" type="{INPUT_TYPES.get(name, "text")}"{star}>'
        lines.append(f"  <label>{label} {field}</label>")
    if intake_form.consent_text.strip():
        star = " required" if intake_form.consent_required else ""
        lines.append(f'  <label><input type="checkbox" name="consent"{star}> '
                     f"{escape(intake_form.consent_text.strip())}</label>")
    lines += ['  <!-- leave empty: people never see it, bots fill it -->',
              f'  <input name="{HONEYPOT}" tabindex="-1" autocomplete="off" aria-hidden="true" '
              'style="position:absolute;left:-10000px">',
              f"  <button>{escape(intake_form.submit_label)}</button>", "</form>"]
    return "\n".join(lines)
