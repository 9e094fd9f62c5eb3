"""One command's run context: where things are, what they say, the store, the options.

A command (``reportkit run``, ``send``, ``daily`` …, the officer's console) builds one
:class:`RunContext` and passes it down. The runner, the sender and the afternoon job
read from it the :class:`~reportkit.config.Settings`, the parsed ``schools.yaml``,
``rules.yaml`` and ``delivery.yaml`` and the store's engine, each loaded once, on
first use, and shared by every copy made with :meth:`RunContext.with_options`; a
file that does not load raises its :class:`~reportkit.errors.ConfigError` each time
it is asked for, without being read again. ``schools.yaml``'s schools are written
into the store once, when a command that writes (``sync=True``) first connects.

:class:`RunOptions` holds the options of a run (jobs, language, formats, retries,
timeout, kernel reuse, a Dask scheduler, progress, send, dry run, force) and is the
one place their defaults are written: the ``reportkit`` command's argparse defaults
are read from it.

The functions that take a context also take bare :class:`~reportkit.config.Settings`
(a notebook, a script) and then build a context of their own (:meth:`RunContext.of`).

Nothing heavy is imported here: the parsers and SQLAlchemy load on first use, so the
command's ``--help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from reportkit.errors import ReportkitError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from sqlalchemy.engine import Engine

    from reportkit.config import DeliveryConfig, Rules, SchoolsConfig, Settings

__all__ = ["DEFAULT_KERNEL_REUSE", "FORMATS", "RunContext", "RunOptions"]

FORMATS: tuple[str, ...] = ("html", "pdf")
# reports one warm kernel runs in turn, reset between them, before it is replaced.
# Starting a kernel and importing in it costs about 0.75 core-s; a reset kernel grows
# about 10 KB a report (156 to 158 MB over 200 school reports, measured)
DEFAULT_KERNEL_REUSE = 100

T = TypeVar("T")


@dataclass(frozen=True)
class RunOptions:
    """How a run goes; the defaults of every entry point and of the command line.

    ``jobs``: notebooks executed at once; ``formats``: ``html`` and/or ``pdf``;
    ``retries``: of a failed report; ``timeout``: seconds a cell may run;
    ``kernel_reuse``: reports one warm kernel runs in turn (1: a fresh kernel per
    report); ``dask``: a Dask scheduler's address to run the reports on instead of the
    local threads; ``progress``: a progress display (None: when stderr is a terminal);
    ``send``: the afternoon job emails what it rendered; ``dry_run``: messages are
    written as ``.eml`` files, nothing is sent; ``force``: send again what was sent.
    """

    jobs: int = 2
    lang: str = "zh-CN"
    formats: tuple[str, ...] = FORMATS
    retries: int = 1
    timeout: float = 300.0
    kernel_reuse: int = DEFAULT_KERNEL_REUSE
    dask: str | None = None
    progress: bool | None = None
    send: bool = True
    dry_run: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "formats", tuple(self.formats))

    def merged(self, **changes: object) -> RunOptions:
        """These options with ``changes`` that are not None (an argument left out)."""
        given = {name: value for name, value in changes.items() if value is not None}
        return dataclasses.replace(self, **given) if given else self  # type: ignore[arg-type]


class _Loaded:
    """What a context has read or connected, shared by its copies; each item once."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[object, ReportkitError | None]] = {}
        self._lock = threading.RLock()  # the engine's loader asks for the schools

    def get(self, name: str, load: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._values:
                try:
                    self._values[name] = (load(), None)
                except ReportkitError as exc:  # a bad file stays bad for this command
                    self._values[name] = (None, exc)
            value, error = self._values[name]
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def has(self, name: str) -> bool:
        with self._lock:
            return name in self._values


@dataclass(frozen=True)
class RunContext:
    """Settings, parsed configuration, engine and options of one command.

    ``create``: a store that is not there is created (``ingest``); otherwise it is
    refused (:class:`~reportkit.errors.StoreMissingError`, exit 2). ``sync``: the
    command writes, so ``schools.yaml``'s schools are written into the store when it
    first connects.
    """

    settings: Settings
    options: RunOptions = field(default_factory=RunOptions)
    create: bool = False
    sync: bool = False
    _loaded: _Loaded = field(default_factory=_Loaded, repr=False, compare=False)

    @classmethod
    def of(
        cls,
        where: RunContext | Settings,
        *,
        options: RunOptions | None = None,
        create: bool = False,
        sync: bool = False,
    ) -> RunContext:
        """``where`` itself when it is a context (as it is); else a new one for the settings."""
        if isinstance(where, RunContext):
            return where
        return cls(where, options or RunOptions(), create=create, sync=sync)

    def with_options(self, **changes: object) -> RunContext:
        """A copy with :meth:`RunOptions.merged` options; what is loaded is shared."""
        options = self.options.merged(**changes)
        return self if options is self.options else dataclasses.replace(self, options=options)

    # -- the configuration, parsed once ------------------------------------------------

    @property
    def schools(self) -> SchoolsConfig:
        """``schools.yaml``, parsed (:meth:`Settings.schools <reportkit.config.Settings.schools>`)."""
        return self._loaded.get("schools", self.settings.schools)

    @property
    def rules(self) -> Rules:
        """``rules.yaml`` (the defaults when there is none), parsed."""
        return self._loaded.get("rules", self.settings.rules)

    @property
    def delivery(self) -> DeliveryConfig:
        """``delivery.yaml`` (the defaults when there is none), parsed."""
        return self._loaded.get("delivery", self.settings.delivery)

    @property
    def zone(self) -> ZoneInfo:
        """The deployment's time zone (``schools.yaml``'s ``timezone``)."""
        return self.schools.zone()

    # -- the store, connected once -----------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The store's engine (see ``create`` and ``sync``)."""
        return self._loaded.get("engine", self._connect)

    def _connect(self) -> Engine:
        from reportkit import store

        engine = store.connect(self.settings.db, create=self.create)
        if self.sync:
            store.sync_schools(engine, self.schools)
        return engine

    def require_store(
        self,
        school_ids: Sequence[str] | None = None,
        district_ids: Sequence[str] | None = None,
        *,
        rosters: bool = True,
    ) -> Engine:
        """The engine, refused unless the store is there with a roster for each selected
        school (:func:`reportkit.store.require_store`, from this context's schools)."""
        from reportkit import store

        engine = self.engine
        if rosters:
            store.require_store(self.settings, school_ids, district_ids, config=self.schools)
        return engine
