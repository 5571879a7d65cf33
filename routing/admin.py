"""The sales-ops back office for rules: scoring, tiers, teams and reps, routing, hours, SLAs.

Every rule edit is kept in the history (RuleChange) and can be rolled back; the try-it and
backtest pages run the live engines over real or typed leads and write nothing.
"""

from __future__ import annotations

import itertools
from datetime import datetime, time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from capture import custom_fields
from capture.admin import InboundEventAdmin, InteractionAdmin, LeadAdmin, LeadIdentityAdmin
from capture.admin_guards import GuardedDeleteMixin
from capture.fields import ATTRIBUTION_FIELDS, FORM_FIELDS, LEAD_FIELDS
from capture.intake import lead_country
from capture.models import OPEN_STATUSES, Channel, InboundEvent, Interaction, Lead, LeadIdentity
from capture.services import person_name, person_sort_key
from routing import models as m
from routing.access import led_team_ids, reps_of_teams, sees_every_lead, visible_leads
from routing.conditions import (
    FIELDS,
    ConditionError,
    Operator,
    compile_condition,
    describe_condition,
    field_choices,
)
from routing.custom_specs import sync_custom_field_specs
from routing.forms import PersonChoiceField
from routing.history import (
    TRACKED,
    RollbackError,
    record_rule_change,
    roll_back,
    snapshot,
    snapshot_of,
)
from routing.routing import TEAM_ACTIONS, Action, Outcome, RoutingRuleSpec
from routing.ruleset import RuleSet, current_ruleset
from routing.scoring import ScoringRuleSpec
from routing.services import assess_lead, reassign_lead, rescore_lead, sla_state_of
from routing.sla import describe_target
from routing.trial import MAX_BACKTEST_LEADS, backtest, try_lead

# --- People are named as everywhere else: "Alice Anders", not "alice" --------------------------


class PeopleAutocomplete(AutocompleteJsonView):
    """The admin's search-as-you-type for users names them as everywhere else ("Alice Anders",
    not "alice"); leadcrm/urls.py serves it at the admin's own autocomplete address."""

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        if isinstance(obj, get_user_model()):
            result["text"] = person_name(obj)
        return result


class PersonLabelsMixin:
    """Foreign keys to users show full names, in plain selects and in the autocomplete's chosen
    option (its search results: PeopleAutocomplete)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is get_user_model():
            kwargs.setdefault("form_class", PersonChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Condition forms: the field list comes from the registry (custom fields included) --------


class ConditionForm(forms.ModelForm):
    routing_fields = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sync_custom_field_specs()
        self.fields["field"] = forms.ChoiceField(
            choices=[("", "---------"), *field_choices(routing=self.routing_fields)],
            help_text="The lead field the rule tests.")
        # A blank first choice, as the field's: an extra condition row left alone posts
        # nothing, so the formset skips it instead of asking for its field.
        self.fields["operator"] = forms.ChoiceField(choices=[("", "---------"),
                                                             *Operator.choices])


class ScoringRuleForm(ConditionForm):
    routing_fields = False

    class Meta:
        model = m.ScoringRule
        fields = ("name", "group", "field", "operator", "value", "points", "is_active",
                  "position")


class RoutingConditionForm(ConditionForm):
    class Meta:
        model = m.RoutingCondition
        fields = ("field", "operator", "value")


# --- History: every save and delete of a rule is a RuleChange row ------------------------------


class ConditionFieldFilter(admin.SimpleListFilter):
    """"By field" names fields as the rule form does ("Tech stack", not "cf_tech_stack")."""

    title = "field"
    parameter_name = "field__exact"

    def lookups(self, request, model_admin):
        sync_custom_field_specs()
        used = set(model_admin.get_queryset(request).values_list("field", flat=True))
        return sorted(((name, FIELDS[name].label if name in FIELDS else f"{name} (deleted)")
                       for name in used), key=lambda choice: choice[1].casefold())

    def queryset(self, request, queryset):
        return queryset.filter(field=self.value()) if self.value() else queryset


class ConditionOperatorFilter(admin.SimpleListFilter):
    """"By operator" names operators as the rule form does ("is one of", not "one_of")."""

    title = "operator"
    parameter_name = "operator__exact"

    def lookups(self, request, model_admin):
        used = set(model_admin.get_queryset(request).values_list("operator", flat=True))
        return [(value, label) for value, label in Operator.choices if value in used]

    def queryset(self, request, queryset):
        return queryset.filter(operator=self.value()) if self.value() else queryset


class ListRowForm(forms.ModelForm):
    """A row of a rule list edited in place (points, on/off, position).

    A row left as it was is not checked again: a rule that stopped passing its checks since
    it was saved (its team deleted while switched off, an answer removed from the forms)
    must not keep sales ops from reordering the others. A row that changed is checked in
    full, and an error on a field the list does not show (the condition's value, the team)
    is shown on the row instead of failing the page."""

    def _post_clean(self):
        if self.has_changed():
            super()._post_clean()

    def _update_errors(self, errors):
        if hasattr(errors, "error_dict"):
            rows: dict = {}
            for name, items in errors.error_dict.items():
                shown = name == NON_FIELD_ERRORS or name in self.fields
                rows.setdefault(name if shown else NON_FIELD_ERRORS, []).extend(items)
            errors = ValidationError(rows)
        super()._update_errors(errors)


class RoutingRuleRowForm(ListRowForm):
    """A routing rule switched on from the list: its conditions are not on the list, so they
    are checked here; one that cannot work (its custom field deleted) would have the rule
    skipped at every lead while the list said it was on."""

    def clean(self):
        data = super().clean()
        if "is_active" in self.changed_data and data.get("is_active") and self.instance.pk:
            sync_custom_field_specs()
            for c in self.instance.conditions.all():
                try:
                    compile_condition(c.field, c.operator, c.value, routing=True)
                except ConditionError as exc:
                    raise ValidationError(
                        f"“{self.instance.name}” stays off: {exc} Fix its conditions on the "
                        "rule's page first.") from None
        return data


class ListRowFormMixin:
    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, **{"form": ListRowForm, **kwargs})


class RuleHistoryMixin:
    """Keeps the before/after snapshot of each rule edited here (children included)."""

    def save_model(self, request, obj, form, change) -> None:
        olds = request.__dict__.setdefault("_rule_old", {})
        olds[(type(obj), obj.pk)] = snapshot_of(type(obj), obj.pk) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        old = request.__dict__.get("_rule_old", {}).get((type(obj), obj.pk if change else None))
        record_rule_change(model=type(obj), object_id=obj.pk, object_repr=str(obj), old=old,
                           new=snapshot(obj), user=request.user)

    def delete_model(self, request, obj) -> None:
        old, pk, text = snapshot(obj), obj.pk, str(obj)
        super().delete_model(request, obj)
        record_rule_change(model=type(obj), object_id=pk, object_repr=text, old=old, new=None,
                           user=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class FieldLabelSearchMixin:
    """The search box finds rules by the field they test, named as the rule form names it
    ("Tech stack", "country"), besides their name and value: `field_lookup` is the path to the
    stored field name."""

    field_lookup = "field"

    def get_search_results(self, request, queryset, search_term):
        found, may_repeat = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().casefold()
        if term:
            sync_custom_field_specs()
            names = [name for name, spec in FIELDS.items() if term in spec.label.casefold()]
            if names:
                found |= queryset.filter(**{f"{self.field_lookup}__in": names})
                may_repeat = may_repeat or "__" in self.field_lookup
        return found, may_repeat


# --- Scoring ------------------------------------------------------------------------------------


@admin.register(m.ScoringRule)
class ScoringRuleAdmin(FieldLabelSearchMixin, ListRowFormMixin, RuleHistoryMixin,
                       admin.ModelAdmin):
    form = ScoringRuleForm
    list_display = ("name", "group", "condition", "points", "is_active", "position")
    list_editable = ("points", "is_active", "position")
    list_filter = ("is_active", "group", ConditionFieldFilter, ConditionOperatorFilter)
    search_fields = ("name", "value", "group")
    search_help_text = "A rule's name, group, value or the field it tests (e.g. Country)."
    fields = ("name", "group", "field", "operator", "value", "points", "is_active", "position")
    change_list_template = "admin/routing/rules_change_list.html"

    def changelist_view(self, request, extra_context=None):
        sync_custom_field_specs()  # the conditions column reads custom fields too
        m.sync_form_answers()  # and the forms' answers (“$1,000-$10,000” listed whole)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Condition")
    def condition(self, obj) -> str:
        try:
            return compile_condition(obj.field, obj.operator, obj.value,
                                     routing=False).describe()
        except ConditionError as exc:
            return f"(broken: {exc})"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("try/", view(self.try_it_view), name="routing_try_it"),
            path("backtest/", view(self.backtest_view), name="routing_backtest"),
            *super().get_urls(),
        ]

    def _check(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def try_it_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        form = TryItForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            ruleset = form.edited(current_ruleset())
            result = try_lead(form.lead(), ruleset)
        return TemplateResponse(request, "admin/routing/try_it.html", {
            **self.admin_site.each_context(request), "title": "Try the rules on a lead",
            "form": form, "result": result, "opts": self.model._meta,
            "lead_fields": [form[name] for name in (*TRY_FIELDS, *form.custom_names)],
        })

    def backtest_view(self, request: HttpRequest) -> HttpResponse:
        self._check(request)
        form = BacktestForm(request.POST or None)
        report = None
        if request.method == "POST" and form.is_valid():
            current = current_ruleset()
            report = backtest(form.edited(current), days=form.cleaned_data["days"],
                              baseline=current if form.has_edits else None)
        return TemplateResponse(request, "admin/routing/backtest.html", {
            **self.admin_site.each_context(request), "title": "Backtest the rules",
            "form": form, "report": report, "opts": self.model._meta,
            "max_leads": MAX_BACKTEST_LEADS,
        })


@admin.register(m.ScoreTier)
class ScoreTierAdmin(GuardedDeleteMixin, RuleHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "min_score", "description", "sla")
    actions = ("delete_selected",)
    search_fields = ("name",)
    list_select_related = ("sla_policy",)

    @admin.display(description="SLA policy")
    def sla(self, obj) -> str:
        policy = getattr(obj, "sla_policy", None)
        return str(policy) if policy else "-"


@admin.register(m.FreeMailDomain)
class FreeMailDomainAdmin(RuleHistoryMixin, admin.ModelAdmin):
    list_display = ("domain", "note")
    search_fields = ("domain", "note")


# --- Teams and reps -------------------------------------------------------------------------------


# Weight 0 takes a rep out of a team's rotation (routing.routing.pick_from_team): the inline's
# heading says so, where the field's own help is only a tooltip.
OUT_OF_ROTATION = "weight 0: out of rotation"


class MembershipInline(admin.TabularInline):
    model = m.TeamMembership
    extra = 1
    autocomplete_fields = ("rep",)
    verbose_name_plural = ("Reps (weight 0 takes a rep out of this team's rotation: no leads "
                           "from it, whatever the strategy)")


@admin.register(m.Team)
class TeamAdmin(PersonLabelsMixin, GuardedDeleteMixin, RuleHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "lead", "members", "waiting")
    actions = ("delete_selected",)
    search_fields = ("name", "description")
    list_filter = ("lead",)
    autocomplete_fields = ("lead",)
    inlines = (MembershipInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("lead").annotate(
            member_count=Count("memberships", distinct=True),
            resting_count=Count("memberships", distinct=True, filter=Q(memberships__weight=0)),
            waiting_count=Count("assessments", distinct=True, filter=Q(
                assessments__outcome=Outcome.QUEUED, assessments__lead__owner__isnull=True,
                assessments__lead__status__in=OPEN_STATUSES)),
        )

    @admin.display(description="Reps", ordering="member_count")
    def members(self, obj) -> str:
        if obj.resting_count:
            return f"{obj.member_count} ({obj.resting_count} {OUT_OF_ROTATION})"
        return str(obj.member_count)

    @admin.display(description="Unassigned queue", ordering="waiting_count")
    def waiting(self, obj) -> str:
        url = (reverse("admin:routing_leadassessment_changelist")
               + f"?team__id__exact={obj.pk}&outcome__exact={Outcome.QUEUED}")
        return format_html('<a href="{}">{} waiting</a>', url, obj.waiting_count)


class RepProfileForm(forms.ModelForm):
    work_days = forms.TypedMultipleChoiceField(
        choices=m.WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = m.RepProfile
        fields = ("user", "is_available", "seniority", "capacity", "regions", "verticals",
                  "timezone", "work_days", "work_starts", "work_ends")


class OutOfOfficeInline(admin.TabularInline):
    model = m.OutOfOffice
    extra = 1


class RepMembershipInline(admin.TabularInline):
    model = m.TeamMembership
    extra = 1
    verbose_name_plural = ("Teams (weight 0 takes the rep out of that team's rotation: no leads "
                           "from it)")


@admin.register(m.RepProfile)
class RepProfileAdmin(PersonLabelsMixin, admin.ModelAdmin):
    form = RepProfileForm
    list_display = ("__str__", "team_names", "seniority", "capacity", "open_leads",
                    "timezone", "is_available", "is_active")
    list_editable = ("is_available",)
    list_filter = ("is_available", "seniority", "teams", "user__is_active", "timezone")
    search_fields = ("user__username", "user__first_name", "user__last_name", "regions",
                     "verticals")
    autocomplete_fields = ("user",)
    inlines = (RepMembershipInline, OutOfOfficeInline)
    fieldsets = (
        (None, {"fields": ("user", "is_available", "seniority", "capacity")}),
        ("Coverage", {"fields": ("regions", "verticals")}),
        ("Working hours (in the rep's own timezone)", {"fields": (
            "timezone", "work_days", ("work_starts", "work_ends"))}),
    )

    def get_queryset(self, request):
        memberships = m.TeamMembership.objects.select_related("team").order_by("team__name")
        return super().get_queryset(request).select_related("user").prefetch_related(
            Prefetch("memberships", queryset=memberships)).annotate(
                open_count=Count("user__owned_leads", filter=Q(
                    user__owned_leads__status__in=OPEN_STATUSES)))

    @admin.display(description="Teams")
    def team_names(self, obj) -> str:
        return ", ".join(f"{ms.team.name} ({OUT_OF_ROTATION})" if ms.weight == 0
                         else ms.team.name for ms in obj.memberships.all())

    @admin.display(description="Open leads", ordering="open_count")
    def open_leads(self, obj) -> int:
        return obj.open_count

    @admin.display(description="Active account", boolean=True)
    def is_active(self, obj) -> bool:
        return obj.user.is_active


# --- Routing rules ---------------------------------------------------------------------------


class RoutingConditionInline(admin.TabularInline):
    model = m.RoutingCondition
    form = RoutingConditionForm
    extra = 1
    # The value's help is only a tooltip in a table: its most asked part is said here too.
    verbose_name_plural = ("Conditions (all must hold, besides the tier and score above; "
                           "“is between” takes a range: 10-50, 10 to 50 or 10, 50)")


@admin.register(m.RoutingRule)
class RoutingRuleAdmin(FieldLabelSearchMixin, ListRowFormMixin, PersonLabelsMixin,
                       RuleHistoryMixin, admin.ModelAdmin):
    field_lookup = "conditions__field"
    list_display = ("position", "name", "conditions_shown", "action", "team", "rep_name",
                    "is_default", "is_active")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    list_filter = ("is_active", "is_default", "action", "team")
    search_fields = ("name", "conditions__value")
    search_help_text = "A rule's name, or a value or field its conditions test (e.g. Country)."
    list_select_related = ("team", "rep")
    autocomplete_fields = ("rep", "team")
    filter_horizontal = ("tiers",)
    inlines = (RoutingConditionInline,)
    change_list_template = "admin/routing/rules_change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "position", "is_active", "is_default")}),
        ("Also only when", {"fields": ("tiers", ("min_score", "max_score"))}),
        ("Then", {"fields": ("action", "team", "rep", "respect_hours", "match_region",
                             "match_vertical", "min_seniority")}),
    )

    def get_changelist_form(self, request, **kwargs):
        return super().get_changelist_form(request, **{"form": RoutingRuleRowForm, **kwargs})

    def get_search_results(self, request, queryset, search_term):
        results, _ = super().get_search_results(request, queryset, search_term)
        return results.distinct(), False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("conditions", "tiers")

    def changelist_view(self, request, extra_context=None):
        sync_custom_field_specs()  # the conditions column reads custom fields too
        m.sync_form_answers()  # and the forms' answers (“$1,000-$10,000” listed whole)
        return super().changelist_view(request, extra_context)

    @admin.display(description="Rep", ordering="rep__first_name")
    def rep_name(self, obj) -> str:
        return person_name(obj.rep, nobody="-") if obj.rep_id else "-"

    @admin.display(description="Conditions")
    def conditions_shown(self, obj) -> str:
        if obj.is_default:
            return "every lead no other rule takes"
        # The tier and score limits first: "Cold free-mail leads to nurture" is not every
        # free-mail lead.
        said = [f"Tier is {' or '.join(t.name for t in tiers)}"] if (
            tiers := sorted(obj.tiers.all(), key=lambda t: t.min_score)) else []
        if obj.min_score is not None:
            said.append(f"Score is at least {obj.min_score}")
        if obj.max_score is not None:
            said.append(f"Score is at most {obj.max_score}")
        for c in obj.conditions.all():
            try:
                said.append(compile_condition(c.field, c.operator, c.value,
                                              routing=True).describe())
            except ConditionError as exc:
                said.append(f"(broken: {exc})")
        return " and ".join(said) or "every lead"


# --- Business hours and SLA ---------------------------------------------------------------------


class OpeningHoursFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Hours of one day may not overlap (a lunch break is two rows that do not touch)."""
        super().clean()
        days: dict[int, list[tuple]] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("DELETE") or None in (data.get("weekday"), data.get("opens"),
                                               data.get("closes")):
                continue
            closes = data["closes"] if data["closes"] != time(0) else time.max  # midnight
            days.setdefault(data["weekday"], []).append((data["opens"], closes, form))
        for weekday, rows in days.items():
            rows.sort(key=lambda row: row[:2])
            for (_, first_closes, first), (opens, _, form) in itertools.pairwise(rows):
                if opens < first_closes:
                    raise ValidationError(
                        f"{dict(m.WEEKDAYS)[weekday]}: {first.cleaned_data['opens']:%H:%M}-"
                        f"{first.cleaned_data['closes']:%H:%M} and "
                        f"{form.cleaned_data['opens']:%H:%M}-"
                        f"{form.cleaned_data['closes']:%H:%M} overlap. Make them one row, or "
                        "let one end before the other starts.")


class OpeningHoursInline(admin.TabularInline):
    model = m.OpeningHours
    formset = OpeningHoursFormSet
    extra = 1


class HolidayInline(admin.TabularInline):
    model = m.Holiday
    extra = 1


@admin.register(m.BusinessHours)
class BusinessHoursAdmin(RuleHistoryMixin, admin.ModelAdmin):
    list_display = ("name", "timezone", "open_now")
    search_fields = ("name", "timezone")
    list_filter = ("timezone",)
    inlines = (OpeningHoursInline, HolidayInline)

    @admin.display(description="Open now", boolean=True)
    def open_now(self, obj) -> bool:
        from routing.ruleset import calendar_for
        from routing.sla import is_open_now

        return is_open_now(calendar_for(obj.pk), timezone.now())


class SlaPolicyForm(forms.ModelForm):
    # One message for every number out of range (the model field alone says "greater than or
    # equal to 0" below zero).
    warning_percent = forms.IntegerField(
        min_value=1, max_value=99, initial=50,
        error_messages={"min_value": m.WARNING_POINT_MESSAGE,
                        "max_value": m.WARNING_POINT_MESSAGE},
        help_text="Warn when this share of the target has passed (1 to 99 percent).")

    class Meta:
        model = m.SlaPolicy
        fields = ("tier", "calendar", "target", "unit", "warning_percent", "escalation",
                  "is_active")


@admin.register(m.SlaPolicy)
class SlaPolicyAdmin(RuleHistoryMixin, admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = ("tier", "target_text", "calendar", "warning_percent", "escalation",
                    "is_active")
    list_filter = ("is_active", "unit", "escalation", "calendar")
    search_fields = ("tier__name",)
    list_select_related = ("tier", "calendar")

    @admin.display(description="Target", ordering="target")
    def target_text(self, obj) -> str:
        return describe_target(obj.target, obj.unit)


# --- Explanations, history ---------------------------------------------------------------------


class VisibleLeadsOnly:
    """A lead-bearing admin lists and opens only the leads the site's own rules let the user
    see (routing.access.visible_leads): all of them for sales ops and superusers, a manager's
    teams' leads for a manager. Any other id reads as one that does not exist."""

    lead_path = "lead"  # "" for the lead itself

    def get_queryset(self, request):
        rows = super().get_queryset(request)
        if sees_every_lead(request.user):
            return rows
        lookup = f"{self.lead_path}__in" if self.lead_path else "pk__in"
        return rows.filter(**{lookup: visible_leads(request.user).values("pk")})


@admin.register(m.LeadAssessment)
class LeadAssessmentAdmin(VisibleLeadsOnly, admin.ModelAdmin):
    list_display = ("lead", "score", "tier", "outcome", "team", "rule", "owner", "sla",
                    "scored_at")
    list_filter = ("tier", "outcome", "team", ("scored_at", admin.DateFieldListFilter))
    search_fields = ("lead__email", "lead__company", "lead__last_name", "tier")
    list_select_related = ("lead", "lead__owner", "team", "rule")
    show_full_result_count = False
    readonly_fields = ("lead", "explanation", "ruleset_version", "scored_at", "routed_at",
                       "escalated_at")
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Owner")
    def owner(self, obj) -> str:
        return str(obj.lead.owner or "-")

    @admin.display(description="SLA")
    def sla(self, obj) -> str:
        state = sla_state_of(obj.lead)
        return state.label if state else "-"

    @admin.display(description="Why")
    def explanation(self, obj) -> str:
        return render_explanation(obj)


class ChangedByFilter(admin.RelatedOnlyFieldListFilter):
    """"By user" names people as the rest of the admin does ("Olivia Ops", not "ops")."""

    def field_choices(self, field, request, model_admin):
        ids = model_admin.get_queryset(request).values_list(field.name, flat=True).distinct()
        people = field.related_model.objects.filter(pk__in=ids)
        return [(user.pk, person_name(user)) for user in sorted(people, key=person_sort_key)]


class RuleKindFilter(admin.RelatedOnlyFieldListFilter):
    """"By kind of rule": "scoring rule", not "Scoring, routing and SLA | scoring rule"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "kind of rule"

    def field_choices(self, field, request, model_admin):
        from django.contrib.contenttypes.models import ContentType

        return sorted(((pk, _kind_name(ContentType.objects.get_for_id(pk))) for pk, _ in
                       super().field_choices(field, request, model_admin)),
                      key=lambda choice: choice[1].casefold())


def _kind_name(content_type) -> str:
    model = content_type.model_class()
    return str(model._meta.verbose_name) if model is not None else content_type.model


@admin.register(m.RuleChange)
class RuleChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "rule", "kind", "action", "changed_by")
    list_filter = ("action", ("content_type", RuleKindFilter),
                   ("user", ChangedByFilter), ("changed_at", admin.DateFieldListFilter))
    search_fields = ("object_repr",)
    list_select_related = ("content_type", "user")
    readonly_fields = ("changed_at", "changed_by", "kind", "rule", "action", "difference")
    fields = readonly_fields

    @admin.display(description="rule", ordering="object_repr")
    def rule(self, obj) -> str:  # as it was named then (it may be renamed or deleted since)
        return obj.object_repr

    @admin.display(description="kind of rule", ordering="content_type")
    def kind(self, obj) -> str:
        return _kind_name(obj.content_type)

    @admin.display(description="user", ordering="user__first_name")
    def changed_by(self, obj) -> str:
        return person_name(obj.user, nobody="-")
    actions = ("roll_back_selected",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_rollback_permission(self, request) -> bool:
        return all(request.user.has_perm(f"routing.change_{model._meta.model_name}")
                   for model in TRACKED)

    @admin.display(description="What changed")
    def difference(self, obj) -> str:
        old, new = obj.old or {}, obj.new or {}
        model = obj.content_type.model_class()
        rows = sorted(((_change_label(model, key), _short(_readable(model, key, old.get(key))),
                        _short(_readable(model, key, new.get(key))))
                       for key in (set(old) | set(new)) - {"id"} if old.get(key) != new.get(key)),
                      key=lambda row: row[0].casefold())
        return format_html(
            "<table><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows))

    @admin.action(description="Roll back: put the rule back as it was before this change",
                  permissions=["rollback"])
    def roll_back_selected(self, request, queryset) -> None:
        for change in queryset.order_by("-changed_at", "-id"):
            try:
                roll_back(change, user=request.user)
            except RollbackError as exc:
                self.message_user(request, f"“{change}” could not be rolled back: {exc}",
                                  messages.ERROR)
            else:
                self.message_user(request, f"Rolled back: {change}.", messages.SUCCESS)


def _short(value) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) < 300 else text[:300] + "…"


# The history stores rows as JSON (history.snapshot): attribute names, choice values, ids and
# child rows. Its page reads them as the rule forms do: "team: Partners", not "team_id: 5",
# "Team: least-loaded", not "least_loaded", conditions as sentences, not Python lists.
CHILD_LABELS = {"conditions": "conditions", "hours": "opening hours", "holidays": "holidays",
                "memberships": "reps (weight)"}


def _model_field(model, key: str):
    fields = {f.attname: f for f in (*model._meta.concrete_fields, *model._meta.many_to_many)}
    return fields.get(key) if model is not None else None


def _change_label(model, key: str) -> str:
    field = _model_field(model, key)
    return str(field.verbose_name) if field is not None else CHILD_LABELS.get(key, key)


def _named(model, pk) -> str:
    found = model.objects.filter(pk=pk).first()
    if found is None:
        return f"#{pk} (deleted)"
    return person_name(found) if isinstance(found, get_user_model()) else str(found)


def _readable(model, key: str, value) -> object:
    """One stored value as people read it ("-" for none; a long one is cut by _short)."""
    if value is None or model is None:
        return value
    if key == "conditions":
        sync_custom_field_specs()
        return "; ".join(describe_condition(c["field"], c["operator"], c["value"])
                         for c in value) or "none"
    if key == "hours":
        days = dict(m.WEEKDAYS)
        return "; ".join(f"{days.get(h['weekday'], h['weekday'])} {h['opens'][:5]}-"
                         f"{h['closes'][:5]}" for h in value) or "none"
    if key == "holidays":
        return "; ".join(f"{h['day']} {h['name']}" for h in value) or "none"
    if key == "memberships":
        return "; ".join(f"{_named(m.RepProfile, r['rep_id'])} ({r['weight']})"
                         for r in value) or "none"
    if key == "field":
        sync_custom_field_specs()
        return FIELDS[value].label if value in FIELDS else value
    if key == "operator":
        return Operator(value).label if value in Operator.values else value
    field = _model_field(model, key)
    if field is None:
        return value
    if field.many_to_many:
        return ", ".join(_named(field.related_model, pk) for pk in value) or "none"
    if field.is_relation:
        return _named(field.related_model, value)
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


# --- The lead page shows its explanation; owner changes go through reassign_lead --------------


def render_explanation(assessment: m.LeadAssessment | None) -> str:
    if assessment is None:
        return "Not scored yet."
    fired = assessment.fired_rules or []
    rules = format_html_join(
        "", "<tr><td>{}</td><td>{}</td><td>{}</td><td class='lc-right'>{}</td></tr>",
        ((r["group"], r["name"], r["condition"], f"{r['points']:+d}") for r in fired))
    routing = assessment.routing or {}
    candidates = format_html_join(
        "", "<li>{}: {}</li>",
        ((c["name"], c["reason"]) for c in routing.get("candidates", [])))
    manual = routing.get("manual")
    manual_html = format_html(  # at 2026-12-07 11:10 UTC, not 2026-12-07T11:10:22.123456+00:00
        "<p>Reassigned by {} at {}.</p>", manual["by"],
        f"{timezone.localtime(datetime.fromisoformat(manual['at'])):%Y-%m-%d %H:%M %Z}") \
        if manual else ""
    state = sla_state_of(assessment.lead)
    groups: dict[str, int] = {}
    for r in fired:
        groups[r["group"]] = groups.get(r["group"], 0) + r["points"]
    by_group = ", ".join(f"{g} {p:+d}" for g, p in groups.items())
    return format_html(
        "<p><strong>Score {}</strong>, tier <strong>{}</strong>{}</p>"
        "<table><tr><th>group</th><th>rule</th><th>condition</th><th>points</th></tr>{}</table>"
        "<p><strong>Routing:</strong> {}</p><ul>{}</ul>{}"
        "<p><strong>First response:</strong> {}{}</p>",
        assessment.score, assessment.tier or "-", f" ({by_group})" if by_group else "",
        rules or mark_safe("<tr><td colspan=4>No scoring rule fired.</td></tr>"),
        routing.get("summary") or "not routed", candidates, manual_html,
        f"due by {assessment.lead.respond_by:%Y-%m-%d %H:%M %Z}"
        if assessment.lead.respond_by else "no deadline",
        f" ({state.label.lower()})" if state else "",
    )


for model, admin_class in ((Interaction, InteractionAdmin), (InboundEvent, InboundEventAdmin),
                           (LeadIdentity, LeadIdentityAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, type(f"Visible{admin_class.__name__}",
                                    (VisibleLeadsOnly, admin_class), {}))

admin.site.unregister(Lead)


class OwnerFilter(admin.RelatedFieldListFilter):
    """"By owner": every user for sales ops; for a manager, the reps of the teams they lead
    (other teams' people are not theirs to list, as their leads are not)."""

    def field_choices(self, field, request, model_admin):
        if sees_every_lead(request.user):  # named as the list's owner column names them
            people = field.related_model.objects.complex_filter(field.get_limit_choices_to())
        else:
            people = reps_of_teams(led_team_ids(request.user))
        return [(user.pk, person_name(user)) for user in sorted(people, key=person_sort_key)]


@admin.register(Lead)
class RoutedLeadAdmin(VisibleLeadsOnly, PersonLabelsMixin, LeadAdmin):
    lead_path = ""
    list_filter = tuple(("owner", OwnerFilter) if name == "owner" else name
                        for name in LeadAdmin.list_filter)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "explanation")

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.insert(3, ("Why this score, tier and owner", {"fields": ("explanation",)}))
        return fieldsets

    @admin.display(description="Explanation")
    def explanation(self, obj) -> str:
        return render_explanation(m.LeadAssessment.objects.select_related("lead").filter(
            lead=obj).first())

    def save_model(self, request, obj, form, change) -> None:
        new_owner = None
        owner_changed = change and "owner" in form.changed_data
        if owner_changed:
            new_owner = obj.owner
            obj.owner_id = form.initial.get("owner")
        super().save_model(request, obj, form, change)
        if owner_changed:
            reassign_lead(lead=obj, owner=new_owner, acting_user=request.user)
        if not change:  # a lead typed in by staff is scored, routed and clocked like any other
            assess_lead(obj, route_lead=obj.owner_id is None)
        elif any(n in LEAD_FIELDS or n.startswith(custom_fields.FORM_PREFIX)
                 for n in form.changed_data):
            rescore_lead(obj)


# --- Try-it and backtest forms ----------------------------------------------------------------

TRY_FIELDS = ("channel", "source", *FORM_FIELDS, *ATTRIBUTION_FIELDS[:5])


class DraftRulesForm(forms.Form):
    """An edited rule set: one draft scoring rule added, chosen rules switched off."""

    draft_name = forms.CharField(required=False, label="Draft rule name")
    draft_field = forms.ChoiceField(required=False, label="Field")
    draft_operator = forms.ChoiceField(required=False, label="Operator",
                                       choices=[("", "---------"), *Operator.choices])
    draft_value = forms.CharField(required=False, label="Value", help_text=m.VALUE_HELP)
    draft_points = forms.IntegerField(
        required=False, label="Points", min_value=-m.MAX_POINTS, max_value=m.MAX_POINTS,
        error_messages={"min_value": m.POINTS_MESSAGE, "max_value": m.POINTS_MESSAGE})
    route_name = forms.CharField(required=False, label="Draft routing rule name")
    route_field = forms.ChoiceField(required=False, label="Routing: field",
                                    help_text="Optional: without a condition the draft routing "
                                    "rule takes every lead. It is tried before the saved rules.")
    route_operator = forms.ChoiceField(required=False, label="Routing: operator",
                                       choices=[("", "---------"), *Operator.choices])
    route_value = forms.CharField(required=False, label="Routing: value",
                                  help_text=m.VALUE_HELP)
    route_action = forms.ChoiceField(required=False, label="Routing: action",
                                     choices=[("", "--------- (no draft routing rule)"),
                                              *Action.choices])
    route_team = forms.ModelChoiceField(queryset=m.Team.objects.all(), required=False,
                                        label="Routing: team")
    route_rep = PersonChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, rep_profile__isnull=False),
        required=False, label="Routing: rep")
    switch_off_scoring = forms.ModelMultipleChoiceField(
        queryset=m.ScoringRule.objects.filter(is_active=True), required=False,
        label="Switch off these scoring rules", widget=forms.SelectMultiple(attrs={"size": 6}))
    switch_off_routing = forms.ModelMultipleChoiceField(
        queryset=m.RoutingRule.objects.filter(is_active=True), required=False,
        label="Switch off these routing rules", widget=forms.SelectMultiple(attrs={"size": 6}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        sync_custom_field_specs()
        self.fields["draft_field"].choices = [("", "---------"), *field_choices()]
        self.fields["route_field"].choices = [("", "---------"),
                                              *field_choices(routing=True)]

    def clean(self):
        data = super().clean()
        self.draft = self._draft_scoring(data)
        self.draft_route = self._draft_route(data)
        return data

    def _draft_scoring(self, data) -> ScoringRuleSpec | None:
        """The draft scoring rule, its condition checked as a saved rule's is."""
        if not (data.get("draft_field") or data.get("draft_operator")):
            return None
        if data.get("draft_points") is None:
            self.add_error("draft_points", "Give the draft rule its points.")
            return None
        try:
            _, condition = m.checked_condition(
                data.get("draft_field", ""), data.get("draft_operator", ""),
                data.get("draft_value", ""), routing=False)
        except ConditionError as exc:
            self.add_error("draft_value", str(exc))
            return None
        return ScoringRuleSpec(None, data.get("draft_name") or "Draft rule", "draft", condition,
                               data["draft_points"])

    def _draft_route(self, data) -> RoutingRuleSpec | None:
        """The draft routing rule, checked as the routing rule form checks a saved one."""
        action = data.get("route_action")
        if not action:
            if data.get("route_field") or data.get("route_operator"):
                self.add_error("route_action", "Choose what the draft routing rule does.")
            return None
        team, rep = data.get("route_team"), data.get("route_rep")
        try:  # the saved rule's own checks (a rep for "assign to one rep", a team's action)
            m.RoutingRule(action=action, team=team, rep=rep).clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                self.add_error(f"route_{name}" if f"route_{name}" in self.fields else None,
                               messages)
            return None
        conditions = ()
        if data.get("route_field") or data.get("route_operator"):
            try:
                conditions = (m.checked_condition(
                    data.get("route_field", ""), data.get("route_operator", ""),
                    data.get("route_value", ""), routing=True)[1],)
            except ConditionError as exc:
                self.add_error("route_value", str(exc))
                return None
        return RoutingRuleSpec(
            id=None, name=data.get("route_name") or "Draft routing rule", action=action,
            conditions=conditions, rep_id=rep.pk if rep and action == Action.REP else None,
            # A team's action shares among its reps; "one rep" falls back to its queue, as a
            # saved rule's does (ruleset.load_ruleset keeps its team too).
            team_id=team.pk if team and (action in TEAM_ACTIONS or action == Action.REP)
            else None)

    @property
    def has_edits(self) -> bool:
        data = self.cleaned_data
        return bool(self.draft or self.draft_route or data.get("switch_off_scoring")
                    or data.get("switch_off_routing"))

    def edited(self, ruleset: RuleSet) -> RuleSet:
        return ruleset.with_changes(
            scoring=[self.draft] if self.draft else [],
            routing=[self.draft_route] if self.draft_route else [],
            off_scoring=[r.pk for r in self.cleaned_data.get("switch_off_scoring") or []],
            off_routing=[r.pk for r in self.cleaned_data.get("switch_off_routing") or []],
        )


class TryItForm(DraftRulesForm):
    lead_id = forms.IntegerField(required=False, min_value=1, label="Start from lead #",
                                 help_text="Optional: a lead's number; the values typed below "
                                 "replace its own.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in TRY_FIELDS:
            spec = FIELDS.get(name)
            if name == "channel":
                self.fields[name] = forms.ChoiceField(
                    required=False, choices=[("", "(as the lead has it)"), *Channel.choices])
            else:
                self.fields[name] = forms.CharField(required=False,
                                                    label=spec.label if spec else name)
        self.custom_defs = list(custom_fields.definitions(active_only=True).values())
        self.custom_names = custom_fields.add_form_fields(self, self.custom_defs)

    def clean_lead_id(self):
        lead_id = self.cleaned_data.get("lead_id")
        if lead_id and not Lead.objects.filter(pk=lead_id).exists():
            raise forms.ValidationError(f"There is no lead #{lead_id}.")
        return lead_id

    def lead(self) -> Lead:
        """The lead to try, in memory only: never saved."""
        lead_id = self.cleaned_data.get("lead_id")
        lead = Lead.objects.get(pk=lead_id) if lead_id else Lead(created_at=timezone.now())
        for name in TRY_FIELDS:
            value = (self.cleaned_data.get(name) or "").strip()
            if value:
                setattr(lead, name, value)
        # As the intake stores it: a country name is its code, a phone's country fills a gap.
        lead.country = lead_country(lead.country or "", lead.phone or "")
        typed = {d.key: self.cleaned_data.get(custom_fields.FORM_PREFIX + d.key)
                 for d in self.custom_defs}
        lead.custom_fields = {**(lead.custom_fields or {}),
                              **{k: v for k, v in typed.items() if v is not None}}
        return lead


class BacktestForm(DraftRulesForm):
    days = forms.IntegerField(min_value=1, max_value=365, initial=30,
                              label="Leads of the last N days")

    field_order = ("days",)
