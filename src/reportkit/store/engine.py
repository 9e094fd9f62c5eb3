"""Engines for the store's URLs: SQLite files made private, a busy store waited for,
retried with back-off and then named in one error.

:func:`connect` is the way in. Only ``ingest``, ``demo`` and ``init`` create a store
(``create=True``); everything that reads refuses one that is not there, or a school
with nobody on its roster (:func:`require_store`), rather than report zeros. A new SQLite file is created 0600 (0640 when ``REPORTKIT_GROUP`` names a
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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Engine

from reportkit.errors import (
    ConfigError,
    RosterMissingError,
    StoreError,
    StoreLockedError,
    StoreMissingError,
)
from reportkit.files import dir_mode, ensure_dir, file_mode, give_to_group
from reportkit.store.tables import metadata, people

if TYPE_CHECKING:
    from reportkit.config import SchoolsConfig, Settings

__all__ = [
    "BACKOFF_ENV",
    "BUSY_TIMEOUT_ENV",
    "RETRIES_ENV",
    "SQLITE_PAGE_SIZE",
    "bounded_wait",
    "connect",
    "create_engine",
    "describe_url",
    "ensure_private_dir",
    "error_reason",
    "private_mode",
    "require_store",
    "schools_without_roster",
    "sqlite_path",
]

log = logging.getLogger(__name__)

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


def error_reason(exc: Exception) -> str:
    """The first line of what the database (else the exception) said."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def bounded_wait(conn: sa.Connection, timeout_ms: int) -> Iterator[None]:
    """A transaction on ``conn`` that waits at most ``timeout_ms`` for another process's
    lock: SQLite's busy timeout of this connection (put back after), PostgreSQL's
    ``lock_timeout`` and ``statement_timeout`` of the transaction."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            yield
        return
    previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    conn.commit()
    try:
        with conn.begin():
            yield
    finally:
        try:
            conn.rollback()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(previous or 0)}")
            conn.commit()
        except sa.exc.SQLAlchemyError:
            conn.invalidate()  # never hand the pool a connection with the short wait


# --- connecting: a store that is there, or a clear refusal --------------------------

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def connect(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` with reportkit's tables; cached per URL.

    ``create=True`` (``ingest``, ``demo``, ``init``): a SQLite file that is not there is
    created (0600, or 0640 with ``REPORTKIT_GROUP``; its folder 0700/0750) with
    the tables. ``create=False`` (every command that only reads what is there): a store
    that is not there raises :class:`StoreMissingError` naming the URL (password
    hidden): a SQLite file that does not exist, a database that does not exist on its
    server or that has no reportkit tables. Either way, tables a newer version added
    are created in an existing store. ``postgresql://`` URLs use psycopg 3.
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    shown = describe_url(parsed)
    path = sqlite_path(parsed)
    if not create and path is not None and not path.exists():
        raise StoreMissingError(
            f"no store at {shown}: the file does not exist; create it with `reportkit init` "
            "(or give the right --db / REPORTKIT_DB)"
        )
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        engine = create_engine(parsed)
        try:
            if not create and not _has_tables(engine):
                raise StoreMissingError(
                    f"no store at {shown}: the database has no reportkit tables; "
                    "create them with `reportkit init`"
                )
            metadata.create_all(engine)
        except StoreError:
            engine.dispose()
            raise
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            if _missing_database(exc):
                raise StoreMissingError(
                    f"no store at {shown}: the database does not exist; create it "
                    "(createdb) and then `reportkit init`"
                ) from exc
            raise StoreError(f"cannot use the store {shown}: {error_reason(exc)}") from exc
        _engines[url] = engine
        return engine


def _missing_database(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig)
    return getattr(exc.orig, "sqlstate", None) == "3D000" or (
        "database" in text and "does not exist" in text
    )


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return sa.inspect(conn).has_table(people.name)


def schools_without_roster(engine: Engine, school_ids: Sequence[str]) -> list[str]:
    """Those of ``school_ids`` with nobody active on their roster in the store, in order."""
    ids = list(dict.fromkeys(school_ids))
    if not ids:
        return []
    stmt = (
        sa.select(people.c.school_id)
        .where(people.c.school_id.in_(ids), people.c.status == "active")
        .group_by(people.c.school_id)
    )
    with engine.connect() as conn:
        have = {row[0] for row in conn.execute(stmt)}
    return [s for s in ids if s not in have]


def require_store(
    settings: Settings,
    school_ids: Sequence[str] | None = None,
    district_ids: Sequence[str] | None = None,
    *,
    rosters: bool = True,
    config: SchoolsConfig | None = None,
) -> Engine:
    """The store of ``settings``, refused unless it is there with a roster for each school.

    The schools are those selected as the runner and the sender select them (the
    given ids, narrowed to ``district_ids``; every school of schools.yaml, or of the
    districts, when none is given). Raises :class:`StoreMissingError` (exit 2) for a
    store that is not there and :class:`RosterMissingError` (exit 2) naming the
    schools with nobody active on their roster: reading them would report zeros.
    ``rosters=False`` checks only that the store is there. One line at the start of
    every function that reads the store, so the library never reports zeros for what
    it does not have. ``config``: ``schools.yaml`` when the caller has parsed it already.
    """
    engine = connect(settings.db, create=False)
    if not rosters:
        return engine
    config = config or settings.schools()
    if school_ids:
        selected = [config.school(s).id for s in school_ids]
    else:
        selected = [s.id for s in config.schools]
    if district_ids:  # units: every school under them
        wanted = {s for d in district_ids for s in config.schools_under(config.unit(d).id)}
        selected = [s for s in selected if s in wanted]
    lacking = schools_without_roster(engine, selected)
    if lacking:
        raise RosterMissingError(lacking, describe_url(settings.db))
    return engine
