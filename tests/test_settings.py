"""Settings read from the environment: a value outside the documented ones stops the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def check(**environment) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": "sqlite:////tmp/leadcrm-settings-check.sqlite3",
           **environment}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("environment", "message"), [
    ({"CLOSED_LEAD_MATCH": "bogus"}, "CLOSED_LEAD_MATCH='bogus': use one of link, reopen."),
    ({"TASK_BROKER": "rabbit"}, "TASK_BROKER='rabbit': use one of orm, redis."),
    ({"TASK_BROKER": "redis", "REDIS_URL": ""}, "TASK_BROKER=redis needs REDIS_URL."),
    # UK is no region phone numbers know (GB is): every number typed without +44 was refused
    # with "Add the country code", on every form and channel without a region of its own.
    ({"PHONE_DEFAULT_REGION": "UK"}, "PHONE_DEFAULT_REGION='UK': use a two-letter region"),
    # A number or time zone that does not read: the variable is named, not "invalid literal
    # for int() with base 10: 'two'" at the end of a traceback.
    ({"Q_WORKERS": "two"}, "Q_WORKERS='two': use a number."),
    ({"SESSION_HOURS": "half a day"}, "SESSION_HOURS='half a day': use a number."),
    ({"TRUSTED_PROXIES": "0"}, "TRUSTED_PROXIES=0: use the number of proxies"),
    ({"TIME_ZONE": "Europe/Berln"}, "TIME_ZONE='Europe/Berln': use a time zone name"),
    # It said only "Invalid email schema smtp2", naming no variable.
    ({"EMAIL_URL": "smtp2://mail.example.com"}, "EMAIL_URL='smtp2://mail.example.com': use"),
])
def test_a_setting_outside_its_documented_values_stops_the_start(environment, message):
    result = check(**environment)
    assert result.returncode != 0
    assert message in result.stderr
    # The message, not a 50-line traceback through Django's start-up that ends with it.
    assert "Traceback" not in result.stderr


def test_documented_values_are_taken_whatever_their_case():
    assert check(CLOSED_LEAD_MATCH="Reopen", TASK_BROKER="ORM",
                 PHONE_DEFAULT_REGION="gb").returncode == 0


def test_settings_named_on_the_command_line_are_the_ones_loaded(tmp_path):
    """manage.py reads the settings early to stop on a bad value with its message; --settings
    must still choose the module (it was read after leadcrm.settings was loaded: ignored)."""
    (tmp_path / "other_settings.py").write_text(
        "from leadcrm.settings import *  # noqa\nTIME_ZONE = 'Asia/Tokyo'\n")
    env = {**os.environ, "DATABASE_URL": "sqlite:////tmp/leadcrm-settings-check.sqlite3",
           "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "diffsettings", "--settings=other_settings"], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=120)
    assert "TIME_ZONE = 'Asia/Tokyo'" in result.stdout, result.stderr[-500:]


@pytest.mark.django_db
def test_the_log_has_no_line_per_queued_task_but_keeps_the_clusters_own(caplog):
    """Seen under make run and gunicorn: django-q2's "Enqueued [leadcrm] N" for every task, a
    line per lead, and 38 of them inside seed_demo's output."""
    import logging

    from django_q.tasks import async_task

    with caplog.at_level(logging.INFO):
        async_task("math.floor", 1.5)
        logging.getLogger("django-q").info("Q Cluster leadcrm starting.")
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if m.startswith("Enqueued")]
    assert "Q Cluster leadcrm starting." in messages
