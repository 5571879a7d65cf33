"""capture's django-q2 tasks: they take ids and are safe to run twice."""

from capture import intake


def process_inbound_event(event_id: int) -> bool:
    return intake.process_inbound_event(event_id) is not None


def retry_failed_events() -> int:
    return intake.retry_failed_events()
