"""What routing announces; followup listens and sends (routing never imports followup).

All are sent inside the transaction that made the change: listeners write their outbox rows
in it and queue their tasks with transaction.on_commit.
"""

from django.dispatch import Signal

# A lead got a new owner: once per assignment (automatic or by a manager), never on a re-score.
# kwargs: lead, owner_id, previous_owner_id, decision (RoutingDecision or None for a manual
# reassignment), acting_user (None for the rules).
lead_assigned = Signal()

# Nobody in the team could take the lead: it waits in the team's unassigned queue.
# kwargs: lead, team_id, team_lead_id, decision.
lead_queued = Signal()

# A lead's first-response deadline passed unanswered and its policy's escalation ran.
# kwargs: lead, escalation (routing.sla.Escalation value), manager_ids (team lead, if any),
# reassign_tried (whether another rep of the lead's team was looked for: never for a lead
# without a team, whatever the policy), reassigned_to_id (or None).
sla_breached = Signal()

# A re-score (staff edited the lead's fields) moved an unanswered lead's deadline: its tier
# changed. kwargs: lead (its respond_by and its assessment's warn_at are the new ones).
deadline_moved = Signal()
