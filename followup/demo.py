"""The demo follow-up sequence (seed_demo calls `seed_followup()`). Idempotent: a sequence with
the demo name is left as it is, so sales ops' edits survive a second run."""

from __future__ import annotations

from django.db import transaction

from followup.models import EmailTemplate, Sequence, SequenceStep

DEFAULT_SEQUENCE = "No answer yet: day 2, 5 and 10, then nurture"

SIGN_OFF = "\n\nBest regards,\n{{ owner_signature }}"

# (delay in days after the previous step, subject, body): day 2, day 5, day 10 after arrival.
STEPS = (
    (1, "Your request{% if company %} for {{ company }}{% endif %}",
     "Hi {{ first_name|default:'there' }},\n\nthank you for your request. I would like to "
     "understand what you need and how we can help. When would a 15-minute call suit you?"
     + SIGN_OFF),
    (3, "Checking in",
     "Hi {{ first_name|default:'there' }},\n\njust checking in: is your project still open? "
     "Reply to this email with a good time and I will call you." + SIGN_OFF),
    (5, "Shall I close your request?",
     "Hi {{ first_name|default:'there' }},\n\nI have not heard back, so this is my last "
     "note for now. If the timing is not right, no problem: reply whenever it suits you and "
     "we will pick it up from there." + SIGN_OFF),
)


# name -> (subject, body): what a rep sends from the lead page's Email tab.
EMAIL_TEMPLATES = {
    "After a first call": (
        "Our call today, {{ company }}",
        "Hi {{ first_name }},\n\nThank you for your time on the phone today. As promised, "
        "I will send you a proposal by the end of the week; tell me if anyone else should be "
        "on it.\n\n{{ owner_signature }}"),
    "Could not reach you": (
        "Your request for {{ company }}",
        "Hi {{ first_name }},\n\nI tried to call you about your request and could not get "
        "through. When would suit you for a 15-minute call? Reply with a time, or a number I "
        "should use.\n\n{{ owner_signature }}"),
    "Proposal sent": (
        "Your proposal, {{ first_name }}",
        "Hi {{ first_name }},\n\nYou will find the proposal for {{ company }} attached. "
        "I am happy to walk you through it; just reply to this email.\n\n"
        "{{ owner_signature }}"),
}


@transaction.atomic
def seed_followup() -> dict[str, int]:
    """Install the default sequence and the demo's email templates when they are missing."""
    for name, (subject, body) in EMAIL_TEMPLATES.items():
        EmailTemplate.objects.get_or_create(name=name, defaults={"subject": subject,
                                                                 "body": body})
    sequence, created = Sequence.objects.get_or_create(name=DEFAULT_SEQUENCE, defaults={
        "trigger": Sequence.Trigger.NO_RESPONSE, "no_response_hours": 24, "position": 100,
        "then_nurture": True,
    })
    if created:
        SequenceStep.objects.bulk_create([
            SequenceStep(sequence=sequence, position=position, delay=days,
                         delay_unit=SequenceStep.Unit.DAYS, channel=SequenceStep.Channel.EMAIL,
                         subject=subject, body=body)
            for position, (days, subject, body) in enumerate(STEPS, 1)
        ])
    return {"sequences": int(created)}
