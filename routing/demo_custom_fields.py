"""The demo's custom lead fields: "Tech stack" and "Seats" on the quote form, with a scoring
rule on each (what an IT services company qualifies on). Idempotent: found by key and name."""

from __future__ import annotations

from capture.models import CustomField, FormCustomField, IntakeForm
from routing import models as m
from routing.demo import retired_rule_names
from routing.ruleset import bump_version

TECH_STACK = ("AWS", "Azure", "GCP", "on-premises", "Microsoft 365", "Google Workspace")
DEMO_FIELDS = (
    # key, label, type, choices, help text, required on the quote form, shown after
    ("tech_stack", "Tech stack", CustomField.Kind.MULTI_CHOICE, TECH_STACK,
     "Tick everything you run today.", False, "service"),
    ("seats", "Seats", CustomField.Kind.NUMBER, (),
     "How many people would use it?", False, "company_size"),
)
DEMO_RULES = (
    # name, group, field, operator, value, points
    ("Runs on a public cloud", "fit", "cf_tech_stack", "contains_any", "AWS, Azure, GCP", 10),
    ("100 seats or more", "fit", "cf_seats", "greater_than", "99", 15),
)


def seed_custom_fields(form: IntakeForm) -> dict[str, int]:
    made = {"fields": 0, "rules": 0}
    for position, (key, label, kind, choices, help_text, required, after) in enumerate(
            DEMO_FIELDS, 1):
        field, created = CustomField.objects.get_or_create(key=key, defaults={
            "label": label, "kind": kind, "choices": "\n".join(choices),
            "help_text": help_text, "position": position * 10,
            "min_value": 1 if kind == CustomField.Kind.NUMBER else None})
        made["fields"] += created
        FormCustomField.objects.get_or_create(form=form, field=field, defaults={
            "is_required": required, "after": after, "position": position})
    retired = retired_rule_names(m.ScoringRule)
    for name, group, field_name, operator, value, points in DEMO_RULES:
        if name in retired:
            continue
        _, created = m.ScoringRule.objects.get_or_create(name=name, defaults={
            "group": group, "field": field_name, "operator": operator, "value": value,
            "points": points, "position": 500 + made["rules"]})
        made["rules"] += created
    bump_version()
    return made
