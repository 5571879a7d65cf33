"""The one condition language of scoring and routing rules: a field, an operator and a value.

Fields come from a registry, not a fixed list: each `FieldSpec` says how to read its value from
a lead and what kind of value it is (text, number, date, yes/no, one choice, several choices).
The kind decides which operators make sense. Sales-ops-defined custom fields plug in later by
calling `register_field()` with a reader; the operators, the admin and the engines need nothing
else. Everything here is pure: no database, no settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import re2
from django.db import models

from capture.fields import (
    ATTRIBUTION_FIELDS,
    ATTRIBUTION_LABELS,
    DEFAULT_CHOICES,
    FORM_FIELDS,
    LeadField,
)
from capture.identity import country_code, is_country_code
from capture.identity import email_domain as idna_email_domain

MAX_PATTERN_LENGTH = 300


class Operator(models.TextChoices):
    EQUALS = "equals", "equals"
    ONE_OF = "one_of", "is one of"
    CONTAINS = "contains", "contains the word or phrase"
    MATCHES = "matches", "matches the pattern"
    GREATER_THAN = "greater_than", "is greater than"
    LESS_THAN = "less_than", "is less than"
    BETWEEN = "between", "is between"
    CONTAINS_ANY = "contains_any", "contains any of"
    CONTAINS_ALL = "contains_all", "contains all of"
    IS_SET = "is_set", "is set"
    IS_EMPTY = "is_empty", "is empty"


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"


_PRESENCE = {Operator.IS_SET, Operator.IS_EMPTY}
OPERATORS_BY_KIND: dict[Kind, frozenset[str]] = {
    Kind.TEXT: frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.CONTAINS, Operator.MATCHES,
                          *_PRESENCE}),
    Kind.CHOICE: frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.CONTAINS, Operator.MATCHES,
                            *_PRESENCE}),
    Kind.NUMBER: frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.GREATER_THAN,
                            Operator.LESS_THAN, Operator.BETWEEN, *_PRESENCE}),
    Kind.DATE: frozenset({Operator.EQUALS, Operator.GREATER_THAN, Operator.LESS_THAN,
                          Operator.BETWEEN, *_PRESENCE}),
    Kind.BOOLEAN: frozenset({Operator.EQUALS, *_PRESENCE}),
    Kind.MULTI_CHOICE: frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.CONTAINS,
                                  Operator.CONTAINS_ANY, Operator.CONTAINS_ALL, *_PRESENCE}),
}
# Operators whose value is a list (one per line, or separated by commas).
LIST_OPERATORS = frozenset({Operator.ONE_OF, Operator.CONTAINS, Operator.CONTAINS_ANY,
                            Operator.CONTAINS_ALL})
NO_VALUE_OPERATORS = frozenset(_PRESENCE)

TRUE_WORDS = frozenset({"yes", "true", "1", "y", "on"})
FALSE_WORDS = frozenset({"no", "false", "0", "n", "off"})


@dataclass(frozen=True)
class FactContext:
    """What readers may need besides the lead itself (kept out of the lead so it stays pure)."""

    free_mail_domains: frozenset[str] = frozenset()


Reader = Callable[[Any, FactContext], object]


@dataclass(frozen=True)
class FieldSpec:
    """One field rules can test. `order` lists ordered choices from smallest to largest."""

    name: str
    label: str
    kind: Kind
    read: Reader
    order: tuple[str, ...] = ()
    group: str = "Lead"
    routing_only: bool = False  # known only after scoring (tier, score)
    choices: tuple[str, ...] = ()  # the only answers there are (custom choice fields)
    # Answers leads are known to give without being the only ones (the forms' lists of a
    # built-in choice field): read whole in a list of values, never enforced.
    answers: tuple[str, ...] = ()

    @property
    def operators(self) -> frozenset[str]:
        ops = set(OPERATORS_BY_KIND[self.kind])
        if self.order:
            ops |= {Operator.GREATER_THAN, Operator.LESS_THAN}
        return frozenset(ops)


FIELDS: dict[str, FieldSpec] = {}


def register_field(spec: FieldSpec) -> FieldSpec:
    """Make a field available to rules (built-ins below; custom fields register the same way)."""
    FIELDS[spec.name] = spec
    return spec


def unregister_field(name: str) -> None:
    FIELDS.pop(name, None)


def field_choices(*, routing: bool = False) -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped (name, label) pairs for a select box; routing adds tier and score."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for spec in FIELDS.values():
        if spec.routing_only and not routing:
            continue
        groups.setdefault(spec.group, []).append((spec.name, spec.label))
    return list(groups.items())


# --- Built-in fields ---------------------------------------------------------------------------

def _attr(name: str) -> Reader:
    return lambda lead, ctx: getattr(lead, name, "") or ""


def email_domain(address: str) -> str:
    _, _, domain = (address or "").strip().rpartition("@")
    return domain.strip().rstrip(".").casefold()


def _email_domain(lead, ctx: FactContext) -> str:
    return email_domain(getattr(lead, "email", ""))


def _is_free_mail(lead, ctx: FactContext) -> bool | None:
    # The list keeps a domain as addresses are matched (FreeMailDomain.normalised): in its
    # IDNA form, so a listed bücher.example is also the xn--bcher-kva.example people type.
    domain = idna_email_domain(getattr(lead, "email", ""))
    return (domain in ctx.free_mail_domains) if domain else None


# Ordered choices, smallest first. Urgency runs from "just looking" to "this week".
ORDERS: dict[str, tuple[str, ...]] = {
    "company_size": tuple(DEFAULT_CHOICES["company_size"]),
    "budget": ("Under $10k", "$10k-$50k", "$50k-$200k", "$200k+"),
    "urgency": tuple(reversed(DEFAULT_CHOICES["urgency"])),
}


def _register_builtins() -> None:
    labels = dict(LeadField.choices)
    for name in FORM_FIELDS:
        kind = Kind.CHOICE if name in ORDERS or name in ("service", "industry") else Kind.TEXT
        register_field(FieldSpec(name, labels.get(name, name), kind, _attr(name),
                                 order=ORDERS.get(name, ())))
    for name in ATTRIBUTION_FIELDS:
        register_field(FieldSpec(name, ATTRIBUTION_LABELS[name], Kind.TEXT, _attr(name),
                                 group="Attribution"))
    # Its answers are checked when a rule is saved (ConditionFields.clean), not here: a rule
    # saved before that check keeps running.
    register_field(FieldSpec("channel", "Channel", Kind.CHOICE, _attr("channel"),
                             group="Attribution"))
    register_field(FieldSpec("source", "Source (form, API key, ...)", Kind.TEXT, _attr("source"),
                             group="Attribution"))
    register_field(FieldSpec("email_domain", "Email domain", Kind.TEXT, _email_domain,
                             group="Derived"))
    register_field(FieldSpec("email_is_free_mail", "Email is a free-mail address (gmail.com, ...)",
                             Kind.BOOLEAN, _is_free_mail, group="Derived"))
    register_field(FieldSpec("has_consent", "Gave consent", Kind.BOOLEAN,
                             lambda lead, ctx: bool(getattr(lead, "has_consent", False)),
                             group="Derived"))
    register_field(FieldSpec("tier", "Tier (after scoring)", Kind.CHOICE,
                             _attr("tier"), group="Scoring", routing_only=True))
    register_field(FieldSpec("score", "Score (after scoring)", Kind.NUMBER,
                             lambda lead, ctx: getattr(lead, "score", 0), group="Scoring",
                             routing_only=True))


_register_builtins()


def facts_for(lead, ctx: FactContext, fields: Iterable[str] | None = None) -> dict[str, object]:
    """Every registered field's value for this lead (a Lead, saved or not, or any object)."""
    names = FIELDS if fields is None else fields
    return {name: FIELDS[name].read(lead, ctx) for name in names if name in FIELDS}


# --- Values and conditions ---------------------------------------------------------------------

class ConditionError(ValueError):
    """A condition that cannot work; args[0] is a message for sales ops."""


def split_values(text: str) -> tuple[str, ...]:
    """'a, b' or one per line -> ('a', 'b'); blanks dropped."""
    parts = re.split(r"[\n,]", text or "")
    return tuple(p.strip() for p in parts if p.strip())


def split_answers(spec: FieldSpec | None, value: str) -> tuple[str, ...]:
    """`split_values`, except that an answer of the field's holding a comma (“$1,000-$10,000”,
    “Yes, definitely”) stays whole instead of being cut at its commas."""
    answers = {_norm(a) for a in (*spec.choices, *spec.order, *spec.answers)} if spec else set()
    if not any("," in answer for answer in answers):
        return split_values(value)
    found = []
    for line in (value or "").split("\n"):
        pieces, start = line.split(","), 0
        while start < len(pieces):
            # The longest run of pieces from here that is an answer, else the one piece.
            for end in range(len(pieces), start, -1):
                joined = ",".join(pieces[start:end]).strip()
                if end == start + 1 or _norm(joined) in answers:
                    break
            if joined:
                found.append(joined)
            start = end
    return tuple(found)


def _norm(value: object) -> str:
    return str(value).strip().casefold()


def _is_empty(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, list | tuple | set) and not value)


def _as_bool(text: str) -> bool:
    word = _norm(text)
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConditionError("Use yes or no.")


# As a custom number field reads a typed number (capture.custom_fields): 1,200 is 1200, but
# 1,5 is no number (not 15), nor are nan, inf and Python's 1_000.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _as_number(text: object) -> float:
    raw = str(text).strip()
    if _THOUSANDS.fullmatch(raw):
        raw = raw.replace(",", "")
    try:
        number = float(raw) if "_" not in raw else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ConditionError(f"“{text}” is not a number.")
    return number


# "is between" takes a range as sales ops type one: "10, 50", "10-50", "10 - 50", "10 to 50"
# (also "10 and 50", "10..50", an en or em dash, one per line). A bound may be negative ("-10 - -5")
# and a date range keeps its ISO dates' own hyphens ("2026-01-01-2026-06-30"): each kind reads
# its two bounds whole, with a separator between them. Saved as "low, high".
_RANGE_SEPARATOR = r"\s*(?:,|;|\n|\.\.|-|\u2013|\u2014|\bto\b|\band\b)\s*"
# As _as_number reads a number (1,200; 0.5; .5; 1e3), without a sign's ambiguity: the second
# bound starts after the separator, so "-10--5" is -10 to -5.
_NUMBER_TEXT = r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?"
_RANGES = {
    Kind.NUMBER: re.compile(rf"\s*({_NUMBER_TEXT}){_RANGE_SEPARATOR}({_NUMBER_TEXT})\s*",
                            re.IGNORECASE),
    Kind.DATE: re.compile(
        rf"\s*({_ISO_DATE.pattern}){_RANGE_SEPARATOR}({_ISO_DATE.pattern})\s*", re.IGNORECASE),
}
_RANGE_HELP = {
    Kind.NUMBER: "Give two values, the lowest first: “10, 50”, “10-50” or “10 to 50” (with "
                 "negative numbers: “-10 to -5”).",
    Kind.DATE: "Give two values, the earliest first, as YYYY-MM-DD: “2026-01-01 to "
               "2026-06-30” or “2026-01-01, 2026-06-30”.",
}


def range_bounds(kind: Kind, text: str) -> tuple[str, str]:
    """The two ends of an "is between" range as saved ("1,000 - 5,000" -> ("1000", "5000")),
    checked: both are numbers (or dates) and the first is not above the second."""
    found = _RANGES[kind].fullmatch(text or "") if kind in _RANGES else None
    if found is None:
        typed = " ".join((text or "").split())
        raise ConditionError(f"“{typed}” is not a range. {_RANGE_HELP.get(kind, '')}"
                             if typed else _RANGE_HELP.get(kind, "Give two values."))
    low, high = (bound.replace(",", "").removeprefix("+") for bound in found.groups())
    read = _as_date if kind == Kind.DATE else _as_number
    if read(low) > read(high):
        raise ConditionError(f"The first value ({low}) is above the second ({high}): write "
                             "the lowest first.")
    return low, high


def _as_date(text: object) -> date:
    if isinstance(text, date):
        return text
    raw = str(text).strip()
    try:  # YYYY-MM-DD only, as leads store dates: not 20270101 or 2027-W01-1
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise ConditionError(f"“{text}” is not a date (use YYYY-MM-DD).")


def _words_pattern(words: Iterable[str]) -> re.Pattern:
    # Whole words or phrases: "CTO" must not fire on "Director".
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Condition:
    """A checked, compiled condition: `test(facts)` says whether it holds."""

    field: str
    operator: str
    value: str
    predicate: Callable[[object], bool] = field(repr=False, compare=False)
    text: str = field(default="", compare=False)  # computed once: explanations are hot paths

    def test(self, facts: Mapping[str, object]) -> bool:
        try:
            return self.predicate(facts.get(self.field))
        except (TypeError, ValueError):
            return False  # a lead value of the wrong shape never fires a rule

    def describe(self) -> str:
        return self.text


def describe_condition(field_name: str, operator: str, value: str) -> str:
    """'Job title contains the word or phrase CTO, VP': how a condition reads to people."""
    spec = FIELDS.get(field_name)
    label = spec.label if spec else field_name
    op = Operator(operator).label if operator in Operator.values else operator
    if operator in NO_VALUE_OPERATORS:
        return f"{label} {op}"
    if operator == Operator.BETWEEN and spec is not None:
        try:
            low, high = range_bounds(spec.kind, value)
        except ConditionError:
            pass  # a rule that no longer compiles reads as it was saved
        else:
            return f"{label} {op} {low} and {high}"
    shown = ", ".join(split_answers(spec, value)) if operator in LIST_OPERATORS else value
    return f"{label} {op} {shown}"


def compile_condition(field_name: str, operator: str, value: str = "", *,
                      routing: bool = True, spec: FieldSpec | None = None) -> Condition:
    """Check a condition and compile it; raises ConditionError with a message for sales ops.

    `spec` checks it against a field as it is about to become (a custom field's new type)
    instead of the registered one."""
    spec = spec or FIELDS.get(field_name)
    if spec is None and field_name.startswith("cf_"):  # custom_specs names them cf_<key>
        raise ConditionError(f"The custom field “{field_name[3:]}” it tests no longer exists "
                             "(deleted, or its key changed).")
    if spec is None or (spec.routing_only and not routing):
        raise ConditionError(f"“{field_name}” is not a field rules can use here.")
    if operator not in Operator.values:
        raise ConditionError(f"“{operator}” is not an operator.")
    if operator not in spec.operators:
        allowed = ", ".join(Operator(o).label for o in Operator.values if o in spec.operators)
        raise ConditionError(f"{spec.label} cannot use “{Operator(operator).label}”. "
                             f"It can use: {allowed}.")
    value = normalise_value(field_name, operator, value, strict=False, spec=spec)
    if operator not in NO_VALUE_OPERATORS and not value:
        raise ConditionError("Enter a value to compare with.")
    if spec.choices and (operator in _CHOICE_CHECKED or (
            # On several choices "contains" is "contains all of" these answers, not words.
            operator == Operator.CONTAINS and spec.kind == Kind.MULTI_CHOICE)):
        known = {_norm(c) for c in spec.choices}
        # One value for "equals" (but several answers of a several-choices field).
        typed = ((value,) if operator == Operator.EQUALS and spec.kind != Kind.MULTI_CHOICE
                 else split_answers(spec, value))
        if unknown := [v for v in typed if _norm(v) not in known]:
            raise ConditionError(f"{spec.label} has no answer “{unknown[0]}”. "
                                 f"Its answers: {', '.join(spec.choices)}.")
    predicate = _PREDICATE_BUILDERS[operator](spec, value)
    return Condition(field_name, operator, value, predicate,
                     describe_condition(field_name, operator, value))


# Operators whose values are compared with the field's values as stored, one by one.
_VALUE_COMPARED = frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.CONTAINS})


def normalise_value(field_name: str, operator: str, value: str, *, strict: bool = True,
                    spec: FieldSpec | None = None) -> str:
    """A condition's value written as leads store the field, so the rule can match.

    Leads' countries are ISO codes (capture.intake.lead_country): “Germany, uk” is “DE, GB”;
    an email domain is what follows the @: “@acme.com” is “acme.com”; a range is “low, high”
    however it was typed (“10-50”, “10 to 50”), so rules and their history read one way.
    `strict` (saving a rule, a draft on try-it) refuses a value that is no country; otherwise
    (a rule saved before this check) it is kept as typed. `spec` is the field as it is about
    to become (compile_condition)."""
    value = (value or "").strip()
    if operator in NO_VALUE_OPERATORS:
        return ""  # “is set” compares with nothing: a value typed anyway is dropped, not kept
    if operator == Operator.BETWEEN:
        spec = spec or FIELDS.get(field_name)
        try:
            return ", ".join(range_bounds(spec.kind, value)) if spec else value
        except ConditionError:
            return value  # compiling it says what is wrong (_between)
    if field_name == "email_domain" and operator in _VALUE_COMPARED:
        # The field is what follows the @ (`acme.com`): “@acme.com” would never match.
        typed = split_values(value) if operator in LIST_OPERATORS else (value,)
        return ", ".join(dict.fromkeys(w.lstrip("@").rstrip(".") for w in typed))
    if field_name != "country" or operator not in _VALUE_COMPARED or not value:
        return value
    typed = split_values(value) if operator in LIST_OPERATORS else (value,)
    codes = [country_code(word) for word in typed]
    if strict and (unknown := [w for w, code in zip(typed, codes, strict=True)
                               if not is_country_code(code)]):
        raise ConditionError(f"“{unknown[0]}” is not a country: write country codes such as "
                             "DE, FR, GB (or names: Germany). Leads' countries are stored as "
                             "codes.")
    return ", ".join(dict.fromkeys(codes))


_CHOICE_CHECKED = frozenset({Operator.EQUALS, Operator.ONE_OF, Operator.CONTAINS_ANY,
                             Operator.CONTAINS_ALL})


def _equals(spec: FieldSpec, value: str):
    if spec.kind == Kind.NUMBER:
        target = _as_number(value)
        return lambda v: not _is_empty(v) and _as_number(v) == target
    if spec.kind == Kind.DATE:
        day = _as_date(value)
        return lambda v: not _is_empty(v) and _as_date(v) == day
    if spec.kind == Kind.BOOLEAN:
        wanted = _as_bool(value)
        return lambda v: v is not None and v != "" and bool(v) == wanted
    if spec.kind == Kind.MULTI_CHOICE:
        wanted_set = frozenset(_norm(v) for v in split_answers(spec, value))
        return lambda v: frozenset(_norm(x) for x in (v or ())) == wanted_set
    target_text = _norm(value)
    return lambda v: not _is_empty(v) and _norm(v) == target_text


def _one_of(spec: FieldSpec, value: str):
    options = split_answers(spec, value)
    if not options:
        raise ConditionError("List at least one value.")
    if spec.kind == Kind.NUMBER:
        numbers = frozenset(_as_number(o) for o in options)
        return lambda v: not _is_empty(v) and _as_number(v) in numbers
    wanted = frozenset(_norm(o) for o in options)
    if spec.kind == Kind.MULTI_CHOICE:
        return lambda v: any(_norm(x) in wanted for x in (v or ()))
    return lambda v: not _is_empty(v) and _norm(v) in wanted


def _contains(spec: FieldSpec, value: str):
    words = split_answers(spec, value)
    if not words:
        raise ConditionError("List at least one word or phrase.")
    if spec.kind == Kind.MULTI_CHOICE:
        wanted = frozenset(_norm(w) for w in words)
        return lambda v: wanted <= frozenset(_norm(x) for x in (v or ()))
    pattern = _words_pattern(words)
    return lambda v: not _is_empty(v) and pattern.search(str(v)) is not None


def _pattern_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a bad pattern is the admin form's error, not a log line
    return options


def _matches(spec: FieldSpec, value: str):
    """A pattern runs on RE2 (google-re2): its time is linear in the text whatever the
    pattern, so a rule like (a+)+$ cannot stall the intake on a prospect's input, as Python's
    backtracking re would (seconds for 30 characters). RE2 has no look-arounds or
    back-references; a pattern using them is refused with the reason."""
    if len(value) > MAX_PATTERN_LENGTH:
        raise ConditionError(f"Keep the pattern under {MAX_PATTERN_LENGTH} characters.")
    try:
        pattern = re2.compile(value, _pattern_options())
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(
            exc.args[0], bytes) else str(exc)
        raise ConditionError(f"This pattern has an error: {reason} (look-arounds and "
                             "back-references are not supported).") from None
    return lambda v: not _is_empty(v) and pattern.search(str(v)) is not None


def _ordered(compare: Callable[[Any, Any], bool]):
    def build(spec: FieldSpec, value: str):
        if spec.order:
            positions = {_norm(choice): i for i, choice in enumerate(spec.order)}
            if _norm(value) not in positions:
                raise ConditionError(f"Choose one of: {', '.join(spec.order)}.")
            target = positions[_norm(value)]
            return lambda v: _norm(v) in positions and compare(positions[_norm(v)], target)
        if spec.kind == Kind.DATE:
            day = _as_date(value)
            return lambda v: not _is_empty(v) and compare(_as_date(v), day)
        number = _as_number(value)
        return lambda v: not _is_empty(v) and compare(_as_number(v), number)

    return build


def _between(spec: FieldSpec, value: str):
    read = _as_date if spec.kind == Kind.DATE else _as_number
    low, high = (read(bound) for bound in range_bounds(spec.kind, value))
    return lambda v: not _is_empty(v) and low <= read(v) <= high


def _contains_any(spec: FieldSpec, value: str):
    wanted = frozenset(_norm(v) for v in split_answers(spec, value))
    if not wanted:
        raise ConditionError("List at least one answer.")
    return lambda v: any(_norm(x) in wanted for x in (v or ()))


def _contains_all(spec: FieldSpec, value: str):
    wanted = frozenset(_norm(v) for v in split_answers(spec, value))
    if not wanted:
        raise ConditionError("List at least one answer.")
    return lambda v: wanted <= frozenset(_norm(x) for x in (v or ()))


def _is_set(spec: FieldSpec, value: str):
    return lambda v: not _is_empty(v)


def _is_empty_op(spec: FieldSpec, value: str):
    return _is_empty


_PREDICATE_BUILDERS = {
    Operator.EQUALS: _equals,
    Operator.ONE_OF: _one_of,
    Operator.CONTAINS: _contains,
    Operator.MATCHES: _matches,
    Operator.GREATER_THAN: _ordered(lambda a, b: a > b),
    Operator.LESS_THAN: _ordered(lambda a, b: a < b),
    Operator.BETWEEN: _between,
    Operator.CONTAINS_ANY: _contains_any,
    Operator.CONTAINS_ALL: _contains_all,
    Operator.IS_SET: _is_set,
    Operator.IS_EMPTY: _is_empty_op,
}
