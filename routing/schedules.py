"""routing's django-q2 schedules (installed on migrate by capture.schedules)."""

from capture import schedules

SCHEDULES = {
    "routing: escalate SLA breaches": ("routing.tasks.escalate_due_breaches", 1),
}


def connect(app_config) -> None:
    schedules.connect(app_config, SCHEDULES)
