"""followup 0009: addresses typed into the suppression list before the admin stored them as
the checks compare them start stopping messages."""

import pytest

from capture.privacy import address_suppressed
from followup.models import Suppression
from tests.migrating import migrate, migrated_back_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("followup", "0008_suppression_value_as_typed")]
AFTER = [("followup", "0009_normalise_typed_suppressions")]


def test_addresses_typed_before_are_stored_as_the_checks_read_them(settings):
    settings.PHONE_DEFAULT_REGION = "US"
    with migrated_back_to(BEFORE):
        for kind, value, reason in (("email", "Greta@Contoso.DE", "manual"),
                                    ("phone", "(415) 555-2671", "manual"),
                                    ("phone", "call me", "manual"),
                                    ("phone", "+1 212-555-0100", "manual"),
                                    ("phone", "+12125550100", "stop")):
            Suppression(kind=kind, value=value, reason=reason).save()  # as the admin did
        assert not address_suppressed("phone", "+14155552671")
        migrate(AFTER)
        assert address_suppressed("phone", "+14155552671")
        assert address_suppressed("email", "greta@contoso.de")
        assert sorted(Suppression.objects.values_list("value", "reason")) == [
            ("+12125550100", "stop"), ("+14155552671", "manual"), ("call me", "manual"),
            ("greta@contoso.de", "manual")]
