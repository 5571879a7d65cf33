"""Indexes that others already serve, dropped: two of Lead's, one of Interaction's.

- owner: every query by owner is served by a composite index that starts with it
  (lead_queue_idx and the queue's partial indexes). The lone one made PostgreSQL read all of a
  rep's leads for a queue search (127 ms) where lead_queue_idx reads the matching ones (16 ms),
  on a million leads. (An (owner, id) index instead was worse: planned on an empty table, the
  foreign keys' checks of `id = $1` took it over the primary key and scanned it whole for every
  row, so seeding a million leads slowed from 2 minutes to over half an hour.)
- created_at: lead_created_idx is the same index under its own name.
- Interaction.lead: interaction_timeline_idx (lead, occurred_at) starts with it.

Every lead taken in maintains an index entry fewer per interaction and two fewer on the lead.
Only the indexes go: Django's AlterField would also drop and re-add the foreign keys on
PostgreSQL (a check of every row under lock) and rebuild the tables on SQLite.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

INDEXES = {  # name: (table, column), as Django named them
    "capture_lead_owner_id_2829ed27": ("capture_lead", "owner_id"),
    "capture_lead_created_at_ee29f475": ("capture_lead", "created_at"),
    "capture_interaction_lead_id_8e7ad5f3": ("capture_interaction", "lead_id"),
}


def forwards(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def backwards(apps, schema_editor):
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')


class Migration(migrations.Migration):

    dependencies = [
        ("capture", "0013_queue_order_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="lead",
                    name="created_at",
                    field=models.DateTimeField(default=django.utils.timezone.now),
                ),
                migrations.AlterField(
                    model_name="interaction",
                    name="lead",
                    field=models.ForeignKey(
                        db_index=False, on_delete=django.db.models.deletion.CASCADE,
                        related_name="interactions", to="capture.lead"),
                ),
                migrations.AlterField(
                    model_name="lead",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="owned_leads", to=settings.AUTH_USER_MODEL),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
