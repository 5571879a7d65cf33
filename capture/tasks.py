"""capture's django-q2 tasks: they take ids and are safe to run twice."""

from django.core.mail import EmailMultiAlternatives

from capture import intake


def process_inbound_event(event_id: int) -> bool:
    return intake.process_inbound_event(event_id) is not None


def retry_failed_events() -> int:
    return intake.retry_failed_events()


def send_password_reset_email(subject: str, body: str, from_email: str, to_email: str,
                              html: str | None = None) -> None:
    """The "forgot your password" email, sent by the worker (security_views.PasswordResetForm).
    A failure raises, so django-q2 tries again (Q_CLUSTER retry and max_attempts); a repeat
    after a success sends a second copy of the same link, which is harmless."""
    message = EmailMultiAlternatives(subject, body, from_email, [to_email])
    if html is not None:
        message.attach_alternative(html, "text/html")
    message.send()
