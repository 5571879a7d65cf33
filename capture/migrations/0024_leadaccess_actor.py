"""Access-trail rows keep their user's login (LeadAccess.actor): a deleted user is still named."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('capture', '0023_region_field_refuses_unknown_regions'),
    ]

    operations = [
        migrations.AddField(
            model_name='leadaccess',
            name='actor',
            field=models.CharField(blank=True, editable=False, max_length=150),
        ),
    ]
