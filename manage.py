#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Read the settings now (they read the environment: a bad value stops here with its
    # message, not a traceback), unless --settings names others for Django to load.
    if not any(arg.startswith("--settings") for arg in sys.argv[1:]):
        try:
            _ = settings.INSTALLED_APPS
        except ImproperlyConfigured as error:
            sys.exit(f"leadcrm cannot start: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
