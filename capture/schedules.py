"""django-q2 schedules kept in step with the code: each app lists its own, installed on migrate.

Sales ops never edit Schedule rows (a Schedule's func is code the worker runs); our code
writes them with update_or_create(name=...), so each is installed once.
"""

from functools import partial

from django.conf import settings
from django.db.models.signals import post_migrate

from capture.privacy import retention_task_timeout

# name: (dotted path of the task, every N minutes)
SCHEDULES = {
    "capture: retry failed inbound events": ("capture.tasks.retry_failed_events", 1),
    # Does nothing until IMAP_HOST is set.
    "capture: poll the IMAP mailbox": (
        "capture.channels.email.poll_imap", max(1, settings.IMAP_POLL_MINUTES)
    ),
    "capture: fetch Meta lead ads again": ("capture.channels.meta.retry_leadgen_fetches", 5),
    "capture: fetch LinkedIn form responses again": (
        "capture.channels.linkedin.retry_form_response_fetches", 5),
    # The retention policy (admin: Capture -> Retention policy); a dry-run report when it is off.
    # A run anonymises for up to privacy.RETENTION_RUN_SECONDS (120), longer than Q_CLUSTER's
    # timeout; it stays under the broker's retry, or a second copy would start.
    "capture: apply the retention policy": ("capture.privacy.run_scheduled_retention", 24 * 60,
                                            retention_task_timeout()),
}


def install(schedules: dict[str, tuple], **kwargs) -> None:
    """Each entry: (task, every N minutes) or (task, every N minutes, the task's timeout in
    seconds when it runs longer than Q_CLUSTER's)."""
    from django_q.models import Schedule

    for name, (func, minutes, *timeout) in schedules.items():
        options = repr({"q_options": {"timeout": timeout[0]}}) if timeout else None
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes,
                      "repeats": -1, "kwargs": options},
        )


def connect(app_config, schedules: dict[str, tuple] = SCHEDULES) -> None:
    post_migrate.connect(
        partial(install, schedules), sender=app_config, weak=False,
        dispatch_uid=f"{app_config.name}.schedules.install",
    )
