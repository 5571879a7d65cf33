"""Phone numbers typed by hand into the suppression list as people write them, before its admin
stored them in E.164, never stopped a text or call (the checks compare E.164): they are stored
that way now, and emails as their match key (their hash already was). A number listed in both
forms is one entry twice: the typed copy goes. What cannot be read stays as it was."""

from django.db import migrations


def normalise_typed_addresses(apps, schema_editor):
    from capture.identity import InvalidPhone, email_key, normalise_phone
    from capture.privacy import identity_hash

    suppression = apps.get_model("followup", "Suppression")
    rows = suppression.objects.filter(kind__in=["email", "phone"]).exclude(value="")
    for row in rows.iterator():
        try:
            value = email_key(row.value) if row.kind == "email" else normalise_phone(row.value)
        except InvalidPhone:
            continue
        if not value or value == row.value:
            continue
        digest = identity_hash(row.kind, value)
        if suppression.objects.filter(kind=row.kind, value_hash=digest).exclude(pk=row.pk
                                                                                ).exists():
            row.delete()
        else:
            suppression.objects.filter(pk=row.pk).update(value=value, value_hash=digest)


class Migration(migrations.Migration):
    dependencies = [("followup", "0008_suppression_value_as_typed")]

    operations = [migrations.RunPython(normalise_typed_addresses, migrations.RunPython.noop)]
