"""Scoring rules saved before points were bounded (0007) keep any number: bring them within
±1000, as the form now asks, and move the rule set's version on so running processes
recompile."""

import uuid

from django.db import migrations
from django.db.models import F

MAX_POINTS = 1000


def clamp_points(apps, schema_editor):
    ScoringRule = apps.get_model("routing", "ScoringRule")
    changed = ScoringRule.objects.filter(points__gt=MAX_POINTS).update(points=MAX_POINTS)
    changed += ScoringRule.objects.filter(points__lt=-MAX_POINTS).update(points=-MAX_POINTS)
    if changed:
        apps.get_model("routing", "RuleSetVersion").objects.filter(pk=1).update(
            version=F("version") + 1, token=uuid.uuid4().hex)


class Migration(migrations.Migration):

    dependencies = [
        ("routing", "0007_bounded_points"),
    ]

    operations = [
        migrations.RunPython(clamp_points, migrations.RunPython.noop),
    ]
