"""capture 0030: an email or phone a submission gave besides its lead's own, noted only in the
timeline's text before, is kept in the interaction's columns, so the person's erasure covers
it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from capture.privacy import find_person
from tests.migrating import migrate, migrated_back_to

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("capture", "0029_retention_periods_at_most_a_century")]
AFTER = [("capture", "0030_interaction_contacts_also_given")]


def test_contacts_noted_on_the_timeline_before_belong_to_the_person():
    with migrated_back_to(BEFORE):
        old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        lead = old.get_model("capture", "Lead").objects.create(
            first_name="Zelda", email="zelda@quixotova.example",
            email_key="zelda@quixotova.example", phone="+442079460958", channel="api")
        old.get_model("capture", "Interaction").objects.create(
            lead_id=lead.pk, direction="inbound", kind="submission", channel="api",
            summary="API submission", body="Call me back.\nAlso gave the email "
            "Z.Quixotova@Work.example (this lead keeps its own)\nAlso gave the phone "
            "+442079460999 (open lead #7 has it: the same person?)")
        migrate(AFTER)
        person = find_person(email="z.quixotova@work.example")
        assert person.lead_ids == [lead.pk]
        assert person.phones == {"+442079460958", "+442079460999"}
