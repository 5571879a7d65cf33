"""The demo chat widget (seed_demo calls `seed_chat()`), embedded by the page at /chat/demo/.
Idempotent: the widget is looked up by name and made only when missing."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from chat.models import ChatWidget


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def seed_chat() -> tuple[ChatWidget, bool]:
    from routing.models import Team

    origins = dict.fromkeys([_origin(settings.SITE_URL), "http://127.0.0.1:8000",
                             "http://localhost:8000"])
    return ChatWidget.objects.get_or_create(
        name=settings.CHAT_DEMO_WIDGET,
        defaults={
            "allowed_origins": "\n".join(origins),
            "greeting": "Hi! I'm from Acme IT. Ask us anything about cloud, security or "
                        "software projects.",
            "team": Team.objects.filter(name="Inbound").first(),
            "prechat_fields": ["first_name", "email"],
            "no_answer_seconds": 120, "first_response_seconds": 120, "source": "demo-chat",
        },
    )
