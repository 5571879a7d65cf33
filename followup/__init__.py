"""followup: acknowledgements, alerts and sequences, sent once from an outbox of rows."""
