"""The queue's filters (django-filter): status, tier, channel, form, created range, search,
and one filter per active custom field (`cf_<key>`), built from the definitions in one query."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from capture import custom_fields
from capture.identity import phone_search
from capture.models import Channel, CustomField, IntakeForm, Lead, LeadStatus
from routing.models import ScoreTier


def _tier_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in ScoreTier.objects.values_list("name", flat=True)]


class QueueFilterForm(forms.Form):
    def clean(self):
        """A range typed the wrong way round (created dates, a custom number or date) is an
        error beside it, not an empty queue without a reason."""
        data = super().clean()
        for name, value in list(data.items()):
            if (isinstance(value, slice) and value.start is not None
                    and value.stop is not None and value.start > value.stop):
                dates = isinstance(self.fields[name], django_filters.fields.DateRangeField)
                self.add_error(name, "The end date is before the start date." if dates
                               else "The second number is smaller than the first.")
        return data


class QueueFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search",
                                  widget=forms.TextInput(attrs={"placeholder": "Name, email, "
                                                                "phone, company"}))
    status = django_filters.ChoiceFilter(choices=LeadStatus.choices, empty_label="Any status")
    tier = django_filters.ChoiceFilter(choices=_tier_choices, empty_label="Any tier")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="Any channel")
    form = django_filters.ModelChoiceFilter(queryset=IntakeForm.objects.only("id", "title",
                                                                              "slug"),
                                            empty_label="Any form")
    created = django_filters.DateFromToRangeFilter(
        field_name="created_at", label="Created between",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}))

    class Meta:
        model = Lead
        form = QueueFilterForm
        fields = ["q", "status", "tier", "channel", "form", "created"]

    def __init__(self, *args, custom_defs=None, **kwargs):
        super().__init__(*args, **kwargs)
        if custom_defs is None:
            custom_defs = custom_fields.definitions(active_only=True)
        self.custom_defs = custom_defs
        for definition in custom_defs.values():
            self.filters[custom_fields.FORM_PREFIX + definition.key] = custom_filter(definition)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        wanted = (Q(first_name__icontains=value) | Q(last_name__icontains=value)
                  | Q(email__icontains=value) | Q(phone__icontains=value)
                  | Q(company__icontains=value))
        if (by_phone := phone_search(value)) is not None:  # "(415) 555-2671", "415 555 2671"
            wanted |= by_phone
        return queryset.filter(wanted)


class CustomNumberBound(forms.CharField):
    """One end of a number filter, read as forms, the API and imports read numbers (1,200
    too); one out of range is a form error beside the field, not a failed query."""

    def __init__(self, definition: CustomField, **kwargs):
        self.definition = definition
        super().__init__(**kwargs)

    def clean(self, value):
        return custom_fields.coerce(self.definition, super().clean(value))


class ChoicesInAnyCase(django_filters.fields.MultipleChoiceField):
    """A choice filter's values as the definition spells them, whatever capitals a typed or
    shared URL used ("?cf_plan=pro" for "Pro"), as forms and the API read choices."""

    def to_python(self, value):
        spelt = {str(choice).casefold(): choice for choice, _ in self.choices}
        return [spelt.get(str(v).casefold(), v) for v in super().to_python(value)]


class ChoicesFilter(django_filters.MultipleChoiceFilter):
    field_class = ChoicesInAnyCase


def custom_filter(definition: CustomField) -> django_filters.Filter:
    """The filter that suits the type; each calls the selector that uses the index."""
    kind, label = definition.kind, definition.label
    Kind = CustomField.Kind

    def method(queryset, name, value):
        if kind in CustomField.CHOICE_KINDS:
            return custom_fields.filter_any_of(queryset, definition, value or [])
        if kind == Kind.YES_NO:
            return (custom_fields.filter_yes_no(queryset, definition, value == "yes")
                    if value in ("yes", "no") else queryset)
        if kind in (Kind.NUMBER, Kind.DATE):
            if not value:
                return queryset
            return custom_fields.filter_range(queryset, definition, value.start, value.stop)
        return custom_fields.filter_text(queryset, definition, value)

    if kind in CustomField.CHOICE_KINDS:
        return ChoicesFilter(
            label=label + (" (any of)" if kind == Kind.MULTI_CHOICE else ""),
            choices=[(c, c) for c in definition.choice_list], method=method,
            widget=forms.SelectMultiple(attrs={"size": min(len(definition.choice_list), 4)}))
    if kind == Kind.YES_NO:
        return django_filters.ChoiceFilter(label=label, choices=[("yes", "Yes"), ("no", "No")],
                                           empty_label="Any", method=method)
    if kind == Kind.NUMBER:
        return django_filters.RangeFilter(
            label=f"{label} between", method=method,
            fields=(CustomNumberBound(definition), CustomNumberBound(definition)))
    if kind == Kind.DATE:
        return django_filters.DateFromToRangeFilter(
            label=f"{label} between", method=method,
            widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}))
    return django_filters.CharFilter(label=f"{label} contains", method=method)
