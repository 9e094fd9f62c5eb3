"""Loading and validating a deployment's ``params/*.yaml`` into typed objects.

``schools.yaml`` (the org tree of units and schools, recipients, calendars, upward
forms; the older ``districts:`` read as a two-level tree), ``rules.yaml`` (every threshold
of the flag engine) and ``delivery.yaml`` (SMTP and message settings). A bad file
raises one :class:`~reportkit.errors.ConfigError` naming the file, the key path
and the value. :class:`Settings` resolves ``--db``/``--params``/``--outputs`` and
their ``REPORTKIT_*`` environment variables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reportkit.errors import ConfigError
from reportkit.schema import CENTRAL_SCHOOL, RESPIRATORY_SYMPTOMS, SYMPTOMS, Session

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "ClusterRule",
    "DeliveryConfig",
    "District",
    "FormRef",
    "IngestLimits",
    "Recipient",
    "Rules",
    "School",
    "SchoolsConfig",
    "Settings",
    "SmtpConfig",
    "Unit",
    "is_loopback_host",
    "load_delivery",
    "load_rules",
    "load_schools",
    "load_yaml_model",
    "parse_hhmm",
    "project_settings",
]

M = TypeVar("M", bound=BaseModel)
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _safe_id(value: str) -> str:
    if not SAFE_ID.match(value):
        raise ValueError("must be letters, digits, '-' or '_' (it becomes a folder name)")
    return value


def parse_hhmm(value: Any) -> str:
    """A time of day as "HH:MM" (from "9:05", "09:05" or YAML's minutes); ValueError if not."""
    if isinstance(value, int):  # YAML 1.1 reads 16:30 unquoted as 990 minutes
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not _HHMM.match(value.strip()):
        raise ValueError("must be a time HH:MM")
    h, m = value.strip().split(":")
    return f"{int(h):02d}:{m}"


def _single_line(value: str) -> str:
    if any(c in value for c in "\r\n\x00"):
        raise ValueError("must be a single line")
    return value.strip()


class Recipient(_Model):
    name: str
    email: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _single_line(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        v = v.strip()
        if not _EMAIL.match(v):
            raise ValueError("is not an email address")
        return v


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_range(value: Any) -> tuple[date, date]:
    """``2020-02-12`` or ``2020-01-24..2020-01-30`` (both ends included)."""
    if isinstance(value, date):
        return value, value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a day YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD")
    parts = [p.strip() for p in value.split("..")]
    if len(parts) > 2 or not all(_DAY.match(p) for p in parts):
        raise ValueError(f"{value!r} is not a day YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD")
    try:
        first, last = date.fromisoformat(parts[0]), date.fromisoformat(parts[-1])
    except ValueError:
        raise ValueError(f"{value!r} is not a real day") from None
    if last < first:
        raise ValueError(f"{value!r} ends before it starts")
    return first, last


class Calendar(_Model):
    """Which days a school or unit reports (``calendar:``), each key inherited down the
    tree until a school or unit sets it: ``weekdays`` (default every day), ``closed``
    (holidays and closures: days or ``a..b`` ranges), ``open`` (make-up days). A day
    listed in ``open`` reports; else a ``closed`` day does not; else its weekday decides."""

    weekdays: list[str] | None = None
    closed: list[str] | None = None
    open: list[str] | None = None

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        days = []
        for given in v:
            text = str(given).strip().lower()
            day = text[:3]
            if day not in WEEKDAYS or text not in (day, _WEEKDAY_NAMES[WEEKDAYS.index(day)]):
                raise ValueError(f"unknown weekday {given!r}; known: {', '.join(WEEKDAYS)}")
            days.append(day)
        return list(dict.fromkeys(days))

    @field_validator("closed", "open", mode="before")
    @classmethod
    def _days(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, list):
            raise ValueError("must be a list of days or ranges")
        out = []
        for item in v:
            first, last = _day_range(item)
            out.append(first.isoformat() if first == last else f"{first}..{last}")
        return out

    def merged(self, inherited: Calendar | None) -> Calendar:
        """This calendar over ``inherited``: each key set here replaces the inherited one."""
        if inherited is None:
            return self
        return Calendar(
            weekdays=self.weekdays if self.weekdays is not None else inherited.weekdays,
            closed=self.closed if self.closed is not None else inherited.closed,
            open=self.open if self.open is not None else inherited.open,
        )

    @cached_property
    def _ranges(self) -> tuple[list[tuple[date, date]], list[tuple[date, date]], set[int]]:
        closed = [_day_range(x) for x in self.closed or ()]
        opened = [_day_range(x) for x in self.open or ()]
        weekdays = {WEEKDAYS.index(d) for d in (self.weekdays or WEEKDAYS)}
        return closed, opened, weekdays

    def reports_on(self, day: date) -> bool:
        """Whether ``day`` is a reporting day."""
        closed, opened, weekdays = self._ranges
        if any(a <= day <= b for a, b in opened):
            return True
        if any(a <= day <= b for a, b in closed):
            return False
        return day.weekday() in weekdays

    @property
    def every_day(self) -> bool:
        return not self.closed and (self.weekdays is None or len(self.weekdays) == 7)


class FormRef(_Model):
    """A unit's upward Excel form: a template workbook and its cell mapping (paths
    relative to the params folder)."""

    template: str
    map: str


class Unit(_Model):
    """A level of the reporting chain (省 / 市 / 县 / 镇 / 中心校 …): its roll-up is due
    upward by ``deadline`` to its ``recipients``, optionally with a ``form``."""

    id: str
    name: str
    level: str = ""
    parent: str | None = None
    recipients: list[Recipient] = []
    deadline: str = "17:30"
    form: FormRef | None = None
    calendar: Calendar | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _safe_id(v)

    @field_validator("deadline", mode="before")
    @classmethod
    def _deadline(cls, v: Any) -> str:
        return parse_hhmm(v)

    @field_validator("name", "level")
    @classmethod
    def _name(cls, v: str) -> str:
        return _single_line(v)

    def deadline_time(self) -> time:
        return time.fromisoformat(self.deadline)


class District(Unit):
    """A ``districts:`` entry: a unit of level 县 whose children are the schools naming it."""

    level: str = "县"


class School(_Model):
    id: str
    name: str
    # the nearest unit above the school (set from ``parent`` when not given)
    district: str = ""
    parent: str | None = None
    town: str = ""
    kind: str = ""
    reports_to: str | None = None
    calendar: Calendar | None = None
    sessions: list[Session] = [Session.MORNING]
    deadline: str = "16:30"
    closing_time: str = "18:00"
    timezone: str | None = None
    recipients: list[Recipient] = []

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _safe_id(v)

    @field_validator("deadline", "closing_time", mode="before")
    @classmethod
    def _times(cls, v: Any) -> str:
        return parse_hhmm(v)

    @field_validator("name", "town")
    @classmethod
    def _name(cls, v: str) -> str:
        return _single_line(v)

    @field_validator("sessions")
    @classmethod
    def _sessions(cls, v: list[Session]) -> list[Session]:
        if not v:
            raise ValueError("must name at least one session")
        return list(dict.fromkeys(v))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            _zone(v)
        return v

    def deadline_time(self) -> time:
        return time.fromisoformat(self.deadline)

    def closing(self) -> time:
        return time.fromisoformat(self.closing_time)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("is not a known IANA time zone") from exc


class SchoolsConfig(_Model):
    """``schools.yaml``: the org tree and its schools.

    ``units`` (each naming its ``parent`` unit) and ``schools`` (each naming its
    ``parent``: a unit, or a school such as a central school) form a tree; the older
    ``districts:`` with ``school.district`` is read as a two-level tree (each district a
    unit of level 县, its schools its children; ``reports_to`` stays informational).
    A *roll-up target* is every unit and every school with child schools (a central
    school's roll-up holds itself and its village schools). After validation every
    school's ``district`` is its nearest unit.
    """

    timezone: str = "Asia/Shanghai"
    districts: list[District] = []
    units: list[Unit] = []
    schools: list[School]
    calendar: Calendar | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        _zone(v)
        return v

    @model_validator(mode="after")
    def _references(self) -> SchoolsConfig:
        district_ids = [d.id for d in self.districts]
        if len(set(district_ids)) != len(district_ids):
            raise ValueError(f"districts: duplicate id {_first_dup(district_ids)!r}")
        unit_ids = [u.id for u in self.units]
        all_units = district_ids + unit_ids
        for i, u in enumerate(self.units):
            if u.id in district_ids or unit_ids.index(u.id) != i:
                raise ValueError(f"units.{i}.id: duplicate id {u.id!r}")
        school_ids = [s.id for s in self.schools]
        if len(set(school_ids)) != len(school_ids):
            raise ValueError(f"schools: duplicate id {_first_dup(school_ids)!r}")
        clash = sorted(set(all_units) & set(school_ids))
        if clash:
            raise ValueError(f"schools: id {clash[0]!r} is also a unit's id")
        units = set(all_units)
        for i, u in enumerate(self.units):
            if u.parent is not None and u.parent not in units:
                raise ValueError(f"units.{i}.parent: unknown unit {u.parent!r}")
        for i, s in enumerate(self.schools):
            if s.parent is None and not s.district:
                raise ValueError(f"schools.{i}: names no parent (a unit or a school)")
            if s.parent is None and s.district not in district_ids:
                if s.district in units:  # district: naming a unit reads as parent:
                    continue
                raise ValueError(f"schools.{i}.district: unknown district {s.district!r}")
            if s.parent is not None and s.parent not in units and s.parent not in school_ids:
                raise ValueError(f"schools.{i}.parent: unknown unit or school {s.parent!r}")
            if s.reports_to is not None and s.reports_to not in school_ids:
                raise ValueError(f"schools.{i}.reports_to: unknown school {s.reports_to!r}")
        parents = {u.id: u.parent for u in self.units}
        parents |= {s.id: s.parent or s.district for s in self.schools}
        where = {u.id: f"units.{i}.parent" for i, u in enumerate(self.units)}
        where |= {s.id: f"schools.{i}.parent" for i, s in enumerate(self.schools)}
        for node in parents:
            chain, at = [node], parents.get(node)
            while at is not None:
                if at in chain:
                    loop = " -> ".join([*chain[chain.index(at) :], at])
                    raise ValueError(f"{where[node]}: a cycle {loop}")
                chain.append(at)
                at = parents.get(at)
        # every school's district: its nearest unit
        fixed = []
        for s in self.schools:
            up: str | None = s.parent or s.district
            while up is not None and up not in units:
                up = parents.get(up)
            fixed.append(s if s.district == up else s.model_copy(update={"district": up or ""}))
        object.__setattr__(self, "schools", fixed)
        return self

    # -- the tree ----------------------------------------------------------------------

    @cached_property
    def by_id(self) -> dict[str, School]:
        return {s.id: s for s in self.schools}

    @cached_property
    def by_name(self) -> dict[str, School]:
        return {s.name: s for s in self.schools}

    @cached_property
    def districts_by_id(self) -> dict[str, Unit]:
        """Every unit by id (``districts:`` and ``units:``)."""
        return {u.id: u for u in [*self.districts, *self.units]}

    @cached_property
    def parents(self) -> dict[str, str | None]:
        """Every unit's and school's parent id (None at the top)."""
        out: dict[str, str | None] = {u.id: u.parent for u in self.districts_by_id.values()}
        out |= {s.id: s.parent or s.district or None for s in self.schools}
        return out

    @cached_property
    def children(self) -> dict[str, list[str]]:
        """Every node's children: its units, then its schools, in the file's order."""
        out: dict[str, list[str]] = {n: [] for n in self.parents}
        for node, parent in self.parents.items():
            if parent is not None:
                out[parent].append(node)
        return out

    @cached_property
    def rollup_ids(self) -> list[str]:
        """Every roll-up target: the units, then the schools with child schools."""
        return [*self.districts_by_id, *(s.id for s in self.schools if self.children[s.id])]

    @cached_property
    def _subtree(self) -> dict[str, list[str]]:
        order = {s.id: i for i, s in enumerate(self.schools)}
        out: dict[str, list[str]] = {}

        def walk(node: str) -> list[str]:
            if node not in out:
                found = [node] if node in self.by_id else []
                for child in self.children[node]:
                    found += walk(child)
                out[node] = sorted(found, key=order.__getitem__)
            return out[node]

        for node in self.parents:
            walk(node)
        return out

    def schools_under(self, node_id: str) -> list[str]:
        """The schools of a node's subtree (a school: itself and its child schools)."""
        return self._subtree[node_id]

    def depth(self, node_id: str) -> int:
        """Steps from the top of the tree (a top unit: 0)."""
        n, at = 0, self.parents.get(node_id)
        while at is not None:
            n, at = n + 1, self.parents.get(at)
        return n

    def ancestors(self, node_id: str) -> list[str]:
        """The node's parent, its parent … up to the top."""
        out, at = [], self.parents.get(node_id)
        while at is not None:
            out.append(at)
            at = self.parents.get(at)
        return out

    def unit(self, unit_id: str) -> Unit:
        """A roll-up target as a :class:`Unit`: a unit, or a school with child schools
        (its name, deadline and recipients; level its ``kind`` or 中心校)."""
        found = self.districts_by_id.get(unit_id) or self._school_units.get(unit_id)
        if found is not None:
            return found
        raise ConfigError("schools.yaml", "units", unit_id, "unknown unit") from None

    @cached_property
    def _school_units(self) -> dict[str, Unit]:
        return {
            s.id: _school_unit(s, self.parents[s.id]) for s in self.schools if self.children[s.id]
        }

    def calendar_of(self, node_id: str) -> Calendar:
        """A node's calendar: its own keys over its parent's, up to the file's
        ``calendar:`` (each key replaced where a node sets it)."""
        return self._calendars[node_id]

    @cached_property
    def _calendars(self) -> dict[str, Calendar]:
        own: dict[str, Calendar | None] = {u.id: u.calendar for u in self.districts_by_id.values()}
        own |= {s.id: s.calendar for s in self.schools}
        base = self.calendar or Calendar()
        out: dict[str, Calendar] = {}

        def resolve(node: str) -> Calendar:
            if node not in out:
                parent = self.parents.get(node)
                above = resolve(parent) if parent is not None else base
                mine = own.get(node)
                out[node] = mine.merged(above) if mine is not None else above
            return out[node]

        for node in self.parents:
            resolve(node)
        return out

    def reports_on(self, school_id: str, day: date) -> bool:
        """Whether the school reports on ``day`` (its calendar)."""
        return self.calendar_of(school_id).reports_on(day)

    # -- schools -----------------------------------------------------------------------

    def school(self, school_id: str) -> School:
        try:
            return self.by_id[school_id]
        except KeyError:
            raise ConfigError("schools.yaml", "schools", school_id, "unknown school") from None

    def district(self, district_id: str) -> Unit:
        """A unit by id (a ``districts:`` or ``units:`` entry)."""
        try:
            return self.districts_by_id[district_id]
        except KeyError:
            raise ConfigError(
                "schools.yaml", "districts", district_id, "unknown district"
            ) from None

    def schools_in(self, district_id: str) -> list[School]:
        """The schools under a unit (its subtree), in the file's order."""
        self.district(district_id)
        return [self.by_id[s] for s in self.schools_under(district_id)]

    def resolve_school(self, value: object) -> str | None:
        """A school id from a cell holding an id or a name; None when unknown."""
        text = str(value).strip()
        if text in self.by_id:
            return text
        school = self.by_name.get(text)
        return school.id if school else None

    def zone(self, school_id: str | None = None) -> ZoneInfo:
        school = self.by_id.get(school_id) if school_id else None
        return ZoneInfo(school.timezone if school and school.timezone else self.timezone)


def _school_unit(school: School, parent: str | None) -> Unit:
    return Unit(
        id=school.id,
        name=school.name,
        level=CENTRAL_SCHOOL,
        parent=parent,
        recipients=list(school.recipients),
        deadline=school.deadline,
    )


def _first_dup(items: list[str]) -> str:
    seen: set[str] = set()
    for x in items:
        if x in seen:
            return x
        seen.add(x)
    return ""


class ClusterRule(_Model):
    enabled: bool = True
    min_cases: int = Field(ge=1)
    days: int = Field(ge=1)


class IngestLimits(_Model):
    """What one input file may hold (``limits:`` in rules.yaml); past a limit the file is
    refused with a message naming the file and the limit, and nothing else is read from it.

    The defaults fit every real school export with a wide margin (a county's
    roster is some 10,000 rows, a school's day well under 2,000; Excel itself
    holds at most 32,767 characters in a cell) while keeping a hostile file
    from exhausting memory or time. A district that ingests several weeks of
    every school in one file raises ``max_rows``.
    """

    max_file_mb: float = Field(256, gt=0)  # the file on disk
    max_rows: int = Field(200_000, ge=1)  # data rows below the header
    max_columns: int = Field(200, ge=1)
    max_cell_chars: int = Field(32_767, ge=1)
    # a workbook (XLSX) is a zip: checked before anything is parsed
    max_unzipped_mb: float = Field(1024, gt=0)  # all members together, uncompressed
    max_compression_ratio: float = Field(100, gt=1)  # of a member over 1 MiB (real: 5-20)
    max_shared_strings_mb: float = Field(64, gt=0)
    max_zip_members: int = Field(1000, ge=10)
    # spreadsheets are parsed by a native reader in a child process under these limits
    reader_memory_mb: int = Field(2048, ge=256)  # its address space (RLIMIT_AS)
    reader_timeout_seconds: float = Field(120, gt=0)  # per file
    # processes reading a day's small CSV files ahead of the writing (ingest/ahead.py):
    # None, one fewer than the cores (at most 4) when a call has 200 such files or more;
    # 0, none
    read_workers: int | None = Field(None, ge=0, le=64)


class Rules(_Model):
    fever_celsius: float = Field(37.3, ge=35.0, le=42.0)
    valid_celsius: tuple[float, float] = (34.0, 43.0)
    fahrenheit_range: tuple[float, float] = (93.0, 110.0)
    window_days: int = Field(14, ge=1, le=60)
    monitoring_days: int = Field(14, ge=1, le=60)
    unreachable_days: int = Field(2, ge=2, le=30)
    respiratory_symptoms: list[str] = sorted(RESPIRATORY_SYMPTOMS)
    extra_symptom_terms: dict[str, list[str]] = {}
    clusters: dict[str, ClusterRule] = {
        "same_day": ClusterRule(min_cases=3, days=1),
        "three_days": ClusterRule(min_cases=5, days=3),
        "clustered_illness": ClusterRule(min_cases=2, days=14),
    }
    limits: IngestLimits = IngestLimits()
    # days health records are kept before `reportkit purge` deletes them (PIPL)
    retention_days: int = Field(180, ge=1, le=36_500)

    @field_validator("respiratory_symptoms")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [s for s in v if s not in SYMPTOMS]
        if unknown:
            raise ValueError(f"unknown symptom code {unknown[0]!r}; known: {', '.join(SYMPTOMS)}")
        return v

    @field_validator("extra_symptom_terms")
    @classmethod
    def _terms(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = [s for s in v if s not in SYMPTOMS]
        if unknown:
            raise ValueError(f"unknown symptom code {unknown[0]!r}; known: {', '.join(SYMPTOMS)}")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> Rules:
        lo, hi = self.valid_celsius
        if not lo < self.fever_celsius < hi:
            raise ValueError("fever_celsius must lie inside valid_celsius")
        return self

    def symptom_terms(self) -> dict[str, str]:
        """Accepted term -> symptom code, the defaults plus ``extra_symptom_terms``."""
        terms = {code: code for code in SYMPTOMS}
        for code, (words, _) in SYMPTOMS.items():
            terms.update({w: code for w in words})
        for code, extra in self.extra_symptom_terms.items():
            terms.update({w: code for w in extra})
        return terms


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback IP literals; no DNS lookup."""
    import ipaddress

    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class SmtpConfig(_Model):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str = "REPORTKIT_SMTP_PASSWORD"
    timeout: float = Field(30.0, gt=0)
    verify_tls: bool = True
    ca_file: str | None = None
    # security "none" to a host other than this machine: only when set, and never with AUTH
    allow_plaintext: bool = False

    @model_validator(mode="after")
    def _plaintext(self) -> SmtpConfig:
        if self.security != "none" or is_loopback_host(self.host):
            return self
        if self.username:
            raise ValueError(
                f"security none would send the password of {self.username!r} in the clear "
                f"to {self.host!r}, which is not this machine; use starttls or ssl "
                "(allow_plaintext never covers a password)"
            )
        if not self.allow_plaintext:
            raise ValueError(
                f"security none sends the reports in the clear to {self.host!r}, which is "
                "not this machine; use starttls or ssl, or set allow_plaintext: true for a "
                "relay on a trusted network that takes no password"
            )
        return self

    @property
    def plaintext_warning(self) -> str | None:
        """Why this connection is worth a warning: unencrypted, to another host."""
        if self.security == "none" and not is_loopback_host(self.host):
            return (
                f"smtp.allow_plaintext: reports go unencrypted to {self.host}:{self.port} "
                "(security none); anyone on the network path can read them"
            )
        return None


class DeliveryConfig(_Model):
    smtp: SmtpConfig = SmtpConfig()
    from_: str = Field("晨午检日报 <reports@localhost>", alias="from")
    subject: str = "【晨午检日报】{school} {date} 未报{missing}人 疑似{suspected}人"
    district_subject: str = (
        "【晨午检汇总】{district} {date} 未报送学校{schools_missing}所 疑似{suspected}人"
    )
    reminder_subject: str = "【晨午检提醒】{school} {date} 尚有{missing}人未报"
    # a school with no check-in at all for the day: no counts that would read as calm
    missing_subject: str = "【晨午检日报】{school} {date} 未报送"
    mask_names: bool = False
    retries: int = Field(3, ge=0, le=10)
    backoff_seconds: float = Field(2.0, ge=0)
    # how long a write to the sent log may wait for a busy store before the batch stops
    sent_log_timeout: float = Field(30.0, gt=0, le=600)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _format_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``; errors name file, key path and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, reason="file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, reason=f"not UTF-8 text ({exc.reason})") from None
    try:
        # libyaml's loader when it is there: a province's schools.yaml is large
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(path, where, reason=f"not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            path, reason="must be a mapping at the top level", value=type(data).__name__
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _format_loc(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if isinstance(value, dict | list):
            value = None
        raise ConfigError(path, loc, value, msg) from None


def load_schools(params_dir: Path) -> SchoolsConfig:
    return load_yaml_model(Path(params_dir) / "schools.yaml", SchoolsConfig)


def load_rules(params_dir: Path) -> Rules:
    path = Path(params_dir) / "rules.yaml"
    return load_yaml_model(path, Rules) if path.exists() else Rules()


def load_delivery(params_dir: Path) -> DeliveryConfig:
    path = Path(params_dir) / "delivery.yaml"
    return load_yaml_model(path, DeliveryConfig) if path.exists() else DeliveryConfig()


@dataclass(frozen=True)
class Settings:
    """Where the database, the params and the outputs are.

    Explicit arguments win over ``REPORTKIT_DB``/``REPORTKIT_PARAMS``/
    ``REPORTKIT_OUTPUTS``, which win over the defaults (relative to the working
    directory). :meth:`schools`, :meth:`rules` and :meth:`delivery` parse their file
    on every call; a command parses each once, through its
    :class:`reportkit.context.RunContext`.
    """

    db: str
    params: Path
    outputs: Path

    @classmethod
    def resolve(
        cls,
        db: str | None = None,
        params: str | Path | None = None,
        outputs: str | Path | None = None,
    ) -> Settings:
        env = os.environ
        return cls(
            db=db or env.get("REPORTKIT_DB") or "sqlite:///data/reportkit.db",
            params=Path(params or env.get("REPORTKIT_PARAMS") or "params"),
            outputs=Path(outputs or env.get("REPORTKIT_OUTPUTS") or "outputs"),
        )

    def schools(self) -> SchoolsConfig:
        return load_schools(self.params)

    def rules(self) -> Rules:
        return load_rules(self.params)

    def delivery(self) -> DeliveryConfig:
        return load_delivery(self.params)


def project_settings(
    db: str | None = None, params_dir: str | Path | None = None, outputs: str | Path | None = None
) -> Settings:
    """:meth:`Settings.resolve`, with relative default folders found from a notebook's folder.

    A notebook's kernel runs in ``notebooks/``; when ``params`` (relative) is not
    there, the first parent holding it is the project, and relative outputs and
    the default SQLite file are taken from there too.
    """
    settings = Settings.resolve(db, params_dir, outputs)
    if settings.params.is_absolute() or (settings.params / "schools.yaml").exists():
        return settings
    for base in Path.cwd().resolve().parents[:3]:
        if (base / settings.params / "schools.yaml").exists():
            url = settings.db
            if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
                url = f"sqlite:///{base / url.removeprefix('sqlite:///')}"
            outs = settings.outputs if settings.outputs.is_absolute() else base / settings.outputs
            return Settings(db=url, params=base / settings.params, outputs=outs)
    return settings
