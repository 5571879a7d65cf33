"""routing: scoring, routing and SLA rules kept as rows by sales ops."""
