"""Two first messages from one platform account at once, made deterministic: the second
request looks for the account before the first has committed it, and finds it only when it
stores its own. It must end on the first one's lead, not make a second and merge."""

from __future__ import annotations

import pytest

from capture import intake
from capture.intake import IntakeInput, PlatformAccount, receive_event
from capture.models import Lead, LeadIdentity, LeadStatus

pytestmark = pytest.mark.django_db


def first_message(n: int) -> IntakeInput:
    return IntakeInput(channel=Lead.Channel.SOCIAL, fields={"first_name": "Ada"},
                       summary=f"Telegram message {n}", kind="message",
                       identity=PlatformAccount(platform="telegram", external_id="777000111"))


def test_the_later_of_two_first_messages_retries_onto_the_earlier_lead(monkeypatch):
    receive_event(channel="telegram", external_id="update:1", data=first_message(1))
    first = Lead.objects.get()
    real = intake._lead_of_account
    calls = []

    def not_yet_committed(data):  # what the twin saw while the first was still uncommitted
        calls.append(1)
        return None if len(calls) == 1 else real(data)

    monkeypatch.setattr(intake, "_lead_of_account", not_yet_committed)
    event, created, result = receive_event(channel="telegram", external_id="update:2",
                                           data=first_message(2))
    assert created and event.status == "processed"
    assert len(calls) == 2  # rolled back once, then matched
    assert result is not None and result.lead == first and not result.created
    assert Lead.objects.count() == 1 and LeadIdentity.objects.get().lead == first
    assert first.interactions.filter(summary__startswith="Telegram message").count() == 2
    assert Lead.objects.get().status == LeadStatus.NEW  # nothing was merged or closed
