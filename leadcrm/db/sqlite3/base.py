"""SQLite, where writers wait in a queue instead of in SQLite's sleeping busy handler.

SQLite lets one write transaction in at a time. Django's IMMEDIATE transactions ask for the
write lock at BEGIN, and a connection that finds it taken waits in SQLite's busy handler,
which sleeps in growing steps (1, 2, 5 ... 100 ms) between tries: under load a waiting
request often sleeps on long after the lock is free, and the intake's p99 went to a second
at 150 leads/s while each transaction held the lock for about 7 ms.

Here every write first takes an exclusive flock on `<database>.writer-lock` (the gunicorn
workers, the qcluster and the management commands alike): a transaction from BEGIN to its
COMMIT or ROLLBACK, and an INSERT, UPDATE or DELETE outside one (in autocommit, such as
django-q2's own) for its statement, so they are not left to the busy handler behind a queue.
The next writer is woken as soon as the last one is done. The operating system drops the
lock of a process that dies, so a killed worker never leaves it held. The wait is bounded by
the connection's `timeout` (20 s in our settings): past it, the transaction goes on to BEGIN
IMMEDIATE as before and SQLite's own busy handling decides. So does every write where the
lock cannot be had at all (no flock on the file system, no fcntl on the platform). In-memory
databases (the test suite's) have no other process to wait for and take no lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import threading
from collections.abc import Callable

from django.db.backends.sqlite3 import base

try:
    import fcntl
except ImportError:  # not a POSIX platform: SQLite's own busy handling, as stock Django
    fcntl = None

logger = logging.getLogger(__name__)
_warned: set[str] = set()


def _without_queue(path: str, exc: OSError) -> None:
    if path not in _warned:  # once per process and file, not on every write
        _warned.add(path)
        logger.warning("SQLite writers wait in SQLite's busy handler (%s): %s", path, exc)


def wait_for_lock(path: str, timeout: float) -> int | None:
    """Wait up to `timeout` seconds for the exclusive lock on `path`; the locked file
    descriptor (closing it releases the lock), or None when the wait timed out or the lock
    cannot be had here."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        _without_queue(path, exc)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd  # nobody was writing: the usual case under light load
    except BlockingIOError:
        pass
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):  # a file system without flock, say
            _without_queue(path, exc)
            return None
        raise
    # flock() has no timeout: a helper thread waits, and gives the place up if it comes too
    # late. Each wait has a descriptor of its own, so an abandoned one never releases a
    # later transaction's lock.
    guard = threading.Lock()
    done = threading.Event()
    state = {"locked": False, "abandoned": False}

    def wait() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        with guard:
            state["locked"] = locked
            if state["abandoned"] or not locked:
                os.close(fd)
            done.set()

    threading.Thread(target=wait, name="sqlite-writer-queue", daemon=True).start()
    done.wait(timeout)
    with guard:
        if done.is_set():
            return fd if state["locked"] else None
        state["abandoned"] = True
    return None


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class QueuedCursor(base.SQLiteCursorWrapper):
    """A statement that writes outside a transaction waits its turn like a transaction."""

    def __init__(self, connection, *, db: DatabaseWrapper):
        super().__init__(connection)
        self.db = db

    def execute(self, query, params=None):
        with self.db.turn_for(query):
            return super().execute(query, params)

    def executemany(self, query, param_list):
        with self.db.turn_for(query):
            return super().executemany(query, param_list)


_ANY, _ONE = object(), object()


@functools.lru_cache(maxsize=512)
def _like_matcher(pattern: str, escape: str | None) -> Callable[[str], bool]:
    """A LIKE pattern (% any run, _ one character, `escape` before a literal) as a test of a
    text. The usual one, Django's contains and icontains (“%text%”), is a substring test: the
    regex (with its leading .*) cost some thirty times as much, and an erasure reads every
    lead-less event against every token of the person (capture.privacy)."""
    parts, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if escape and char == escape and i + 1 < len(pattern):
            parts.append(pattern[i + 1])
            i += 2
            continue
        parts.append(_ANY if char == "%" else _ONE if char == "_" else char)
        i += 1
    middle = parts[1:-1]
    if (len(parts) >= 2 and parts[0] is _ANY and parts[-1] is _ANY
            and all(isinstance(part, str) for part in middle)):
        literal = "".join(middle)
        return lambda text: literal in text
    regex = re.compile("".join(".*" if part is _ANY else "." if part is _ONE
                               else re.escape(part) for part in parts), re.DOTALL)
    return lambda text: regex.fullmatch(text) is not None


def unicode_like(pattern, value, escape=None) -> bool | None:
    """SQLite's LIKE, case-blind for every alphabet: SQLite's own folds ASCII only, so a
    search for "KOVÁCS" missed "Kovács" and a filter for "über" missed "ÜBER" (Django's
    icontains and contains are LIKE on SQLite). PostgreSQL's UPPER() LIKE already does this."""
    if pattern is None or value is None:
        return None
    return _like_matcher(str(pattern).casefold(), escape)(str(value).casefold())


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_fd: int | None = None

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.create_function("like", 2, unicode_like, deterministic=True)
        connection.create_function("like", 3, unicode_like, deterministic=True)
        return connection

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=functools.partial(QueuedCursor, db=self))

    @contextlib.contextmanager
    def turn_for(self, query: str):
        """A turn for one statement that writes in autocommit, on a file database, while this
        connection holds none; nothing for the rest."""
        if not (self.autocommit and self._writer_fd is None
                and query[:32].lstrip()[:7].upper().startswith(WRITES)
                and not self.is_in_memory_db()):
            yield
            return
        self.lock_writer()
        try:
            yield
        finally:
            self.unlock_writer()

    def lock_writer(self) -> None:
        if self._writer_fd is None and not self.is_in_memory_db():
            options = self.settings_dict.get("OPTIONS") or {}
            self._writer_fd = wait_for_lock(f"{self.settings_dict['NAME']}.writer-lock",
                                          float(options.get("timeout", 5)))

    def unlock_writer(self) -> None:
        if self._writer_fd is not None:
            fd, self._writer_fd = self._writer_fd, None
            os.close(fd)

    def _start_transaction_under_autocommit(self):
        self.lock_writer()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self.unlock_writer()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self.unlock_writer()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self.unlock_writer()

    def _close(self):
        try:
            return super()._close()
        finally:
            self.unlock_writer()
