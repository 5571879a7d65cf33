"""The demo rule set of an IT services company (seed_demo calls `seed_routing()`). Idempotent.

Rows are looked up by name and created only when missing, so a second run — or a run after
sales ops edited the demo rules — changes nothing. A demo rule sales ops deleted or renamed in
the admin (kept under Rule changes) is not put back: `make run` runs seed_demo at every start.
"""

from __future__ import annotations

import importlib
from datetime import date, time

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from routing import models as m
from routing.routing import Action
from routing.ruleset import bump_version
from routing.sla import Escalation, Unit

TIERS = (("hot", 60, "Call now"), ("warm", 30, "Today"), ("cold", 0, "Nurture or qualify"))

EMEA = "GB, IE, DE, FR, NL, BE, LU, ES, PT, IT, CH, AT, SE, NO, DK, FI, PL, CZ, AE, SA, ZA, IL"
AMERICAS = "US, CA, MX, BR, AR, CL, CO, PE"

# name, group, field, operator, value, points
SCORING = (
    ("C-level or VP title", "fit", "job_title", "contains",
     "CTO, CIO, CISO, CEO, COO, Chief, VP, Vice President", 35),
    ("Director or head of IT", "fit", "job_title", "contains",
     "Director, Head of, IT Manager", 15),
    ("200+ employees", "fit", "company_size", "greater_than", "51-200", 30),
    ("Very small company", "fit", "company_size", "equals", "1-10", -10),
    ("Free-mail address", "fit", "email_is_free_mail", "equals", "yes", -20),
    ("Students and job seekers", "fit", "job_title", "contains",
     "student, intern, job seeker", -40),
    ("Cloud or security project", "intent", "service", "one_of",
     "Cloud migration, Cybersecurity assessment", 20),
    ("Chose a service", "intent", "service", "is_set", "", 10),
    ("Budget over $50k", "intent", "budget", "greater_than", "$10k-$50k", 15),
    ("Needs it this month", "intent", "urgency", "greater_than", "This quarter", 10),
    ("Paid search or LinkedIn", "intent", "utm_source", "one_of", "google, linkedin", 5),
)

US_HOLIDAYS = ((date(2026, 11, 26), "Thanksgiving"), (date(2026, 12, 25), "Christmas Day"),
               (date(2027, 1, 1), "New Year's Day"), (date(2027, 5, 31), "Memorial Day"),
               (date(2027, 7, 5), "Independence Day (observed)"))

# username -> (timezone, seniority, regions, teams)
REPS = {
    "alice": ("Europe/London", m.RepProfile.Seniority.SENIOR, EMEA,
              ("Enterprise", "EMEA", "Inbound")),
    "bob": ("America/New_York", m.RepProfile.Seniority.MID, AMERICAS,
            ("Enterprise", "Americas", "Inbound")),
}
TEAMS = {
    "Enterprise": "Senior reps for 200+ employee companies",
    "EMEA": "Europe, Middle East and Africa",
    "Americas": "North and South America",
    "Inbound": "Everyone else, round-robin",
}

# name, position, action, team, tiers, conditions, options
ROUTING = (
    ("Cold free-mail leads to nurture", 10, Action.NURTURE, None, ("cold",),
     (("email_is_free_mail", "equals", "yes"),), {}),
    ("Enterprise: 200+ employees", 20, Action.LEAST_LOADED, "Enterprise", ("hot", "warm"),
     (("company_size", "greater_than", "51-200"),), {}),
    ("EMEA by country", 30, Action.ROUND_ROBIN, "EMEA", (),
     (("country", "one_of", EMEA),), {"respect_hours": True}),
    ("Americas by country", 40, Action.ROUND_ROBIN, "Americas", (),
     (("country", "one_of", AMERICAS),), {"respect_hours": True}),
    ("Everyone else", 1000, Action.ROUND_ROBIN, "Inbound", (), (), {"is_default": True}),
)


def retired_rule_names(model: type[m.ScoringRule] | type[m.RoutingRule]) -> set[str]:
    """The names rules of `model` had in the admin's history (Rule changes): one no rule has
    now was deleted or renamed by sales ops, and is not seeded again beside it."""
    changes = m.RuleChange.objects.filter(content_type=ContentType.objects.get_for_model(model))
    return {(state or {}).get("name") for change in changes.only("old", "new")
            for state in (change.old, change.new)}


@transaction.atomic
def seed_routing(manager_username: str = "manager") -> dict[str, int]:
    """Install the demo rules, teams, reps, hours and SLA policies that are missing; say how many
    scoring and routing rules were made."""
    made = {"scoring_rules": 0, "routing_rules": 0}
    tiers = {}
    for name, min_score, description in TIERS:
        tiers[name], _ = m.ScoreTier.objects.get_or_create(
            name=name, defaults={"min_score": min_score, "description": description})
    _free_mail()

    office, created = m.BusinessHours.objects.get_or_create(
        name="Head office", defaults={"timezone": "America/New_York"})
    if created:
        for weekday in range(5):
            m.OpeningHours.objects.create(calendar=office, weekday=weekday, opens=time(9),
                                          closes=time(17))
    for day, name in US_HOLIDAYS:
        m.Holiday.objects.get_or_create(calendar=office, day=day, defaults={"name": name})

    for tier, target, unit, escalation in (
            ("hot", 15, Unit.BUSINESS_MINUTES, Escalation.BOTH),
            ("warm", 4, Unit.BUSINESS_HOURS, Escalation.NOTIFY_MANAGER),
            ("cold", 1, Unit.BUSINESS_DAYS, Escalation.NOTIFY_MANAGER)):
        m.SlaPolicy.objects.get_or_create(tier=tiers[tier], defaults={
            "calendar": office, "target": target, "unit": unit, "warning_percent": 50,
            "escalation": escalation})

    retired = retired_rule_names(m.ScoringRule)
    for position, (name, group, field, operator, value, points) in enumerate(SCORING, 1):
        if name in retired:
            continue
        _, created = m.ScoringRule.objects.get_or_create(name=name, defaults={
            "group": group, "field": field, "operator": operator, "value": value,
            "points": points, "position": position * 10})
        made["scoring_rules"] += created

    users = get_user_model().objects
    manager = users.filter(username=manager_username).first()
    teams = {}
    for name, description in TEAMS.items():
        teams[name], _ = m.Team.objects.get_or_create(
            name=name, defaults={"description": description, "lead": manager})
    for username, (tz, seniority, regions, team_names) in REPS.items():
        user = users.filter(username=username).first()
        if user is None:
            continue
        rep, _ = m.RepProfile.objects.get_or_create(user=user, defaults={
            "timezone": tz, "seniority": seniority, "regions": regions, "capacity": 25})
        for team_name in team_names:
            m.TeamMembership.objects.get_or_create(team=teams[team_name], rep=rep)

    retired = retired_rule_names(m.RoutingRule)
    for name, position, action, team, tier_names, conditions, options in ROUTING:
        if options.get("is_default") and m.RoutingRule.objects.filter(is_default=True).exists():
            continue
        if name in retired:
            continue
        rule, created = m.RoutingRule.objects.get_or_create(name=name, defaults={
            "position": position, "action": action, "team": teams.get(team), **options})
        if created:
            rule.tiers.set([tiers[t] for t in tier_names])
            for field, operator, value in conditions:
                m.RoutingCondition.objects.create(rule=rule, field=field, operator=operator,
                                                  value=value)
            made["routing_rules"] += 1
    bump_version()  # bulk-created rows send no signal
    return made


def _free_mail() -> None:
    built_in = importlib.import_module("routing.migrations.0002_free_mail_domains").BUILT_IN
    existing = set(m.FreeMailDomain.objects.values_list("domain", flat=True))
    m.FreeMailDomain.objects.bulk_create(
        [m.FreeMailDomain(domain=d, note="built in") for d in built_in if d not in existing])
