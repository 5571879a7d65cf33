"""What capture announces; routing and followup listen (capture never imports them)."""

from django.dispatch import Signal

# Sent inside the intake transaction, after the lead and its interaction are written.
# kwargs: lead, interaction, created (bool), data (IntakeInput). Listeners write in the same
# transaction and queue their tasks with transaction.on_commit.
lead_received = Signal()

# Sent when staff or a channel touches an existing lead (a reply, a call, a status change).
# kwargs: lead, interaction.
lead_touched = Signal()
