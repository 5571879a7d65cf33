"""A person's data on request: found by email or phone, exported, erased; retention; the trail.

    find_person(email=, phone=)  -> Person: every lead of that person, across channels and the
                                    identities those leads share (email <-> phone <-> earlier lead)
    export_person(person, user)  -> the JSON document and its HTML summary; recorded
    erasure_preview(person)      -> what erase_person would touch, counted
    erase_person(person, user)   -> leads anonymised (their counts and timings stay for the
                                    dashboards; custom field values go), raw payloads, messages
                                    and texts scrubbed, chats closed, the identities suppressed
                                    as salted hashes; their email addresses and phone numbers
                                    cut out of other people's records that mention them (a
                                    visitor's chat message); recorded without data
    run_retention(dry_run=)      -> the retention policy applied (the daily schedule), reported
    record_access(...)           -> one access-trail row

The rows of other apps that belong to a lead are found through the foreign keys that point at
Lead (outbound messages, assessments, enrolments, notifications...), so a new app's table is
exported and scrubbed without this module importing it. The suppression list is followup's
(`followup.Suppression`), read through the app registry for the same reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote_plus

import phonenumbers
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Cast, Concat
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import capfirst

from capture.custom_field_models import CustomField
from capture.fields import ATTRIBUTION_LABELS, LeadField
from capture.identity import InvalidPhone, email_key, normalise_phone
from capture.identity_models import LeadIdentity
from capture.models import Channel, InboundEvent, IntakeForm, Interaction, Lead, LeadStatus
from capture.privacy_models import LeadAccess, PrivacyRequest, RetentionPolicy, RetentionRun

ERASED = "[erased]"
# Lead fields that say who the person is; the rest (status, times, channel, source, owner,
# score, tier, qualification answers) stay, so the dashboards' counts and timings stay right.
PERSONAL_LEAD_FIELDS = ("first_name", "last_name", "email", "email_key", "phone", "company",
                        "job_title", "message", "utm_term", "utm_content", "gclid", "fbclid",
                        "referrer", "landing_page")
# Text columns of rows belonging to a lead that never hold what a person typed: kept unless
# they happen to contain one of the person's identifiers.
# Custom field types whose values the person wrote themselves (capture/custom_fields.py).
TEXT_KINDS = (CustomField.Kind.SHORT_TEXT, CustomField.Kind.LONG_TEXT)
# Not provider_id: Telegram's is "<chat id>:<message id>", and the chat id is the person's
# account; a delivery report that comes after the erasure has nothing left to update anyway.
KEPT_COLUMNS = {"dedupe_key", "provider_status", "stop_reason", "tier",
                "fired_rules", "routing", "consent_text", "listed_ids", "detail",
                "channel"}  # an InboundEvent's adapter ("twilio-sms"): a choice in all but name


# --- identities --------------------------------------------------------------------------------

def identity_hash(kind: str, value: str) -> str:
    """The salted hash a suppressed email key or E.164 phone is kept as (HMAC-SHA256).

    The key is PRIVACY_HASH_KEY (default: derived from SECRET_KEY); keep it when rotating
    SECRET_KEY, or erased people are no longer recognised.
    """
    value = email_key(value) if kind == "email" else (value or "").strip()
    secret = settings.PRIVACY_HASH_KEY.encode()
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def erased_event_id(channel: str, external_id: str) -> str:
    """The id an erased person's event is kept under: retries still find it, nobody reads it."""
    return "erased:" + identity_hash("event", f"{channel}:{external_id}")[:48]


def _suppression_model():
    return apps.get_model("followup", "Suppression")


def account_value(platform: str, external_id: str) -> str:
    """A platform account as one suppressible value ("telegram:555000222")."""
    return f"{platform}:{(external_id or '').strip()}"


def erased_identity(key: str, phone: str, account: tuple[str, str] | None = None) -> bool:
    """Was a person with this email key, phone or platform account (platform, external id)
    erased (and has not opted in again)?"""
    wanted = Q()
    if key:
        wanted |= Q(kind="email", value_hash=identity_hash("email", key))
    if phone:
        wanted |= Q(kind="phone", value_hash=identity_hash("phone", phone))
    if account and account[1]:
        wanted |= Q(kind="account", value_hash=identity_hash("account", account_value(*account)))
    if not wanted:
        return False
    suppression = _suppression_model()
    return suppression.objects.filter(wanted, reason=suppression.Reason.ERASED).exists()


def is_suppressed(lead: Lead, channel: str) -> bool:
    """May we message this lead on this channel (email, sms)? STOP also sets do_not_text.
    The one check for every sender: followup's messages and replies, capture's SMS auto-reply."""
    if channel == "sms":
        return lead.do_not_text or address_suppressed("phone", lead.phone)
    if channel == "email":
        return address_suppressed("email", lead.email_key)
    return False


def address_suppressed(kind: str, value: str) -> bool:
    """Is this email address (or key) or E.164 phone on the suppression list? For a sender
    that has an address, not a lead (a chat visitor's own email); is_suppressed() for a lead."""
    if not value:
        return False
    return _suppression_model().objects.filter(
        kind=kind, value_hash=identity_hash(kind, value)).exists()


def is_new_opt_in(channel: str, consent) -> bool:
    """Only a public form submitted with its consent box ticked brings an erased person back."""
    return channel == Channel.WEB_FORM and consent is not None


def lift_erasure(key: str, phone: str) -> int:
    """A new, explicit opt-in: the erased identities may be stored and contacted again."""
    suppression = _suppression_model()
    given = {kind: identity_hash(kind, value)
             for kind, value in (("email", key), ("phone", phone)) if value}
    opted_in = Q(pk__in=[])
    for kind, digest in given.items():
        opted_in |= Q(kind=kind, value_hash=digest)
    # The platform accounts erased with that email or phone come back with it: the erasure
    # request recorded every hash of the person together. The person's other emails and
    # phones stay suppressed until they opt in with those too.
    accounts: set[str] = set()
    for recorded in PrivacyRequest.objects.filter(
            kind=PrivacyRequest.Kind.ERASURE).values_list("identity_hashes", flat=True):
        if set(given.values()) & set(recorded or []):
            accounts |= set(recorded)
    if accounts:
        opted_in |= Q(kind=suppression.Kind.ACCOUNT, value_hash__in=accounts)
    deleted, _ = suppression.objects.filter(opted_in, reason=suppression.Reason.ERASED).delete()
    return deleted


# --- finding a person --------------------------------------------------------------------------

class PersonNotFound(ValueError):
    pass


@dataclass
class Person:
    emails: set[str] = field(default_factory=set)  # email keys
    phones: set[str] = field(default_factory=set)  # E.164
    names: set[str] = field(default_factory=set)
    lead_ids: list[int] = field(default_factory=list)
    accounts: set[tuple[str, str]] = field(default_factory=set)  # (platform, external id)
    typed: set[str] = field(default_factory=set)  # custom text values (a profile URL...)

    @property
    def leads(self) -> models.QuerySet[Lead]:
        return Lead.objects.filter(pk__in=self.lead_ids).order_by("created_at", "pk")

    @property
    def numbers(self) -> set[str]:
        """The phones as people write them: E.164, its digits, the national format."""
        found = set(self.phones) | {p.lstrip("+") for p in self.phones}
        for phone in self.phones:
            with contextlib.suppress(phonenumbers.NumberParseException):
                found.add(phonenumbers.format_number(phonenumbers.parse(phone),
                                                     phonenumbers.PhoneNumberFormat.NATIONAL))
        return found

    @property
    def account_ids(self) -> set[str]:
        """The platform account ids (a Telegram user id is also the chat id our messages carry);
        too short an id would match other people's text, and no platform makes one."""
        return {external_id for _, external_id in self.accounts if len(external_id) >= 6}

    @property
    def tokens(self) -> list[str]:
        """What identifies the person in free text: addresses, numbers, account ids, names,
        and what they typed into custom text fields (copied into a score explanation, say)."""
        found = (set(self.emails) | self.numbers | self.account_ids
                 | {n for n in self.names | self.typed if len(n) >= 3})
        return sorted(found, key=len, reverse=True)

    def hashes(self) -> list[str]:
        return ([identity_hash("email", e) for e in sorted(self.emails)]
                + [identity_hash("phone", p) for p in sorted(self.phones)]
                + [identity_hash("account", account_value(*a)) for a in sorted(self.accounts)])


def read_identity(email: str = "", phone: str = "") -> tuple[str, str]:
    """The match keys for what staff typed; raises ValueError with a message for bad input."""
    key = email_key(email)
    if email.strip() and not key:
        raise ValueError("Enter a valid email address.")
    try:
        e164 = normalise_phone(phone) if phone.strip() else ""
    except InvalidPhone as exc:
        raise ValueError(str(exc)) from None
    if not key and not e164:
        raise ValueError("Enter an email address or a phone number.")
    return key, e164


def typed_custom_values(*leads_values: dict | None) -> set[str]:
    """The custom field values a person wrote freely (text fields, and fields deleted since),
    from the `Lead.custom_fields` of their leads. Choices, numbers, dates and yes/no answers
    are not searched for in other rows (a choice such as "Pro" would match too much); erasure
    drops them from the lead all the same."""
    if not any(leads_values):
        return set()
    from capture.custom_fields import definitions

    picked = {key for key, definition in definitions().items()
              if definition.kind not in TEXT_KINDS}
    return {value.strip() for values in leads_values for key, value in (values or {}).items()
            if key not in picked and isinstance(value, str) and value.strip()}


def contacts_given(lead_ids: Iterable[int]) -> tuple[set[str], set[str]]:
    """The email keys and phones the person gave on these leads' timelines that the leads do
    not hold (the intake's "Also gave the ..."): theirs too, to export, erase and suppress."""
    emails: set[str] = set()
    phones: set[str] = set()
    for other_email, other_phone in Interaction.objects.filter(
            Q(lead_id__in=lead_ids) & (~Q(other_email="") | ~Q(other_phone=""))
    ).values_list("other_email", "other_phone"):
        emails |= {other_email} - {""}
        phones |= {other_phone} - {""}
    return emails, phones


def find_person(email: str = "", phone: str = "") -> Person:
    """Every lead of the person: same email key or phone, then whatever those leads share.

    Raises ValueError for unreadable input; an unknown person is an empty Person.
    """
    key, e164 = read_identity(email, phone)
    person = Person(emails={key} - {""}, phones={e164} - {""})
    seen: set[int] = set()
    custom_values: list[dict] = []
    for _ in range(10):  # a chain of shared identities; ten hops is far beyond real data
        identity = Q(pk__in=[])
        if person.emails:
            identity |= (Q(email_key__in=person.emails)
                         | Q(interactions__other_email__in=person.emails))
        if person.phones:
            identity |= Q(phone__in=person.phones) | Q(interactions__other_phone__in=person.phones)
        if seen:
            identity |= (Q(previous_lead_id__in=seen) | Q(later_leads__in=seen)
                         | Q(merged_into_id__in=seen) | Q(merged_leads__in=seen))
        rows = list(Lead.objects.filter(identity).exclude(pk__in=seen).distinct())
        if not rows:
            break
        for lead in rows:
            seen.add(lead.pk)
            person.emails |= {lead.email_key} - {""}
            person.phones |= {lead.phone} - {""}
            person.names |= {n for n in (lead.first_name, lead.last_name,
                                         f"{lead.first_name} {lead.last_name}".strip()) if n}
            custom_values.append(lead.custom_fields)
        emails, phones = contacts_given([lead.pk for lead in rows])
        person.emails |= emails
        person.phones |= phones
    person.lead_ids = sorted(seen)
    person.typed = typed_custom_values(*custom_values)
    for platform, external_id, name in LeadIdentity.objects.filter(lead_id__in=seen).exclude(
            external_id__startswith="erased-").values_list("platform", "external_id",
                                                           "display_name"):
        person.accounts.add((platform, external_id))
        person.names |= {name} - {""}
    return person


def _lead_relations() -> list[models.ForeignObjectRel]:
    """Every table with a foreign key to Lead, in any app (hidden relations included)."""
    return [rel for rel in Lead._meta.get_fields(include_hidden=True)
            if rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)
            and rel.related_model is not Lead]


def _events_of(person: Person) -> models.QuerySet[InboundEvent]:
    """Raw events: those of the leads, and lead-less ones (rejected, failed) naming the person."""
    linked = Q(lead_id__in=person.lead_ids) | Q(
        pk__in=Interaction.objects.filter(lead_id__in=person.lead_ids)
        .exclude(inbound_event=None).values("inbound_event_id"))
    # Every lead-less event is read against every token (retention: once per idle lead), so
    # the payload and headers are one text, and a token holding a shorter one is not searched
    # for: wherever "+442079460000" is, "442079460000" is too.
    mentions = Q(pk__in=[])
    for token in shortest_tokens([*person.emails, *person.numbers, *person.account_ids]):
        mentions |= Q(raw_text__icontains=token)
    unlinked = InboundEvent.objects.filter(lead__isnull=True).annotate(raw_text=Concat(
        Cast("payload", models.TextField()), Value("\n"), Cast("headers", models.TextField()),
        output_field=models.TextField())).filter(mentions).values("pk")
    return InboundEvent.objects.filter(linked | Q(pk__in=unlinked)).order_by("received_at")


def shortest_tokens(tokens: Iterable[str]) -> list[str]:
    """The tokens without those that contain another (any case): a text holds one of these
    exactly when it holds one of all of them."""
    found: list[str] = []
    for token in sorted({t.casefold() for t in tokens if t}, key=len):
        if not any(kept in token for kept in found):
            found.append(token)
    return found


def names_person(text: str, person: Person) -> bool:
    """Does staff's free text (a privacy request's reference) hold the person's email address or
    phone number, however the number is written? That text outlives an erasure."""
    digits = "".join(ch for ch in text if ch.isdigit())
    return _contains(text, person.emails) or any(
        number.lstrip("+")[-9:] in digits for number in person.phones)


# --- export ------------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return value


def _row(obj: models.Model) -> dict:
    return {f.attname: _plain(getattr(obj, f.attname)) for f in obj._meta.concrete_fields}


def person_document(person: Person) -> dict:
    """Everything stored about the person, table by table (JSON-able)."""
    events = list(_events_of(person))
    document = {
        "generated_at": timezone.now(),
        "identities": {
            "emails": sorted(person.emails), "phones": sorted(person.phones),
            "accounts": [{"platform": identity.get_platform_display(),
                          "account_id": identity.external_id, "name": identity.display_name}
                         for identity in LeadIdentity.objects.filter(
                             lead_id__in=person.lead_ids).order_by("pk")]},
        "leads": [_row(lead) for lead in person.leads],
        "consent": [
            {"lead_id": lead.pk, "given": lead.has_consent, "text": lead.consent_text,
             "at": lead.consent_at, "ip": lead.consent_ip}
            for lead in person.leads],
        "inbound_events": [_row(event) for event in events],
    }
    for rel in _lead_relations():
        model = rel.related_model
        if model in (InboundEvent, LeadAccess):
            continue
        label = model._meta.label_lower.replace(".", "_")
        rows = model._default_manager.filter(**{f"{rel.field.name}_id__in": person.lead_ids})
        document[label] = [_row(obj) for obj in rows.order_by("pk")]
    document["score_explanations"] = [
        {"lead_id": row["lead_id"], "score": row.get("score"), "tier": row.get("tier"),
         "rules": row.get("fired_rules"), "routing": row.get("routing")}
        for row in document.get("routing_leadassessment", [])]
    return document


def export_person(person: Person, user, note: str = "") -> tuple[str, str, PrivacyRequest]:
    """The JSON and HTML summary of the person; the export and each lead's access recorded.

    A person without a lead may still have raw events (a rejected or failed submission): those
    are theirs too."""
    document = person_document(person)
    if not person.lead_ids and not document["inbound_events"]:
        raise PersonNotFound("No lead or inbound event has this email address or phone number.")
    text = json.dumps(document, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    counts = {name: len(rows) for name, rows in document.items() if isinstance(rows, list)}
    with transaction.atomic():
        request = PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.EXPORT, requested_by=user, identity_hashes=person.hashes(),
            lead_ids=person.lead_ids, counts=counts, note=note[:200])
        LeadAccess.objects.bulk_create([
            LeadAccess(lead_id=pk, user=user, actor=LeadAccess.actor_of(user),
                       action=LeadAccess.Action.EXPORTED,
                       detail=f"privacy export #{request.pk}") for pk in person.lead_ids])
    labels = payload_labels()
    forms = IntakeForm.objects.in_bulk({row.get("form_id") for row in document["leads"]} - {None})
    outbound = apps.get_model("followup", "OutboundMessage")  # capture does not import followup
    summary = render_to_string("capture/privacy/export_summary.html", {
        "doc": document, "request": request,
        "counts": {_section_name(name): count for name, count in counts.items()},
        "timeline": [(row, _choice(Interaction, "kind", row["kind"]),
                      _choice(Interaction, "channel", row["channel"]))
                     for row in document.get("capture_interaction", [])],
        "messages": [(row, _choice(outbound, "channel", row["channel"]),
                      _choice(outbound, "status", row["status"]))
                     for row in document.get("followup_outboundmessage", [])],
        "leads": [(row, _lead_details(row, forms), _custom_answers(row["custom_fields"]))
                  for row in document["leads"]],
        "events": [(event, channel_label(event["channel"]),
                    InboundEvent.Status(event["status"]).label, event_rows(event, labels))
                   for event in document["inbound_events"]]})
    return text, summary, request


# The summary's names for the document's own sections; a table's are its model's plural name.
SECTION_NAMES = {"leads": "Leads", "consent": "Consent records",
                 "inbound_events": "Raw inbound events", "score_explanations": "Score explanations"}


def _section_name(name: str) -> str:
    """"capture_interaction" as the person reads it: "Interactions"."""
    if name in SECTION_NAMES:
        return SECTION_NAMES[name]
    for rel in _lead_relations():
        meta = rel.related_model._meta
        if meta.label_lower.replace(".", "_") == name:
            return capfirst(meta.verbose_name_plural)
    return name


def _choice(model: type[models.Model], field_name: str, value) -> str:
    """A stored choice as its label ("web_form": "Web form"); the value itself if unknown."""
    return str(dict(model._meta.get_field(field_name).flatchoices).get(value, value))


# Lead columns that mean nothing to the person: a hash of their address (the address itself is
# shown), our bookkeeping, the rep's user id, and what the rows above already show.
INTERNAL_LEAD_COLUMNS = {"id", "email_key", "staff_set_fields", "custom_fields", "owner_id",
                         "updated_at"}
# Where a column's own name reads badly to the person.
LEAD_LABELS = {"form_id": "Form", "previous_lead_id": "Follows lead",
               "merged_into_id": "Merged into lead", "has_consent": "Consent given",
               "consent_ip": "Consent given from (IP address)", "consent_at": "Consent given at",
               "consent_text": "Consent wording", "erased_at": "Anonymised at"}


def _lead_details(row: dict, forms: dict[int, IntakeForm]) -> list[tuple[str, str]]:
    """A lead's columns as the person reads them: (label, text), each under its field's name,
    choices as their labels, the form by its name (`forms`, read once for every lead); empty
    and purely internal columns left out."""
    details = []
    for f in Lead._meta.concrete_fields:
        value = row.get(f.attname)
        if f.attname in INTERNAL_LEAD_COLUMNS or value in (None, "", [], {}):
            continue
        label = LEAD_LABELS.get(f.attname) or capfirst(f.verbose_name)
        if f.attname == "form_id":
            text = str(forms.get(value) or f"#{value}")
        elif f.attname in ("previous_lead_id", "merged_into_id"):
            text = f"#{value}"
        else:
            text = readable(dict(f.flatchoices).get(value, value) if f.choices else value)
        details.append((label, text))
    return details


def readable(value) -> str:
    """One stored value as text: yes/no, times in the site's zone, lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}"
    if isinstance(value, list | tuple):
        return ", ".join(readable(v) for v in value)
    return str(value)


def channel_label(name: str) -> str:
    """An event's adapter as the person reads it: "Web form", "Twilio SMS"."""
    with contextlib.suppress(ValueError):
        return Channel(name).label
    words = name.replace("_", " ").replace("-", " ").split()
    return " ".join(w.upper() if w in ("sms", "api") else w.capitalize() for w in words)


PATH = " \u203a "  # a single right-pointing angle quote between a nested payload's keys


def payload_labels() -> dict[str, str]:
    """The custom fields' labels by the keys payloads carry them under: the API's and
    webhooks' own key, the public form's cf_<key>."""
    from capture.custom_fields import FORM_PREFIX, definitions

    labels = {}
    for key, definition in definitions().items():
        labels[key] = labels[FORM_PREFIX + key] = definition.label
    return labels


def field_label(key, labels: dict[str, str]) -> str:
    """A payload key under a lead field's or custom field's label where it is one
    ("utm_source": "UTM source", "cf_seats": "Seats"), else its words."""
    key = str(key)
    with contextlib.suppress(ValueError):
        return LeadField(key).label
    return labels.get(key) or ATTRIBUTION_LABELS.get(key, key.replace("_", " ").strip())


def event_rows(event: dict, labels: dict[str, str]) -> list[tuple[str, str]]:
    """A raw event's payload as rows, without our public form's own bookkeeping (the CSRF
    token, the signed start time, the page's submission id): person.json keeps those."""
    from capture.forms import STARTED, SUBMISSION_ID

    payload = event["payload"]
    if isinstance(payload, dict):
        payload = {key: value for key, value in payload.items()
                   if key not in ("csrfmiddlewaretoken", STARTED, SUBMISSION_ID)}
    return payload_rows(payload, labels)


def payload_rows(payload, labels: dict[str, str],
                 path: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """A raw payload as (label, value) rows: nested keys joined by PATH into one label
    ("visitor", "contact", "email"), list items numbered from 1, a list of plain values on one
    row; empty values left out."""
    if isinstance(payload, dict):
        rows = []
        for key, value in payload.items():
            rows += payload_rows(value, labels, (*path, field_label(key, labels)))
        return rows
    if isinstance(payload, list) and any(isinstance(v, dict | list) for v in payload):
        rows = []
        for number, value in enumerate(payload, 1):
            rows += payload_rows(value, labels, (*path, str(number)))
        return rows
    if payload in (None, "", []):
        return []
    return [(capfirst(PATH.join(path)) or "Value", readable(payload))]


def _custom_answers(values: dict | None) -> list[tuple[str, str]]:
    """A lead's custom field values as the person reads them: (label, text), in the admin's
    order; a value of a field deleted since keeps its key as the label."""
    from capture.custom_fields import definitions, display

    values, defs = values or {}, definitions()
    answers = [(d.label, display(d, values[key])) for key, d in defs.items() if key in values]
    answers += [(key, str(value)) for key, value in values.items() if key not in defs]
    return [(label, text) for label, text in answers if text]


# --- erasure -----------------------------------------------------------------------------------

def erasure_preview(person: Person) -> dict[str, int]:
    """How many rows of each kind an erasure would delete or anonymise."""
    counts = {"leads": len(person.lead_ids), "inbound events": _events_of(person).count()}
    for rel in _lead_relations():
        model = rel.related_model
        if model in (InboundEvent, LeadAccess):
            continue
        counts[str(model._meta.verbose_name_plural)] = model._default_manager.filter(
            **{f"{rel.field.name}_id__in": person.lead_ids}).count()
    counts[MENTIONS] = len(mentions_elsewhere(person)[1])
    return counts


def _contains(value, tokens: Iterable[str]) -> bool:
    if value in (None, "", b"", {}, []):
        return False
    text = value if isinstance(value, str) else json.dumps(_plain(value), cls=DjangoJSONEncoder,
                                                           ensure_ascii=False)
    folded = text.casefold()
    return any(token.casefold() in folded for token in tokens)


def _blank(field: models.Field):
    if isinstance(field, models.JSONField):
        return [] if isinstance(field.default, list) or field.default is list else {}
    if isinstance(field, models.BinaryField):
        return b""
    if field.null:
        return None
    return ""


def _text_columns(model: type[models.Model], *, ips: bool = True) -> list[models.Field]:
    """The columns someone may have typed into: text, JSON and raw bytes, and IP addresses
    unless `ips` is false; never a choice column."""
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField,
             *([models.GenericIPAddressField] if ips else []))
    return [f for f in model._meta.concrete_fields if isinstance(f, kinds) and not f.choices]


def _scrub_rows(rows: Iterable[models.Model], tokens: list[str],
                mentions: Mentions | None = None) -> None:
    """Blank what a person may have typed in these rows; choice and key columns stay. With
    `mentions`, the rows are other people's: only the person's addresses and numbers in them
    become ERASED, and the rest of each text stays. Rows that need the same change get one
    UPDATE (a timeline's entries mostly do)."""
    same: dict[tuple, tuple[type[models.Model], dict, list[int]]] = {}
    for obj in rows:
        update = {}
        for f in _text_columns(type(obj), ips=mentions is None):
            value = getattr(obj, f.attname)
            if mentions is not None:
                redacted = mentions.redact(value)
                if redacted == value:
                    continue
            elif f.name in KEPT_COLUMNS and not _contains(value, tokens):
                continue
            if isinstance(obj, InboundEvent) and f.name == "external_id":
                # Hashed as an erased person's new events are (intake.receive_event): a retry
                # (the API's Idempotency-Key) still finds it, nobody reads it.
                if not value.startswith("erased:"):
                    update[f.attname] = erased_event_id(obj.channel, value)
            elif f.unique or f.name == "external_id":
                update[f.attname] = f"erased-{obj.pk}"
            elif mentions is not None:  # "[erased]" is longer than a short address
                update[f.attname] = (redacted[:f.max_length] if isinstance(f, models.CharField)
                                     else redacted)
            elif f.name == "summary":
                update[f.attname] = ERASED
            elif value not in (None, "", b"", {}, []):
                update[f.attname] = _blank(f)
        if update:
            key = (type(obj), *sorted((name, repr(value)) for name, value in update.items()))
            same.setdefault(key, (type(obj), update, []))[2].append(obj.pk)
    for model, update, ids in same.values():
        model._default_manager.filter(pk__in=ids).update(**update)


def _scrub_admin_log(rows: dict[type[models.Model], list[int]], tokens: list[str]) -> None:
    """The admin log's entries about these rows (model -> ids), in one read."""
    rows = {model: ids for model, ids in rows.items() if ids}
    if not rows:
        return
    about, names = Q(pk__in=[]), {}
    for model, content_type in ContentType.objects.get_for_models(*rows).items():
        names[content_type.pk] = model._meta.verbose_name
        about |= Q(content_type=content_type, object_id__in=[str(i) for i in rows[model]])
    for entry in LogEntry.objects.filter(about).order_by():
        entry.object_repr = f"{names[entry.content_type_id]} #{entry.object_id} (erased)"
        if _contains(entry.change_message, tokens):
            entry.change_message = ""
        entry.save(update_fields=["object_repr", "change_message"])


# --- mentions on other people's records --------------------------------------------------------

MENTIONS = "mentions on other records"  # the preview's and the erasure record's count
# Between two digits of a number as people write it: "(415) 555-2671", "+44 (0)20 7946 0958".
PHONE_SEPARATORS = r"[\s.\-/()]{0,3}"
# A national number shorter than this (a few small countries') counts only with its country
# code: seven digits alone are as likely an order number.
MIN_NATIONAL_DIGITS = 8
# Another country's code right before the digits: "+1 207 946 0958" is not the UK's 020 7946 0958.
FOREIGN_CODE = re.compile(rf"(?:\+|(?<!\d)00)\d{{1,3}}{PHONE_SEPARATORS}$")


def phone_patterns(e164: str) -> tuple[str, str] | None:
    """How a phone number is recognised in free text: the exact rule (Python's re), and the
    loose run of its digits the database narrows by (valid for SQLite's and PostgreSQL's regex).

    Every digit of the national number, in order, at most three of space . - / ( ) between two
    of them, touching no other letter or digit; before them, optionally the country code (+44,
    0044 or 44) and the national trunk prefix (the UK's 0, North America's 1, "(0)"); a
    national number under MIN_NATIONAL_DIGITS digits only after +country code or 00country
    code. Part of the number, a longer run of digits holding it, or the same digits after
    another country's code (Mentions._erase) is not it.
    """
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    national = phonenumbers.national_significant_number(number)
    prefix = rf"(?:\+|00){number.country_code}{PHONE_SEPARATORS}"
    if len(national) >= MIN_NATIONAL_DIGITS:
        prefix = f"(?:{prefix}|{number.country_code}{PHONE_SEPARATORS})?"
    trunk = phonenumbers.ndd_prefix_for_region(phonenumbers.region_code_for_number(number), True)
    if trunk:
        prefix += rf"(?:\(?{trunk}\)?{PHONE_SEPARATORS})?"
    exact = rf"(?<!\w){prefix}\(?{PHONE_SEPARATORS.join(national)}(?!\w)"
    # The database's JSON text writes a newline as a backslash and an "n": up to six between.
    return exact, "[^0-9]{0,6}".join(national)


class _BytesAsText(models.Func):
    """A raw body as text the database can search. PostgreSQL's escape encoding keeps ASCII (an
    address, a number) as it is; SQLite compares the bytes themselves (a CAST to text would
    hand its regex function bytes that are not UTF-8, and fail)."""

    output_field = models.TextField()

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(self.get_source_expressions()[0])

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="ENCODE(%(expressions)s, 'escape')",
                              **extra_context)


def _searchable(f: models.Field):
    if isinstance(f, models.JSONField):
        return Cast(f.name, models.TextField())
    if isinstance(f, models.BinaryField):
        return _BytesAsText(f.name)
    return F(f.name)


@dataclass(frozen=True)
class Mentions:
    """The person's email addresses and phone numbers as they sit in other people's text (a
    visitor's chat message, a rep's note on another lead). An address counts whole and in any
    case, never inside a longer one (xjane@example.com, jane@example.community); a number as
    phone_patterns() says."""

    pattern: re.Pattern
    terms: tuple[str, ...]  # substrings the database looks for (icontains)
    digit_runs: tuple[str, ...]  # the numbers' digits, loosely (regex)

    @classmethod
    def of(cls, person: Person) -> Mentions | None:
        patterns, terms, runs = [], [], []
        for address in sorted(person.emails):
            patterns.append(rf"(?<![\w.+\-]){re.escape(address)}(?![\w\-]|\.\w)")
            terms += [address, address.replace("@", "%40")]  # %40: a form-encoded raw body
        for phone in sorted(person.phones):
            if found := phone_patterns(phone):
                patterns.append(found[0])
                runs.append(found[1])
        if not patterns:
            return None
        return cls(re.compile("|".join(patterns), re.IGNORECASE), tuple(terms), tuple(runs))

    def redact(self, value):
        """The value with every mention replaced by ERASED: a text, a JSON document's keys and
        values, a raw body."""
        if isinstance(value, str):
            return self.pattern.sub(self._erase, value)
        if isinstance(value, dict):
            return {self.redact(key): self.redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        if isinstance(value, int) and not isinstance(value, bool):  # a number sent as JSON
            return ERASED if self.redact(str(value)) == ERASED else value
        if isinstance(value, bytes | memoryview):
            return self._redact_raw(bytes(value))
        return value

    @staticmethod
    def _erase(match: re.Match) -> str:
        """ERASED for a mention; the digits of a number right after another country's code
        are that country's number, and stay."""
        before = match.string[max(0, match.start() - 16):match.start()]
        if "@" not in match.group() and FOREIGN_CODE.search(before):
            return match.group()
        return ERASED

    def _redact_raw(self, raw: bytes) -> bytes:
        """A raw body: mentions in its text are replaced. One still there once form-decoded
        ("jane%40example.com") cannot be cut out in place: the body goes, as the retention
        policy drops raw bodies, and the event's payload keeps the rest of what was sent."""
        text = self.redact(raw.decode("utf-8", errors="surrogateescape"))
        decoded = unquote_plus(text)
        if self.redact(decoded) != decoded:
            return b""
        return text.encode("utf-8", errors="surrogateescape")

    def find(self, queryset: models.QuerySet) -> list[models.Model]:
        """The rows of `queryset` that mention the person, in one query: the database narrows
        them by substring and digit run (a sequential scan, for an erasure and its preview
        only), then each is checked here by the exact rule."""
        columns = _text_columns(queryset.model, ips=False)
        if not columns:
            return []
        searched, wanted = {}, Q(pk__in=[])
        for f in columns:
            name = f"mention_{f.attname}"
            searched[name] = _searchable(f)
            for term in self.terms:
                wanted |= Q(**{f"{name}__icontains": term})
            for run in self.digit_runs:
                wanted |= Q(**{f"{name}__regex": run})
        rows = queryset.alias(**searched).filter(wanted).order_by()
        return [row for row in rows if any(
            self.redact(value) != value for value in (getattr(row, f.attname) for f in columns))]


def _other_records(person: Person) -> list[models.QuerySet]:
    """Where other people's text may mention the person: the other leads, the raw events that
    are not theirs, and the rows of every table belonging to a lead that are not on theirs."""
    querysets = [Lead.objects.exclude(pk__in=person.lead_ids),
                 InboundEvent.objects.exclude(pk__in=_events_of(person).values("pk"))]
    for rel in _lead_relations():
        model = rel.related_model
        if model in (InboundEvent, LeadAccess, _suppression_model()):
            continue
        querysets.append(model._default_manager.exclude(
            **{f"{rel.field.name}_id__in": person.lead_ids}))
    return querysets


def mentions_elsewhere(person: Person) -> tuple[Mentions | None, list[models.Model]]:
    """The rows of other people that mention the person's email addresses or phone numbers.
    Only redacted, never exported: a visitor's chat that names the person is that visitor's."""
    mentions = Mentions.of(person)
    if mentions is None:
        return None, []
    return mentions, [row for queryset in _other_records(person)
                      for row in mentions.find(queryset)]


def anonymise_leads(person: Person, *, now: datetime | None = None,
                    whole_person: bool = True) -> dict[str, int]:
    """Irreversibly remove what identifies the person from their leads and every row that
    belongs to them; the rows themselves (and the dashboards' counts and timings) stay.

    With `whole_person` (an erasure), their email addresses and phone numbers are also cut
    out of other people's rows that mention them (mentions_elsewhere). `whole_person=False`
    (retention, one idle lead): the person may well have other, active leads, so the admin log
    is scrubbed only where it is about this lead's own rows, and other rows stay as they are."""
    now = now or timezone.now()
    tokens = person.tokens
    counts: dict[str, int] = {}
    # Other people's rows that mention the person, found while the person's own rows (which
    # they are told apart from) are as the preview saw them.
    mentions, elsewhere = mentions_elsewhere(person) if whole_person else (None, [])
    events = list(_events_of(person))
    # The counts are the rows that belonged to the person, as the preview listed them (each
    # was checked; one with nothing typed in it, a lead assessment, has nothing to blank).
    _scrub_rows(events, tokens)
    counts["inbound events"] = len(events)
    logged = {InboundEvent: [e.pk for e in events], Lead: person.lead_ids}
    for rel in _lead_relations():
        model = rel.related_model
        if model in (InboundEvent, LeadAccess):
            continue
        rows = list(model._default_manager.filter(
            **{f"{rel.field.name}_id__in": person.lead_ids}).order_by())
        counts[str(model._meta.verbose_name_plural)] = len(rows)
        if model is not _suppression_model():  # those become hashes (erase_person)
            _scrub_rows(rows, tokens)
            logged.setdefault(model, []).extend(r.pk for r in rows)
    _scrub_admin_log(logged, tokens)
    if whole_person:
        _scrub_rows(elsewhere, tokens, mentions)
        counts[MENTIONS] = len(elsewhere)
    # Messages not yet sent are cancelled: there is nobody to send them to any more.
    if apps.is_installed("followup"):
        outbound = apps.get_model("followup", "OutboundMessage")
        outbound.objects.filter(lead_id__in=person.lead_ids,
                                status=outbound.Status.SCHEDULED).update(
            status=outbound.Status.CANCELLED, last_error="The person's data was erased.")
    # Their live chats end: nobody waits on the other side any more, and a chat left "waiting"
    # kept the erased lead in every rep's waiting box.
    if apps.is_installed("chat"):
        conversation = apps.get_model("chat", "Conversation")
        conversation.objects.filter(lead_id__in=person.lead_ids).exclude(
            status=conversation.Status.CLOSED).update(status=conversation.Status.CLOSED,
                                                      waiting_since=None)
    # Whatever else the admin log says about the person (a suppression typed in by hand...):
    # by address and number only, as a first name alone would catch other people's entries.
    logged_mentions = Q(pk__in=[])
    for token in [*person.emails, *person.phones] if whole_person else []:
        logged_mentions |= Q(object_repr__icontains=token) | Q(change_message__icontains=token)
    LogEntry.objects.filter(logged_mentions).update(object_repr="(erased)", change_message="")
    lead_update = dict.fromkeys(PERSONAL_LEAD_FIELDS, "")
    # Custom field values go too, every type: whatever the person answered is theirs.
    counts["leads"] = Lead.objects.filter(pk__in=person.lead_ids).update(
        **lead_update, custom_fields={}, consent_ip=None, erased_at=now, updated_at=now)
    return counts


@transaction.atomic
def erase_person(person: Person, user, note: str = "") -> PrivacyRequest:
    """Forget the person; their email and phone go on the suppression list as salted hashes."""
    if not person.lead_ids and not (person.emails or person.phones):
        raise PersonNotFound("Nothing to erase.")
    counts = anonymise_leads(person)
    suppression = _suppression_model()
    accounts = {account_value(*account) for account in person.accounts}
    for kind, values in (("email", person.emails), ("phone", person.phones),
                         ("account", accounts)):
        for value in values:
            digest = identity_hash(kind, value)
            row = suppression.objects.filter(kind=kind, value_hash=digest).first()
            if row is None:
                row = suppression(kind=kind, value_hash=digest)
            row.value, row.lead, row.reason = "", None, suppression.Reason.ERASED
            row.save()
    request = PrivacyRequest.objects.create(
        kind=PrivacyRequest.Kind.ERASURE, requested_by=user, identity_hashes=person.hashes(),
        lead_ids=person.lead_ids, counts=counts, note=note[:200])
    LeadAccess.objects.bulk_create([
        LeadAccess(lead_id=pk, user=user, actor=LeadAccess.actor_of(user),
                   action=LeadAccess.Action.ERASED,
                   detail=f"privacy erasure #{request.pk}") for pk in person.lead_ids])
    return request


# --- retention ---------------------------------------------------------------------------------

def months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + year, month + 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:  # the 31st of a 30-day month; a year out of range is raised
            if day <= 28:
                raise
            day -= 1


def _sample(ids: list[int]) -> list[int]:
    return ids[:500]


# How long one run anonymises idle leads (some 30 to 50 ms each here): each lead is its own
# transaction, and a run stops after this long and queues the next for the rest. A backlog of
# thousands (the first run on an old database) outlasted the task's timeout in one transaction:
# the worker was killed and the run rolled back, every day. The schedule's timeout is above it.
RETENTION_RUN_SECONDS = 120


def retention_task_timeout() -> int:
    """The worker's timeout for a retention run: above the time it works for, below the broker's
    retry (or a second copy would start). The schedule and the runs it queues use it."""
    return min(RETENTION_RUN_SECONDS + 30, settings.Q_CLUSTER["retry"] - 10)


def run_retention(*, dry_run: bool = False, user=None,
                  max_seconds: float | None = None) -> RetentionRun:
    """Apply the retention policy once; a dry run counts and lists without changing a row.

    With `max_seconds`, idle leads are anonymised for about that long (one at least); the report
    says how many were left (`leads_left`) for the next run."""
    policy = RetentionPolicy.current()
    now = timezone.now()
    run = RetentionRun.objects.create(
        started_at=now, dry_run=dry_run, triggered_by=user,
        settings={"raw_payload_days": policy.raw_payload_days,
                  "rejected_event_days": policy.rejected_event_days,
                  "inactive_lead_months": policy.inactive_lead_months})
    # Processed or not: a failed event nobody reprocessed holds the person's data too.
    # (Rejected and ignored events are deleted on their own clock, below.)
    payloads = InboundEvent.objects.filter(
        received_at__lt=now - timedelta(days=policy.raw_payload_days),
    ).exclude(status__in=[InboundEvent.Status.REJECTED, InboundEvent.Status.IGNORED]).exclude(
        Q(payload={}) & Q(headers={}) & Q(body=b""))
    rejected = InboundEvent.objects.filter(
        status__in=[InboundEvent.Status.REJECTED, InboundEvent.Status.IGNORED],
        received_at__lt=now - timedelta(days=policy.rejected_event_days))
    idle_since = months_before(now, policy.inactive_lead_months)
    inactive = Lead.objects.filter(erased_at__isnull=True, last_activity_at__lt=idle_since
                                   ).exclude(status=LeadStatus.WON)
    payload_ids = list(payloads.values_list("pk", flat=True))
    rejected_ids = list(rejected.values_list("pk", flat=True))
    lead_ids = list(inactive.values_list("pk", flat=True))
    report = {
        "raw_payloads_purged": len(payload_ids), "raw_payload_event_ids": _sample(payload_ids),
        "rejected_events_deleted": len(rejected_ids),
        "rejected_event_ids": _sample(rejected_ids),
        "leads_anonymised": len(lead_ids), "lead_ids": _sample(lead_ids),
    }
    if not dry_run:
        with transaction.atomic():
            InboundEvent.objects.filter(pk__in=payload_ids).update(payload={}, headers={},
                                                                   body=b"", remote_ip=None)
            InboundEvent.objects.filter(pk__in=rejected_ids).delete()
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        done: list[int] = []
        handled = 0
        for pk in lead_ids:  # one person at a time: their other rows go with them
            if handled and deadline is not None and time.monotonic() >= deadline:
                break
            handled += 1
            with transaction.atomic():
                lead = Lead.objects.filter(pk=pk, erased_at__isnull=True).first()
                if lead is None:  # erased since (by hand, or by another run)
                    continue
                emails, phones = contacts_given([pk])
                person = Person(emails=emails | {lead.email_key} - {""},
                                phones=phones | {lead.phone} - {""},
                                names={n for n in (lead.first_name, lead.last_name) if n},
                                typed=typed_custom_values(lead.custom_fields), lead_ids=[pk])
                anonymise_leads(person, now=now, whole_person=False)
            done.append(pk)
        report.update(leads_anonymised=len(done), lead_ids=_sample(done),
                      leads_left=len(lead_ids) - handled)
    run.report = report
    run.finished_at = timezone.now()
    run.save(update_fields=["report", "finished_at"])
    return run


def run_scheduled_retention() -> int:
    """The daily schedule: a real run when the policy is on, else a dry-run report. A run that
    left idle leads for lack of time queues the next one at once."""
    run = run_retention(dry_run=not RetentionPolicy.current().is_active,
                        max_seconds=RETENTION_RUN_SECONDS)
    continue_retention(run)
    return run.pk


def continue_retention(run: RetentionRun) -> None:
    if run.report.get("leads_left"):
        from django_q.tasks import async_task

        # Its own timeout, as the schedule's: Q_CLUSTER's 60 s would kill a 120-second run.
        async_task("capture.privacy.run_scheduled_retention", timeout=retention_task_timeout())


# --- the access trail --------------------------------------------------------------------------

def record_access(user, action: str, *, lead: Lead | int | None = None,
                  listed: Iterable[int] = (), detail: str = "") -> None:
    """One insert: a lead opened, changed or reassigned, or the ids one queue page showed."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    ids = [int(i) for i in listed]
    if lead is None and not ids:
        return
    LeadAccess.objects.create(
        lead_id=lead.pk if isinstance(lead, Lead) else lead, user=user,
        actor=LeadAccess.actor_of(user), action=action,
        listed_ids=f",{','.join(map(str, ids))}," if ids else "", detail=detail[:200])


@dataclass(frozen=True)
class TrailEntry:
    at: datetime
    user: str
    action: str
    detail: str


def trail_for(lead: Lead, limit: int = 50) -> list[TrailEntry]:
    """The lead's trail, newest first: our own rows, the queue pages that listed it, and
    Django's admin log of changes."""
    rows = (LeadAccess.objects.filter(Q(lead=lead) | Q(listed_ids__contains=f",{lead.pk},"))
            .select_related("user").order_by("-at", "-id")[:limit])
    entries = [TrailEntry(r.at, r.who, r.get_action_display(), r.detail) for r in rows]
    content_type = ContentType.objects.get_for_model(Lead)
    for entry in (LogEntry.objects.filter(content_type=content_type, object_id=str(lead.pk))
                  .select_related("user").order_by("-action_time")[:limit]):
        action = {1: "Added in the admin", 2: "Changed in the admin",
                  3: "Deleted in the admin"}.get(entry.action_flag, "Admin")
        entries.append(TrailEntry(entry.action_time, str(entry.user), action,
                                  entry.get_change_message()[:200]))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
