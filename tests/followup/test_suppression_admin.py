"""Sales ops add an address to the suppression list by hand in the admin: it must then stop
every message to that person, however the address was typed."""

import pytest

from capture.privacy import address_suppressed, erase_person, find_person
from followup.models import Suppression

pytestmark = pytest.mark.django_db

ADD = "/admin/followup/suppression/add/"


def add(client, kind: str, value: str):
    return client.post(ADD, {"kind": kind, "value": value, "reason": "manual",
                             "created_at_0": "2026-12-07", "created_at_1": "10:00:00"})


def test_an_address_typed_as_people_write_it_is_suppressed(admin_client, settings):
    """It was stored as typed and compared as the intake stores addresses: "(415) 555-2671"
    was listed, said "added successfully", and never stopped a text (the checks compare
    E.164). An email was found whatever its case, and is now shown as it is compared."""
    settings.PHONE_DEFAULT_REGION = "US"
    assert add(admin_client, "email", " Greta@Contoso.DE ").status_code == 302
    assert add(admin_client, "phone", "(415) 555-2671").status_code == 302
    assert address_suppressed("email", "greta@contoso.de")
    assert address_suppressed("phone", "+14155552671")
    assert set(Suppression.objects.values_list("value", flat=True)) == {
        "greta@contoso.de", "+14155552671"}


def test_what_is_no_address_is_refused_with_a_message(admin_client):
    for kind, value, message in (("email", "greta at contoso", "not an email address"),
                                 ("phone", "call me", "does not look like a phone number")):
        page = add(admin_client, kind, value)
        assert page.status_code == 200 and message in page.content.decode(), value
    assert not Suppression.objects.exists()


def test_an_address_already_listed_in_another_spelling_is_refused_not_a_server_error(
        admin_client, admin_user):
    add(admin_client, "email", "greta@contoso.de")
    page = add(admin_client, "email", "GRETA@contoso.de").content.decode()
    assert "already" in page
    # An erased person's row keeps only the hash: typing them in again was a 500.
    from tests.factories import LeadFactory

    LeadFactory(email="grace@navy.mil", email_key="grace@navy.mil")
    erase_person(find_person(email="grace@navy.mil"), admin_user)
    page = add(admin_client, "email", "Grace@Navy.mil")
    assert page.status_code == 200 and "already" in page.content.decode()
    assert Suppression.objects.filter(kind="email").count() == 2
