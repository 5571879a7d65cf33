"""Custom lead fields as fields of the one condition language (`routing.conditions`).

Each definition becomes a `FieldSpec` named `cf_<key>` with the kind its type maps to, so
scoring and routing rules, the try-it page and the backtest use them like built-in fields.
The registry is process memory: it is brought in line with the definitions whenever the rule
set is (re)loaded — saving a custom field moves the rule set's version on — and whenever a
rule form is built.
"""

from __future__ import annotations

from collections.abc import Mapping

from capture.custom_fields import definitions
from capture.models import CustomField
from routing.conditions import (
    FIELDS,
    ConditionError,
    FieldSpec,
    Kind,
    compile_condition,
    register_field,
    unregister_field,
)

GROUP = "Custom fields"
KINDS = {
    CustomField.Kind.SHORT_TEXT: Kind.TEXT,
    CustomField.Kind.LONG_TEXT: Kind.TEXT,
    CustomField.Kind.NUMBER: Kind.NUMBER,
    CustomField.Kind.DATE: Kind.DATE,
    CustomField.Kind.YES_NO: Kind.BOOLEAN,
    CustomField.Kind.CHOICE: Kind.CHOICE,
    CustomField.Kind.MULTI_CHOICE: Kind.MULTI_CHOICE,
}


def _reader(key: str, multi: bool):
    if multi:
        return lambda lead, ctx: (getattr(lead, "custom_fields", None) or {}).get(key) or []
    return lambda lead, ctx: (getattr(lead, "custom_fields", None) or {}).get(key)


def spec_for(definition: CustomField) -> FieldSpec:
    kind = KINDS[definition.kind]
    choices = tuple(definition.choice_list) if definition.kind in CustomField.CHOICE_KINDS else ()
    return FieldSpec(
        name=definition.rule_name, label=str(definition), kind=kind,
        read=_reader(definition.key, kind == Kind.MULTI_CHOICE),
        order=choices if kind == Kind.CHOICE else (), group=GROUP, choices=choices,
    )


def sync_custom_field_specs(defs: Mapping[str, CustomField] | None = None) -> None:
    """Register every custom field (archived ones too: their rules keep working on the values
    leads keep) and drop the specs of deleted fields. One query when `defs` is not given."""
    defs = definitions() if defs is None else defs
    wanted = {d.rule_name: spec_for(d) for d in defs.values()}
    for name in [n for n, s in FIELDS.items() if s.group == GROUP and n not in wanted]:
        unregister_field(name)
    for spec in wanted.values():
        if FIELDS.get(spec.name) != spec:
            register_field(spec)


def rules_broken_by(definition: CustomField) -> list[str]:
    """The active rules on this custom field that its new type or answers would break
    (capture.custom_fields.CHANGE_CHECKS: the change is refused while any is listed)."""
    from routing.models import RoutingCondition, ScoringRule

    spec, name = spec_for(definition), definition.rule_name
    broken = []
    for rule in ScoringRule.objects.filter(field=name, is_active=True).order_by("name"):
        try:
            compile_condition(name, rule.operator, rule.value, routing=False, spec=spec)
        except ConditionError as exc:
            broken.append(f"scoring rule “{rule.name}” ({exc})")
    for condition in (RoutingCondition.objects.filter(field=name, rule__is_active=True)
                      .select_related("rule").order_by("rule__name")):
        try:
            compile_condition(name, condition.operator, condition.value, spec=spec)
        except ConditionError as exc:
            broken.append(f"routing rule “{condition.rule.name}” ({exc})")
    return broken


def rules_using(definition: CustomField) -> list[str]:
    """The active rules with a condition on this custom field (capture.custom_fields.
    DELETE_CHECKS: the field is not deleted while any is listed)."""
    from routing.models import RoutingCondition, ScoringRule

    name = definition.rule_name
    scoring = ScoringRule.objects.filter(field=name, is_active=True).order_by("name")
    routing = (RoutingCondition.objects.filter(field=name, rule__is_active=True)
               .select_related("rule").order_by("rule__name"))
    return ([f"scoring rule “{rule.name}”" for rule in scoring]
            + list(dict.fromkeys(f"routing rule “{c.rule.name}”" for c in routing)))
