"""Search and text filters ignore case in every alphabet, on SQLite as on PostgreSQL."""

from __future__ import annotations

import pytest

from capture.models import Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_icontains_folds_accented_and_non_latin_letters():
    LeadFactory(last_name="Kovács", company="ÜBER Morgen GmbH", job_title="Директор")
    for lookup, typed in (("last_name", "KOVÁCS"), ("company", "über morgen"),
                          ("job_title", "директор"), ("last_name", "ovác")):
        assert Lead.objects.filter(**{f"{lookup}__icontains": typed}).count() == 1, typed
    assert not Lead.objects.filter(last_name__icontains="kovacs").exists()  # á is not a


def test_like_wildcards_in_the_text_are_literal():
    LeadFactory(company="100% Cotton_Co")
    assert Lead.objects.filter(company__icontains="100% cotton_co").count() == 1
    assert not Lead.objects.filter(company__icontains="100x").exists()
    assert not Lead.objects.filter(company__icontains="cotton co").exists()  # _ is no wildcard


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("%ovác%", "Kovács", True),
    ("%OVÁC%", "kovács", True),
    ("%100\\% cotton\\_co%", "100% Cotton_Co", True),
    ("%100\\% cotton\\_co%", "100x Cotton Co", False),
    ("%%", "", True),
    ("%", "anything", True),
    ("kov%", "Kovács", True),
    ("%ács", "Kovács", True),
    ("k_vács", "Kovács", True),
    ("%k_v%", "a kiv b", True),
    ("%a%c%", "xaxbxcx", True),
    ("%a%c%", "xcxa", False),
    ("%a\\\\b%", "a\\b", True),
])
def test_the_sqlite_like_reads_every_pattern_as_sqlite_does(pattern, value, expected):
    """“%text%” is a substring test (as fast as one); other patterns keep the full reading."""
    from leadcrm.db.sqlite3.base import unicode_like

    assert unicode_like(pattern, value, "\\") is expected
