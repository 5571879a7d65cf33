"""Helpers for the page tests: leads placed in a team's queue or a rep's, with deadlines."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from routing.models import LeadAssessment
from tests.factories import LeadFactory


def lead_for(owner=None, team=None, *, minutes_left: int | None = 30, **fields):
    """A lead owned by `owner` (a User) or waiting in `team`'s queue, due in `minutes_left`."""
    now = timezone.now()
    fields.setdefault("respond_by", now + timedelta(minutes=minutes_left)
                      if minutes_left is not None else None)
    lead = LeadFactory(owner=owner, **fields)
    LeadAssessment.objects.create(lead=lead, team=team, score=lead.score, tier=lead.tier,
                                  outcome="assigned" if owner else "queued",
                                  fired_rules=[{"name": "Senior title", "points": 40,
                                                "condition": "job title contains CTO"}],
                                  routing={"summary": "Round robin in Sales picked Alice",
                                           "rule_name": "Everyone", "team_name": "Sales",
                                           "candidates": [{"name": "Alice", "eligible": True,
                                                           "reason": "picked: next in turn"},
                                                          {"name": "Bob", "eligible": False,
                                                           "reason": "at capacity"}]})
    return lead
