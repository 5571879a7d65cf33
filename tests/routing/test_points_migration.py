"""routing 0008: scoring rules saved before points were bounded come back within ±1000."""

import pytest

from routing.models import RuleSetVersion, ScoringRule
from tests.migrating import migrate, migrated_back_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("routing", "0007_bounded_points")]
AFTER = [("routing", "0008_clamp_points")]


def test_points_beyond_the_bound_are_brought_within_it_and_the_rules_recompile():
    with migrated_back_to(BEFORE):
        big = ScoringRule.objects.create(name="Huge", points=5000)
        low = ScoringRule.objects.create(name="Tiny", points=-99999)
        fine = ScoringRule.objects.create(name="Fine", points=40)
        RuleSetVersion.objects.update_or_create(pk=1, defaults={"version": 7, "token": "old"})
        migrate(AFTER)
        assert {r.name: r.points for r in ScoringRule.objects.filter(
            pk__in=[big.pk, low.pk, fine.pk])} == {"Huge": 1000, "Tiny": -1000, "Fine": 40}
        version = RuleSetVersion.objects.get(pk=1)
        assert (version.version, version.token != "old") == (8, True)
