"""followup's django-q2 schedules (installed on migrate by capture.schedules)."""

from capture import schedules

SCHEDULES = {
    "followup: dispatch due messages": ("followup.tasks.sweep_due_messages", 1),
}


def connect(app_config) -> None:
    schedules.connect(app_config, SCHEDULES)
