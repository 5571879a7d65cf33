"""The rules back office in Chromium at a laptop's width: the routing rule page fits the page."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_routing_rule_conditions_fit_a_laptop_screen(live_server, admin_page):
    page = admin_page
    page.goto(f"{live_server.url}/admin/routing/routingrule/add/")
    table = page.locator("#conditions-group table")
    table.wait_for()
    widths = page.evaluate("""() => ({
        page: document.documentElement.scrollWidth,
        window: document.documentElement.clientWidth,
        table: document.querySelector('#conditions-group table').getBoundingClientRect().right,
        content: document.querySelector('#content').getBoundingClientRect().right})""")
    assert widths["page"] <= widths["window"], widths  # no sideways scrolling of the page
    assert widths["table"] <= widths["content"] + 1, widths


def test_the_import_preview_keeps_a_bad_row_in_the_table_s_columns(live_server, admin_page,
                                                                   tmp_path):
    # Seen in Chromium: a bad row of the dry run was a red box squeezed under the first column
    # (the admin's .errornote made the <tr> a block), its cells under no heading.
    path = tmp_path / "leads.csv"
    path.write_text("first_name,email\nAda,ada@analytical.example\nBob,not-an-email\n")
    page = admin_page
    page.goto(f"{live_server.url}/admin/capture/lead/import/")
    page.set_input_files("[name=file]", str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Preview").click()
    rows = page.locator("#import-report tbody tr")
    assert rows.count() == 2
    header_x = [box["x"] for box in page.locator("#import-report thead th").evaluate_all(
        "cells => cells.map(c => c.getBoundingClientRect().toJSON())")]
    for row in (rows.nth(0), rows.nth(1)):
        assert row.evaluate("r => getComputedStyle(r).display") == "table-row"
        cells_x = [box["x"] for box in row.locator("td").evaluate_all(
            "cells => cells.map(c => c.getBoundingClientRect().toJSON())")]
        assert cells_x == header_x
    assert "email: Enter a valid email address" in rows.nth(1).inner_text()


def test_a_webhook_source_s_signing_help_fits_a_laptop_screen(live_server, admin_page):
    from capture.models import WebhookSource

    source = WebhookSource.objects.create(slug="zap", name="Zapier")
    page = admin_page
    page.goto(f"{live_server.url}/admin/capture/webhooksource/{source.pk}/change/")
    page.get_by_text("With a shell (openssl and curl):").wait_for()
    # Seen in Chromium as a read-only field: the help and its examples ran past the page's
    # right edge, cut off.
    widths = page.evaluate("""() => {
        const help = document.querySelector('fieldset .description');
        const parts = [help, ...help.querySelectorAll('*')];
        return {page: document.documentElement.scrollWidth,
                window: document.documentElement.clientWidth,
                help: Math.max(...parts.map(e => e.getBoundingClientRect().right)),
                content: document.querySelector('#content').getBoundingClientRect().right,
                overflowing: parts.filter(e => e.scrollWidth > e.clientWidth + 1).length};
    }""")
    assert widths["page"] <= widths["window"], widths  # no sideways scrolling of the page
    assert widths["help"] <= widths["content"] + 1 and not widths["overflowing"], widths
