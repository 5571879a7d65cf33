"""App config for routing: listens to capture's signals and keeps the rule cache honest."""

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Scoring, routing and SLA"

    def ready(self) -> None:
        # routing comes before followup in INSTALLED_APPS, so its lead_received receiver is
        # connected first and a lead is scored and routed before followup acts on it.
        from routing import receivers, schedules

        receivers.connect()
        schedules.connect(self)
