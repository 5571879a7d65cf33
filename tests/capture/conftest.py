"""Fixtures for the channel tests: provider payloads from payloads/<channel>/, secrets set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PAYLOADS = Path(__file__).parent / "payloads"


def load_json(channel: str, name: str) -> dict:
    """A payload fixture without its "_source" note (the note says where the shape is from)."""
    data = json.loads((PAYLOADS / channel / name).read_text())
    assert data.pop("_source"), f"{channel}/{name} must say where its shape comes from"
    return data


def load_bytes(channel: str, name: str) -> bytes:
    return (PAYLOADS / channel / name).read_bytes()


@pytest.fixture(autouse=True)
def _channel_secrets(settings):
    settings.TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"
    settings.TWILIO_WEBHOOK_BASE_URL = ""
    settings.META_APP_SECRET = "meta-app-secret"
    settings.META_VERIFY_TOKEN = "meta-verify-token"
    settings.META_PAGE_ACCESS_TOKEN = "page-token"
    settings.CALENDLY_SIGNING_KEY = "calendly-signing-key"
    settings.EMAIL_OWN_ADDRESSES = ["sales@example.com"]
    settings.TELEGRAM_WEBHOOK_SECRET = "telegram-webhook-secret"
    settings.SLACK_SIGNING_SECRET = "slack-signing-secret"
    settings.SLACK_CHANNEL_IDS = []
    settings.X_CONSUMER_SECRET = "x-consumer-secret"
