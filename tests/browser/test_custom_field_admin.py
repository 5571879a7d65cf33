"""The admin's custom lead field page in Chromium: the key is filled from the label as keys are
written (with _), and saving it as filled is accepted."""

from __future__ import annotations

import pytest

from capture.models import CustomField

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def type_into(page, selector: str, text: str) -> None:
    """As a person types: key by key (Django's prepopulation listens to keyup)."""
    page.fill(selector, "")
    page.locator(selector).press_sequentially(text)


def test_the_key_is_filled_from_the_label_with_underscores_and_saves(live_server, admin_page):
    page = admin_page
    page.goto(f"{live_server.url}/admin/capture/customfield/add/")
    for label, key in (("Café visits", "cafe_visits"),
                       ("2nd-line tickets / month", "f_2nd_line_tickets_month"),
                       ("2nd phone", "f_2nd_phone"),
                       ("Café — Größe (m²)", "cafe_grosse_m2")):
        type_into(page, "#id_label", label)
        assert page.input_value("#id_key") == key
    type_into(page, "#id_label", "Contract end date")
    assert page.input_value("#id_key") == "contract_end_date"
    page.select_option("#id_kind", "date")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/capture/customfield/")
    assert CustomField.objects.get().key == "contract_end_date"


def test_a_typed_key_or_an_existing_field_s_key_is_left_alone(live_server, admin_page):
    page = admin_page
    page.goto(f"{live_server.url}/admin/capture/customfield/add/")
    type_into(page, "#id_key", "seats")
    type_into(page, "#id_label", "Number of seats")
    assert page.input_value("#id_key") == "seats"
    field = CustomField.objects.create(key="plan", label="Plan", kind="short_text")
    page.goto(f"{live_server.url}/admin/capture/customfield/{field.pk}/change/")
    type_into(page, "#id_label", "Price plan")
    assert page.input_value("#id_key") == "plan"
