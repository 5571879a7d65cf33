"""Custom lead field values: how each type reads, checks, stores, shows and filters.

Stored values, per type (in `Lead.custom_fields`, keyed by the field's key; an unset field has
no key): short and long text -> str; number -> int or float; date -> "YYYY-MM-DD" (ISO text
sorts as dates do); yes/no -> true/false; one choice -> the choice as the definition spells
it; several choices -> a list of choices in the definition's order. Every write is checked
here; nothing free-form reaches the column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils.html import conditional_escape

from capture.custom_field_models import CustomField
from capture.memo import ProcessMemo

Kind = CustomField.Kind
MAX_LENGTH = {Kind.SHORT_TEXT: 255, Kind.LONG_TEXT: 5000}
MAX_NUMBER = 10**15  # beyond this a float loses whole units; nobody has 10^15 seats
TRUE_WORDS = frozenset({"yes", "true", "1", "y", "on", "x"})
FALSE_WORDS = frozenset({"no", "false", "0", "n", "off"})
_LIST_SPLIT = re.compile(r"[\n,;|]")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Who reads custom fields elsewhere registers a check here (routing: its rules). Each takes a
# definition as it is about to be saved (a new type or answers) and returns what that change
# would break, as sentences; CustomField.clean() refuses the change while any is returned.
CHANGE_CHECKS: list[Callable[[CustomField], list[str]]] = []
# The same for deleting a field: each returns who still uses it (routing: its active rules).
DELETE_CHECKS: list[Callable[[CustomField], list[str]]] = []


# --- definitions ---------------------------------------------------------------------------

def definitions(*, active_only: bool = False) -> dict[str, CustomField]:
    """key -> definition, in display order: one query."""
    rows = CustomField.objects.all()
    if active_only:
        rows = rows.filter(is_active=True)
    return {d.key: d for d in rows.order_by("position", "id")}


# The active definitions the intake checks API and webhook fields against, re-read every 10 s
# per process (and at once after an edit here: capture/apps.py), as the forms are.
active_definitions_memo: ProcessMemo[dict[str, CustomField]] = ProcessMemo(ttl=10.0)


def active_definitions() -> dict[str, CustomField]:
    """key -> active definition, for the intake: read-only (the instances are shared)."""
    return active_definitions_memo.get("active", lambda: definitions(active_only=True))


def forget_definitions(**kwargs) -> None:
    """Hook for caches that hold definitions (the public form's class cache and its custom
    fields, the intake's definitions); also a receiver of CustomField's and FormCustomField's
    save and delete."""
    from capture import forms as capture_forms

    capture_forms.forget_form_classes()
    active_definitions_memo.clear()


def leads_with_key(key: str) -> models.QuerySet:
    from capture.models import Lead

    return Lead.objects.filter(custom_fields__has_key=key)


# --- one value -----------------------------------------------------------------------------

def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, list | tuple | set) and not value)


def coerce(definition: CustomField, raw: object) -> object:
    """The stored form of `raw` for this field, or None when it is empty.

    Raises ValidationError with a message a visitor, an integrator or sales ops can act on.
    """
    if is_empty(raw):
        return None
    kind = definition.kind
    if kind in (Kind.SHORT_TEXT, Kind.LONG_TEXT):
        if isinstance(raw, dict | list):
            raise ValidationError("Expected text, got a JSON object or list.")
        text = _text(raw)
        if len(text) > MAX_LENGTH[kind]:
            raise ValidationError(f"At most {MAX_LENGTH[kind]} characters (got {len(text)}).")
        if kind == Kind.SHORT_TEXT and "\n" in text:
            text = " ".join(text.split())
        return text or None
    if kind == Kind.NUMBER:
        return _within_limits(definition, _number(raw))
    if kind == Kind.DATE:
        return _date(raw)
    if kind == Kind.YES_NO:
        return _yes_no(raw)
    if kind == Kind.CHOICE:
        if isinstance(raw, list | tuple) and len(raw) == 1:
            raw = raw[0]
        if isinstance(raw, dict | list | tuple):
            raise ValidationError("Pick one answer.")
        return _choice(definition, _text(raw))
    if kind == Kind.MULTI_CHOICE:
        if isinstance(raw, dict):
            raise ValidationError("Send a list of answers.")
        if isinstance(raw, list | tuple | set):
            # A list (JSON) holds the answers themselves: a null, an empty or a nested one is
            # not an answer (it was dropped, and [null] stored nothing with a 200).
            if any(is_empty(item) or not isinstance(item, str | int | float)
                   or isinstance(item, bool) for item in raw):
                raise ValidationError("Send each answer as one of the choices, as text; "
                                      "empty and null answers are not answers.")
            items = raw
        else:  # text: "AWS, Azure" (a spreadsheet cell), blanks between commas skipped
            items = [item for item in _LIST_SPLIT.split(_text(raw)) if not is_empty(item)]
        picked = {_choice(definition, _text(item)) for item in items}
        ordered = [c for c in definition.choice_list if c in picked]
        return ordered or None
    raise ValidationError(f"Unknown field type {kind!r}.")


def _text(raw: object) -> str:
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    return str(raw).replace("\x00", "").strip()


def _number(raw: object) -> int | float:
    if isinstance(raw, bool | dict | list):
        raise ValidationError("Enter a number.")
    if isinstance(raw, int | float):
        number = Decimal(str(raw)) if math.isfinite(raw) else None
    else:
        text = _text(raw).replace(" ", "").replace("\u00a0", "")
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")  # 1,200 or 1,200.50: thousands separators
        try:
            # Decimal reads Python's 1_000 too; nobody else writes numbers so.
            number = Decimal(text) if "_" not in text else None
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        raise ValidationError(f"“{_text(raw)[:40]}” is not a number.")
    if number >= MAX_NUMBER:
        raise ValidationError(f"Enter a number smaller than {MAX_NUMBER:,}.")
    if number <= -MAX_NUMBER:
        raise ValidationError(f"Enter a number greater than {-MAX_NUMBER:,}.")
    return int(number) if number == number.to_integral_value() else float(number)


def _within_limits(definition: CustomField, number: int | float) -> int | float:
    low, high = definition.min_value, definition.max_value
    if low is not None and Decimal(str(number)) < low:
        raise ValidationError(f"Enter {_plain(low)} or more.")
    if high is not None and Decimal(str(number)) > high:
        raise ValidationError(f"Enter {_plain(high)} or less.")
    return number


def _plain(limit: Decimal) -> str:
    """A limit as sales ops typed it: 1 rather than 1.0000."""
    return f"{limit.normalize():f}"


def _date(raw: object) -> str:
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    text = _text(raw)
    day = text[:10] if len(text) > 10 and text[10] in "T " else text
    # Only YYYY-MM-DD text: fromisoformat also reads 20270101 (a JSON number too) and 2027-W01-1.
    if isinstance(raw, str) and _ISO_DATE.fullmatch(day):
        try:
            return date.fromisoformat(day).isoformat()
        except ValueError:
            pass
    raise ValidationError(f"“{text[:40]}” is not a date: use YYYY-MM-DD.")


def _yes_no(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    word = _text(raw).casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(f"“{_text(raw)[:40]}” is not yes or no.")


def _choice(definition: CustomField, text: str) -> str:
    wanted = text.casefold()
    for choice in definition.choice_list:
        if choice.casefold() == wanted:
            return choice
    raise ValidationError(f"“{text[:60]}” is not one of the answers: "
                          f"{', '.join(definition.choice_list)}.")


def check_values(values: object, defs: Mapping[str, CustomField] | None = None) -> dict:
    """Every write of `Lead.custom_fields` goes through this: known keys, valid values.

    Values of archived fields are kept as they are (still checked); empty values are dropped.
    """
    if values in (None, ""):
        return {}
    if not isinstance(values, dict):
        raise ValidationError({"custom_fields": "Custom field values must be a JSON object."})
    if not values:
        return {}
    defs = definitions() if defs is None else defs
    cleaned: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for key, raw in values.items():
        definition = defs.get(key)
        if definition is None:
            errors.setdefault("custom_fields", []).append(f"“{key}” is not a custom field.")
            continue
        try:
            value = coerce(definition, raw)
        except ValidationError as exc:
            errors.setdefault("custom_fields", []).extend(
                f"{definition.label}: {m}" for m in exc.messages)
            continue
        if value is not None:
            cleaned[key] = value
    if errors:
        raise ValidationError(errors)
    return {key: cleaned[key] for key in defs if key in cleaned}  # a stable order


# --- showing values ------------------------------------------------------------------------

def display(definition: CustomField, value: object) -> str:
    """A value as people read it (escaped by the template, never marked safe)."""
    if is_empty(value):
        return ""
    if definition.kind == Kind.YES_NO:
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if definition.kind == Kind.NUMBER and isinstance(value, float):
        return f"{value:g}"
    return str(value)


def export_text(definition: CustomField, value: object) -> str:
    """A value for a CSV cell: list items joined with "; ", yes/no as yes or no."""
    if is_empty(value):
        return ""
    if definition.kind == Kind.YES_NO:
        return "yes" if value else "no"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return display(definition, value)


@dataclass(frozen=True)
class Shown:
    definition: CustomField
    value: object
    text: str


def shown_values(values: Mapping[str, object] | None,
                 defs: Mapping[str, CustomField]) -> list[Shown]:
    values = values or {}
    return [Shown(d, values.get(k), display(d, values.get(k))) for k, d in defs.items()
            if d.is_active or not is_empty(values.get(k))]


# --- form fields (public form, admin, lead page) ------------------------------------------

def form_field(definition: CustomField, *, required: bool = False,
               public: bool = False) -> forms.Field:
    """The right widget for the type; the value is checked by `coerce()` in `clean()`."""
    label = definition.label
    messages = {"required": (f"Please fill in {label.lower()}." if public
                             else "This field is required.")}
    # Crispy's and Django's form templates print help texts with |safe (they are meant to be
    # the developer's HTML); this one is sales ops' plain text, so it is escaped here.
    common = {"label": label, "required": required,
              "help_text": conditional_escape(definition.help_text), "error_messages": messages}
    kind = definition.kind
    if kind == Kind.SHORT_TEXT:
        field = forms.CharField(max_length=MAX_LENGTH[kind], **common)
    elif kind == Kind.LONG_TEXT:
        field = forms.CharField(max_length=MAX_LENGTH[kind],
                                widget=forms.Textarea(attrs={"rows": 3}), **common)
    elif kind == Kind.NUMBER:
        field = forms.CharField(max_length=40, widget=forms.TextInput(
            attrs={"inputmode": "decimal"}), **common)
    elif kind == Kind.DATE:
        field = forms.CharField(max_length=40, widget=forms.DateInput(
            attrs={"type": "date"}), **common)
    elif kind == Kind.YES_NO:
        field = forms.ChoiceField(
            choices=[("", "Choose…"), ("yes", "Yes"), ("no", "No")], **{
                **common, "error_messages": {
                    **messages, "invalid_choice": "Please answer yes or no."}})
    elif kind == Kind.CHOICE:
        field = forms.ChoiceField(
            choices=[("", "Choose…"), *[(c, c) for c in definition.choice_list]], **{
                **common, "error_messages": {
                    **messages, "invalid_choice": "Please pick one of the listed answers."}})
    else:
        field = forms.MultipleChoiceField(
            choices=[(c, c) for c in definition.choice_list],
            widget=forms.CheckboxSelectMultiple, **{
                **common, "error_messages": {
                    **messages, "invalid_choice": "Please pick from the listed answers."}})
    field.custom_definition = definition
    original_clean = field.clean

    def clean(value):
        value = original_clean(value)
        try:
            return coerce(definition, value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages, code="invalid") from None

    field.clean = clean
    return field


def initial_value(definition: CustomField, value: object) -> object:
    """A stored value as its form field's initial value."""
    if is_empty(value):
        return [] if definition.kind == Kind.MULTI_CHOICE else ""
    if definition.kind == Kind.YES_NO:
        return "yes" if value else "no"
    if definition.kind == Kind.NUMBER:
        return display(definition, value)
    return value


FORM_PREFIX = "cf_"  # form field names: cf_<key>, kept apart from the built-in fields


def add_form_fields(form: forms.BaseForm, defs: Iterable[CustomField],
                    values: Mapping[str, object] | None = None) -> list[str]:
    """Add an editable field per definition (staff forms); returns the new field names."""
    names = []
    for definition in defs:
        name = FORM_PREFIX + definition.key
        form.fields[name] = form_field(definition)
        if values is not None:
            form.initial[name] = initial_value(definition, values.get(definition.key))
        names.append(name)
    return names


def values_from_form(cleaned: Mapping[str, object], defs: Iterable[CustomField],
                     current: Mapping[str, object] | None = None) -> dict[str, object]:
    """The lead's new custom values: the form's fields over the current ones."""
    values = dict(current or {})
    for definition in defs:
        name = FORM_PREFIX + definition.key
        if name not in cleaned:
            continue
        if cleaned[name] is None:
            values.pop(definition.key, None)
        else:
            values[definition.key] = cleaned[name]
    return values


# --- type changes --------------------------------------------------------------------------

def _as_raw(value: object) -> object:
    """A stored value as input for another type (a list stays a list)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return value


@dataclass
class ConversionReport:
    field_label: str
    new_kind_label: str
    converted: int = 0
    failures: list[tuple[int, object, str]] = field(default_factory=list)  # (lead id, value, why)
    failed: int = 0

    def message(self, change: str = "type") -> str:
        """`change`: what sales ops changed ("type", "answers" or "limits")."""
        examples = "; ".join(
            f"lead #{lead_id}: “{', '.join(map(str, value)) if isinstance(value, list) else value}”"
            f" ({why})" for lead_id, value, why in self.failures[:5])
        problem = {"type": f"would not convert to {self.new_kind_label}",
                   "answers": "are not among the answers any more",
                   "limits": "are outside the new lowest or highest number"}[change]
        return (f"{self.failed} lead(s) have values of “{self.field_label}” that {problem}, "
                f"e.g. {examples}. Edit those leads first, or keep the {change}.")


def _convert(new: CustomField, value: object) -> object:
    if new.kind == Kind.CHOICE and isinstance(value, list) and len(value) > 1:
        raise ValidationError("several answers cannot become one choice")
    if new.kind not in (Kind.MULTI_CHOICE,) and isinstance(value, list):
        value = ", ".join(str(v) for v in value) if new.kind != Kind.CHOICE else value[0]
    return coerce(new, _as_raw(value))


def conversion_report(old: CustomField, new: CustomField) -> ConversionReport:
    """What changing `old` into `new` (type or answers) would do to the stored values."""
    report = ConversionReport(old.label, new.get_kind_display().lower())
    rows = leads_with_key(old.key).values_list("id", "custom_fields")
    for lead_id, values in rows.iterator(chunk_size=2000):
        value = (values or {}).get(old.key)
        try:
            _convert(new, value)
        except ValidationError as exc:
            report.failed += 1
            if len(report.failures) < 20:
                report.failures.append((lead_id, value, "; ".join(exc.messages)))
        else:
            report.converted += 1
    return report


def convert_values(old: CustomField, new: CustomField) -> ConversionReport:
    """Rewrite the stored values to the new type (after `conversion_report` found no failure).

    A value that does not convert (written since the check) is left out of the lead and
    listed in the report, never stored wrong.
    """
    from capture.models import Lead

    report = ConversionReport(old.label, new.get_kind_display().lower())
    batch: list[Lead] = []
    rows = leads_with_key(old.key).only("id", "custom_fields").order_by("id")
    for lead in rows.iterator(chunk_size=2000):
        values = dict(lead.custom_fields or {})
        try:
            converted = _convert(new, values.get(old.key))
        except ValidationError as exc:
            report.failed += 1
            report.failures.append((lead.pk, values.get(old.key), "; ".join(exc.messages)))
            converted = None
        else:
            report.converted += 1
        if converted is None:
            values.pop(old.key, None)
        else:
            values[old.key] = converted
        if values != lead.custom_fields:
            lead.custom_fields = values
            batch.append(lead)
        if len(batch) >= 1000:
            Lead.objects.bulk_update(batch, ["custom_fields"])
            batch = []
    if batch:
        Lead.objects.bulk_update(batch, ["custom_fields"])
    return report


# --- filters (the queue; indexes on PostgreSQL) --------------------------------------------

def _contains(key: str, value: object) -> Q:
    """`custom_fields @> {"key": value}` on PostgreSQL: served by the GIN index."""
    return Q(custom_fields__contains={key: value})


def filter_any_of(queryset: models.QuerySet, definition: CustomField,
                  choices: Sequence[str]) -> models.QuerySet:
    """Leads whose answer (one choice) or answers (several) include any of `choices`."""
    choices = [c for c in choices if c]
    if not choices:
        return queryset
    key = definition.key
    multi = definition.kind == Kind.MULTI_CHOICE
    if connection.vendor == "postgresql":
        condition = Q()
        for choice in choices:
            condition |= _contains(key, [choice] if multi else choice)
        return queryset.filter(condition)
    if not multi:
        return queryset.filter(**{f"custom_fields__{key}__in": choices})
    # SQLite has no JSON containment: look inside the array with json_each.
    table = queryset.model._meta.db_table
    placeholders = ", ".join(["%s"] * len(choices))
    # Only the table name (ours) and placeholders are written into the SQL; values are params.
    return queryset.filter(RawSQL(  # noqa: S611
        f'EXISTS (SELECT 1 FROM json_each("{table}"."custom_fields", %s) '  # noqa: S608
        f"WHERE json_each.value IN ({placeholders}))",
        (f"$.{key}", *choices), output_field=BooleanField()))


def filter_yes_no(queryset: models.QuerySet, definition: CustomField,
                  value: bool) -> models.QuerySet:
    if connection.vendor == "postgresql":
        return queryset.filter(_contains(definition.key, value))
    return queryset.filter(**{f"custom_fields__{definition.key}": value})


def filter_range(queryset: models.QuerySet, definition: CustomField, low: object = None,
                 high: object = None) -> models.QuerySet:
    """Numbers and dates between `low` and `high` (either may be None), both included."""
    key = definition.key
    if not is_empty(low):
        queryset = queryset.filter(**{f"custom_fields__{key}__gte": coerce(definition, low)})
    if not is_empty(high):
        queryset = queryset.filter(**{f"custom_fields__{key}__lte": coerce(definition, high)})
    return queryset


def filter_text(queryset: models.QuerySet, definition: CustomField,
                text: str) -> models.QuerySet:
    text = (text or "").strip()
    if not text:
        return queryset
    return queryset.filter(**{f"custom_fields__{definition.key}__icontains": text})
