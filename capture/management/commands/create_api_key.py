"""`manage.py create_api_key NAME`: a Bearer key for one source; printed once, stored hashed."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError
from django.utils.text import slugify

from capture.channels.api import MAPPING_PRESETS
from capture.identity import region_problem
from capture.models import ApiKey


class Command(BaseCommand):
    help = "Make an API key for POST /api/v1/leads/. The key is printed once; keep it safe."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="Who uses the key, e.g. 'Partner Acme' or 'website'.")
        parser.add_argument("--source", default="", help="Source recorded on its leads "
                            "(default: the name as a slug).")
        parser.add_argument("--mapping", choices=sorted(MAPPING_PRESETS),
                            help="Accept another system's field names (e.g. salesforce).")
        parser.add_argument("--accept-form-posts", action="store_true",
                            help="Also accept HTML form posts at /api/v1/forms/<source>/.")
        parser.add_argument("--region", default="", help="Region for phone numbers without "
                            "+country code, e.g. GB.")

    def handle(self, *args, name: str, source: str, mapping: str | None,
               accept_form_posts: bool, region: str, **options) -> None:
        source = slugify(source or name)[:100]
        if not source:
            raise CommandError("Give a name with letters or digits.")
        if problem := region_problem(region):
            raise CommandError(problem)
        if ApiKey.objects.filter(name=name).exists() or ApiKey.objects.filter(
            source=source
        ).exists():
            raise CommandError(f"An API key named {name!r} or for source {source!r} exists.")
        try:
            api_key, key = ApiKey.issue(
                name, source, field_mapping=dict(MAPPING_PRESETS.get(mapping or "", {})),
                accepts_form_posts=accept_form_posts, default_region=region.strip().upper(),
            )
        except IntegrityError as exc:
            raise CommandError(f"Could not make the key: {exc}") from None
        self.stdout.write(f"API key for {api_key.name} (source {api_key.source!r}):\n")
        self.stdout.write(key + "\n")
        self.stdout.write(self.style.WARNING(
            "This is the only time the key is shown; it is stored hashed.\n"
            "Use it as: Authorization: Bearer <key>\n"))
        if accept_form_posts:
            self.stdout.write(f"Form posts: /api/v1/forms/{api_key.source}/\n")
