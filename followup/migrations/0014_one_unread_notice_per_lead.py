"""One unread notice per user, lead and kind for the notices brought up to date while unread
(a prospect who wrote again, a sequence that reached nobody): two messages of one lead taken
in at once had each find none and add one. Duplicates already stored are resolved first: the
newest of each stays unread (it holds the latest text), the older ones are marked read."""

from django.conf import settings
from django.db import migrations, models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

COALESCED_NOTICES = ("prospect_wrote", "followup_failed")


def mark_older_duplicates_read(apps, schema_editor):
    notification = apps.get_model("followup", "Notification")
    unread = notification.objects.filter(read_at__isnull=True, kind__in=COALESCED_NOTICES)
    newer = unread.filter(
        Q(created_at__gt=OuterRef("created_at"))
        | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id")),
        user_id=OuterRef("user_id"), lead_id=OuterRef("lead_id"), kind=OuterRef("kind"))
    unread.filter(Exists(newer)).update(read_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0030_interaction_contacts_also_given'),
        ('followup', '0013_outboundmessage_template_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(mark_older_duplicates_read, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.UniqueConstraint(condition=models.Q(('kind__in', ('prospect_wrote', 'followup_failed')), ('read_at__isnull', True)), fields=('user', 'lead', 'kind'), name='one_unread_notice_per_lead', violation_error_message='This user has an unread notice of this kind for this lead already: it is brought up to date instead of another being added.'),
        ),
    ]
