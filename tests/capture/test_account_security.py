"""Staff accounts: TOTP two-factor required for superusers and sales ops (the pages and the
admin), open to every user; session expiry, "log out everywhere", password validators, and
the admin behind the same login lock as the rep pages."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-password-1"


def person(username: str, *, group: str = "", **fields):
    user = UserFactory(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    if group:
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def sign_in(client: Client, username: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": PASSWORD})


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits,
                 drift=offset)
    return f"{value:06d}"


def test_sales_ops_must_enrol_a_device_before_any_page_or_the_admin(client):
    person("olivia", group="Sales ops", is_staff=True)
    assert sign_in(client, "olivia").status_code == 302
    for page in ("/queue/", "/admin/", "/admin/capture/lead/"):
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/accounts/two-factor/?next={page}")
    enrol = client.get("/accounts/two-factor/?next=/admin/")
    html = enrol.content.decode()
    assert "Turn on two-factor sign-in" in html and 'id="totp-qr"' in html
    device = TOTPDevice.objects.get(user__username="olivia", confirmed=False)
    bad = client.post("/accounts/two-factor/", {"token": "000000", "next": "/admin/"})
    assert bad.status_code == 400 and "That code is not right" in bad.content.decode()
    device.throttling_failure_count = 0  # the wrong code above throttles the next try
    device.throttling_failure_timestamp = None
    device.save()
    done = client.post("/accounts/two-factor/", {"token": code_for(device), "next": "/admin/"})
    assert done.status_code == 200 and 'href="/admin/"' in done.content.decode()  # codes
    assert len(done.context["codes"]) == 10
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/admin/").status_code == 200
    assert client.get("/queue/").status_code == 200


def test_a_wrong_code_says_how_long_to_wait_as_the_wait_doubles(client):
    admin = person("root", is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    sign_in(client, "root", "/admin/login/?next=/admin/")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = client.post("/accounts/two-factor/", {"token": "000000"}).content.decode()
        assert "That code is not right" in first
        right_away = client.post("/accounts/two-factor/", {"token": code_for(device)})
        assert "wait 1 second and try again" in right_away.content.decode()
        clock.shift(1.5)
        client.post("/accounts/two-factor/", {"token": "000000"})  # the second wrong code
        again = client.post("/accounts/two-factor/", {"token": "000000"}).content.decode()
        assert "wait 2 seconds and try again" in again


def test_a_superuser_signing_in_to_the_admin_is_asked_for_the_code(client):
    admin = person("root", is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    response = sign_in(client, "root", "/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 302
    page = client.get("/accounts/two-factor/?next=/admin/").content.decode()
    assert "Your sign-in code" in page and 'id="totp-qr"' not in page  # no new secret shown
    done = client.post("/accounts/two-factor/", {"token": code_for(device), "next": "/admin/"})
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_foreign_next_url_is_not_followed(client):
    admin = person("root", is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
    sign_in(client, "root")
    done = client.post("/accounts/two-factor/", {"token": code_for(device),
                                                 "next": "https://evil.example/"})
    assert done["Location"] == "/admin/"


def test_a_rep_may_enrol_and_then_always_gives_the_code(client):
    person("carol")
    sign_in(client, "carol")
    assert client.get("/queue/").status_code == 200  # not required for reps
    page = client.get("/accounts/security/").content.decode()
    assert "Turn on two-factor sign-in" in page
    client.get("/accounts/two-factor/")
    device = TOTPDevice.objects.get(user__username="carol")
    client.post("/accounts/two-factor/", {"token": code_for(device)})
    assert "On: Authenticator app" in client.get("/accounts/security/").content.decode()

    later = Client()
    sign_in(later, "carol")
    assert later.get("/queue/").status_code == 302  # a device enrolled: the code is asked


def test_a_backup_code_signs_in_once_and_new_ones_void_the_old(client):
    person("carol")
    sign_in(client, "carol")
    client.get("/accounts/two-factor/")
    device = TOTPDevice.objects.get(user__username="carol")
    codes = client.post("/accounts/two-factor/", {"token": code_for(device)}).context["codes"]
    assert len(set(codes)) == 10

    phone_lost = Client()
    sign_in(phone_lost, "carol")
    used = phone_lost.post("/accounts/two-factor/", {"token": codes[0].upper(),
                                                     "next": "/queue/"}, follow=True)
    assert used.redirect_chain[-1][0] == "/queue/"
    assert "You signed in with a backup code: 9 left." in used.content.decode()
    again = Client()
    sign_in(again, "carol")
    assert again.post("/accounts/two-factor/", {"token": codes[0]}).status_code == 400  # once

    page = phone_lost.get("/accounts/security/").content.decode()
    assert "Backup codes left: 9." in page
    fresh = phone_lost.post("/accounts/backup-codes/").context["codes"]
    assert not set(fresh) & set(codes)
    later = Client()
    sign_in(later, "carol")
    assert later.post("/accounts/two-factor/", {"token": codes[1]}).status_code == 400  # void


def test_a_password_alone_cannot_make_backup_codes(client):
    carol = person("carol")
    TOTPDevice.objects.create(user=carol, name="phone", confirmed=True)
    sign_in(client, "carol")  # no code given yet
    response = client.post("/accounts/backup-codes/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/two-factor/")  # the code first
    assert not response.context.get("codes")
    from django_otp.plugins.otp_static.models import StaticToken

    assert not StaticToken.objects.exists()


def test_log_out_everywhere_ends_every_session_of_the_user_only(client):
    person("carol")
    person("dave")
    laptop, phone, other = Client(), Client(), Client()
    for c, name in ((laptop, "carol"), (phone, "carol"), (other, "dave")):
        sign_in(c, name)
        assert c.get("/queue/").status_code == 200
    response = phone.post("/accounts/logout-everywhere/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert laptop.get("/queue/").status_code == 302
    assert phone.get("/queue/").status_code == 302
    assert other.get("/queue/").status_code == 200


def test_sessions_expire_after_the_configured_hours(client, settings):
    import time_machine

    person("carol")
    sign_in(client, "carol")
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    with time_machine.travel(time.time() + 12 * 3600 + 60):
        assert client.get("/queue/").status_code == 302


def test_a_new_password_is_checked_by_django_s_validators(client):
    person("carol", first_name="Carol")
    sign_in(client, "carol")
    response = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "password", "new_password2": "password"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "too common" in html
    response = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "qz7", "new_password2": "qz7"})
    assert "too short" in response.content.decode()
    response = client.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "12345678901", "new_password2": "12345678901"})
    assert "entirely numeric" in response.content.decode()


def test_the_admin_login_is_locked_after_five_wrong_passwords(client):
    person("root", is_staff=True, is_superuser=True)
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "wrong"})
    response = sign_in(client, "root", "/admin/login/")
    assert response.status_code == 429
    assert Client().get("/admin/").status_code == 302


def test_a_password_reset_from_the_emailed_link_lifts_the_login_lock(client, mailoutbox,
                                                                    sync_tasks):
    """The locked-out page says "Try again later, or reset your password": the new password
    signed in at once instead of the same 429 for the rest of the hour."""
    import re

    person("mia", email="mia@example.com")
    for _ in range(5):
        client.post("/accounts/login/", {"username": "mia", "password": "wrong"})
    assert sign_in(client, "mia").status_code == 429
    client.post("/accounts/password_reset/", {"email": "mia@example.com"})
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mailoutbox[-1].body).group(1)
    form = client.get(link, follow=True)
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "another-long-pass-2",
                                                    "new_password2": "another-long-pass-2"})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    response = client.post("/accounts/login/", {"username": "mia",
                                                "password": "another-long-pass-2"})
    assert response.status_code == 302


def test_a_lost_device_is_reset_from_the_command_line(client):
    from io import StringIO

    from django.core.management import call_command

    admin = person("root", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=admin, name="lost phone", confirmed=True)
    StaticDevice.objects.create(user=admin, name="backup", confirmed=True)
    out = StringIO()
    call_command("reset_two_factor", "root", stdout=out)
    # It said "Removed 1 device(s)" while it removed the backup codes too.
    assert "Removed 1 authenticator app(s) and 1 set(s) of backup codes of root" in out.getvalue()
    assert not StaticDevice.objects.filter(user=admin).exists()
    sign_in(client, "root")
    assert 'id="totp-qr"' in client.get("/accounts/two-factor/").content.decode()  # enrol anew
