"""routing's django-q2 tasks: safe to run twice (each escalation is claimed once)."""

from routing import services


def escalate_due_breaches() -> int:
    return services.escalate_due_breaches()
