"""`manage.py custom_field_indexes`: create or drop the PostgreSQL expression indexes of the
number and date custom fields now (normally a task does it when a field is saved)."""

from django.core.management.base import BaseCommand

from capture.custom_field_indexes import ensure_indexes


class Command(BaseCommand):
    help = "Create the missing custom field indexes and drop stale ones (PostgreSQL)."

    def handle(self, *args, **options) -> None:
        done = ensure_indexes()
        self.stdout.write(f"created: {', '.join(done['created']) or 'none'}; "
                          f"dropped: {', '.join(done['dropped']) or 'none'}")
