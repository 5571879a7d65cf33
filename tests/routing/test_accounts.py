"""Signing in and out, resetting a password by email, and the lock after repeated failures."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep(db):
    user = UserFactory(username="carol", email="carol@example.com")
    user.set_password("a-long-password-1")
    user.save()
    return user


def test_signing_in_leads_to_the_queue_and_signing_out_ends_the_session(client, rep):
    response = client.post("/accounts/login/", {"username": "carol",
                                                "password": "a-long-password-1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/queue/"
    assert client.get("/queue/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/queue/").status_code == 302


def test_a_wrong_password_is_refused(client, rep):
    response = client.post("/accounts/login/", {"username": "carol", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_five_wrong_passwords_lock_the_account_even_with_the_right_one(client, rep):
    for _ in range(5):
        client.post("/accounts/login/", {"username": "carol", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "carol",
                                                "password": "a-long-password-1"})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert Client().get("/queue/").status_code == 302  # and no session was made


def test_a_password_reset_by_email(client, rep, mailoutbox, sync_tasks):
    client.post("/accounts/password_reset/", {"email": "carol@example.com"})
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["carol@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    form = client.get(link, follow=True)
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "another-long-pass-9",
                                 "new_password2": "another-long-pass-9"})
    assert done.status_code == 302
    rep.refresh_from_db()
    assert rep.check_password("another-long-pass-9")


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, mailoutbox):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"},
                           follow=True)
    assert "Check your email" in response.content.decode()
    assert mailoutbox == []


def test_the_site_address_signs_a_rep_in_where_reps_can_sign_in(client, rep):
    # `make run` prints http://127.0.0.1:8000; it led to the admin's login, which told a rep
    # typing the right password to "enter the correct username and password for a staff
    # account".
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/"
    signed_in = client.post("/accounts/login/?next=/", {"username": "carol",
                                                        "password": "a-long-password-1",
                                                        "next": "/"}, follow=True)
    assert signed_in.redirect_chain[-1][0] == "/queue/"


def test_the_site_address_takes_each_role_to_its_own_page(client, rep):
    from django.contrib.auth.models import Group

    from routing.models import RepProfile, Team

    RepProfile.objects.create(user=rep)
    manager = UserFactory(username="max", is_staff=True)
    Team.objects.create(name="Sales", lead=manager)
    ops = UserFactory(username="olivia", is_staff=True)
    ops.groups.add(Group.objects.get_or_create(name="Sales ops")[0])
    for user, page in ((rep, "/queue/"), (manager, "/dashboard/"), (ops, "/admin/"),
                       (UserFactory(username="root", is_staff=True, is_superuser=True),
                        "/admin/")):
        client.force_login(user)
        assert client.get("/")["Location"] == page, user.username
    # Signing in without a page to go back to lands there too (a manager on the dashboard,
    # not on a queue they have no leads in).
    manager.set_password("a-long-password-2")
    manager.save()
    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "max",
                                                 "password": "a-long-password-2"}, follow=True)
    assert signed_in.redirect_chain[-1][0] == "/dashboard/"
