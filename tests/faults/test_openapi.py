"""The JSON API against the description it publishes (GET /api/v1/openapi.json), fuzzed by
schemathesis: leads that fit the schema and leads that break it (wrong types, lengths, unknown
keys, no email or phone), with every kind of custom field defined, each sent with a valid key.
Every answer must be one the document lists, with the body and headers it describes: never a
5xx, never anything half-written. tests/faults/test_fuzz.py sends what no schema describes
(bytes, bad encodings, forged keys)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from capture.models import ApiKey, CustomField, Lead
from tests.faults.conftest import half_written, size

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
EXAMPLES = size(40, 250)


@pytest.fixture
def custom_fields(db):
    kinds = CustomField.Kind
    CustomField.objects.bulk_create([
        CustomField(label="Seats", key="seats", kind=kinds.NUMBER, min_value=1,
                    max_value=100_000),
        CustomField(label="Go-live", key="go_live", kind=kinds.DATE),
        CustomField(label="Has a team", key="has_team", kind=kinds.YES_NO),
        CustomField(label="Plan", key="plan", kind=kinds.CHOICE,
                    choices="Starter\nGrowth\nEnterprise, annual"),
        CustomField(label="Clouds", key="clouds", kind=kinds.MULTI_CHOICE,
                    choices="AWS\nGCP\nAzure"),
        CustomField(label="Notes", key="notes", kind=kinds.LONG_TEXT),
    ])


@pytest.fixture
def published(custom_fields, settings) -> dict:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 0
    answer = Client().get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    return answer.json()


def test_the_document_describes_every_field_the_api_takes(published):
    lead = published["components"]["schemas"]["Lead"]["properties"]
    assert {"email", "phone", "utm_campaign", "consent", "consent_text"} <= set(lead)
    assert lead["seats"] == {"type": "number", "nullable": True, "minimum": 1.0,
                             "maximum": 100_000.0, "description": "Custom field “Seats”"}
    assert lead["clouds"]["items"]["enum"] == ["AWS", "GCP", "Azure"]
    assert lead["plan"]["enum"][-1] == "Enterprise, annual"
    assert lead["first_name"]["oneOf"][0] == {"type": "string", "maxLength": 100}
    schema = schemathesis.openapi.from_dict(published)
    schema.validate()  # against the OpenAPI 3.0 meta-schema: raises on a malformed document
    assert [op.ok().label for op in schema.get_all_operations()] == ["POST /api/v1/leads/"]


@pytest.fixture
def wsgi_app():
    """Django's WSGI application, called in this thread on the test's own database connection.
    As Django's test client does, the connection is not closed at each request's end (on
    PostgreSQL that closed the test's transaction under it)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_its_document_says(published, wsgi_app, mode):
    key, secret = ApiKey.issue("Partner", source="partner")
    ApiKey.objects.filter(pk=key.pk).update(rate_limit_per_minute=0)
    schema = schemathesis.openapi.from_dict(published)
    schema.app = wsgi_app
    operation = schema["/api/v1/leads/"]["POST"]
    statuses: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        with transaction.atomic():  # each example starts clean; a failure shrinks to one
            response = case.call(headers={"Authorization": f"Bearer {secret}"})
            case.validate_response(response, checks=CHECKS)
            assert half_written() == []
            statuses.append(response.status_code)
            transaction.set_rollback(True)

    check()
    # Both sides were reached: leads taken in, and fields refused with their names.
    assert 400 in statuses
    if mode == GenerationMode.POSITIVE:
        assert {200, 201} & set(statuses)
    assert not Lead.objects.exists()
