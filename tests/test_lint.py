"""The code is lint-clean, formatted and type-checked: `make test` fails otherwise.

The same three checks as `make lint`, run from the project's own configuration in
pyproject.toml (ruff's rules, mypy's strictness and the pydantic plugin).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TREES = ["src", "tests", "benchmarks"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "args", [("ruff", "check", *TREES), ("ruff", "format", "--check", *TREES)], ids=str
)
def test_ruff(args: tuple[str, ...]) -> None:
    done = _run(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_type_checks() -> None:
    """mypy over src/reportkit with pandas-stubs: py.typed promises types, this keeps them."""
    done = _run("mypy", "--no-incremental", "src/reportkit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
