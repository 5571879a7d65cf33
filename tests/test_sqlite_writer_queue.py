"""The SQLite backend's writer queue (leadcrm/db/sqlite3/base.py), on a real database file.

Each writer here turns SQLite's own busy wait off (busy_timeout=0), so a write that finds the
database locked fails at once: the writes below succeed only because they waited their turn
in the queue. Django's stock SQLite backend fails every one of them.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import OperationalError, connections

from leadcrm.db.sqlite3.base import DatabaseWrapper

HOLD_S = 0.4


def open_db(path: Path, *, timeout: float = 5.0) -> DatabaseWrapper:
    settings = dict(connections["default"].settings_dict, ENGINE="leadcrm.db.sqlite3",
                    NAME=str(path), OPTIONS={"transaction_mode": "IMMEDIATE", "timeout": timeout,
                                             "init_command": "PRAGMA busy_timeout=0"})
    return DatabaseWrapper(settings, alias=f"queue-test-{threading.get_ident()}")


@pytest.fixture(autouse=True)
def _own_connections(django_db_blocker):
    """These tests open connections of their own to files of their own, not the test DB."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE note (text TEXT NOT NULL)")
    return path


def begin(db: DatabaseWrapper) -> None:
    """What transaction.atomic() does on entry, on a connection that is not `default`."""
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def end(db: DatabaseWrapper, *, commit: bool = True) -> None:
    db.commit() if commit else db.rollback()
    db.set_autocommit(True)


def insert(db: DatabaseWrapper, text: str) -> None:
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO note (text) VALUES (%s)", [text])


def notes(path: Path) -> list[str]:
    with sqlite3.connect(path) as raw:
        return [row[0] for row in raw.execute("SELECT text FROM note ORDER BY rowid")]


def in_thread(work) -> dict:
    """Run work() in a thread of its own (its own connection); its error and end time."""
    outcome: dict = {}

    def run():
        try:
            work()
        except Exception as exc:  # the test reads it
            outcome["error"] = exc
        outcome["finished"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    outcome["thread"] = thread
    return outcome


def hold_a_transaction(path: Path) -> DatabaseWrapper:
    """A first writer, in a transaction that has written and not ended."""
    first = open_db(path)
    begin(first)
    insert(first, "first")
    return first


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_a_second_transaction_waits_for_the_first_and_then_writes(db_file, commit):
    first = hold_a_transaction(db_file)

    def second_transaction():
        second = open_db(db_file)
        begin(second)
        insert(second, "second")
        end(second)
        second.close()

    waiting = in_thread(second_transaction)
    time.sleep(HOLD_S)
    assert "finished" not in waiting  # still in the queue while the first holds the lock
    released = time.monotonic()
    end(first, commit=commit)
    waiting["thread"].join(10)

    assert "error" not in waiting, waiting.get("error")
    assert waiting["finished"] - released < HOLD_S  # woken by the release, not by a timeout
    assert notes(db_file) == (["first", "second"] if commit else ["second"])
    first.close()


def test_a_write_outside_a_transaction_waits_its_turn_too(db_file):
    first = hold_a_transaction(db_file)

    def autocommit_insert():  # as django-q2 writes its own rows, and a bare save()
        second = open_db(db_file)
        insert(second, "autocommit")
        second.close()

    waiting = in_thread(autocommit_insert)
    time.sleep(HOLD_S)
    assert "finished" not in waiting
    end(first)
    waiting["thread"].join(10)

    assert "error" not in waiting, waiting.get("error")
    assert notes(db_file) == ["first", "autocommit"]
    first.close()


def test_the_wait_is_bounded_by_the_connection_timeout(db_file):
    first = hold_a_transaction(db_file)
    impatient = open_db(db_file, timeout=0.2)
    started = time.monotonic()

    with pytest.raises(OperationalError, match="locked"):
        begin(impatient)
        insert(impatient, "too late")
    waited = time.monotonic() - started
    impatient.rollback()
    impatient.set_autocommit(True)

    assert 0.15 < waited < 2  # gave up after its timeout; never hangs
    end(first)
    begin(impatient)  # the queue is free again: its next turn comes at once
    insert(impatient, "next")
    end(impatient)
    assert notes(db_file) == ["first", "next"]
    impatient.close()
    first.close()


def test_a_killed_writer_does_not_keep_the_queue(db_file, tmp_path):
    ready = tmp_path / "holding"
    script = (
        "import sys, time, pathlib\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure()\n"
        "from leadcrm.db.sqlite3.base import DatabaseWrapper\n"
        "db = DatabaseWrapper({'NAME': sys.argv[2], 'OPTIONS': {'transaction_mode': "
        "'IMMEDIATE', 'timeout': 5}, 'TIME_ZONE': None, 'CONN_MAX_AGE': 0, "
        "'CONN_HEALTH_CHECKS': False, 'AUTOCOMMIT': True, 'ATOMIC_REQUESTS': False, "
        "'TEST': {}, 'USER': '', 'PASSWORD': '', 'HOST': '', 'PORT': ''})\n"
        "db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)\n"
        "db.cursor().execute(\"INSERT INTO note (text) VALUES ('never committed')\")\n"
        "pathlib.Path(sys.argv[3]).touch()\n"
        "time.sleep(60)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, root, str(db_file), str(ready)])
    try:
        for _ in range(200):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists(), "the holding process did not start its transaction"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)

        after = open_db(db_file, timeout=2)
        begin(after)
        insert(after, "after the kill")
        end(after)
        after.close()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert notes(db_file) == ["after the kill"]


def test_in_memory_databases_take_no_lock(tmp_path):
    db = open_db(tmp_path / "unused.sqlite3")
    db.settings_dict["NAME"] = ":memory:"
    begin(db)
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE t (x INTEGER)")
        cursor.execute("INSERT INTO t VALUES (1)")
    assert db._writer_fd is None
    end(db)
    db.close()
    assert not list(tmp_path.glob("*.writer-lock"))


def test_where_no_lock_can_be_had_sqlite_decides_as_before(db_file, caplog):
    """Where the lock file cannot be opened (here a folder stands in its place; elsewhere a
    file system without flock) writes still go through: the lock is a queue, never a new way
    to fail."""
    (db_file.parent / f"{db_file.name}.writer-lock").mkdir()
    db = open_db(db_file)

    begin(db)
    insert(db, "no queue")
    assert db._writer_fd is None
    end(db)
    insert(db, "autocommit")
    db.close()

    assert notes(db_file) == ["no queue", "autocommit"]
    assert "busy handler" in caplog.text
