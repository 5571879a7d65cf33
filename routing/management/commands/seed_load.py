"""Make a load-test data set: N leads (default 1,000,000) over a year for 50 reps in 5 teams.

    python manage.py seed_load [--leads 1000000] [--reps 50] [--batch 5000]

Rows are written with bulk_create in batches behind a progress bar; run it on PostgreSQL
(DATABASE_URL) to measure the queue, lead and dashboard pages (docs/queue.md, "Speed").
Adds to what is there; the reps are load-rep-001 ... and the manager load-manager.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from capture.models import Channel, CustomField, Lead, LeadStatus
from routing.demo_custom_fields import DEMO_FIELDS, TECH_STACK
from routing.models import LeadAssessment, RepProfile, Team, TeamMembership

STATUSES = ([LeadStatus.WON] * 8 + [LeadStatus.LOST] * 30 + [LeadStatus.DISQUALIFIED] * 10
            + [LeadStatus.NURTURE] * 20 + [LeadStatus.QUALIFIED] * 7
            + [LeadStatus.CONTACTED] * 15 + [LeadStatus.NEW] * 10)
SOURCES = ["google-ads", "facebook", "linkedin", "partner", "quote", "referral", "webinar"]
TIERS = ["hot", "warm", "warm", "cold", "cold", "cold"]
CHANNELS = [Channel.WEB_FORM, Channel.WEB_FORM, Channel.EMAIL, Channel.CALL, Channel.API,
            Channel.SMS, Channel.IMPORT]


class Command(BaseCommand):
    help = "Bulk-create leads and reps for load tests (docs/queue.md)."

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=1_000_000,
                            help="Leads to add (default 1,000,000).")
        parser.add_argument("--reps", type=int, default=50,
                            help="Reps to share them, over 5 teams (default 50).")
        parser.add_argument("--batch", type=int, default=5000,
                            help="Rows written per INSERT (default 5000).")
        parser.add_argument("--seed", type=int, default=6,
                            help="Random seed: the same seed makes the same data (default 6).")

    def handle(self, *args, leads: int, reps: int, batch: int, seed: int, **options):
        rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
        users, teams = self._people(reps)
        self._custom_fields()
        start = Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0
        now = timezone.now()
        fill = self._sql_batch if connection.vendor == "postgresql" else self._batch
        if connection.vendor == "postgresql":
            batch = max(batch, 50_000)  # generated in the database: big batches are cheap
        with tqdm(total=leads, unit="lead", disable=options.get("verbosity", 1) == 0) as bar:
            for offset in range(0, leads, batch):
                size = min(batch, leads - offset)
                fill(rnd, start + offset, size, users, teams, now)
                bar.update(size)
        if connection.vendor == "postgresql":
            self._vacuum_analyze(Lead, LeadAssessment)
        self.stdout.write(self.style.SUCCESS(
            f"{leads} leads for {len(users)} reps in {len(teams)} teams."))

    def _vacuum_analyze(self, *models) -> None:
        """What autovacuum would do minutes later, at once: fresh statistics (without them the
        planner takes a team's 200,000 assessments for 1,600 and picks slow plans) and the
        visibility map (without it the dashboard's index-only scans visit every row: 2-3x
        slower). VACUUM cannot run in a transaction; inside one (a test), ANALYZE only."""
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        self.stdout.write(f"{command} of the loaded tables ...")
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f"{command} {model._meta.db_table}")

    def _custom_fields(self) -> None:
        """The demo's custom fields (tech stack, seats): 70% of the leads answer them."""
        for position, (key, label, kind, choices, help_text, *_rest) in enumerate(
                DEMO_FIELDS, 1):
            CustomField.objects.get_or_create(key=key, defaults={
                "label": label, "kind": kind, "choices": "\n".join(choices),
                "help_text": help_text, "position": position * 10})

    @staticmethod
    def _custom_values(rnd) -> dict:
        if rnd.random() >= 0.7:
            return {}
        stack = [c for c in TECH_STACK if rnd.random() < 0.3]
        return {**({"tech_stack": stack} if stack else {}), "seats": rnd.randint(1, 1000)}

    def _people(self, count: int):
        model = get_user_model()
        manager, _ = model.objects.get_or_create(
            username="load-manager", defaults={"first_name": "Load", "last_name": "Manager"})
        teams = [Team.objects.get_or_create(name=f"Load team {i + 1}",
                                            defaults={"lead": manager})[0] for i in range(5)]
        users = []
        for i in range(count):
            user, _ = model.objects.get_or_create(username=f"load-rep-{i + 1:03d}",
                                                  defaults={"first_name": f"Rep {i + 1}"})
            rep, _ = RepProfile.objects.get_or_create(user=user, defaults={"capacity": 400})
            team = teams[i % len(teams)]
            TeamMembership.objects.get_or_create(team=team, rep=rep)
            users.append((user.pk, team.pk))
        return users, teams

    @transaction.atomic
    def _batch(self, rnd, first: int, size: int, users, teams, now) -> None:
        rows, teams_of = [], []
        for n in range(first, first + size):
            created = now - timedelta(minutes=rnd.randint(1, 365 * 24 * 60))
            status = rnd.choice(STATUSES)
            owner_id, team_id = rnd.choice(users)
            if status == LeadStatus.NEW and rnd.random() < 0.2:
                owner_id = None  # waiting in the team's unassigned queue
            answered = status != LeadStatus.NEW and rnd.random() < 0.95
            respond_by = created + timedelta(minutes=rnd.choice([15, 60, 240, 1440]))
            email = f"load{n}@example.com"
            rows.append(Lead(
                first_name=f"First{n}", last_name=f"Last{n % 9973}", email=email,
                email_key=email, company=f"Company {n % 5003}", tier=rnd.choice(TIERS),
                score=rnd.randint(0, 100), channel=rnd.choice(CHANNELS),
                source=rnd.choice(SOURCES), utm_campaign=f"campaign-{n % 12}",
                message=f"Request number {n}\nwith a second line", status=status,
                owner_id=owner_id, created_at=created, last_activity_at=created,
                respond_by=respond_by, custom_fields=self._custom_values(rnd),
                first_response_at=(created + timedelta(minutes=rnd.expovariate(1 / 45)))
                if answered else None,
            ))
            teams_of.append(team_id)
        made = Lead.objects.bulk_create(rows)
        LeadAssessment.objects.bulk_create([
            LeadAssessment(lead_id=lead.pk, score=lead.score, tier=lead.tier, team_id=team_id,
                           outcome="assigned" if lead.owner_id else "queued",
                           fired_rules=[], routing={"summary": "seed_load"})
            for lead, team_id in zip(made, teams_of, strict=True)])

    @transaction.atomic
    def _sql_batch(self, rnd, first: int, size: int, users, teams, now) -> None:
        """The same shape of data, generated by PostgreSQL (generate_series and random())."""
        lead_table, assessment_table = Lead._meta.db_table, LeadAssessment._meta.db_table
        reps = "ARRAY[" + ",".join(str(u) for u, _ in users) + "]::bigint[]"
        rep_teams = "ARRAY[" + ",".join(str(t) for _, t in users) + "]::bigint[]"
        given = {
            "first_name": "'First' || n", "last_name": "'Last' || (n %% 9973)",
            "email": "'load' || n || '@example.com'", "email_key": "'load' || n || '@example.com'",
            "company": "'Company ' || (n %% 5003)", "tier": "(ARRAY['hot','warm','warm','cold',"
            "'cold','cold'])[1 + floor(random() * 6)::int]", "score": "floor(random() * 100)",
            "channel": "(ARRAY['web_form','web_form','email','call','api','sms','import'])"
            "[1 + floor(random() * 7)::int]",
            "source": "(ARRAY[" + ",".join(f"'{s}'" for s in SOURCES) + "])"
            f"[1 + floor(random() * {len(SOURCES)})::int]",
            "utm_campaign": "'campaign-' || (n %% 12)",
            "message": "'Request number ' || n || E'\\nwith a second line'",
            "status": "st", "owner_id": "CASE WHEN st = 'new' AND random() < 0.2 THEN NULL "
            "ELSE (" + reps + ")[r] END", "created_at": "created", "last_activity_at": "created",
            "updated_at": "created",
            "respond_by": "created + (ARRAY[15, 60, 240, 1440])[1 + floor(random() * 4)::int]"
            " * interval '1 minute'",
            "first_response_at": "CASE WHEN st <> 'new' AND random() < 0.95 THEN created + "
            "(-45 * ln(1 - random())) * interval '1 minute' END",
            # 70% answer the custom fields; each stack choice with probability 0.3 (the
            # subquery mentions n so it is drawn per row, not once).
            "custom_fields": "CASE WHEN random() < 0.7 THEN jsonb_strip_nulls("  # noqa: S608
            "jsonb_build_object('tech_stack', (SELECT jsonb_agg(c ORDER BY i) FROM unnest("
            "ARRAY[" + ",".join(f"'{c}'" for c in TECH_STACK) + "]) WITH ORDINALITY AS s(c, i)"
            " WHERE random() < 0.3 AND n IS NOT NULL), 'seats', 1 + floor(random() * 1000)::int"
            ")) ELSE '{}'::jsonb END",
        }
        columns, values = [], []
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {lead_table}")  # noqa: S608
            last_id = cursor.fetchone()[0]
            cursor.execute("SELECT column_name, data_type, is_nullable FROM "
                           "information_schema.columns WHERE table_name = %s", [lead_table])
            for name, data_type, nullable in cursor.fetchall():
                if name == "id":
                    continue
                columns.append(name)
                if name in given:
                    values.append(given[name])
                elif nullable == "YES":
                    values.append("NULL")
                elif data_type == "boolean":
                    values.append("false")
                elif data_type.startswith("json"):
                    values.append("'[]'")
                else:
                    values.append("''")
            statuses = "ARRAY[" + ",".join(f"'{s}'" for s in STATUSES) + "]"
            cursor.execute(
                f"INSERT INTO {lead_table} ({', '.join(columns)}) "  # noqa: S608 - our own SQL
                f"SELECT {', '.join(values)} FROM ("
                f" SELECT n, ({statuses})[1 + floor(random() * {len(STATUSES)})::int] AS st,"
                f" 1 + floor(random() * {len(users)})::int AS r,"
                f" %s - floor(random() * 525600) * interval '1 minute' AS created"
                f" FROM generate_series(%s, %s) AS n) AS g", [now, first, first + size - 1])
            cursor.execute(
                f"INSERT INTO {assessment_table} (lead_id, score, tier, fired_rules, outcome,"  # noqa: S608
                " routing, team_id, ruleset_version, scored_at)"
                " SELECT l.id, l.score, l.tier, '[]', CASE WHEN l.owner_id IS NULL THEN 'queued'"
                " ELSE 'assigned' END, '{}', COALESCE(tm.team_id,"
                f" ({rep_teams})[1 + (l.id %% {len(users)})::int]), 0, now()"
                f" FROM {lead_table} l"
                " LEFT JOIN routing_repprofile rp ON rp.user_id = l.owner_id"
                " LEFT JOIN routing_teammembership tm ON tm.rep_id = rp.id"
                " WHERE l.id > %s", [last_id])
