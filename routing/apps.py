"""App config for routing: listens to capture's signals and keeps the rule cache honest."""

from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_migrate

from routing.timezones import remember_zone


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Scoring, routing and SLA"

    def ready(self) -> None:
        # routing comes before followup in INSTALLED_APPS, so its lead_received receiver is
        # connected first and a lead is scored and routed before followup acts on it.
        from capture.custom_fields import CHANGE_CHECKS, DELETE_CHECKS
        from routing import receivers, schedules
        from routing.custom_specs import rules_broken_by, rules_using

        receivers.connect()
        if rules_broken_by not in CHANGE_CHECKS:
            CHANGE_CHECKS.append(rules_broken_by)
        if rules_using not in DELETE_CHECKS:
            DELETE_CHECKS.append(rules_using)
        schedules.connect(self)
        post_migrate.connect(_week_statistics, sender=self)
        user_logged_in.connect(remember_zone, dispatch_uid="routing_rep_timezone")


def _week_statistics(sender, using="default", **kwargs) -> None:
    from routing.dashboard import ensure_week_statistics

    ensure_week_statistics(using)
