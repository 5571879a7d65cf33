"""ASGI entry point (kept for completeness; production serves WSGI through gunicorn)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
application = get_asgi_application()
