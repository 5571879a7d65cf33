"""Lead.merged_into: the lead a platform account's lead was merged into (capture/intake.py,
_merge_account_lead), so a privacy export or erasure of the person finds the merged-away lead
too. Leads merged before this migration are linked from their "Merged into lead #N" entry."""

import re

import django.db.models.deletion
from django.db import migrations, models

MERGED = re.compile(r"Merged into lead #(\d+):")


def link_merged_leads(apps, schema_editor):
    Interaction = apps.get_model("capture", "Interaction")
    Lead = apps.get_model("capture", "Lead")
    entries = Interaction.objects.filter(kind="status", summary__startswith="Merged into lead #")
    for lead_id, summary in entries.values_list("lead_id", "summary").iterator():
        if found := MERGED.match(summary):
            target = int(found[1])
            if Lead.objects.filter(pk=target).exists():
                Lead.objects.filter(pk=lead_id).update(merged_into_id=target)


class Migration(migrations.Migration):

    dependencies = [
        ("capture", "0015_lead_callback_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="lead",
            name="merged_into",
            field=models.ForeignKey(
                blank=True, editable=False, null=True,
                help_text="The lead this one was merged into (the same person, found later).",
                on_delete=django.db.models.deletion.SET_NULL, related_name="merged_leads",
                to="capture.lead"),
        ),
        migrations.RunPython(link_merged_leads, migrations.RunPython.noop),
    ]
