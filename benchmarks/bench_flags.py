"""Time the flag engine on a district-sized day, and DuckDB on part of the same work.

Builds in memory ~35,000 people in 100 schools and 14 days x 2 sessions of
check-ins (~1,000,000 rows, ~3% missing, realistic rates of fever, symptoms,
exposure and absence), in the column types :mod:`reportkit.store` returns, then
computes every finding for the last date and every school. In the same run,
DuckDB (one thread) computes coverage, fever and missing people with SQL on the
same frames. Prints seconds, peak memory and the ratio; never asserts on time.

    .venv/bin/python benchmarks/bench_flags.py [--schools 100] [--people 350] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from reportkit.config import Rules, SchoolsConfig
from reportkit.findings import Findings, compute_findings

REPORT_DATE = date(2020, 2, 24)
DAYS = 14
SYMPTOM_MIX = np.array(
    ["cough", "fever", "cough,fever", "runny_nose", "sore_throat", "fatigue", "headache",
     "cough,sore_throat", "diarrhoea"],
    dtype=object,
)  # fmt: skip


def build(n_schools: int, per_school: int, seed: int = 7) -> tuple:
    rng = np.random.default_rng(seed)
    school_ids = [f"S{i:03d}" for i in range(n_schools)]
    config = SchoolsConfig.model_validate(
        {
            "districts": [{"id": f"D{i}", "name": f"区{i}"} for i in range(5)],
            "schools": [
                {
                    "id": sid,
                    "name": f"第{i}小学",
                    "district": f"D{i % 5}",
                    "sessions": ["morning", "noon"],
                    **({"timezone": "Asia/Urumqi"} if i % 25 == 0 else {}),
                }
                for i, sid in enumerate(school_ids)
            ],
        }
    )
    sizes = rng.integers(per_school * 3 // 5, per_school * 7 // 5, n_schools)
    school_of = np.repeat(np.arange(n_schools), sizes)
    n = len(school_of)
    local = np.concatenate([np.arange(s) for s in sizes])
    person_id = np.array(
        [f"2020{s:03d}{k:04d}" for s, k in zip(school_of, local, strict=True)], dtype=object
    )
    staff = rng.random(n) < 0.1
    grades = np.array(["一年级", "二年级", "三年级", "四年级", "五年级", "六年级"], dtype=object)
    people = pd.DataFrame(
        {
            "school_id": np.array(school_ids, dtype=object)[school_of],
            "person_id": person_id,
            "name": np.array([f"学生{i}" for i in range(n)], dtype=object),
            "role": np.where(staff, "staff", "student").astype(object),
            "grade": np.where(staff, None, grades[(local // 40) % 6]),
            "class": np.where(
                staff, "教务处", np.char.add((local % 8 + 1).astype(str), "班").astype(object)
            ),
            "status": rng.choice(
                np.array(["active", "on_leave", "left"], dtype=object), n, p=[0.97, 0.02, 0.01]
            ),
        }
    )
    # exposure persists: ~0.6% of people declare a key-area stay or contact from some day on
    exposed_from = np.where(rng.random(n) < 0.006, rng.integers(0, DAYS, n), DAYS + 1)
    days = [REPORT_DATE - timedelta(days=DAYS - 1 - d) for d in range(DAYS)]
    p_idx = np.repeat(np.arange(n), DAYS * 2)
    d_idx = np.tile(np.repeat(np.arange(DAYS), 2), n)
    s_idx = np.tile(np.array([0, 1]), n * DAYS)
    # ~3% of people missing on a day, and ~0.5% of the others miss one session
    day_missing = rng.random(n * DAYS) < 0.03
    keep = ~np.repeat(day_missing, 2) & (rng.random(len(p_idx)) >= 0.005)
    p_idx, d_idx, s_idx = p_idx[keep], d_idx[keep], s_idx[keep]
    m = len(p_idx)
    temp = np.round(rng.normal(36.5, 0.3, m), 1)
    temp[rng.random(m) < 0.001] = np.round(rng.uniform(37.3, 39.0), 1)
    temp[rng.random(m) < 0.01] = np.nan
    symptoms = np.full(m, "", dtype=object)
    ill = rng.random(m) < 0.005
    symptoms[ill] = SYMPTOM_MIX[rng.integers(0, len(SYMPTOM_MIX), ill.sum())]
    absent = rng.random(m) < 0.02
    reason = np.full(m, None, dtype=object)
    reason[absent] = rng.choice(
        np.array(["illness", "personal", "other"], dtype=object), absent.sum(), p=[0.4, 0.4, 0.2]
    )
    exposed = d_idx >= exposed_from[p_idx]
    key_area = exposed & (p_idx % 3 != 0)
    late_school = (school_of[p_idx] % 10) == 3
    minutes = rng.integers(7 * 60, 16 * 60, m) + np.where(
        late_school & (rng.random(m) < 0.01), 120, 0
    )
    base = np.array(
        [datetime.combine(d, datetime.min.time()) for d in days], dtype="datetime64[us]"
    )
    reported_at = base[d_idx] + minutes.astype("timedelta64[m]")
    checkins = pd.DataFrame(
        {
            "school_id": people["school_id"].to_numpy(dtype=object)[p_idx],
            "person_id": person_id[p_idx],
            "date": np.array(days, dtype=object)[d_idx],
            "session": np.array(["morning", "noon"], dtype=object)[s_idx],
            "name": people["name"].to_numpy(dtype=object)[p_idx],
            "temperature": temp,
            "symptoms": symptoms,
            "symptoms_other": np.where(rng.random(m) < 0.001, "鼻出血", "").astype(object),
            "absent": absent,
            "absence_reason": reason,
            "key_area": key_area,
            "key_area_place": np.where(key_area, "湖北武汉", None),
            "contact": exposed & ~key_area,
            "reported_at": pd.Series(reported_at),
        }
    )
    return config, people, checkins


def run_pandas(config, people, checkins, rules) -> tuple[float, Findings]:
    start = time.perf_counter()
    findings = compute_findings(people, checkins, None, config, rules, REPORT_DATE)
    return time.perf_counter() - start, findings


DUCK_SQL = """
WITH today AS (
  SELECT school_id, person_id, max(temperature) AS tmax,
         bool_or(list_contains(string_split(symptoms, ','), 'fever')) AS fever_code
  FROM checkins WHERE date = $day GROUP BY school_id, person_id
),
roster AS (SELECT school_id, person_id, name, status = 'active' AS active FROM people)
SELECT r.school_id, r.person_id, r.name, r.active,
       t.person_id IS NOT NULL AS reported,
       coalesce(t.tmax >= $fever OR t.fever_code, false) AS fever
FROM roster r LEFT JOIN today t USING (school_id, person_id)
"""


def run_duckdb(people, checkins, rules) -> tuple[float, dict]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1")
    con.register("people", people)
    con.register("checkins", checkins)
    start = time.perf_counter()
    per_person = con.execute(
        f"CREATE OR REPLACE TEMP TABLE pp AS {DUCK_SQL}",
        {"day": REPORT_DATE, "fever": rules.fever_celsius},
    )
    coverage = con.execute(
        "SELECT school_id, sum(active::INT) AS expected, sum((active AND reported)::INT) AS reported "
        "FROM pp GROUP BY school_id ORDER BY school_id"
    ).df()
    fever = con.execute("SELECT school_id, person_id, name FROM pp WHERE fever").df()
    missing = con.execute(
        "SELECT school_id, person_id, name FROM pp WHERE active AND NOT reported"
    ).df()
    elapsed = time.perf_counter() - start
    del per_person
    con.close()
    return elapsed, {"coverage": coverage, "fever": fever, "missing": missing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--people", type=int, default=350, help="average people per school")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rules = Rules()
    t0 = time.perf_counter()
    config, people, checkins = build(args.schools, args.people)
    print(
        f"built {len(people):,} people, {len(checkins):,} check-ins in "
        f"{len(config.schools)} schools in {time.perf_counter() - t0:.1f} s"
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pandas_times, findings = [], None
    for _ in range(args.repeat):
        elapsed, findings = run_pandas(config, people, checkins, rules)
        pandas_times.append(elapsed)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    duck_times, duck = [], {}
    for _ in range(args.repeat):
        elapsed, duck = run_duckdb(people, checkins, rules)
        duck_times.append(elapsed)

    # the two engines must agree on the parts both computed
    s = findings.schools
    assert s["expected"].sum() == duck["coverage"]["expected"].sum()
    assert s["reported"].sum() == duck["coverage"]["reported"].sum()
    assert len(findings.fever) == len(duck["fever"])
    assert len(findings.missing) == len(duck["missing"])

    best, duck_best = min(pandas_times), min(duck_times)
    print(
        f"flags.compute_findings (all findings, {len(s)} schools): best {best:.3f} s, "
        f"runs {', '.join(f'{x:.3f}' for x in pandas_times)}"
    )
    print(
        f"duckdb, 1 thread (coverage, fever, missing only): best {duck_best:.3f} s, "
        f"runs {', '.join(f'{x:.3f}' for x in duck_times)}"
    )
    print(f"ratio pandas / duckdb: {best / duck_best:.2f}x")
    print(f"peak RSS: {rss_after / 1024:.0f} MiB (before computing: {rss_before / 1024:.0f} MiB)")
    print(
        f"found: missing {len(findings.missing):,}, fever {len(findings.fever):,}, "
        f"attention {len(findings.attention):,}, clusters {len(findings.clusters):,}, "
        f"late schools {(s['submission'] == 'late').sum()}"
    )


if __name__ == "__main__":
    main()
