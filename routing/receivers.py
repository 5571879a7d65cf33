"""routing listens to capture: every lead is scored, routed and put on the clock on arrival."""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save

from capture.intake import IntakeInput
from capture.models import Interaction, Lead
from capture.signals import lead_creating, lead_received, lead_touched
from routing.ruleset import RULE_MODELS, bump_version
from routing.services import assess_received_lead, plan_new_lead, rescore_lead


def score_and_route_lead(sender, *, lead: Lead, interaction: Interaction, created: bool,
                         data: IntakeInput, **kwargs) -> None:
    """Inside the intake transaction, before followup's receiver (connected first)."""
    assess_received_lead(lead, created=created)


def decide_new_lead(sender, *, lead: Lead, data: IntakeInput, **kwargs) -> None:
    """Before a new lead's insert: its score, owner and deadline go into the row itself."""
    plan_new_lead(lead, respond_within=data.respond_within)


def rescore_touched_lead(sender, *, lead: Lead, **kwargs) -> None:
    rescore_lead(lead)


def connect() -> None:
    lead_creating.connect(decide_new_lead, sender=Lead, dispatch_uid="routing.decide_new_lead")
    lead_received.connect(score_and_route_lead, sender=Lead,
                          dispatch_uid="routing.score_and_route_lead")
    lead_touched.connect(rescore_touched_lead, dispatch_uid="routing.rescore_touched_lead")
    for model in RULE_MODELS:
        for signal in (post_save, post_delete):
            signal.connect(bump_version, sender=model,
                           dispatch_uid=f"routing.bump.{signal is post_save}.{model.__name__}")
    from routing.models import RoutingRule

    m2m_changed.connect(bump_version, sender=RoutingRule.tiers.through,
                        dispatch_uid="routing.bump.m2m.tiers")
