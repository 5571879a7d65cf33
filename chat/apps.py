"""App config for the live chat: widgets on customers' sites, conversations on lead pages."""

from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Live chat"

    def ready(self) -> None:
        from capture.channels.base import Channel  # noqa: F401  (capture's channels first)
        from chat import schedules, services  # noqa: F401  (registers the "chat" normaliser)

        schedules.connect(self)
