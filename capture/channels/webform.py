"""The public web form: its stored POST, read again through the same form, is the input."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.http import QueryDict
from django.utils import timezone

from capture.custom_fields import FORM_PREFIX, active_definitions, display
from capture.fields import FORM_FIELDS, LEAD_FIELDS, MAX_LENGTHS
from capture.intake import Consent, IntakeInput, Rejected, register_normaliser
from capture.models import Channel, InboundEvent, IntakeForm

CHANNEL = "web_form"


def payload_from_post(post: QueryDict) -> dict[str, str | list[str]]:
    """The visitor's POST as a flat dict for InboundEvent.payload: the last value of each key,
    or the list of values of a key sent several times (ticked boxes of a custom field)."""
    payload: dict[str, str | list[str]] = {}
    for key in post:
        values = post.getlist(key)
        payload[key] = values if key.startswith("cf_") and len(values) > 1 else post.get(key, "")
    return payload


def post_from_payload(payload: dict) -> QueryDict:
    """The stored payload as the POST it was, for reading it again through the form."""
    post = QueryDict(mutable=True)
    for key, value in (payload or {}).items():
        if isinstance(value, list):
            post.setlist(key, [str(v) for v in value])
        else:
            post[key] = value
    return post


@register_normaliser(CHANNEL)
def normalise(event: InboundEvent) -> IntakeInput:
    """The reprocess path: the stored POST read again through the same form."""
    from capture.forms import build_public_form  # forms import models; keep import order simple

    intake_form = event.form
    if intake_form is None:
        raise Rejected("The form this submission was made on no longer exists.")
    form = build_public_form(intake_form, data=post_from_payload(event.payload))
    if not form.is_valid():
        raise Rejected(f"Invalid submission: {form.errors.as_json()}")
    return input_from_form(intake_form, form.cleaned_data, received_at=event.received_at,
                           remote_ip=event.remote_ip, posted=event.payload)


def input_from_form(
    intake_form: IntakeForm, data: dict, *, received_at: datetime | None, remote_ip: str | None,
    posted: Mapping[str, object] | None = None,
) -> IntakeInput:
    """A validated public form as the intake's input (the live path and reprocessing).

    `posted`: the raw POST. A lead field the form does not show but a page of the customer's
    own posted anyway (their HTML form with a country box) is kept on the timeline, not
    dropped unseen; it is not stored on the lead, as the form's settings say what it asks."""
    received_at = received_at or timezone.now()
    fields = {name: data.get(name) or "" for name in LEAD_FIELDS if data.get(name)}
    consent = None
    if data.get("consent"):
        consent = Consent(text=intake_form.consent_text, given_at=received_at, ip=remote_ip)
    answered = [f"{name.replace('_', ' ').capitalize()}: {data[name]}"
                for name in FORM_FIELDS if data.get(name) and name != "message"]
    custom = {name.removeprefix(FORM_PREFIX): value for name, value in data.items()
              if name.startswith(FORM_PREFIX) and value is not None}
    defs = active_definitions() if custom else {}  # memoised: no query per submission
    answered += [f"{defs[key].label}: {display(defs[key], v)}" if key in defs else f"{key}: {v}"
                 for key, v in custom.items()]
    answered += [f"{name.replace('_', ' ').capitalize()} (not on this form): "
                 f"{str(posted[name])[:MAX_LENGTHS[name]]}"
                 for name in LEAD_FIELDS if name not in data and posted
                 and isinstance(posted.get(name), str) and posted[name].strip()]
    body = "\n".join([*answered, "", data.get("message", "")]).strip()
    return IntakeInput(
        channel=Channel.WEB_FORM,
        fields=fields,
        summary=f"Submitted the form “{intake_form.title}”",
        body=body,
        occurred_at=received_at,
        form_id=intake_form.id,
        form=intake_form,
        source=intake_form.slug,
        consent=consent,
        custom=custom,
    )
