"""The public form's page: rendered once per configuration and filled in per page load
(capture.forms.page_form_html), it must be what crispy renders for that visitor."""

from __future__ import annotations

import re

import pytest
from crispy_forms.utils import render_crispy_form
from django.test import RequestFactory

from capture.forms import build_public_form, initial_for_page, page_form_html
from capture.models import CustomField, FormCustomField

pytestmark = pytest.mark.django_db


def without_empty_values(html: str) -> str:
    # A hidden field whose page value is empty: value="" here, no value attribute in a
    # fresh render. The browser posts "" for both.
    return re.sub(r' value=""', "", html)


def test_the_page_is_the_form_crispy_renders_for_that_visitor(quote_form):
    seats = CustomField.objects.create(label="Seats", key="seats", kind="number")
    FormCustomField.objects.create(form=quote_form, field=seats, is_required=True,
                                   after="company")
    request = RequestFactory().get(
        '/q/quote/?utm_source=news&utm_campaign=<b>"spring"</b>&gclid=abc&x=1',
        HTTP_REFERER="https://partner.example/list?a=1&b='2'")
    initial = initial_for_page(quote_form, request)
    page = page_form_html(quote_form, initial, "csrf-token-1")
    form = build_public_form(quote_form, initial=initial, for_display=True)
    fresh = render_crispy_form(form, form.helper, {"csrf_token": "csrf-token-1"})
    assert without_empty_values(page) == without_empty_values(fresh)
    assert 'value="&lt;b&gt;&quot;spring&quot;&lt;/b&gt;"' in page  # escaped, as widgets do
    assert 'name="csrfmiddlewaretoken" value="csrf-token-1"' in page
    assert "@@" not in page
    # The next visitor gets their own values, not the first one's.
    other = page_form_html(quote_form, {"started": "s2", "submission_id": "id2"}, "csrf-2")
    assert "news" not in other and "id2" in other and 'value="csrf-2"' in other
    # A link whose value looks like a marker gets it back as typed, not someone's token.
    tricked = page_form_html(quote_form, {"utm_source": "@@leadcrm-page-value:csrf_token@@"},
                             "secret-token")
    assert 'name="utm_source" value="@@leadcrm-page-value:csrf_token@@"' in tricked


def test_an_edited_form_is_served_as_edited_at_once(quote_form):
    before = page_form_html(quote_form, {}, "t")
    quote_form.submit_label = "Get my quote"
    quote_form.fields = [*quote_form.fields, "job_title"]
    quote_form.save()
    after = page_form_html(quote_form, {}, "t")
    assert "Get my quote" in after and "Get my quote" not in before
    assert 'name="job_title"' in after and 'name="job_title"' not in before
