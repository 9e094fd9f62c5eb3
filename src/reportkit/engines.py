"""Engines for the store's URLs: SQLite files made private, a busy store waited for,
retried with back-off and then named in one error.

:func:`reportkit.store.connect` is the way in; this module holds what it builds
on. A new SQLite file is created 0600 (0640 when ``REPORTKIT_GROUP`` names a
group, which then owns it), its folders 0700/0750, always within the umask; SQLite
gives its ``-wal`` and ``-shm`` files the database file's mode. Write transactions
on SQLite start with ``BEGIN IMMEDIATE``: the write lock is taken before anything
is written, so a store locked by another process is waited for
(``REPORTKIT_DB_BUSY_TIMEOUT`` seconds, default 30) and tried again
(``REPORTKIT_DB_RETRIES`` times, default 2, after ``REPORTKIT_DB_BACKOFF`` seconds,
default 1, doubling) before :class:`~reportkit.errors.StoreLockedError` names it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Engine

from reportkit.errors import ConfigError, StoreError, StoreLockedError
from reportkit.files import dir_mode, ensure_dir, file_mode, give_to_group

__all__ = [
    "BACKOFF_ENV",
    "BUSY_TIMEOUT_ENV",
    "RETRIES_ENV",
    "SQLITE_PAGE_SIZE",
    "create_engine",
    "describe_url",
    "ensure_private_dir",
    "private_mode",
    "sqlite_path",
]

log = logging.getLogger("reportkit.store")

SQLITE_PAGE_SIZE = 16_384  # bytes, for new SQLite files

# --- files of the store: private, the umask respected ----------------------------


def private_mode(*, folder: bool = False) -> int:
    """0o600 for a file of people's data, 0o700 for a folder; 0o640/0o750 with the group
    of ``$REPORTKIT_GROUP`` (:mod:`reportkit.files`), within the umask."""
    return dir_mode() if folder else file_mode()


def ensure_private_dir(path: Path | str) -> Path:
    """``path`` as a folder; each folder created on the way is private. Folders that
    exist are left as they are (the store may live in a folder of the user's)."""
    return ensure_dir(path, narrow=False)


def _create_sqlite_file(path: Path) -> None:
    """An empty file of the right mode for SQLite to fill; its -wal and -shm files
    take the same mode (and owner and group) from it."""
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, private_mode())
    except FileExistsError:
        return
    os.close(fd)
    give_to_group(path)


# --- a store that is busy: wait, retry with back-off, then one clear error ---------

BUSY_TIMEOUT_ENV = "REPORTKIT_DB_BUSY_TIMEOUT"
RETRIES_ENV = "REPORTKIT_DB_RETRIES"
BACKOFF_ENV = "REPORTKIT_DB_BACKOFF"


def _env_number(name: str, default: float, minimum: float = 0.0) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(name, value=text, reason=f"must be a number of {minimum:g} or more")
    return value


@dataclass(frozen=True)
class _LockPolicy:
    """How long SQLite waits for another process's write lock, and how often to try again.

    SQLite itself waits ``busy_timeout`` seconds (sleeping and retrying inside);
    a transaction that still cannot start is tried again ``retries`` times, after
    ``backoff`` seconds doubling each time (at most 30), before one
    :class:`StoreLockedError` naming the store ends the command.
    """

    store: str
    busy_timeout: float
    retries: int
    backoff: float

    @classmethod
    def from_env(cls, store: str) -> _LockPolicy:
        return cls(
            store,
            _env_number(BUSY_TIMEOUT_ENV, 30.0),
            int(_env_number(RETRIES_ENV, 2)),
            _env_number(BACKOFF_ENV, 1.0),
        )

    def error(self, attempts: int, seconds: float) -> StoreLockedError:
        return StoreLockedError(
            f"the store {self.store} is locked by another process: still busy after "
            f"{attempts} attempt{'s' if attempts > 1 else ''} over {seconds:.0f} s "
            f"(waits {self.busy_timeout:g} s each: {BUSY_TIMEOUT_ENV}, {RETRIES_ENV})"
        )

    def call(self, retry: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, tried again while the store is busy if ``retry`` (when the
        statement starts a transaction: nothing was written yet)."""
        started = time.monotonic()
        if not retry:
            try:
                return fn(*args)
            except sqlite3.OperationalError as exc:
                if _busy(exc):
                    raise self.error(1, time.monotonic() - started) from exc
                raise
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_busy),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff, max=30),
            before_sleep=self._note_retry,
            reraise=True,
        )
        try:
            return retrying(fn, *args)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise self.error(self.retries + 1, time.monotonic() - started) from exc
            raise

    def _note_retry(self, state: tenacity.RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "the store %s is locked by another process; trying again in %.1f s (attempt %d of %d)",
            self.store,
            wait,
            state.attempt_number + 1,
            self.retries + 1,
        )


def _busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(exc)


def _sqlite_connection_class(policy: _LockPolicy) -> type[sqlite3.Connection]:
    """A DB-API connection whose write transactions start with ``BEGIN IMMEDIATE``.

    The write lock is then taken when a transaction starts, before anything is
    written, so a busy store is tried again safely (:meth:`_LockPolicy.call`);
    within a transaction a busy store is an error at once (no statement is repeated).
    """

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = ()) -> Any:
            if sql.strip().upper() == "BEGIN":  # an explicit transaction writes, too
                sql = "BEGIN IMMEDIATE"
            retry = not self.connection.in_transaction
            return policy.call(retry, super().execute, sql, parameters)

        def executemany(self, sql: str, seq: Any) -> Any:
            # a generator cannot be replayed: only a list is tried again
            retry = not self.connection.in_transaction and isinstance(seq, list | tuple)
            return policy.call(retry, super().executemany, sql, seq)

    class Connection(sqlite3.Connection):
        def cursor(self, factory: Any = None) -> Any:
            return super().cursor(factory or Cursor)

        def execute(self, sql: str, parameters: Any = ()) -> Any:
            return self.cursor().execute(sql, parameters)

        def executemany(self, sql: str, seq: Any) -> Any:
            return self.cursor().executemany(sql, seq)

    return Connection


def _sqlite_pragmas(busy_timeout: float) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # a new file's pages: 16 KiB write a day's check-ins with fewer page splits and WAL
        # frames than the default 4 KiB (no effect on an existing file, nor once in WAL mode)
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return pragmas


# --- engines -------------------------------------------------------------------------


def describe_url(url: str | sa.engine.URL) -> str:
    """The URL as shown to people: password hidden, a relative SQLite path made absolute."""
    try:
        parsed = sa.engine.make_url(url) if isinstance(url, str) else url
    except sa.exc.ArgumentError:
        return repr(str(url))
    path = sqlite_path(parsed)
    if path is not None and not Path(parsed.database or "").is_absolute():
        return f"{parsed.render_as_string(hide_password=True)} ({path.resolve()})"
    return parsed.render_as_string(hide_password=True)


def sqlite_path(parsed: sa.engine.URL) -> Path | None:
    """The file of a SQLite URL (None for other databases and for ``:memory:``)."""
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def create_engine(parsed: sa.engine.URL) -> Engine:
    """An engine for ``parsed``; a SQLite file that is not there is created private first."""
    shown = describe_url(parsed)
    kwargs: dict[str, Any] = {}
    sqlite = parsed.get_backend_name() == "sqlite"
    policy = _LockPolicy.from_env(shown)
    if sqlite:
        path = sqlite_path(parsed)
        if path is not None and not path.exists():
            _create_sqlite_file(path)
        kwargs["connect_args"] = {
            "timeout": policy.busy_timeout,
            "check_same_thread": False,
            "isolation_level": "IMMEDIATE",
            "factory": _sqlite_connection_class(policy),
        }
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver, bad options
        raise StoreError(f"cannot open database {shown}: {exc}") from exc
    if sqlite:
        sa.event.listen(engine, "connect", _sqlite_pragmas(policy.busy_timeout))
    return engine
