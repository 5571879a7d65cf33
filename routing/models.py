"""Scoring rules, tiers, teams and reps, routing rules, business hours and SLA policies as rows.

Every rule checks itself in `clean()` with the same condition language the engines run
(routing.conditions); the engines read these rows into frozen specs (routing.ruleset).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from capture.fields import CHOICE_FIELDS, DEFAULT_CHOICES, answer_list
from capture.identity import country_code, is_country_code
from capture.models import Channel, IntakeForm, Lead
from routing.conditions import (
    FIELDS,
    ORDERS,
    ConditionError,
    compile_condition,
    describe_condition,
    normalise_value,
    register_field,
    split_values,
)
from routing.routing import Action, Outcome
from routing.sla import Escalation, Unit, describe_target

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"),
            (5, "Saturday"), (6, "Sunday")]


def _default_work_days() -> list[int]:
    return [0, 1, 2, 3, 4]


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"“{value}” is not a timezone. Use a name like Europe/Berlin or America/New_York."
        ) from None


def _words(text: str) -> frozenset[str]:
    return frozenset(w.strip().casefold() for w in (text or "").replace("\n", ",").split(",")
                     if w.strip())


# How a condition's value is written; the rule forms and the try-it drafts show it.
VALUE_HELP = ("For “is one of” and “contains”: one value per line, or separated by commas. "
              "For “is between”: the lowest and the highest, both included: 10-50, 10 to 50 or "
              "10, 50 (dates as 2026-01-01 to 2026-06-30); it is saved as 10, 50. "
              "Empty for “is set” and “is empty”.")


class ConditionFields(models.Model):
    """field + operator + value, checked by the condition language itself."""

    field = models.CharField(max_length=64, help_text="The lead field the rule tests.")
    operator = models.CharField(max_length=16)
    value = models.TextField(blank=True, help_text=VALUE_HELP)

    routing_fields = True

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        if not (self.field and self.operator):
            return  # the form says which one is missing; there is no condition to check yet
        try:
            self.value, _ = checked_condition(self.field, self.operator, self.value,
                                              routing=self.routing_fields)
        except ConditionError as exc:
            raise ValidationError({"value": str(exc)}) from None


def checked_condition(field: str, operator: str, value: str, *, routing: bool):
    """A condition as a rule being saved (or a draft on try-it and the backtest) is checked:
    the value as leads store it (country names as codes) and the compiled condition, or
    ConditionError. The answers a built-in choice field has are checked here only: the engine
    keeps running a rule saved before (a tier since renamed is simply never met)."""
    from routing.custom_specs import sync_custom_field_specs

    sync_custom_field_specs()
    sync_form_answers()
    spec = None
    if field == "tier":  # the tiers sales ops defined are its only answers
        spec = replace(FIELDS["tier"], choices=tuple(
            ScoreTier.objects.values_list("name", flat=True)))
    elif field == "channel":
        spec = replace(FIELDS["channel"], choices=tuple(Channel.values))
    elif field in ORDERS:  # company size, budget, urgency: the forms' answers
        spec = replace(FIELDS[field], choices=FIELDS[field].answers)
    value = normalise_value(field, operator, value)
    return value, compile_condition(field, operator, value, routing=routing, spec=spec)


def form_answers() -> dict[str, tuple[str, ...]]:
    """The answers leads can give to each built-in choice field: the built-in list and every
    form's own (one query)."""
    answers = {name: dict.fromkeys(DEFAULT_CHOICES.get(name, ())) for name in CHOICE_FIELDS}
    for row in IntakeForm.objects.values_list(*(f"{name}_choices" for name in CHOICE_FIELDS)):
        for name, text in zip(CHOICE_FIELDS, row, strict=True):
            answers[name].update(dict.fromkeys(answer_list(text)))
    return {name: tuple(found) for name, found in answers.items()}


def sync_form_answers() -> None:
    """Give the built-in choice fields the forms' answers, as custom choice fields have theirs
    (routing.custom_specs), so a list of values keeps “$1,000-$10,000” whole instead of
    cutting it at its commas (conditions.split_answers). The registry is process memory:
    saving a form moves the rule set's version on (ruleset.RULE_MODELS), and the engine
    calls this when it reloads. Not enforced there: only saving a rule checks its answers."""
    for name, answers in form_answers().items():
        if FIELDS[name].answers != answers:
            register_field(replace(FIELDS[name], answers=answers))


class FreeMailDomain(models.Model):
    """A free-mail domain (gmail.com, ...): the `email_is_free_mail` field reads this list."""

    domain = models.CharField(max_length=253, unique=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = "free-mail domain"

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs) -> None:
        self.domain = self.normalised(self.domain)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # Before the uniqueness check, so another spelling of a listed domain is the form's
        # "already exists" error, not an IntegrityError on save.
        self.domain = self.normalised(self.domain)
        if not DOMAIN.fullmatch(self.domain):
            raise ValidationError({"domain": "Enter a domain such as gmail.com."})

    @staticmethod
    def normalised(domain: str) -> str:
        """As `email_domain` reads an address: “ @Gmail.com. ” is gmail.com, and bücher.example
        its IDNA form xn--bcher-kva.example (one row for both spellings)."""
        from capture.identity import email_domain

        plain = (domain or "").strip().lstrip("@").rstrip(".").casefold()
        return email_domain(f"x@{plain}") if plain else ""


# A host name of two labels or more (letters, digits, hyphens), as email_domain gives it.
DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")


MAX_POINTS = 1000  # a lead's score is a sum of these: no rule may outweigh all others forever
POINTS_MESSAGE = f"Give points between -{MAX_POINTS} and {MAX_POINTS}."


class ScoringRule(ConditionFields):
    name = models.CharField(max_length=120)
    group = models.CharField(
        max_length=40, default="fit",
        help_text="Rules add up per group on the lead's explanation, e.g. fit or intent.",
    )
    points = models.IntegerField(
        validators=[MinValueValidator(-MAX_POINTS, POINTS_MESSAGE),
                    MaxValueValidator(MAX_POINTS, POINTS_MESSAGE)],
        help_text=f"Added when the condition holds; may be negative (±{MAX_POINTS} at most).")
    is_active = models.BooleanField("on", default=True)
    position = models.PositiveIntegerField(default=100, help_text="Order on the explanation.")
    updated_at = models.DateTimeField(auto_now=True)

    routing_fields = False

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["is_active", "position"], name="scoring_active_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class ScoreTier(models.Model):
    name = models.CharField(max_length=32, unique=True)
    min_score = models.IntegerField(
        unique=True,
        help_text="Leads scoring at least this much are in this tier (the highest tier reached "
        "wins). The lowest tier also takes every score below it.",
    )
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-min_score"]
        verbose_name = "score tier"

    def __str__(self) -> str:
        return f"{self.name} (≥ {self.min_score})"

    def why_not_deletable(self) -> str:
        """Why this tier cannot be deleted now, or "" when it can.

        Deleting it would drop it from the routing rules limited to it (no tier left means
        any tier: the rule would take every lead), leave the conditions naming it never met,
        and delete its SLA policy with it; none of that comes back with a rollback."""
        users = [f"routing rule “{rule.name}”" + ("" if rule.is_active else " (switched off)")
                 for rule in RoutingRule.objects.filter(tiers=self).order_by("name")]
        name = self.name.casefold()
        users += list(dict.fromkeys(
            f"routing rule “{c.rule.name}” (its condition on the tier)"
            for c in RoutingCondition.objects.filter(field="tier", rule__is_active=True)
            .select_related("rule").order_by("rule__name")
            if name in {v.casefold() for v in split_values(c.value)}))
        if SlaPolicy.objects.filter(tier=self).exists():
            section = SlaPolicy._meta.app_config.verbose_name  # as the admin's index names it
            users.append(f"its SLA policy ({section} → SLA policies → “{self.name}”)")
        users += [user for check in TIER_DELETE_CHECKS for user in check(self)]
        if not users:
            return ""
        return (f"The tier “{self.name}” is in use: change or delete {'; '.join(users)} "
                "first.")

    def delete(self, *args, **kwargs):
        if reason := self.why_not_deletable():
            raise ValidationError(reason)
        return super().delete(*args, **kwargs)


# Apps above routing (followup's sequences limited to tiers) add what of theirs uses a tier:
# each check takes the tier and names its users ("sequence “Hot leads”").
TIER_DELETE_CHECKS: list = []


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="led_teams", verbose_name="team lead",
        help_text="Told when a lead waits in the team's unassigned queue.",
    )
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def why_not_deletable(self) -> str:
        """Why this team cannot be deleted now, or "" when it can: a rule that shares leads
        among its reps, or queues them there, would send them nowhere (a switched-off one as
        soon as it is switched on again; a rollback of the delete would not give it back)."""
        rules = [f"routing rule “{rule.name}”" + ("" if rule.is_active else " (switched off)")
                 for rule in self.routing_rules.order_by("name")]
        if not rules:
            return ""
        return (f"Rules send leads to the team “{self.name}”: change or delete "
                f"{'; '.join(rules)} first.")

    def delete(self, *args, **kwargs):
        if reason := self.why_not_deletable():
            raise ValidationError(reason)
        return super().delete(*args, **kwargs)


class RepProfile(models.Model):
    class Seniority(models.IntegerChoices):
        JUNIOR = 1, "Junior"
        MID = 2, "Mid-level"
        SENIOR = 3, "Senior"
        PRINCIPAL = 4, "Principal"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="rep_profile")
    teams = models.ManyToManyField(Team, through="TeamMembership", related_name="reps",
                                   blank=True)
    regions = models.TextField(
        blank=True, help_text="Countries the rep covers, as leads write them (e.g. DE, FR, GB), "
        "separated by commas. Used by rules that match the region.")
    verticals = models.TextField(
        blank=True, help_text="Industries the rep covers, separated by commas.")
    seniority = models.PositiveSmallIntegerField(choices=Seniority.choices,
                                                 default=Seniority.MID)
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Open leads at most; empty means no limit.")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    work_days = models.JSONField(default=_default_work_days, blank=True,
                                 help_text="Weekdays worked (0 = Monday).")
    work_starts = models.TimeField(default=time(9))
    work_ends = models.TimeField(default=time(17),
                                 help_text="Before the start time means a night shift.")
    is_available = models.BooleanField(
        "available", default=True, help_text="Switch off to stop new leads at once.")

    class Meta:
        ordering = ["user__username"]
        verbose_name = "rep profile"

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()

    def clean(self) -> None:
        days = self.work_days if isinstance(self.work_days, list) else None
        if days is None or any(d not in range(7) for d in days):
            raise ValidationError({"work_days": "Choose weekdays between 0 (Monday) and 6."})
        if self.work_starts == self.work_ends:
            raise ValidationError({"work_ends": "The working day needs a length."})
        # Leads' countries are stored as ISO codes (capture.identity.country_code): so are the
        # regions a rep covers, or a rule matching the region would never match.
        typed = [w.strip() for w in (self.regions or "").replace("\n", ",").split(",")
                 if w.strip()]
        codes = [country_code(word) for word in typed]
        if unknown := [w for w, code in zip(typed, codes, strict=True)
                       if not is_country_code(code)]:
            raise ValidationError({"regions": f"“{unknown[0]}” is not a country: write country "
                                              "codes such as DE, FR, GB (or names: Germany)."})
        self.regions = ", ".join(dict.fromkeys(codes))

    @property
    def region_set(self) -> frozenset[str]:
        return _words(self.regions)

    @property
    def vertical_set(self) -> frozenset[str]:
        return _words(self.verticals)


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    rep = models.ForeignKey(RepProfile, on_delete=models.CASCADE, related_name="memberships")
    weight = models.PositiveSmallIntegerField(
        default=1, help_text="0 takes the rep out of this team's rotation: no leads from it, "
        "whatever the strategy. For weighted routing: a rep with weight 2 gets twice the leads.")

    class Meta:
        ordering = ["team", "rep"]
        constraints = [models.UniqueConstraint(fields=["team", "rep"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.rep} in {self.team}"


class OutOfOffice(models.Model):
    rep = models.ForeignKey(RepProfile, on_delete=models.CASCADE, related_name="absences")
    starts_on = models.DateField()
    ends_on = models.DateField(help_text="The last day away (included).")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_on"]
        verbose_name = "out-of-office period"
        indexes = [models.Index(fields=["rep", "ends_on"], name="ooo_rep_end_idx")]

    def __str__(self) -> str:
        return f"{self.rep} away {self.starts_on} to {self.ends_on}"

    def clean(self) -> None:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": "The last day cannot be before the first day."})


class TeamCursor(models.Model):
    """A team's rotation, row-locked while a lead is assigned: who was last, counts per rep."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="cursor")
    last_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    counts = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Rotation of {self.team_id}"


class RoutingRule(models.Model):
    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=100,
                                           help_text="Rules are tried in this order.")
    is_active = models.BooleanField("on", default=True)
    is_default = models.BooleanField(
        "default rule", default=False,
        help_text="Catches every lead no other rule matched; its conditions are ignored.")
    tiers = models.ManyToManyField(ScoreTier, blank=True,
                                   help_text="Only leads in these tiers (none: any tier).")
    min_score = models.IntegerField(null=True, blank=True)
    max_score = models.IntegerField(null=True, blank=True)
    action = models.CharField(max_length=16, choices=Action.choices)
    rep = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+",
                            # The picker (and its search) offers reps only.
                            limit_choices_to={"rep_profile__isnull": False, "is_active": True},
                            help_text="For “assign to one rep”: people with a rep profile.")
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="routing_rules",
                             help_text="For team strategies; for one rep, the queue used "
                             "when that rep cannot take the lead.")
    respect_hours = models.BooleanField(
        "only reps at work", default=False,
        help_text="Skip reps outside their working hours.")
    match_region = models.BooleanField(
        default=False, help_text="Only reps whose regions include the lead's country.")
    match_vertical = models.BooleanField(
        default=False, help_text="Only reps whose verticals include the lead's industry.")
    min_seniority = models.PositiveSmallIntegerField(
        choices=RepProfile.Seniority.choices, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["is_default", "position", "id"]
        verbose_name = "routing rule"
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True),
                                    name="one_default_routing_rule",
                                    violation_error_message="There is already a default rule."),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.action == Action.REP and not self.rep_id:
            errors["rep"] = "Choose the rep this rule assigns to."
        elif self.action == Action.REP and not RepProfile.objects.filter(
                user_id=self.rep_id, user__is_active=True).exists():
            # Routing only ever assigns to reps: anyone else would leave every lead unrouted.
            errors["rep"] = ("This person has no rep profile (or their account is switched "
                             "off): add one under Rep profiles, or choose a rep.")
        if self.action in (Action.ROUND_ROBIN, Action.LEAST_LOADED, Action.WEIGHTED) \
                and not self.team_id:
            errors["team"] = "Choose the team whose reps share these leads."
        if self.min_score is not None and self.max_score is not None \
                and self.min_score > self.max_score:
            errors["max_score"] = "The highest score cannot be below the lowest."
        if errors:
            raise ValidationError(errors)


class RoutingCondition(ConditionFields):
    rule = models.ForeignKey(RoutingRule, on_delete=models.CASCADE, related_name="conditions")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        # Shown above each saved condition and on the delete page: as the rule form names
        # fields and operators ("Tech stack contains any of Azure"), not as they are stored.
        if self.field not in FIELDS:  # a custom field's spec, registered on first need
            from routing.custom_specs import sync_custom_field_specs

            sync_custom_field_specs()
        return describe_condition(self.field, self.operator, self.value)


class BusinessHours(models.Model):
    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])

    class Meta:
        ordering = ["name"]
        verbose_name = "business hours calendar"
        verbose_name_plural = "business hours calendars"

    def __str__(self) -> str:
        return f"{self.name} ({self.timezone})"


class OpeningHours(models.Model):
    calendar = models.ForeignKey(BusinessHours, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=WEEKDAYS)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.opens is not None and self.closes is not None and self.closes != time(0) \
                and self.closes <= self.opens:
            raise ValidationError({"closes": "Closing time must be after opening time."})


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessHours, on_delete=models.CASCADE,
                                 related_name="holidays")
    day = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["calendar", "day"],
                                               name="uniq_holiday")]

    def __str__(self) -> str:
        return f"{self.day} {self.name}"


WARNING_POINT_MESSAGE = "Choose a warning point between 1 and 99 percent."
# The longest first-response target per unit: a year (a business year of 8-hour days).
MAX_TARGETS = {Unit.MINUTES: 365 * 24 * 60, Unit.BUSINESS_MINUTES: 260 * 8 * 60,
               Unit.BUSINESS_HOURS: 260 * 8, Unit.BUSINESS_DAYS: 260}


class SlaPolicy(models.Model):
    tier = models.OneToOneField(ScoreTier, on_delete=models.CASCADE, related_name="sla_policy")
    calendar = models.ForeignKey(
        BusinessHours, null=True, blank=True, on_delete=models.SET_NULL,
        help_text="Business hours the clock runs in; empty: around the clock.")
    target = models.PositiveIntegerField(help_text="First-response target, in the unit below.")
    unit = models.CharField(max_length=20, choices=Unit.choices,
                            default=Unit.BUSINESS_HOURS)
    warning_percent = models.PositiveSmallIntegerField(
        default=50, help_text="Warn when this share of the target has passed.")
    escalation = models.CharField(max_length=20, choices=Escalation.choices,
                                  default=Escalation.NOTIFY_MANAGER,
                                  help_text="What happens on a breach.")
    is_active = models.BooleanField("on", default=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"{self.tier.name}: {describe_target(self.target, self.unit)}"

    def clean(self) -> None:
        errors = {}
        if self.target is None:  # not given, or refused by its own field: said there once
            pass
        elif self.target <= 0:
            errors["target"] = "The target must be more than zero."
        elif self.unit in MAX_TARGETS and self.target > MAX_TARGETS[self.unit]:
            errors["target"] = (f"Keep the target within a year: at most "
                                f"{describe_target(MAX_TARGETS[self.unit], self.unit)}.")
        if not 1 <= (self.warning_percent or 0) <= 99:
            errors["warning_percent"] = WARNING_POINT_MESSAGE
        if self.unit != Unit.MINUTES and not self.calendar_id:
            errors["calendar"] = "Business units need a business hours calendar."
        elif self.unit != Unit.MINUTES and not OpeningHours.objects.filter(
                calendar_id=self.calendar_id).exists():
            # Its clock would never run: the tier's leads got no deadline, and nobody was told.
            errors["calendar"] = (f"“{self.calendar.name}” has no opening hours, so a business "
                                  "clock never runs on it: add its hours, or count minutes "
                                  "around the clock.")
        if errors:
            raise ValidationError(errors)


class LeadAssessment(models.Model):
    """Why a lead has its score, tier, owner and deadline: the explanation shown to people."""

    lead = models.OneToOneField(Lead, on_delete=models.CASCADE, related_name="assessment")
    score = models.IntegerField(default=0)
    tier = models.CharField(max_length=32, blank=True)
    fired_rules = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    routing = models.JSONField(default=dict, blank=True)
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    # Indexed by assessment_queue_idx (team, outcome), not on its own.
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="assessments", db_index=False)
    sla_started_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    ruleset_version = models.PositiveIntegerField(default=0)
    scored_at = models.DateTimeField(default=timezone.now)
    routed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "lead assessment"
        indexes = [models.Index(fields=["team", "outcome"], name="assessment_queue_idx")]

    def __str__(self) -> str:
        return f"{self.lead}: {self.score} ({self.tier})"


class RuleChange(models.Model):
    """One change to a rule by a person: the history sales ops read and roll back."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        CHANGED = "changed", "Changed"
        DELETED = "deleted", "Deleted"
        ROLLED_BACK = "rolled_back", "Rolled back"

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=16, choices=Action.choices)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        verbose_name = "rule change"

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr}"


class RuleSetVersion(models.Model):
    """One row whose number moves on every rule change: the cache key of the compiled rules."""

    version = models.PositiveBigIntegerField(default=0)
    # Random on every change: a restored backup (or a rolled-back test) that brings an old
    # version number back still never matches a rule set compiled from other rows.
    token = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"rules v{self.version}"
