"""followup's django-q2 schedules (installed on migrate by capture.schedules)."""

from django.conf import settings

from capture import schedules

# A sweep runs up to FOLLOWUP_SWEEP_MAX_SECONDS (followup.tasks.sweep_due_messages), longer
# than Q_CLUSTER's timeout; it stays under the broker's retry, or a second copy would start.
SWEEP_TIMEOUT_S = min(settings.FOLLOWUP_SWEEP_MAX_SECONDS + 30,
                      settings.Q_CLUSTER["retry"] - 10)

SCHEDULES = {
    "followup: dispatch due messages": ("followup.tasks.sweep_due_messages", 1,
                                        SWEEP_TIMEOUT_S),
}


def connect(app_config) -> None:
    schedules.connect(app_config, SCHEDULES)
