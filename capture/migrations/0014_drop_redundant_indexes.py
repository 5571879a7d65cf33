"""Indexes that others already serve, dropped: two of Lead's, one of Interaction's.

- owner: replaced by lead_owner_newest_idx (owner, id). The lone one made PostgreSQL read all
  of a rep's leads for a queue search (127 ms) where lead_queue_idx reads the matching ones
  (16 ms), on a million leads; with (owner, id) it still takes lead_queue_idx. The second column
  serves the rep's newest lead (the queue's poll), which without it walked the primary key
  backwards (350 ms for a rep whose leads are all old).
- created_at: lead_created_idx is the same index under its own name.
- Interaction.lead: interaction_timeline_idx (lead, occurred_at) starts with it.

Every lead taken in maintains an index entry fewer per interaction and one fewer on the lead.
Only the indexes change: Django's AlterField would also drop and re-add the foreign keys on
PostgreSQL (a check of every row under lock) and rebuild the tables on SQLite. The new index is
built CONCURRENTLY on PostgreSQL, so a live database keeps taking leads meanwhile.
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


NEWEST = "lead_owner_newest_idx"


def _concurrently(schema_editor) -> str:
    return " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""


def forwards(apps, schema_editor):
    how = _concurrently(schema_editor)
    schema_editor.execute(
        f'CREATE INDEX{how} IF NOT EXISTS "{NEWEST}" ON "capture_lead" ("owner_id", "id")')
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX{how} IF EXISTS "{name}"')


def backwards(apps, schema_editor):
    how = _concurrently(schema_editor)
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX{how} IF NOT EXISTS "{name}" ON "{table}" ("{column}")')
    schema_editor.execute(f'DROP INDEX{how} IF EXISTS "{NEWEST}"')


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

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
                migrations.AddIndex(
                    model_name="lead",
                    index=models.Index(fields=["owner", "id"], name="lead_owner_newest_idx"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
        ),
    ]
