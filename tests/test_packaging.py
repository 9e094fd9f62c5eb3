"""What a wheel holds, and where an installed reportkit finds its notebooks."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from reportkit.errors import ReportkitError
from reportkit.layout import find_notebook, notebook_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_templates(tmp_path):
    had_build = (ROOT / "build").exists()
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), ROOT],
            check=True,
            capture_output=True,
        )
    finally:
        if not had_build:  # setuptools builds in the source tree
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("reportkit-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for notebook in ("school_daily", "unit_daily", "officer_console"):
        assert any(
            n.endswith(f".data/data/share/reportkit/notebooks/{notebook}.ipynb") for n in names
        )
    assert "reportkit/templates/reportkit/index.html.j2" in names
    assert "reportkit/templates/sections/_macros.html.j2" in names
    assert "reportkit/templates/day_index.html.j2" in names
    assert "reportkit/py.typed" in names


def test_notebooks_are_found_in_the_installed_share_folder(tmp_path, monkeypatch):
    share = tmp_path / "share" / "reportkit" / "notebooks"
    share.mkdir(parents=True)
    (share / "only_installed.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("REPORTKIT_NOTEBOOKS", raising=False)
    assert find_notebook("only_installed.ipynb") == share / "only_installed.ipynb"


def test_the_notebooks_folder_setting_wins(tmp_path, monkeypatch):
    (tmp_path / "school_daily.ipynb").write_text("{}", encoding="utf-8")
    monkeypatch.setenv("REPORTKIT_NOTEBOOKS", str(tmp_path))
    assert notebook_path("school") == tmp_path / "school_daily.ipynb"
    with pytest.raises(ReportkitError, match=r"share/reportkit/notebooks.*REPORTKIT_NOTEBOOKS"):
        find_notebook("no_such.ipynb")


# ------------------------------------------------------------- declared dependencies

SRC = ROOT / "src" / "reportkit"
# declared, but used without an import: the kernel the reports run on, the commands
# `reportkit console` starts
RUN_NOT_IMPORTED = {"ipykernel", "jupyterlab", "voila"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    """pyproject's dependencies and its extras (but ``dev``), as normalised names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {_normal(Requirement(r).name) for r in requirements}

    extras = project.get("optional-dependencies", {})
    return names(project["dependencies"]), {
        extra: names(reqs) for extra, reqs in extras.items() if extra != "dev"
    }


def _third_party_imports() -> dict[str, list[str]]:
    """Top-level names imported by src/reportkit (inside functions too) -> where."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top != "reportkit" and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_distribution_is_declared() -> None:
    required, extras = _declared()
    optional = set().union(*extras.values())
    providers = packages_distributions()
    undeclared = []
    for name, where in sorted(_third_party_imports().items()):
        dists = {_normal(d) for d in providers.get(name, [name])}
        if not dists & (required | optional):
            undeclared.append(f"{name} ({', '.join(sorted(dists))}): {where[0]}")
    assert not undeclared, "imported but not in pyproject's dependencies:\n" + "\n".join(undeclared)


def test_every_declared_dependency_is_used() -> None:
    required, _ = _declared()
    providers = packages_distributions()
    imported = {_normal(d) for name in _third_party_imports() for d in providers.get(name, [name])}
    assert required - imported - RUN_NOT_IMPORTED == set()


# conda-forge's names of a build without extras reportkit does not use (Qt, pandoc)
CONDA_NAMES = {"matplotlib-base": "matplotlib", "nbconvert-core": "nbconvert"}


def test_environment_yml_installs_the_project_for_use() -> None:
    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["."]  # reportkit from pyproject, no development extras
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    bounds = {
        _normal(Requirement(r).name): str(Requirement(r).specifier) for r in project["dependencies"]
    }
    packages = {}
    for spec in conda:
        name, bound = re.fullmatch(r"([A-Za-z0-9_-]+)(.*)", spec).groups()  # type: ignore[union-attr]
        packages[_normal(CONDA_NAMES.get(name, name))] = bound
    assert {"python", "pip"} <= set(packages)
    jupyter = ("jupyterlab", "ipykernel", "ipywidgets", "nbconvert", "papermill")
    for name in ("pandas", "pyarrow", "matplotlib", *jupyter):
        assert name in packages, name
    for name, bound in packages.items():
        if name not in ("python", "pip"):
            assert bounds.get(name) == bound, (
                f"{name}: {bound} here, {bounds.get(name)} in pyproject"
            )
    assert not {"pytest", "ruff", "hypothesis", "aiosmtpd"} & set(packages)
