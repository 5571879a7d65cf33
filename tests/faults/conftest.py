"""Fixtures for the fault and abuse suite: sizes (short by default, FAULTS_FULL=1 for the full
run), provider secrets, a signed webhook source and an API key, signing helpers, and the check
that nothing is half-written."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from capture.models import ApiKey, InboundEvent, Interaction, Lead, WebhookSource

FULL = os.environ.get("FAULTS_FULL", "") not in ("", "0", "false", "no")


def size(short: int, full: int) -> int:
    """How many of something a test does: `short` in make test, `full` under make faults."""
    return full if FULL else short


TWILIO_TOKEN = "fault-suite-twilio-token-0123456789"
META_SECRET = "fault-suite-meta-app-secret"
CALENDLY_KEY = "fault-suite-calendly-signing-key"
WEBHOOK_SECRET = "whsec_fault-suite-webhook-secret"
ANYMAIL_AUTH = "esp:fault-suite-password"
MAILGUN_KEY = "fault-suite-mailgun-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def provider_secrets(settings):
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    settings.TWILIO_WEBHOOK_BASE_URL = ""
    settings.META_APP_SECRET = META_SECRET
    settings.META_VERIFY_TOKEN = "fault-suite-verify-token"
    settings.CALENDLY_SIGNING_KEY = CALENDLY_KEY
    settings.ANYMAIL = {"WEBHOOK_SECRET": ANYMAIL_AUTH, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}
    return settings


@pytest.fixture
def webhook_source(db) -> WebhookSource:
    return WebhookSource.objects.create(slug="zap", name="Zapier", secret=WEBHOOK_SECRET)


@pytest.fixture
def api_key(db) -> tuple[ApiKey, str]:
    return ApiKey.issue("Partner", source="partner", accepts_form_posts=True)


# --- signing the way each provider does ------------------------------------------------------

def webhook_headers(body: bytes, secret: str = WEBHOOK_SECRET, **extra) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                      hashlib.sha256).hexdigest()
    return {"HTTP_X_LEADCRM_TIMESTAMP": timestamp,
            "HTTP_X_LEADCRM_SIGNATURE": f"sha256={digest}", **extra}


def calendly_header(body: bytes, key: str = CALENDLY_KEY) -> str:
    timestamp = str(int(time.time()))
    digest = hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def meta_header(body: bytes, secret: str = META_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_signature(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def basic_auth(credentials: str = ANYMAIL_AUTH) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


# --- nothing half-written --------------------------------------------------------------------

def half_written() -> list[str]:
    """What a user would see as broken data: empty leads, orphan timeline entries, events
    marked processed without their lead, or events whose processing crashed."""
    problems = []
    if lonely := list(Lead.objects.filter(interactions__isnull=True).values_list("pk", flat=True)):
        problems.append(f"leads without any interaction: {lonely}")
    unsourced = Interaction.objects.filter(
        direction=Interaction.Direction.INBOUND, inbound_event__isnull=True)
    if unsourced.exists():
        problems.append(f"inbound interactions without their event: {list(unsourced[:5])}")
    processed = InboundEvent.objects.filter(status=InboundEvent.Status.PROCESSED)
    if orphan := list(processed.filter(lead__isnull=True).values_list("pk", flat=True)):
        problems.append(f"processed events without a lead: {orphan}")
    no_timeline = processed.filter(interactions__isnull=True).values_list("pk", flat=True)
    if no_timeline := list(no_timeline):
        problems.append(f"processed events without an interaction: {no_timeline}")
    failed = InboundEvent.objects.filter(status=InboundEvent.Status.FAILED)
    if failed.exists():
        problems.append("events whose processing crashed: "
                        + "; ".join(f"{e.channel} {e.external_id}: {e.reason}"
                                    for e in failed[:5]))
    return problems


# --- servers of our own, on 127.0.0.1, always stopped ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def database_url_of(settings_dict: dict) -> str:
    """The URL of a database Django is connected to (the test database), for a subprocess."""
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TASK_BROKER")}
    env.update(DATABASE_URL=database_url, DEBUG="false", LOG_LEVEL="WARNING",
               DJANGO_SETTINGS_MODULE="leadcrm.settings", FORM_RATE_LIMIT_PER_MINUTE="0",
               WEBHOOK_RATE_LIMIT_PER_MINUTE="0", **extra)
    return env


def wait_until(check, *, seconds: float, every: float = 0.1) -> bool:
    """Poll `check` until it is true or `seconds` pass (every loop here is bounded in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return bool(check())


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Stop a process we started (and its children: it leads its own session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=wait)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], log_path: Path, workers: int = 4):
    """gunicorn with sync workers on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "leadcrm.wsgi", "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5",
             # No control socket: it would be ~/.gunicorn/gunicorn.ctl, shared with others.
             "--no-control-socket"],
            cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                    return answer.status == 200
            except OSError:
                return proc.poll() is not None  # died: stop waiting
        # Bounded; generous because a loaded 2-core CI machine boots 8 workers slowly.
        assert wait_until(up, seconds=120, every=0.2) and proc.poll() is None, \
            log_path.read_text()[-3000:]
        yield base
    finally:
        stop_group(proc)
