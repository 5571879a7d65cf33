"""What capture announces; routing and followup listen (capture never imports them)."""

from django.dispatch import Signal

# Sent inside the intake transaction, after the lead and its interaction are written.
# kwargs: lead, interaction, created (bool), data (IntakeInput). Listeners write in the same
# transaction and queue their tasks with transaction.on_commit.
lead_received = Signal()

# Sent inside the intake transaction just before a new lead's row is inserted. kwargs: lead
# (unsaved), data (IntakeInput). Listeners may set the lead's own columns (routing sets score,
# tier, owner and deadline), so the row is written once; what they write to other tables
# waits for lead_received, which is sent with the same Lead object.
lead_creating = Signal()

# Sent when staff or a channel touches an existing lead (a reply, a call, a status change).
# kwargs: lead, interaction.
lead_touched = Signal()

# A provider reported what happened to a message we sent (WhatsApp statuses, Messenger and
# Instagram deliveries and reads, Twilio's message status callback). Sent after the webhook's
# signature is checked; followup updates its outbox rows. kwargs: platform (str), ids
# (list[str], the provider's message ids), status ("sent", "delivered", "read", "failed"),
# error (str), recipient (str, for read watermarks), before (datetime | None: a watermark).
delivery_reported = Signal()
