"""Two indexes for the 1,000,000-lead targets (docs/queue.md, "Speed").

- lead_unassigned_due_idx: the unassigned open leads by deadline, for the queue's team tab.
  PostgreSQL took `owner IS NULL` on the per-owner partial indexes for 1,500 rows out of
  20,000 and sorted them all; this index holds only those rows, so the tab walks it in order and
  stops after the page.
- lead_owner_created_idx, on PostgreSQL, is rebuilt with the dashboard's columns INCLUDEd (like
  lead_dashboard_cover_idx, migration 0004, for the date range): a team's or a rep's leads over
  a year (200,000 rows) are then read from the index alone instead of from 40,000 table pages.
  Same name and key columns, so every query that used it still does, and there is still one
  index to maintain. SQLite has no INCLUDE: there the index stays as declared.

Built CONCURRENTLY on PostgreSQL, so a live database keeps taking leads meanwhile.
"""

from django.db import migrations, models

NAME = "lead_owner_created_idx"
INCLUDED = ("id", "source", "channel", "tier", "status", "first_response_at", "respond_by",
            "utm_campaign")


def _rebuild(schema_editor, include: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    building = f"{NAME}_new"
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {building}")
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY {building} ON capture_lead (owner_id, created_at) {include}")
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    schema_editor.execute(f"ALTER INDEX {building} RENAME TO {NAME}")


def cover(apps, schema_editor):
    _rebuild(schema_editor, f"INCLUDE ({', '.join(INCLUDED)})")


def uncover(apps, schema_editor):
    _rebuild(schema_editor, "")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("capture", "0009_channel_choices")]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("owner__isnull", True),
                                   ("status__in", ("new", "contacted", "qualified", "nurture"))),
                fields=["respond_by", "created_at", "id"], name="lead_unassigned_due_idx"),
        ),
        migrations.RunPython(cover, uncover, elidable=False),
    ]
