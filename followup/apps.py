"""App config for followup: listens to capture's signals and keeps its schedules installed."""

from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up"

    def ready(self) -> None:
        from followup import receivers, schedules  # noqa: F401  (connects the receivers)

        schedules.connect(self)
