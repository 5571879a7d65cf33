"""lead_callback_idx: a rep's open leads with a call back owed, for the Due today tab's count
(routing/queue.py, due_halves). Partial, so it holds only those few rows."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("capture", "0014_drop_redundant_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                condition=models.Q(("needs_callback", True),
                                   ("status__in", ("new", "contacted", "qualified", "nurture"))),
                fields=["owner"], name="lead_callback_idx"),
        ),
    ]
