"""Staff account pages: the TOTP step after the password (enrol a device, then a code each
sign-in), the account-security page, "log out everywhere", and the rate-limited password
reset."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import math
from base64 import b32encode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from capture import abuse
from capture.identity import email_key
from capture.security import ENROLLED_SESSION_KEY, two_factor_required

logger = logging.getLogger(__name__)


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app (or a backup code)", max_length=12,
        min_length=6, widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                    "autofocus": True}))

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split()).replace("-", "").casefold()
        if not (token.isdigit() and len(token) == 6) and not (
                token.isalnum() and len(token) == BACKUP_CODE_LENGTH):
            raise forms.ValidationError("Enter the 6 digits your app shows, or one of your "
                                        "backup codes.")
        return token


BACKUP_CODES = 10
BACKUP_CODE_LENGTH = 8  # django-otp's StaticToken.random_token()
BACKUP_DEVICE = "Backup codes"


def new_backup_codes(user) -> list[str]:
    """Ten single-use codes for a lost phone, shown once; new ones void the old."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE,
                                                   defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=BACKUP_DEVICE).count()


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return "/queue/" if not request.user.is_staff else "/admin/"


def _qr_data_uri(url: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _wait_message(locked_until) -> str:
    """django-otp doubles the wait after each wrong code (1 s, 2 s, 4 s...): say how long."""
    seconds = 1
    if locked_until is not None:
        seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
    wait = f"{seconds} second{'s' * (seconds != 1)}" if seconds < 120 else \
        f"{math.ceil(seconds / 60)} minutes"
    return f"Too many wrong codes: wait {wait} and try again."


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enter the code (or enrol a device first, scanning the QR code)."""
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = (TOTPDevice.objects.filter(user=user, confirmed=False).first()
                  or TOTPDevice.objects.create(user=user, name="Authenticator app",
                                               confirmed=False))
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        if not token.isdigit() and not enrolling:  # a backup code: its own device
            device = StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE).first() \
                or device
        allowed, why = device.verify_is_allowed()
        if not allowed:
            form.add_error("token", _wait_message((why or {}).get("locked_until")))
        elif device.verify_token(token):
            otp_login(request, device)
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                request.session[ENROLLED_SESSION_KEY] = True
                messages.success(request, "Two-factor sign-in is on for your account.")
                return render(request, "registration/backup_codes.html", {
                    "codes": new_backup_codes(user), "next": _next_url(request)})
            if isinstance(device, StaticDevice):
                messages.warning(request, f"You signed in with a backup code: "
                                 f"{backup_codes_left(user)} left. Make new ones under "
                                 "Account security once your phone is back.")
            return redirect(_next_url(request))
        else:
            form.add_error("token", "That code is not right (or has expired): try the "
                           "current one.")
    context = {"form": form, "enrolling": enrolling, "next": _next_url(request),
               "required": two_factor_required(user)}
    if enrolling:
        context.update(secret=b32encode(device.bin_key).decode(), qr=_qr_data_uri(
            device.config_url))
    return render(request, "registration/two_factor.html", context,
                  status=200 if not form.errors else 400)


@login_required
@require_POST
def make_backup_codes(request: HttpRequest) -> HttpResponse:
    """New backup codes, from a session that passed two-factor sign-in (a password alone
    must not be enough to mint codes that pass it)."""
    if not request.user.is_verified():
        messages.warning(request, "Sign in with your authenticator app first.")
        return redirect("account-security")
    return render(request, "registration/backup_codes.html", {
        "codes": new_backup_codes(request.user), "next": "/accounts/security/"})


@login_required
def account_security(request: HttpRequest) -> HttpResponse:
    devices = TOTPDevice.objects.filter(user=request.user, confirmed=True)
    return render(request, "registration/account_security.html", {
        "devices": devices, "required": two_factor_required(request.user),
        "backup_codes_left": backup_codes_left(request.user) if devices else None,
        "session_expires": request.session.get_expiry_date()})


def sessions_of(user) -> list[Session]:
    """The user's live sessions (the database backend; a CRM has few staff sessions)."""
    found = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user.pk):
            found.append(session)
    return found


@login_required
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of this user, on every device, this one included."""
    ended = Session.objects.filter(pk__in=[s.pk for s in sessions_of(request.user)]).delete()[0]
    logout(request)
    messages.info(request, f"Signed out of {ended} session(s) on every device.")
    return redirect("login")


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's form, its email handed to the worker. Sent in the request, the page waited for
    the mail server (3 s for a server taking 3 s, until gunicorn's timeout for a silent one),
    and only for an address with an account: the wait told a prober who has one. A send that
    failed was logged and lost; the worker retries it.

    The task carries the user's id and the site's address, never the link: the worker makes
    the token, so no working reset link waits in the task queue's table (or a failed task's
    row) for whoever reads the database."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email,
                  to_email, html_email_template_name=None) -> None:
        from django_q.tasks import async_task

        site = {key: context[key] for key in ("domain", "site_name", "protocol")}
        async_task("capture.tasks.send_password_reset_email", context["user"].pk, to_email,
                   site, from_email, subject_template_name, email_template_name,
                   html_email_template_name)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's "forgot your password" page, with a limit on the emails it sends.

    Past PASSWORD_RESET_RATE_PER_IP requests an hour from one address, or
    PASSWORD_RESET_RATE_PER_EMAIL for one email address, nothing is sent, and the answer is
    the same "check your email" page as always: a 429 would tell a prober that the address
    was asked for before, and the page already never says whether an account has it."""

    form_class = PasswordResetForm

    def form_valid(self, form):
        if password_reset_limited(self.request, form.cleaned_data["email"]):
            logger.warning("password reset not sent: over the hourly limit (ip %s)",
                           abuse.client_ip(self.request))
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's "choose a new password" page (the emailed link). The login lock's page sends a
    locked-out user here, so a new password set from the link lifts that account's lock
    (django-axes): the link proves the mailbox is theirs."""

    def form_valid(self, form):
        from axes.utils import reset

        response = super().form_valid(form)
        reset(username=self.user.get_username())
        return response


def password_reset_limited(request: HttpRequest, email: str) -> bool:
    """Count one reset request for this client and this address; past either hourly limit?"""
    address = email_key(email) or email.strip().casefold()
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]  # no address in the cache
    by_ip = abuse.over_limit(f"password-reset:ip:{abuse.client_ip(request)}",
                             settings.PASSWORD_RESET_RATE_PER_IP, window=3600)
    by_email = abuse.over_limit(f"password-reset:email:{digest}",
                                settings.PASSWORD_RESET_RATE_PER_EMAIL, window=3600)
    return by_ip or by_email
