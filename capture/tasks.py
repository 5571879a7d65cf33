"""capture's django-q2 tasks: they take ids and are safe to run twice."""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.template import loader
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from capture import intake


def process_inbound_event(event_id: int) -> bool:
    return intake.process_inbound_event(event_id) is not None


def retry_failed_events() -> int:
    return intake.retry_failed_events()


def send_password_reset_email(user_id: int, to_email: str, site: dict[str, str],
                              from_email: str | None, subject_template: str, body_template: str,
                              html_template: str | None = None) -> bool:
    """The "forgot your password" email (security_views.PasswordResetForm), made and sent here:
    the token is made now, so the queue never holds a working link. A failure raises, so
    django-q2 tries again (Q_CLUSTER retry and max_attempts); a repeat after a success sends
    a second link, which is harmless. Nothing is sent to a user gone or deactivated since."""
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    context = {**site, "email": to_email, "user": user,
               "uid": urlsafe_base64_encode(force_bytes(user.pk)),
               "token": default_token_generator.make_token(user)}
    subject = "".join(loader.render_to_string(subject_template, context).splitlines())
    message = EmailMultiAlternatives(subject, loader.render_to_string(body_template, context),
                                     from_email, [to_email])
    if html_template:
        message.attach_alternative(loader.render_to_string(html_template, context), "text/html")
    message.send()
    return True
