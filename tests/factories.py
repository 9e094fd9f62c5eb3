"""Builders shared by the tests: rows, frames and small deployments, made in code.

One home for what several test modules build, so that no test module imports
another:

- **rows** in canonical columns: :func:`person` (a roster row), :func:`checkin` (a
  health-log row as the flag engine takes it); :func:`stored_person` and
  :func:`stored_checkin` add the columns ingestion writes beside them;
- **frames** of check-in rows as ingestion hands them to the writer:
  :func:`checkin_rows`, :func:`mixed_rows`, :func:`as_categoricals`, and what a
  store holds of them, :func:`sqlite_stored`, :func:`pg_stored`;
- **deployments**: :func:`build_district` (three schools in two districts, for the
  console and the afternoon run), :func:`build_deployment` (one district of two
  schools with rendered reports and a manifest, for delivery);
- **hostile workbooks**, written by hand (zipfile and XML) as small as their trick
  needs: :func:`workbook`, :func:`corner_cell`, :func:`giant_string`, :func:`blank_rows`
  (the tests of limits and ``benchmarks/bench_ingest.py``);
- **kernels**: a probe notebook that prints what a kernel kept from the last school
  (:data:`PROBE`, :data:`LEAVE_STATE`, :func:`probe_notebook`, :func:`probe_spec`,
  :func:`probe_lines`), and any notebook of given cells (:func:`write_notebook`).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
import yaml

from reportkit import store
from reportkit.config import Settings
from reportkit.findings import findings_hash, rollup_hash

if TYPE_CHECKING:
    from reportkit.delivery import send
    from reportkit.execution import JobResult, JobSpec
    from tests.smtp_server import SmtpServer

D = date(2020, 2, 10)


# -- rows -------------------------------------------------------------------------------


def person(pid, school="s1", *, name=None, role="student", grade="三年级", klass="2班",
           status="active"):  # fmt: skip
    """A roster row (``name`` defaults to 学生<pid>)."""
    return {
        "school_id": school,
        "person_id": str(pid),
        "name": name or f"学生{pid}",
        "role": role,
        "grade": grade,
        "class": klass,
        "status": status,
    }


def checkin(pid, day=D, school="s1", *, session="morning", name=None, temperature=36.5,
            symptoms="", symptoms_other="", absent=False, absence_reason=None, key_area=False,
            key_area_place=None, contact=False, at=time(9, 0)):  # fmt: skip
    """A health-log row in canonical columns. ``day`` an int: that many days before
    :data:`D`; ``at`` a time of day (reported then), a datetime, or None."""
    if isinstance(day, int):
        day = D - timedelta(days=day)
    reported_at = at if at is None or isinstance(at, datetime) else datetime.combine(day, at)
    return {
        "school_id": school,
        "person_id": str(pid),
        "date": day,
        "session": session,
        "name": name,
        "temperature": temperature,
        "symptoms": symptoms,
        "symptoms_other": symptoms_other,
        "absent": absent,
        "absence_reason": absence_reason,
        "key_area": key_area,
        "key_area_place": key_area_place,
        "contact": contact,
        "reported_at": reported_at,
    }


def checkins_frame(rows):
    """Check-in rows as a frame of the store's check-in columns."""
    out = pd.DataFrame(rows, columns=store.CHECKIN_COLUMNS)
    out["reported_at"] = pd.to_datetime(out["reported_at"])
    return out


def stored_person(row: dict, **columns: Any) -> dict:
    """A roster row as the store holds it: with the row hash, source file and write
    time ingestion adds (``columns`` override them)."""
    extra = {"row_hash": "h", "source_file": "roster.csv", "updated_at": store.utcnow()}
    return {**row, **extra, **columns}


def stored_checkin(row: dict, **columns: Any) -> dict:
    """A check-in row as the store holds it: with the row hash, source file and row, and
    write time ingestion adds (``columns`` override them)."""
    extra = {"row_hash": "h", "source_file": "f.csv", "source_row": 2}
    return {**row, **extra, "updated_at": store.utcnow(), **columns}


# -- frames of check-in rows, as ingestion writes them --------------------------------------

CHECKIN_KEYS = ["school_id", "person_id", "date", "session"]


def write_constants() -> dict:
    """The columns ingestion writes with one value on every row."""
    return {"source_file": "f.csv", "updated_at": store.utcnow()}


def make_trend(days: int = 14) -> pd.DataFrame:
    """A school's 14-day trend (the charts' input): 95 % and rising, a few cases."""
    start = date(2024, 3, 1)
    return pd.DataFrame(
        {
            "date": [start + timedelta(days=i) for i in range(days)],
            "expected": [400] * days,
            "reported": [380 + i for i in range(days)],
            "fever": [i % 4 for i in range(days)],
            "symptomatic": [i % 6 for i in range(days)],
            "suspected": [1 if i % 5 == 0 else 0 for i in range(days)],
        }
    )


def checkin_rows(n: int, temperature: float = 36.5) -> pd.DataFrame:
    """``n`` rows of one school and day (text as object, dates as ISO text), indexed
    from 2 like a file's rows."""
    index = pd.RangeIndex(2, n + 2)
    text = lambda values: pd.Series(values, index=index, dtype=object)  # noqa: E731
    return pd.DataFrame(
        {
            "school_id": text(["s001"] * n),
            "person_id": text([f"{i:05d}" for i in range(n)]),
            "date": text(["2020-02-10"] * n),
            "session": text(["morning"] * n),
            "name": text([None] * n),
            "temperature": np.full(n, temperature),
            "symptoms": text([""] * n),
            "symptoms_other": text([""] * n),
            "absent": np.zeros(n, dtype=bool),
            "absence_reason": text([None] * n),
            "key_area": np.zeros(n, dtype=bool),
            "key_area_place": text([None] * n),
            "contact": np.zeros(n, dtype=bool),
            "reported_at": pd.Series(
                pd.to_datetime(["2020-02-10 07:30:00"] * n), index=index
            ).astype("datetime64[us]"),
        },
        index=index,
    )


def mixed_rows(n: int) -> pd.DataFrame:
    """Rows of two schools in scrambled order, with every kind of missing value."""
    rows = checkin_rows(n)
    rng = np.random.default_rng(7)
    rows["school_id"] = np.where(np.arange(n) % 3 == 0, "s002", "s001").astype(object)
    rows["session"] = np.where(np.arange(n) % 2 == 0, "morning", "noon").astype(object)
    rows["name"] = np.where(np.arange(n) % 4 == 0, None, "张三").astype(object)
    rows["temperature"] = np.where(np.arange(n) % 5 == 0, np.nan, 36.6)
    rows["absent"] = np.arange(n) % 6 == 0
    rows["absence_reason"] = np.where(rows["absent"], "illness", None).astype(object)
    rows["symptoms_other"] = np.where(np.arange(n) % 7 == 0, "肚子疼", "").astype(object)
    stamps = rows["reported_at"].to_numpy().copy()
    stamps[::8] = np.datetime64("NaT")
    stamps[1::8] += np.timedelta64(123456, "us")
    rows["reported_at"] = stamps
    return rows.iloc[rng.permutation(n)]


def as_categoricals(rows: pd.DataFrame) -> pd.DataFrame:
    """Text columns as categoricals (as ingestion hands them over), categories in an
    order that is not the values' own."""
    out = rows.copy()
    text = [c for c, t in rows.dtypes.items() if t.kind == "O" or isinstance(t, pd.StringDtype)]
    for column in text:
        codes, uniques = pd.factorize(rows[column])
        categories = pd.Index(uniques[::-1], dtype=object)
        remap = np.append(np.arange(len(uniques))[::-1], -1)  # code -1 stays missing
        codes = remap[codes]
        out[column] = pd.Categorical.from_codes(codes, categories=categories, validate=False)
    return out


def sqlite_stored(conn) -> list[tuple]:
    """Every stored check-in value with its SQLite storage class, bar the write time."""
    names = [c.name for c in store.checkins.c if c.name != "updated_at"]
    columns = ", ".join(f'"{c}", typeof("{c}")' for c in names)
    query = f"SELECT {columns} FROM checkins ORDER BY school_id, person_id, date, session"
    return [tuple(r) for r in conn.exec_driver_sql(query)]


def pg_stored(conn) -> list[tuple]:
    """Every stored check-in value on PostgreSQL, in key order."""
    names = ", ".join(f'"{c.name}"' for c in store.checkins.c)
    return [
        tuple(r)
        for r in conn.exec_driver_sql(
            f"SELECT {names} FROM checkins ORDER BY school_id, person_id, date, session"
        )
    ]


# -- a district of three schools (the console, the afternoon run) ---------------------------

DISTRICT_DAY = date(2020, 2, 28)
DISTRICT_SCHOOLS_YAML = """\
timezone: Asia/Shanghai
districts:
- {id: d1, name: 示范县}
- {id: d2, name: 邻县}
schools:
- {id: a1, name: 第一小学, district: d1}
- {id: a2, name: 第二小学, district: d1}
- {id: b1, name: 邻县小学, district: d2}
"""
# school, person, name, grade, class; then the demo date's check-in (None: missing)
DISTRICT_PEOPLE = [
    ("a1", "p01", "张三", "一年级", "1班", {"temperature": 37.1}),
    ("a1", "p02", "李四", "一年级", "1班", {}),
    ("a1", "p03", "王五", "一年级", "1班", None),
    ("a1", "p04", "赵六", "一年级", "2班", {"temperature": 38.0, "symptoms": "cough"}),
    ("a1", "p05", "钱七", "一年级", "2班", {}),
    ("a2", "q01", "孙八", "二年级", "1班", None),
    ("a2", "q02", "周九", "二年级", "1班", {"temperature": 37.5}),
    ("a2", "q03", "吴十", "二年级", "1班", {"absent": True, "absence_reason": "illness"}),
    ("b1", "r01", "郑一", "三年级", "1班", None),
    ("b1", "r02", "冯二", "三年级", "1班", {}),
]


def district_checkin(school: str, pid: str, name: str, day: date, **kw: Any) -> dict:
    """A stored check-in of the district's (reported at 9:00)."""
    row = checkin(pid, day, school, name=name, **kw)
    return stored_checkin(row, row_hash=f"{pid}{day}", source_file="test.csv")


def build_district(root: Path) -> Settings:
    """Three schools in two districts; the demo date has a 37.1 reading (张三)."""
    params = root / "params"
    params.mkdir(parents=True)
    (params / "schools.yaml").write_text(DISTRICT_SCHOOLS_YAML, encoding="utf-8")
    settings = Settings(db=f"sqlite:///{root / 'rk.db'}", params=params, outputs=root / "outputs")
    engine = store.connect(settings.db)
    now = store.utcnow()
    people = [
        stored_person(person(p, s, name=n, grade=g, klass=c), row_hash=p, updated_at=now)
        for s, p, n, g, c, _ in DISTRICT_PEOPLE
    ]
    checkins = [
        district_checkin(s, p, n, DISTRICT_DAY - timedelta(days=1))
        for s, p, n, *_ in DISTRICT_PEOPLE
    ]
    checkins += [
        district_checkin(s, p, n, DISTRICT_DAY, **today)
        for s, p, n, _, _, today in DISTRICT_PEOPLE
        if today is not None
    ]
    with engine.begin() as conn:
        store.upsert(conn, store.people, people)
        store.upsert(conn, store.checkins, checkins)
    store.sync_schools(engine, settings.schools())
    return settings


# -- a district of two schools with rendered reports (delivery) ------------------------------

DEPLOYMENT_DAY = date(2020, 2, 10)
DEPLOYMENT_SCHOOLS: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "districts": [
        {
            "id": "d01",
            "name": "靠山镇教育办",
            "recipients": [{"name": "刘局长", "email": "chief@district.example.org"}],
        }
    ],
    "schools": [
        {
            "id": "s001",
            "name": "靠山镇中心小学",
            "district": "d01",
            "town": "靠山镇",
            "recipients": [
                {"name": "王校长", "email": "principal@s001.example.org"},
                {"name": "李副校长", "email": "vice@s001.example.org"},
            ],
        },
        {
            "id": "s002",
            "name": "靠山镇第二小学",
            "district": "d01",
            "recipients": [{"name": "Head", "email": "head@s002.example.org"}],
        },
    ],
}
SCRIPT_NAME = "<script>alert(1)</script>"
DEPLOYMENT_PEOPLE = [
    ("s001", "1001", "张小丽", "student", "一年级", "1班"),
    ("s001", "1002", "李明", "student", "一年级", "1班"),
    ("s001", "1003", "王大伟", "student", "一年级", "1班"),
    ("s001", "1004", "赵六", "student", "一年级", "1班"),
    ("s001", "2001", "孙七", "student", "二年级", "1班"),
    ("s001", "2002", SCRIPT_NAME, "student", "二年级", "1班"),
    ("s001", "2003", "周八", "student", "二年级", "1班"),
    ("s001", "9001", "陈老师", "staff", "", "语文组"),
    ("s002", "5001", "钱多多", "student", "三年级", "2班"),
    ("s002", "5002", "吴用", "student", "三年级", "2班"),
    ("s002", "5003", "郑成功", "student", "三年级", "2班"),
]
DEPLOYMENT_TODAY: dict[str, dict[str, Any]] = {
    "1003": {"temperature": 38.2, "symptoms": "fever,cough", "contact": True},  # suspected
    "1004": {"absent": True, "absence_reason": "illness"},  # unexplained illness absence
    "2001": {"symptoms": "cough"},  # symptomatic
    "2003": {"key_area": True, "key_area_place": "武汉"},  # key person
    "5003": {"temperature": 37.9, "symptoms": "fever"},
}
DEPLOYMENT_NOT_REPORTED = {"1002", "2002", "5001"}
DEPLOYMENT_REPORTED_AT = {"s001": (15, 0), "s002": (17, 10)}  # s002 is late
ALL_RECIPIENTS = {
    "principal@s001.example.org",
    "vice@s001.example.org",
    "head@s002.example.org",
    "chief@district.example.org",
}


def tiny_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF showing ``text`` (ASCII)."""
    content = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def findings_now(settings: Settings) -> Any:
    """The day's findings with the follow-ups attached, as the runner computes them."""
    from reportkit.findings import load_findings
    from reportkit.store import latest_followups

    config = settings.schools()
    engine = store.connect(settings.db)
    ids = [s.id for s in config.schools]
    findings = load_findings(engine, config, settings.rules(), DEPLOYMENT_DAY, ids)
    return replace(findings, followups=latest_followups(engine, ids, DEPLOYMENT_DAY))


@dataclass
class Deployment:
    """The tiny delivery deployment of :func:`build_deployment` and its files."""

    root: Path
    settings: Settings

    @property
    def params(self) -> Path:
        return self.settings.params

    def configure(self, server: SmtpServer | None = None, **delivery: Any) -> None:
        """Write delivery.yaml: SMTP pointing at ``server``, no back-off, then ``delivery``."""
        data: dict[str, Any] = {"retries": 2, "backoff_seconds": 0, **delivery}
        if server is not None:
            data["smtp"] = {**server.smtp_settings(), **data.get("smtp", {})}
        (self.params / "delivery.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True), encoding="utf-8"
        )

    def pdf_path(self, kind: str, target: str, masked: bool = False) -> Path:
        base = self.settings.outputs / DEPLOYMENT_DAY.isoformat()
        if kind == "unit":
            return base / "units" / f"{target}.pdf"
        return base / target / ("report.masked.pdf" if masked else "report.pdf")

    @property
    def manifest_path(self) -> Path:
        return self.settings.outputs / DEPLOYMENT_DAY.isoformat() / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"date": DEPLOYMENT_DAY.isoformat(), "jobs": []}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def job(self, kind: str, target: str) -> dict[str, Any]:
        return next(j for j in self.manifest()["jobs"] if (j["kind"], j["id"]) == (kind, target))

    def set_job(self, kind: str, target: str, **changes: Any) -> None:
        manifest = self.manifest()
        for job in manifest["jobs"]:
            if (job["kind"], job["id"]) == (kind, target):
                job.update(changes)
        self.manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")

    def write_pdf(self, kind: str, target: str, text: str, masked_text: str | None = None) -> None:
        """Render ``target`` as a run would: its PDF (and masked PDF) and its manifest job,
        with the findings hash of the store as it is now and ``text`` as its content."""
        findings = findings_now(self.settings)
        if kind == "unit":
            hashed = rollup_hash(findings.unit(target, self.settings.schools()))
        else:
            hashed = findings_hash(findings, target)
        job: dict[str, Any] = {
            "kind": kind,
            "id": target,
            "status": "ok",
            "run_id": "run-1",
            "lang": "zh-CN",
            "findings_hash": hashed,
            "content_hash": hashlib.sha256(text.encode()).hexdigest(),
            "outputs": {},
            "sha256": {},
        }
        for key, shown, masked in (("pdf", text, False), ("pdf_masked", masked_text, True)):
            if shown is None:
                continue
            path = self.pdf_path(kind, target, masked)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tiny_pdf(shown))
            job["outputs"][key] = str(path)
            job["sha256"][key] = hashlib.sha256(path.read_bytes()).hexdigest()
        manifest = self.manifest()
        manifest["jobs"] = [
            j for j in manifest["jobs"] if (j["kind"], j["id"]) != (kind, target)
        ] + [job]
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        self.manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")

    def sent_rows(self) -> list[Any]:
        engine = store.connect(self.settings.db)
        with engine.connect() as conn:
            return list(conn.execute(sa.select(store.sent_log).order_by(store.sent_log.c.id)))

    def attempts(self) -> list[Any]:
        engine = store.connect(self.settings.db)
        with engine.connect() as conn:
            stmt = sa.select(store.send_attempts).order_by(store.send_attempts.c.id)
            return list(conn.execute(stmt))


def fill_store(db_url: str) -> None:
    engine = store.connect(db_url)
    now = store.utcnow()
    people = [
        stored_person(person(p, s, name=n, role=r, grade=g, klass=c), row_hash="r", updated_at=now)
        for s, p, n, r, g, c in DEPLOYMENT_PEOPLE
    ]
    checkins = []
    for back in range(4):
        day = DEPLOYMENT_DAY - timedelta(days=back)
        for s, p, n, *_ in DEPLOYMENT_PEOPLE:
            if back == 0 and p in DEPLOYMENT_NOT_REPORTED:
                continue
            hh, mm = DEPLOYMENT_REPORTED_AT[s] if back == 0 else (8, 0)
            today = DEPLOYMENT_TODAY.get(p, {}) if back == 0 else {}
            row = checkin(p, day, s, name=n, at=time(hh, mm), **today)
            checkins.append(
                stored_checkin(
                    row, row_hash="h", source_file="log.csv", source_row=1, updated_at=now
                )
            )
    with engine.begin() as conn:
        store.upsert(conn, store.people, people)
        store.upsert(conn, store.checkins, checkins)


def build_deployment(tmp_path: Path, db_url: str) -> Deployment:
    """One district, two schools, eleven people (check-ins stored directly), each
    report rendered as a run would (a minimal PDF and its manifest job)."""
    params = tmp_path / "params"
    params.mkdir()
    (params / "schools.yaml").write_text(
        yaml.safe_dump(DEPLOYMENT_SCHOOLS, allow_unicode=True), encoding="utf-8"
    )
    fill_store(db_url)
    dep = Deployment(tmp_path, Settings(db=db_url, params=params, outputs=tmp_path / "outputs"))
    dep.write_pdf("school", "s001", "report s001")
    dep.write_pdf("school", "s002", "report s002")
    dep.write_pdf("unit", "d01", "roll-up d01")
    return dep


def by_recipient(server: SmtpServer) -> dict[str, Any]:
    """The messages a server received, by their one recipient."""
    out = {}
    for env in server.received:
        assert len(env.rcpt_tos) == 1  # one message per recipient
        out[env.rcpt_tos[0]] = env.message()
    return out


def statuses(result: send.DeliveryResult) -> dict[str, str]:
    return {f"{o.kind}:{o.target_id}": o.status for o in result.outcomes}


# -- a probe notebook for warm kernels ----------------------------------------------------

PROBE = """\
import os, matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
print("pid", os.getpid())
print("leftover", sorted(k for k in globals() if k.startswith("secret_")))
print("figures", len(plt.get_fignums()))
"""
LEAVE_STATE = """\
globals()["secret_" + school_id] = "health data of " + school_id
plt.figure()
"""


def write_notebook(path: Path, cells: list) -> Path:
    """A Python 3 notebook of ``cells`` (nbformat cells) written to ``path``."""
    import nbformat
    from nbformat.v4 import new_notebook

    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def probe_notebook(path: Path, *cells: str) -> Path:
    """A notebook of a ``parameters`` cell (``school_id``) and ``cells``."""
    from nbformat.v4 import new_code_cell

    return write_notebook(
        path,
        [
            new_code_cell('school_id = "none"', metadata={"tags": ["parameters"]}),
            *(new_code_cell(c) for c in cells),
        ],
    )


def probe_spec(tmp_path: Path, school: str, notebook: Path, **kw: object) -> JobSpec:
    """A job running ``notebook`` for ``school``, rendering nothing, with no retry."""
    from reportkit.execution import JobSpec

    options: dict = {"formats": (), "retries": 0, **kw}
    return JobSpec(
        kind="school",
        target_id=school,
        report_date="2020-02-28",
        findings_dir="",
        out_dir=str(tmp_path / "out" / school),
        db="sqlite://",
        params_dir=str(tmp_path),
        notebook=str(notebook),
        **options,
    )


def probe_lines(result: JobResult) -> dict[str, str]:
    """The probe cell's printed lines of an executed notebook, as {key: rest}."""
    import nbformat

    nb = nbformat.read(result.outputs["ipynb"], as_version=4)
    probe = next(c for c in nb.cells if c.cell_type == "code" and "leftover" in c.source)
    text = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    return dict(line.split(" ", 1) for line in text.splitlines())


# -- hostile workbooks ----------------------------------------------------------------------

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006"
HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
LOG_HEADER = ["学号", "姓名", "日期", "体温"]  # the columns of a minimal health log


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def table_rows(rows: list[list[str]], first: int = 1) -> str:
    out = []
    for i, row in enumerate(rows, start=first):
        cells = "".join(cell(f"{chr(65 + j)}{i}", v) for j, v in enumerate(row) if v)
        out.append(f'<row r="{i}">{cells}</row>')
    return "".join(out)


GOOD = table_rows([LOG_HEADER, ["001", "张三", "2020-02-10", "36.5"]])


def workbook(
    path: Path,
    sheet_xml: str | list[str] = GOOD,
    *,
    dimension: str | None = None,
    shared: str | None = None,
    shared_repeat: int = 0,
) -> Path:
    """An XLSX of one sheet: ``sheet_xml`` is the sheetData's rows (or chunks of them,
    written one after another); ``shared`` one shared string, written ``shared_repeat``
    times over (so that a 300 MB string never sits in memory)."""
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{PKG}/relationships"><Relationship Id="rId1" '
        f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook {NS} xmlns:r="{REL}"><sheets><sheet name="Sheet1" '
        'sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
            if shared is not None
            else ""
        )
        + "</Relationships>",
    }
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    chunks = [sheet_xml] if isinstance(sheet_xml, str) else sheet_xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, xml in parts.items():
            book.writestr(name, HEAD + xml)
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f"{HEAD}<worksheet {NS}>{dim}<sheetData>".encode())
            for chunk in chunks:
                part.write(chunk.encode())
            part.write(b"</sheetData></worksheet>")
        if shared is not None:
            with book.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'{HEAD}<sst {NS} count="1" uniqueCount="1"><si><t>'.encode())
                for _ in range(max(1, shared_repeat)):
                    part.write(shared.encode())
                part.write(b"</t></si></sst>")
    return path


def corner_cell(path: Path) -> Path:
    """The 2 KB workbook whose one cell at XFD1048576 made the reader ask for 512 GB."""
    return workbook(path, GOOD + f'<row r="1048576">{cell("XFD1048576", "x")}</row>')


def giant_string(path: Path) -> Path:
    """One shared string of 300 MB, packed to some 300 KB."""
    head = table_rows([LOG_HEADER])
    row = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    return workbook(path, head + row, shared="A" * (1 << 20), shared_repeat=300)


def blank_rows(path: Path, rows: int = 1_048_576) -> Path:
    """A sheet of a million blank rows below a header: each row holds one empty cell."""
    chunks = [table_rows([LOG_HEADER])]
    for start in range(2, rows + 1, 100_000):
        chunks.append(
            "".join(
                f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t></t></is></c></row>'
                for r in range(start, min(start + 100_000, rows + 1))
            )
        )
    return workbook(path, chunks)


# -- a corrected check-in, for the corrections ------------------------------------------

CORRECTION_LOG = ["学号", "姓名", "日期", "时段", "体温", "症状", "14天内是否到过重点地区",
                  "是否接触确诊或疑似病例", "填报时间"]  # fmt: skip


def write_csv(path: Path, rows: list[list[object]]) -> Path:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


def correction_config() -> Any:
    """Two schools of one district, for the corrections."""
    from reportkit.config import SchoolsConfig

    return SchoolsConfig.model_validate(
        {
            "districts": [{"id": "d01", "name": "示范区"}],
            "schools": [
                {"id": "s001", "name": "第一小学", "district": "d01"},
                {"id": "s002", "name": "第二小学", "district": "d01"},
            ],
        }
    )


def _correction_day(path: Path, zhang: list[object], li: list[object], at: str) -> Path:
    return write_csv(
        path,
        [CORRECTION_LOG, ["001", "张三", "2020-02-10", "晨检", *zhang, f"2020-02-10 {at}"],
         ["002", "李四", "2020-02-10", "晨检", *li, "2020-02-10 08:05"],
         ["003", "王五", "2020-02-09", "晨检", "38.5", "无", "否", "否", "2020-02-09 08:00"]],
    )  # fmt: skip


def ingest_correction(engine: Any, config: Any, folder: Path) -> tuple[Path, Path]:
    """s001's roster, a log of 2020-02-10 where 张三 has 38.2 ℃, a cough and a key-area
    stay, then a second file correcting him to 36.5, no symptom, no stay at 16:00."""
    from reportkit.ingest import ingest_paths

    roster = write_csv(
        folder / "s001" / "名册.csv",
        [["学号", "姓名", "身份"], ["001", "张三", "学生"], ["002", "李四", "学生"],
         ["003", "王五", "学生"]],
    )  # fmt: skip
    ingest_paths(engine, [roster], "roster", config)
    first = _correction_day(folder / "s001" / "a.csv", ["38.2", "咳嗽", "是", "否"],
                            ["36.5", "无", "否", "否"], "08:10")  # fmt: skip
    ingest_paths(engine, [first], "logs", config)
    second = _correction_day(folder / "s001" / "b.csv", ["36.5", "无", "否", "否"],
                             ["36.5", "无", "否", "否"], "16:00")  # fmt: skip
    assert ingest_paths(engine, [second], "logs", config).updated == 1
    return first, second
