"""`manage.py seed_demo`: the demo data set and one login per role. Idempotent.

It lives in followup, the top of the dependency chain (followup -> routing -> capture), so it
can seed every app.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

from django.contrib.auth.models import Group, Permission
from django.contrib.auth.models import User as UserModel
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from faker import Faker

from capture.identity import email_key
from capture.intake import IntakeInput, receive_lead
from capture.models import Channel, IntakeForm, Lead
from followup.demo import seed_followup
from followup.demo_history import backdate_arrival, seed_worked_history
from followup.social_demo import seed_social_leads
from routing.demo import seed_routing
from routing.demo_custom_fields import TECH_STACK, seed_custom_fields

DEMO_FORM = {
    "slug": "quote",
    "title": "Request a quote",
    "intro": "Tell us about your project. A solution architect answers every request.",
    "fields": ["first_name", "last_name", "email", "phone", "company", "job_title",
               "company_size", "budget", "urgency", "service", "message"],
    "required_fields": ["first_name", "email", "company"],
    "service_choices": "\n".join([
        "Cloud migration", "Managed IT support", "Custom software development",
        "Cybersecurity assessment", "Data and analytics", "Staff augmentation",
    ]),
    "consent_text": "I agree that Acme IT may contact me about my request and store my details "
    "for that purpose.",
    "consent_required": True,
    # The page promises the slowest tier's target; each acknowledgement promises its own tier's
    # (hot: 15 business minutes), followup.services.response_promise.
    "response_promise": "within one business day",
    "default_region": "US",
}

# username -> (first name, last name, group, is_staff, is_superuser)
DEMO_USERS = {
    "admin": ("Ada", "Admin", None, True, True),
    "ops": ("Olivia", "Ops", "Sales ops", True, False),
    "manager": ("Max", "Manager", "Managers", True, False),
    "alice": ("Alice", "Anders", "Reps", False, False),
    "bob": ("Bob", "Brown", "Reps", False, False),
}

GROUP_PERMISSIONS = {
    # Sales ops edit forms, blocklists and (later) rules; they read events and the outbox.
    "Sales ops": {
        "capture": ["add", "change", "delete", "view", "export", "erase"],
        "routing": ["add", "change", "delete", "view"],
        "followup": ["add", "change", "delete", "view"],
        "chat": ["add", "change", "delete", "view"],
        # Picking a rep, a team lead or a rep's login goes through the admin's autocomplete,
        # which asks for view permission on users. A plain, read-only grant is cleaner than
        # replacing Django's UserAdmin with one whose has_view_permission guesses from the
        # rule permissions: it shows in the group's page, and gives no user editing.
        "auth.user": ["view"],
    },
    # The admin is for sales ops. Managers work on the lead page and the dashboard (reassign
    # there, to their teams' reps); the admin only lets them look their teams' leads up, read
    # only (routing.admin.VisibleLeadsOnly limits the list to the leads they may open).
    "Managers": {"capture.lead": ["view"]},
    "Reps": {},
}

SAMPLE_SIZE = 12


def _permissions_of(scope: str):
    """The permissions of an app ("routing") or of one model ("auth.user")."""
    app, _, model = scope.partition(".")
    perms = Permission.objects.filter(content_type__app_label=app)
    return perms.filter(content_type__model=model) if model else perms


class Command(BaseCommand):
    help = "Create the demo form, groups, logins and sample leads (safe to run again)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        form, created = IntakeForm.objects.get_or_create(slug="quote", defaults=DEMO_FORM)
        self.stdout.write(f"{'Created' if created else 'Kept'} the form /q/{form.slug}/")
        self._groups()
        password, generated = self._users()
        rules = seed_routing(manager_username="manager")  # before the leads: they get routed
        self.stdout.write(f"Scoring rules: {rules['scoring_rules']} created, routing rules: "
                          f"{rules['routing_rules']} created")
        custom = seed_custom_fields(form)
        self.stdout.write(f"Custom fields: {custom['fields']} created "
                          f"(scoring rules on them: {custom['rules']} created)")
        sequences = seed_followup()  # before the leads too: they get their enrolment timers
        self.stdout.write(f"Follow-up sequences: {sequences['sequences']} created")
        from chat.demo import seed_chat

        widget, made_widget = seed_chat()
        self.stdout.write(f"{'Created' if made_widget else 'Kept'} the chat widget "
                          f"“{widget.name}”; its demo page is /chat/demo/")
        made = self._sample_leads(form)
        made += seed_social_leads()  # a Telegram and an Instagram prospect
        history = seed_worked_history(form)  # eight weeks of answered leads for the dashboard
        self.stdout.write(f"Sample leads: {made} new and {history} worked ones created, "
                          f"{Lead.objects.count()} leads in the database.")
        self._print_logins(password, generated)

    def _groups(self) -> None:
        for name, apps in GROUP_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=name)
            wanted = [
                perm
                for scope, actions in apps.items()
                for perm in _permissions_of(scope)
                if perm.codename.split("_", 1)[0] in actions
            ]
            group.permissions.set(wanted)  # a rerun brings an existing group up to date

    def _users(self) -> tuple[str | None, bool]:
        password = os.environ.get("DEMO_PASSWORD", "")
        missing = [u for u in DEMO_USERS if not UserModel.objects.filter(username=u).exists()]
        generated = False
        if not password and missing:
            password, generated = secrets.token_urlsafe(9), True
        for username, (first, last, group, is_staff, is_superuser) in DEMO_USERS.items():
            user, created = UserModel.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last,
                          "email": f"{username}@example.com", "is_staff": is_staff,
                          "is_superuser": is_superuser},
            )
            # Only a password that changes is set: the same one set anew gets a new salt, and
            # with it a new session hash, which signed every demo user out at each `make run`.
            if password and (created or not generated) and not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            if group:
                user.groups.add(Group.objects.get(name=group))
        return (password or None), generated

    def _sample_leads(self, form: IntakeForm) -> int:
        fake = Faker("en_US")
        fake.seed_instance(2026)  # the same people on every run: reruns create nothing
        channels = [Channel.WEB_FORM, Channel.EMAIL, Channel.CALL, Channel.API, Channel.SMS]
        # Sales ops may have emptied a form's answers: the samples then leave those blank.
        services = form.choices_for("service") or [""]
        sizes = form.choices_for("company_size") or [""]
        made = 0
        now = timezone.now()
        for i in range(SAMPLE_SIZE):
            # Draw every value before deciding to skip, so each run draws the same sequence.
            first, last = fake.first_name(), fake.last_name()
            email = f"{first}.{last}@{fake.domain_name()}".lower()
            fields = {
                "first_name": first, "last_name": last, "email": email,
                "company": fake.company(), "job_title": fake.job()[:150],
                "company_size": sizes[i % len(sizes)], "service": services[i % len(services)],
                "country": fake.country_code(), "message": fake.sentence(nb_words=14),
                "utm_source": ["google", "linkedin", "newsletter", ""][i % 4],
            }
            custom = {"tech_stack": [TECH_STACK[i % 6], TECH_STACK[(i * 5 + 1) % 6]],
                      "seats": [5, 40, 120, 600][i % 4]}
            if Lead.objects.filter(email_key=email_key(email)).exists():
                continue
            channel = channels[i % len(channels)]
            data = IntakeInput(
                channel=channel,
                fields=fields,
                summary=f"Demo lead via {Channel(channel).label}",
                body="Created by seed_demo.",
                # The last three hours: some answered late already (breached), some due.
                occurred_at=now - timedelta(minutes=i * 13),
                form_id=form.id if channel == Channel.WEB_FORM else None,
                source="demo",
                notify_prospect=False,
                custom=custom,
            )
            result = receive_lead(data)
            backdate_arrival(result.lead, data.occurred_at)  # and its deadline with it
            made += 1
        return made

    def _print_logins(self, password: str | None, generated: bool) -> None:
        self.stdout.write(self.style.SUCCESS("\nDemo logins (admin at /admin/):"))
        for username, (_, _, group, _, is_superuser) in DEMO_USERS.items():
            role = "superuser" if is_superuser else group
            self.stdout.write(f"  {username:<8} {role}")
        self.stdout.write("  admin and ops sign in with two-factor: the first sign-in shows a QR "
                          "code for an authenticator app (docs/privacy.md)")
        if generated:
            self.stdout.write(self.style.WARNING(
                f"  password: {password}   (generated now and shown once; "
                "set DEMO_PASSWORD to choose it)"))
        elif password:
            self.stdout.write("  password: the value of DEMO_PASSWORD")
        else:
            self.stdout.write("  password: as printed when the demo was first seeded "
                              "(run with DEMO_PASSWORD=... to reset it)")
