"""Account and page security: who may frame the public form pages, and the two-factor rule for
staff (TOTP through django-otp): required for superusers and sales ops, open to everyone."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from capture.models import IntakeForm


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allow_framing(response: HttpResponse, intake_form: IntakeForm) -> HttpResponse:
    """A public form page may be framed by our own pages and the form's allowed origins only
    (the CSP's frame-ancestors; X-Frame-Options is off on these views), and may send the
    visitor on to the form's redirect URL after submitting (form-action)."""
    origins = [o for o in intake_form.origin_list if _origin(o)]
    response._csp_replace = {"frame-ancestors": ["'self'", *origins]}
    if redirect_origin := _origin(intake_form.redirect_url):
        response._csp_update = {"form-action": [redirect_origin]}
    return response


# --- two-factor authentication ----------------------------------------------------------------

ENROLLED_SESSION_KEY = "leadcrm_otp_enrolled"


def two_factor_required(user, session=None) -> bool:
    """Superusers and sales ops must use a second factor; anyone who enrolled a device too.

    The role is checked on every request (a new member of sales ops is asked at once); whether
    the user has a device is noted in the session at sign-in (and on enrolment), so the rep
    pages do not pay a query for it.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    # The same per-request cache routing/access.py keeps: one groups query however many ask.
    groups = getattr(user, "_leadcrm_groups", None)
    if groups is None:
        groups = user._leadcrm_groups = set(user.groups.values_list("name", flat=True))
    if groups & set(settings.TWO_FACTOR_REQUIRED_GROUPS):
        return True
    if session is not None and ENROLLED_SESSION_KEY in session:
        return bool(session[ENROLLED_SESSION_KEY])
    from django_otp import user_has_device

    return user_has_device(user, confirmed=True)


def note_enrolment_at_login(sender, request, user, **kwargs) -> None:
    """user_logged_in: remember in the session whether this user has a device."""
    from django_otp import user_has_device

    if request is not None and hasattr(request, "session"):
        request.session[ENROLLED_SESSION_KEY] = user_has_device(user, confirmed=True)


# Paths a signed-in user who still owes the second factor may open.
OPEN_PREFIXES = ("/accounts/two-factor/", "/accounts/logout/", "/admin/logout/", "/static/",
                 "/healthz", "/favicon.ico")


class TwoFactorMiddleware:
    """After the password, the signed-in pages and the admin wait for the TOTP code (or for
    the device to be enrolled). Sits after django-otp's OTPMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated and not user.is_verified()
                and not request.path.startswith(OPEN_PREFIXES)
                and not request.path.startswith(_public_prefixes())
                and two_factor_required(user, request.session)):
            target = reverse("two-factor")
            return redirect(f"{target}?next={request.get_full_path()}")
        return self.get_response(request)


LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


class LoginRateLimitMiddleware:
    """Past LOGIN_RATE_PER_IP failed sign-ins a minute from one client IP, a 429 with
    Retry-After, before any password is checked. django-axes locks a username and IP pair after
    five wrong passwords; this bounds the tries one address makes across usernames. A sign-in
    that succeeds (a redirect) is not counted: an office behind one address, or a test suite
    signing in as each demo user, is never refused."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path not in LOGIN_PATHS:
            return self.get_response(request)
        from capture import abuse

        limit = settings.LOGIN_RATE_PER_IP
        key = abuse.rate_key(request, "login")
        if abuse.past_limit(key, limit):
            wait = max(1, abuse.seconds_until_allowed(key, limit))
            response = render(request, "registration/too_many_sign_ins.html", {"wait": wait},
                              status=429)
            response["Retry-After"] = str(wait)
            return response
        response = self.get_response(request)
        if response.status_code != 302:  # a wrong password, an empty or malformed form
            abuse.over_limit(key, limit)
        return response


def _public_prefixes() -> tuple[str, ...]:
    # Pages for prospects and providers: a signed-in staff member browsing them owes nothing.
    return ("/q/", "/api/", "/inbound/", "/u/")
