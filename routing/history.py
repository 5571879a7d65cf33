"""Rule history: a snapshot of a rule before and after each change, and rolling one back.

A snapshot is the row's own fields, its many-to-many ids and the child rows edited with it
(a routing rule's conditions, a calendar's hours and holidays, a team's members), as JSON.
"""

from __future__ import annotations

import json

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, transaction

from routing import models as m

# child relation name -> the fields of each child row worth keeping
CHILDREN: dict[type[models.Model], dict[str, tuple[str, ...]]] = {
    m.RoutingRule: {"conditions": ("field", "operator", "value")},
    m.BusinessHours: {"hours": ("weekday", "opens", "closes"), "holidays": ("day", "name")},
    m.Team: {"memberships": ("rep_id", "weight")},
}
TRACKED = (m.ScoringRule, m.ScoreTier, m.RoutingRule, m.Team, m.SlaPolicy, m.BusinessHours,
           m.FreeMailDomain)


def _plain(value: object) -> object:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model) -> dict:
    """The rule as JSON: own fields by attribute name, m2m as ids, child rows as dicts."""
    data = {f.attname: f.value_from_object(instance) for f in instance._meta.concrete_fields}
    for f in instance._meta.many_to_many:
        data[f.name] = sorted(o.pk for o in getattr(instance, f.name).all())
    for relation, fields in CHILDREN.get(type(instance), {}).items():
        data[relation] = [
            {name: getattr(child, name) for name in fields}
            for child in getattr(instance, relation).order_by("pk")
        ]
    data.pop("updated_at", None)
    return _plain(data)


def snapshot_of(model: type[models.Model], pk) -> dict | None:
    instance = model.objects.filter(pk=pk).first() if pk else None
    return snapshot(instance) if instance is not None else None


def record_rule_change(*, model: type[models.Model], object_id: int, object_repr: str,
                       old: dict | None, new: dict | None, user,
                       action: str | None = None) -> m.RuleChange | None:
    """Write one history row; a save that changed nothing writes none."""
    if old == new:
        return None
    if action is None:
        action = (m.RuleChange.Action.CREATED if old is None else
                  m.RuleChange.Action.DELETED if new is None else m.RuleChange.Action.CHANGED)
    return m.RuleChange.objects.create(
        content_type=ContentType.objects.get_for_model(model), object_id=object_id,
        object_repr=object_repr[:200], action=action, old=old, new=new,
        user=user if user is not None and user.pk else None,
    )


class RollbackError(Exception):
    """The old state cannot be restored (args[0] says why, for sales ops)."""


@transaction.atomic
def roll_back(change: m.RuleChange, *, user) -> m.RuleChange:
    """Put the rule back as it was before `change`; the rollback is itself a history row."""
    model = change.content_type.model_class()
    if model not in TRACKED:
        raise RollbackError("This kind of row cannot be rolled back.")
    current = model.objects.filter(pk=change.object_id).first()
    before = snapshot(current) if current is not None else None
    try:
        with transaction.atomic():
            if change.old is None:
                if current is not None:
                    current.delete()
                restored = None
            else:
                restored = _restore(model, change.object_id, change.old)
    except ValidationError as exc:
        raise RollbackError("; ".join(exc.messages)) from None
    except IntegrityError as exc:
        raise RollbackError(f"The old version clashes with today's rules: {exc}") from None
    after = snapshot(restored) if restored is not None else None
    return m.RuleChange.objects.create(
        content_type=change.content_type, object_id=change.object_id,
        object_repr=change.object_repr, action=m.RuleChange.Action.ROLLED_BACK,
        old=before, new=after, user=user if user is not None and user.pk else None,
    )


def _restore(model: type[models.Model], pk: int, data: dict) -> models.Model:
    instance = model.objects.filter(pk=pk).first() or model(pk=pk)
    for f in instance._meta.concrete_fields:
        if f.primary_key or f.attname not in data:
            continue
        setattr(instance, f.attname, f.to_python(data[f.attname]))
    instance.full_clean(validate_unique=True)
    instance.save()
    for f in instance._meta.many_to_many:
        if f.name in data:
            # A row deleted since (a tier the rule was limited to) cannot be linked again: the
            # database would refuse it only at COMMIT, a 500 instead of this message.
            target = f.related_model
            gone = set(data[f.name]) - set(target.objects.filter(
                pk__in=data[f.name]).values_list("pk", flat=True))
            if gone:
                raise ValidationError(
                    f"It was limited to {target._meta.verbose_name_plural} deleted since "
                    f"(#{', #'.join(map(str, sorted(gone)))}): edit the rule instead.")
            getattr(instance, f.name).set(data[f.name])
    for relation, fields in CHILDREN.get(model, {}).items():
        if relation not in data:
            continue
        manager = getattr(instance, relation)
        manager.all().delete()
        child_model = manager.model
        fk_name = manager.field.name
        for row in data[relation]:
            child = child_model(**{fk_name: instance})
            for name in fields:
                field = child_model._meta.get_field(name.removesuffix("_id"))
                setattr(child, name, field.to_python(row[name]) if not name.endswith("_id")
                        else row[name])
            child.full_clean(exclude=[fk_name])
            child.save()
    return instance
