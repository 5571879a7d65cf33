"""The built-in free-mail domain list (sales ops edit it in the admin)."""

from django.db import migrations

BUILT_IN = [
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "hotmail.com",
    "hotmail.co.uk", "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com", "me.com",
    "mac.com", "protonmail.com", "proton.me", "gmx.com", "gmx.de", "gmx.net", "web.de",
    "mail.com", "yandex.com", "yandex.ru", "mail.ru", "zoho.com", "qq.com", "163.com",
    "126.com", "fastmail.com", "tutanota.com", "hey.com", "orange.fr", "free.fr", "laposte.net",
    "libero.it", "t-online.de",
]


def add(apps, schema_editor):
    FreeMailDomain = apps.get_model("routing", "FreeMailDomain")
    for domain in BUILT_IN:
        FreeMailDomain.objects.get_or_create(domain=domain, defaults={"note": "built in"})


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
