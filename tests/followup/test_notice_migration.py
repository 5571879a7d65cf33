"""followup 0014: an owner holding two unread notices of one lead (a prospect who wrote, a
sequence that reached nobody) keeps the newest unread; the older ones are marked read, so the
one-unread-notice rule can hold from then on."""

from datetime import UTC, datetime, timedelta

import pytest

from followup.models import Notification
from tests.factories import LeadFactory, UserFactory
from tests.migrating import migrate, migrated_back_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("followup", "0013_outboundmessage_template_name")]
AFTER = [("followup", "0014_one_unread_notice_per_lead")]
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_older_duplicate_unread_notices_are_marked_read_and_the_newest_stays():
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    kenji, grace = LeadFactory(first_name="Kenji"), LeadFactory(first_name="Grace")
    with migrated_back_to(BEFORE):
        def notice(user, lead, kind, text, minutes, read=False):
            return Notification.objects.create(
                user=user, lead=lead, kind=kind, text=text,
                created_at=NOON + timedelta(minutes=minutes), read_at=NOON if read else None)

        notice(alice, kenji, "prospect_wrote", "Kenji texted: Hello", 0)
        notice(alice, kenji, "prospect_wrote", "Kenji texted: Call me", 5)
        notice(alice, kenji, "prospect_wrote", "Kenji replied by email: Still there?", 5)
        notice(alice, kenji, "prospect_wrote", "Kenji texted: Earlier, read", -60, read=True)
        notice(alice, kenji, "followup_failed", "Follow-up could not reach Kenji", 1)
        notice(bob, kenji, "prospect_wrote", "Kenji texted: Hello", 0)
        notice(alice, grace, "prospect_wrote", "Grace texted: Hi", 0)
        notice(alice, grace, "assigned", "New lead: Grace", 0)
        notice(alice, grace, "assigned", "New lead: Grace, again", 1)  # not coalesced
        migrate(AFTER)
        unread = sorted(Notification.objects.filter(read_at__isnull=True).values_list(
            "user__username", "text"))
        assert unread == [
            ("alice", "Follow-up could not reach Kenji"), ("alice", "Grace texted: Hi"),
            ("alice", "Kenji replied by email: Still there?"),
            ("alice", "New lead: Grace"), ("alice", "New lead: Grace, again"),
            ("bob", "Kenji texted: Hello")]
        assert Notification.objects.count() == 9
