"""`manage.py bench_rules`: score and route leads against 500 scoring and 100 routing rules.

Prints one JSON line: queries per lead, the pure engines' time (score + route) and the whole
service's time (with its locks and writes), median and p99 in milliseconds. Everything it
writes is rolled back, so it is safe on any database; `make bench` can call it.
"""

from __future__ import annotations

import json
import statistics
import time

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from capture.models import Lead
from routing import models as m
from routing.routing import route
from routing.ruleset import bump_version, current_ruleset, rep_states
from routing.services import assess_lead, score_lead
from routing.signals import lead_assigned, lead_queued

CONDITIONS = [("job_title", "contains", "CTO, VP, Chief"),
              ("company_size", "greater_than", "51-200"), ("country", "one_of", "DE, FR, US"),
              ("email_is_free_mail", "equals", "yes"), ("utm_campaign", "matches", r"^brand-\d+"),
              ("phone", "is_set", "")]


class Rollback(Exception):
    pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Measure scoring and routing with many rules (writes nothing: rolled back)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scoring", type=int, default=500,
                            help="Scoring rules to make (default 500).")
        parser.add_argument("--routing", type=int, default=100,
                            help="Routing rules to make (default 100).")
        parser.add_argument("--leads", type=int, default=200,
                            help="Leads to score and route (default 200).")

    def handle(self, *args, scoring: int, routing: int, leads: int, **options) -> None:
        result: dict = {}
        try:
            with transaction.atomic():
                result = self._measure(scoring, routing, leads)
                raise Rollback
        except Rollback:
            pass
        self.stdout.write(json.dumps(result))

    def _measure(self, scoring: int, routing: int, leads: int) -> dict:
        from django.contrib.auth import get_user_model

        # Our own queries only: listeners (followup's alerts) are measured by their own bench.
        receivers = {s: s.receivers for s in (lead_assigned, lead_queued)}
        for signal in receivers:
            signal.receivers = []
        try:
            team = m.Team.objects.create(name="bench-rules team")
            m.TeamCursor.objects.create(team=team)  # steady state: made on a team's first lead
            for i in range(5):
                user = get_user_model().objects.create(username=f"bench-rules-{i}")
                rep = m.RepProfile.objects.create(user=user)
                m.TeamMembership.objects.create(team=team, rep=rep)
            m.ScoringRule.objects.bulk_create(
                m.ScoringRule(name=f"bench {i}", field=CONDITIONS[i % 6][0],
                              operator=CONDITIONS[i % 6][1], value=CONDITIONS[i % 6][2],
                              points=(i % 7) - 3, position=10_000 + i)
                for i in range(scoring))
            rules = m.RoutingRule.objects.bulk_create(
                m.RoutingRule(name=f"bench {i}", position=10_000 + i, action="round_robin",
                              team=team) for i in range(routing))
            m.RoutingCondition.objects.bulk_create(
                m.RoutingCondition(rule=r, field="utm_source", operator="equals",
                                   value=f"bench-{i}") for i, r in enumerate(rules))
            bump_version()
            sample = [Lead.objects.create(email=f"bench-rules-{i}@acme.example",
                                          job_title="CTO", company_size="5000+",
                                          country="DE", utm_source=f"bench-{routing - 1}")
                      for i in range(leads)]
            ruleset = current_ruleset()
            reps = rep_states(ruleset.teams[team.pk].member_ids, timezone.now().date())
            pure = []
            for lead in sample:
                started = time.perf_counter()
                facts, _ = score_lead(lead, ruleset)
                route(facts, ruleset.routing, ruleset.teams, reps, {}, lead.created_at)
                pure.append((time.perf_counter() - started) * 1000)
            whole, queries = [], set()
            for lead in sample:
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    assess_lead(lead)
                    whole.append((time.perf_counter() - started) * 1000)
                queries.add(len(captured))
        finally:
            for signal, saved in receivers.items():
                signal.receivers = saved
        return {
            "scoring_rules": scoring, "routing_rules": routing, "leads": leads,
            "queries_per_lead": sorted(queries),
            "engines_ms": {"p50": round(statistics.median(pure), 3),
                           "p99": round(percentile(pure, 0.99), 3)},
            "service_ms": {"p50": round(statistics.median(whole), 3),
                           "p99": round(percentile(whole, 0.99), 3)},
            "database": connection.vendor,
        }
