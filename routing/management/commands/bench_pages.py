"""Time the queue, lead and dashboard pages on the data that is there (e.g. after seed_load).

    python manage.py bench_pages [--runs 5] [--json]

Calls the views in-process (RequestFactory) as the busiest rep and the load manager, and
prints the median server time and the number of SQL queries of each page against its target
(docs/queue.md, "Speed"); --json prints them as one JSON object instead (make bench).
"""

from __future__ import annotations

import statistics
import time
from json import dumps

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from capture.models import OPEN_STATUSES, Lead
from routing import dashboard_views, views
from routing.models import Team

TARGET_MS = {"queue": 100, "poll": 100, "lead": 100, "dashboard": 1000}


class Command(BaseCommand):
    help = "Time the rep and manager pages (median of --runs)."

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=5,
                            help="Times each page is timed; the median is printed (default 5).")
        parser.add_argument("--json", action="store_true", help="One JSON object on stdout.")

    def handle(self, *args, runs: int, json: bool = False, **options):
        as_json = json
        busiest = (Lead.objects.filter(status__in=OPEN_STATUSES, owner__isnull=False)
                   .values("owner_id").annotate(n=Count("id")).order_by("-n").first())
        if busiest is None:
            raise CommandError("No owned open leads: run seed_load first.")
        users = get_user_model().objects
        rep = users.get(pk=busiest["owner_id"])
        lead_id = (Lead.objects.filter(owner=rep).order_by("-id")
                   .values_list("id", flat=True).first())
        total = Lead.objects.order_by().count()
        newest = Lead.objects.order_by("-id").values_list("id", flat=True).first()
        report = {"leads": total, "rep": str(rep), "rep_open_leads": busiest["n"], "runs": runs,
                  "pages": []}
        if not as_json:
            self.stdout.write(f"{total} leads; rep {rep} owns {busiest['n']} open ones")
        pages = [
            ("queue (all)", rep, views.queue, "/queue/", {}),
            ("queue (new)", rep, views.queue, "/queue/?tab=new", {}),
            ("queue (team)", rep, views.queue, "/queue/?tab=team", {}),
            ("queue (snoozed)", rep, views.queue, "/queue/?tab=snoozed", {}),
            ("queue page 3, 100 rows", rep, views.queue, "/queue/?size=100&page=3", {}),
            ("queue search", rep, views.queue, "/queue/?q=company", {}),
            ("poll", rep, views.queue_poll, f"/queue/poll/?after={newest}", {}),
            ("lead page", rep, views.lead_detail, f"/leads/{lead_id}/", {"lead_id": lead_id}),
        ]
        # The manager who leads the most teams (seed_load's, with its 50 reps), and a superuser
        # (every team).
        manager = (users.filter(led_teams__isnull=False).annotate(n=Count("led_teams"))
                   .order_by("-n", "pk").first())
        if manager is not None:
            team = Team.objects.filter(lead=manager).first()
            pages += [
                ("dashboard (30 days)", manager, dashboard_views.dashboard, "/dashboard/", {}),
                ("dashboard (one team, 1 year)", manager, dashboard_views.dashboard,
                 f"/dashboard/?team={team.pk}&start=2000-01-01", {}),
            ]
        admin = users.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if admin is not None:
            pages.append(("dashboard (every team, 30 days)", admin, dashboard_views.dashboard,
                          "/dashboard/", {}))
        factory = RequestFactory()
        for name, user, view, url, kwargs in pages:
            timings, queries = [], 0
            for _ in range(runs):
                request = factory.get(url)
                request.user = user
                request.session = {}
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = view(request, **kwargs)
                    timings.append((time.perf_counter() - started) * 1000)
                queries = len(captured.captured_queries)
                if response.status_code != 200:
                    raise CommandError(f"{name}: HTTP {response.status_code}")
            median = statistics.median(timings)
            target = TARGET_MS[name.split()[0]]
            report["pages"].append({"page": name, "median_ms": round(median, 1),
                                    "queries": queries, "target_ms": target})
            if not as_json:
                self.stdout.write(f"{name:32} {median:8.1f} ms  {queries:3d} queries  "
                                  f"(target < {target} ms)")
        if as_json:
            self.stdout.write(dumps(report))
