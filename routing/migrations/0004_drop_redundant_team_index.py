"""LeadAssessment.team loses its own index: assessment_queue_idx (team, outcome) starts with it,
so every lead taken in maintains one index entry fewer. Only the index goes (AlterField would
drop and re-add the foreign key on PostgreSQL, and rebuild the table on SQLite)."""

import django.db.models.deletion
from django.db import migrations, models

NAME = "routing_leadassessment_team_id_e7b35e72"  # as Django named it


def drop(apps, schema_editor):
    schema_editor.execute(f'DROP INDEX IF EXISTS "{NAME}"')


def create(apps, schema_editor):
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "routing_leadassessment" ("team_id")')


class Migration(migrations.Migration):

    dependencies = [("routing", "0003_ruleset_token")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="leadassessment",
                    name="team",
                    field=models.ForeignKey(
                        blank=True, db_index=False, null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="assessments", to="routing.team"),
                ),
            ],
            database_operations=[migrations.RunPython(drop, create, elidable=False)],
        ),
    ]
