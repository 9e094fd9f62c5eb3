"""Fixtures shared by the suite: database engines on SQLite and a real PostgreSQL.

Every test that takes ``db_url`` or ``engine`` runs twice, once on a SQLite file
and once on a fresh database of a PostgreSQL server started for the session.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgcluster import PgCluster

# the loopback SMTP servers' fixtures (smtp_server, smtp_starttls, smtp_auth ...)
pytest_plugins = ["tests.smtp_server"]

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster | str]:
    url = os.environ.get("REPORTKIT_TEST_PG")
    if url:
        yield url
        return
    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _new_pg_db(cluster: PgCluster | str) -> str:
    name = f"t{os.getpid()}_{next(_counter)}"
    if isinstance(cluster, str):
        import sqlalchemy as sa

        engine = sa.create_engine(cluster, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return cluster.rsplit("/", 1)[0] + "/" + name
    return cluster.createdb(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reportkit.db'}"
    return _new_pg_db(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def pg_url(pg_cluster: PgCluster | str) -> str:
    """A URL of a new, empty PostgreSQL database."""
    return _new_pg_db(pg_cluster)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reportkit.db'}"


@pytest.fixture
def engine(db_url: str):
    from reportkit import store

    engine = store.connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory):
    """The demo county with small classes, ingested into a SQLite file; treat as read-only."""
    from reportkit.demo import build_demo

    root = tmp_path_factory.mktemp("small-demo")
    return build_demo(root, root / "params", f"sqlite:///{root / 'reportkit.db'}", small=True)


@pytest.fixture
def demo_settings(small_demo, tmp_path: Path):
    """Settings on the small demo's store and params, with outputs of this test's own."""
    from reportkit.config import Settings

    return Settings.resolve(small_demo.db_url, small_demo.params_dir, tmp_path / "outputs")
