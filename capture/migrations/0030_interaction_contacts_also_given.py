"""The email or phone a submission gave besides its lead's own, kept in columns (it was only in
the timeline's text, so an erasure missed it and the person could come back through it)."""

import re

from django.conf import settings
from django.db import migrations, models

from capture.identity import email_key

# The lines capture.intake wrote before these columns existed, exactly.
NOTE = re.compile(r"^Also gave the (email|phone) (\S+) \((?:open lead #\d+ has it: the same "
                  r"person\?|this lead keeps its own)\)$", re.MULTILINE)


def keep_contacts_noted(apps, schema_editor):
    interaction = apps.get_model("capture", "Interaction")
    batch = []
    for row in (interaction.objects.filter(direction="inbound", body__contains="Also gave the ")
                .only("id", "body").iterator(chunk_size=500)):
        for name, value in NOTE.findall(row.body):
            value = email_key(value) if name == "email" else value
            setattr(row, f"other_{name}", value[:254 if name == "email" else 32])
        if row.other_email or row.other_phone:
            batch.append(row)
        if len(batch) >= 500:
            interaction.objects.bulk_update(batch, ["other_email", "other_phone"])
            batch = []
    interaction.objects.bulk_update(batch, ["other_email", "other_phone"])


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0029_retention_periods_at_most_a_century'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='interaction',
            name='other_email',
            field=models.CharField(blank=True, help_text="The email (match key) this submission gave besides the lead's own.", max_length=254, verbose_name='email also given'),
        ),
        migrations.AddField(
            model_name='interaction',
            name='other_phone',
            field=models.CharField(blank=True, help_text="The phone (E.164) this submission gave besides the lead's own.", max_length=32, verbose_name='phone also given'),
        ),
        migrations.AddIndex(
            model_name='interaction',
            index=models.Index(condition=models.Q(('other_email', ''), _negated=True), fields=['other_email'], name='interaction_other_email_idx'),
        ),
        migrations.AddIndex(
            model_name='interaction',
            index=models.Index(condition=models.Q(('other_phone', ''), _negated=True), fields=['other_phone'], name='interaction_other_phone_idx'),
        ),
        migrations.RunPython(keep_contacts_noted, migrations.RunPython.noop),
    ]
