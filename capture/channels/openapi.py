"""The JSON API's OpenAPI 3.0 description, `GET /api/v1/openapi.json`.

Built on each request from what the API itself checks against: the lead fields and their
lengths (capture.fields), the keys it accepts besides them, and the active custom fields with
their types and answers. So it never drifts from the code: a partner generates a client from
it, and the test suite fuzzes the API against it (tests/faults/test_openapi.py, schemathesis).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from capture.channels.api import MAX_BODY, MAX_CONSENT_TEXT
from capture.custom_fields import (
    FALSE_WORDS,
    MAX_LENGTH,
    MAX_NUMBER,
    TRUE_WORDS,
    active_definitions,
)
from capture.fields import ATTRIBUTION_LABELS, LEAD_FIELDS, MAX_LENGTHS, LeadField
from capture.models import CustomField

Kind = CustomField.Kind
LABELS = {**dict(LeadField.choices), **ATTRIBUTION_LABELS}

# A lead field is text; a number or true/false is read as its text (a zip code sent as 90210).
TEXT_LIKE = ({"type": "number"}, {"type": "boolean"})


def _text(max_length: int, description: str, **extra) -> dict:
    return {"description": description, "nullable": True,
            "oneOf": [{"type": "string", "maxLength": max_length, **extra}, *TEXT_LIKE]}


def _custom_field(definition: CustomField) -> dict:
    about = f"Custom field “{definition.label}”" + (
        f": {definition.help_text}" if definition.help_text else "")
    kind = definition.kind
    if kind in (Kind.SHORT_TEXT, Kind.LONG_TEXT):
        return _text(MAX_LENGTH[kind], about)
    if kind == Kind.NUMBER:
        low, high = definition.min_value, definition.max_value
        return {"type": "number", "nullable": True, "description": about,
                "minimum": float(low) if low is not None else -MAX_NUMBER,
                "maximum": float(high) if high is not None else MAX_NUMBER}
    if kind == Kind.DATE:
        return {"type": "string", "format": "date", "nullable": True, "description": about}
    if kind == Kind.YES_NO:
        return {"type": "boolean", "nullable": True, "description": about}
    answer = {"type": "string", "enum": definition.choice_list}
    if kind == Kind.CHOICE:
        return {**answer, "nullable": True, "description": about}
    return {"type": "array", "items": answer, "nullable": True,
            "description": f"{about} (several answers)"}


def lead_schema() -> dict:
    properties = {name: _text(MAX_LENGTHS[name], LABELS.get(name, name)) for name in LEAD_FIELDS}
    # The two ways to reach the person are text only.
    properties["email"] = {"type": "string", "format": "email", "maxLength": MAX_LENGTHS["email"],
                           "description": "Email"}
    properties["phone"] = {"type": "string", "maxLength": MAX_LENGTHS["phone"],
                           "description": "Phone: E.164 (+44 20 7946 0000), or national in the "
                           "key's region"}
    properties["consent"] = {
        "description": "The person ticked a consent box (true / false, yes / no)",
        "nullable": True, "oneOf": [{"type": "boolean"}, {"type": "string", "enum": sorted(
            TRUE_WORDS | FALSE_WORDS | {""})}]}
    properties["consent_text"] = {"type": "string", "maxLength": MAX_CONSENT_TEXT,
                                  "nullable": True,
                                  "description": "The wording the person agreed to"}
    for key, definition in active_definitions().items():
        properties[key] = _custom_field(definition)
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "description": "One lead: its fields by name (a key's field mapping may accept "
            "other names). An email address or a phone number is required.",
            "anyOf": [{"required": ["email"]}, {"required": ["phone"]}]}


def _json(schema_name: str, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema_name}"}}}}
    return {**answer, "headers": headers} if headers else answer


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "required": True,
                               "schema": {"type": "integer", "minimum": 0}}}
STATUS = {"type": "string"}
EVENT_ID = {"type": "integer", "description": "The stored request (admin: Inbound events)"}


def document() -> dict:
    error = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "description": "Messages by the field name you sent",
                   "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        "event_id": EVENT_ID}}
    taken = {"type": "object", "required": ["id", "status", "event_id"], "properties": {
        "id": {"type": "integer", "description": "The lead's id"},
        "status": {**STATUS, "enum": ["created", "matched"]}, "event_id": EVENT_ID}}
    ignored = {"type": "object", "required": ["status", "event_id"], "properties": {
        "status": {**STATUS, "enum": ["ignored"]}, "event_id": EVENT_ID,
        "reason": {"type": "string"}}}
    queued = {"type": "object", "required": ["status", "event_id"], "properties": {
        "status": {**STATUS, "enum": ["queued"]}, "event_id": EVENT_ID}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "leadcrm intake API", "version": "1",
                 "description": "Send leads from a partner's system; see docs/channels.md. "
                 "Every request is stored before it is answered: a 2xx never loses a lead, and "
                 "the same Idempotency-Key returns the first answer again."},
        "servers": [{"url": settings.SITE_URL.rstrip("/")}],
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "python manage.py create_api_key"}},
            "schemas": {"Lead": lead_schema(), "Taken": taken, "Ignored": ignored,
                        "Queued": queued, "Error": error},
        },
        "security": [{"apiKey": []}],
        "paths": {"/api/v1/leads/": {"post": {
            "operationId": "createLead",
            "summary": "Take in one lead (a new one, or matched to the person's open lead)",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "description": "Your id for this lead; a retry with it creates "
                            "nothing and gets the first answer",
                            "schema": {"type": "string", "maxLength": 200}}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Lead"}}}},
            "responses": {
                "201": _json("Taken", "A new lead"),
                "200": {"description": "The person was already a lead (matched), or may not "
                        "be taken in (ignored)", "content": {"application/json": {
                            "schema": {"oneOf": [{"$ref": "#/components/schemas/Taken"},
                                                 {"$ref": "#/components/schemas/Ignored"}]}}}},
                "202": _json("Queued", "Stored; taking it in failed and is retried"),
                "400": _json("Error", "Bad JSON, or fields to fix (named in `fields`)"),
                "401": _json("Error", "No key, or a wrong or revoked one", {
                    "WWW-Authenticate": {"schema": {"type": "string"}}}),
                "405": _json("Error", "Only POST", {
                    "Allow": {"schema": {"type": "string"}}}),
                "411": _json("Error", "A chunked body the server cannot end (send a "
                             "Content-Length)"),
                "413": _json("Error", f"A body over {MAX_BODY // 1024} KB"),
                "415": _json("Error", "Not application/json"),
                "422": _json("Error", "The Idempotency-Key was used with a different body"),
                "429": _json("Error", "Over the key's requests a minute", RETRY_AFTER),
                "503": _json("Error", "The database is unreachable: retry", RETRY_AFTER),
            },
        }}},
    }


@csrf_exempt  # a POST is a 405, not the CSRF page
@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(document(), json_dumps_params={"ensure_ascii": False})
