"""capture 0025: access-trail rows written before they kept their user's login get it, so the
trail still names the user once the account is deleted."""

import pytest

from capture.models import LeadAccess
from tests.factories import UserFactory
from tests.migrating import migrate, migrated_back_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("capture", "0024_leadaccess_actor")]
AFTER = [("capture", "0025_backfill_leadaccess_actor")]


def test_rows_written_before_keep_their_users_login_and_lost_ones_say_so():
    with migrated_back_to(BEFORE):
        jsmith = UserFactory(username="jsmith")
        kept = LeadAccess.objects.create(user=jsmith, action="listed", listed_ids=",1,")
        # A row whose user was deleted before this release: its name is gone for good.
        lost = LeadAccess.objects.create(user=None, action="viewed", listed_ids=",1,")
        LeadAccess.objects.filter(pk__in=[kept.pk, lost.pk]).update(actor="")
        migrate(AFTER)
        jsmith.delete()
        who = {row.pk: row.who for row in LeadAccess.objects.filter(pk__in=[kept.pk, lost.pk])}
        assert who == {kept.pk: "jsmith (deleted)", lost.pk: "a deleted user"}
