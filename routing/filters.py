"""The queue's filters (django-filter): status, tier, channel, form, created range, search."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from capture.models import Channel, IntakeForm, Lead, LeadStatus
from routing.models import ScoreTier


def _tier_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in ScoreTier.objects.values_list("name", flat=True)]


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
        fields = ["q", "status", "tier", "channel", "form", "created"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(first_name__icontains=value) | Q(last_name__icontains=value)
            | Q(email__icontains=value) | Q(phone__icontains=value)
            | Q(company__icontains=value))
