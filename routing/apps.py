"""App config for routing: listens to capture's signals and keeps the rule cache honest."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Scoring, routing and SLA"

    def ready(self) -> None:
        # routing comes before followup in INSTALLED_APPS, so its lead_received receiver is
        # connected first and a lead is scored and routed before followup acts on it.
        from routing import receivers, schedules

        receivers.connect()
        schedules.connect(self)
        post_migrate.connect(_week_statistics, sender=self)


def _week_statistics(sender, using="default", **kwargs) -> None:
    from routing.dashboard import ensure_week_statistics

    ensure_week_statistics(using)
