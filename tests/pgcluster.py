"""A throw-away PostgreSQL cluster on loopback for the test suite.

Uses Debian's ``postgresql`` server binaries. ``initdb`` refuses to run as root,
so as root the cluster runs as the ``postgres`` user in a folder it owns.
``REPORTKIT_TEST_PG`` set to a URL uses that server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PgCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="reportkit-pg-"))
        self.port = _free_port()
        self.bin = _pg_bin()
        self.url = f"postgresql+psycopg://reportkit@127.0.0.1:{self.port}/reportkit"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True)

    def start(self) -> PgCluster:
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            f"{self.bin}/initdb", "-D", str(data), "-A", "trust", "-U", "reportkit", "-E", "UTF8"
        )
        opts = f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            f"{self.bin}/pg_ctl",
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )
        self._run(
            f"{self.bin}/createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "reportkit",
            "reportkit",
        )
        return self

    def createdb(self, name: str) -> str:
        self._run(
            f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "reportkit", name
        )
        return f"postgresql+psycopg://reportkit@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(f"{self.bin}/pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
            "install Debian's 'postgresql' package (make test does this as root)"
        )
    return str(Path(found[-1]).parent)
