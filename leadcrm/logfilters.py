"""Log filters named in settings.LOGGING."""

import logging


class WithoutEnqueued(logging.Filter):
    """django-q2 logs "Enqueued [leadcrm] 42" at INFO for every task: a line per lead in the
    server's log under load, 38 inside seed_demo's output. Its other lines (the cluster
    starting and stopping, a task failing) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO
                    and str(record.msg).startswith("Enqueued ["))
