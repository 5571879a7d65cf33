"""Remove a user's two-factor devices (a lost phone): they enrol a new one at the next sign-in."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Remove a user's TOTP devices so they enrol a new one at their next sign-in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", help="The user who lost their authenticator app.")

    def handle(self, *args, username: str, **options) -> None:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        apps, _ = TOTPDevice.objects.filter(user=user).delete()
        codes = StaticDevice.objects.filter(user=user).count()
        StaticDevice.objects.filter(user=user).delete()  # the old backup codes go too
        self.stdout.write(f"Removed {apps} authenticator app(s) and {codes} set(s) of backup "
                          f"codes of {username}; they enrol a new app at their next sign-in.")
