"""Access-trail rows written before they kept their user's login get it now, so the trail
still names the user once the account is deleted. Rows whose user was already deleted were
written for a signed-in person too (no code wrote one without): they are marked as such
(LeadAccess.FORGOTTEN) instead of reading "system"."""

from django.conf import settings
from django.db import migrations
from django.db.models import OuterRef, Subquery

FORGOTTEN = "?"  # LeadAccess.FORGOTTEN, as it was when this ran


def keep_the_logins(apps, schema_editor):
    LeadAccess = apps.get_model("capture", "LeadAccess")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    login = getattr(User, "USERNAME_FIELD", "username")
    LeadAccess.objects.filter(user__isnull=False, actor="").update(
        actor=Subquery(User.objects.filter(pk=OuterRef("user_id")).values(login)[:1]))
    LeadAccess.objects.filter(user__isnull=True, actor="").update(actor=FORGOTTEN)


class Migration(migrations.Migration):

    dependencies = [
        ("capture", "0024_leadaccess_actor"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(keep_the_logins, migrations.RunPython.noop, elidable=True),
    ]
