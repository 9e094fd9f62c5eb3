"""The house plan, checked: data flows one way between reportkit's stages.

Every module of ``src/reportkit`` belongs to a layer. A module may import
modules of its own layer's place (its own subpackage) and of lower layers, never
of a higher one; and no two modules import each other in a circle. Imports are
read from the source with :mod:`ast` (inside functions too: a lazy import is
still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "reportkit"

# lower numbers are further left in the pipeline; a module may import only its
# own place and places of a lower rank
RANKS: dict[str, float] = {
    # cross-cutting: no stage below them
    "errors": 0,
    "_lazy": 0,
    "schema": 1,
    "clock": 1,
    "privacy": 1,
    "i18n": 2,
    "files": 2,
    "xlsx": 3,
    "config": 3,
    "layout": 3.5,  # every output path; checks ids with config's SAFE_ID, below every stage
    # the stages, in the order data flows through them
    "store": 4,
    # one command's settings, parsed params, engine and options: it holds the engine
    "context": 4.5,
    "ingest": 5,
    "findings": 5,
    "reports": 6,
    "execution": 7,
    "delivery": 8,
    # who runs them
    "console": 9,
    "demo": 9,
    "daily": 10,
    "schedule": 10,
    "cli": 11,
    "__init__": 12,
}


def _place(module: str) -> str:
    """``reportkit.store._sqlite`` -> ``store``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("reportkit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("reportkit"):
                continue
            found.add(target)
            for alias in node.names:  # from reportkit import store -> reportkit.store
                candidate = f"{target}.{alias.name}"
                if _exists(candidate):
                    found.add(candidate)
    found.discard(me)
    return found


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def test_every_module_has_a_place() -> None:
    unplaced = sorted(m for m in _modules() if _place(m) not in RANKS)
    assert not unplaced, f"modules outside the house plan: {unplaced}"


def test_no_import_runs_back_up_the_pipeline() -> None:
    back_edges = []
    for module, path in _modules().items():
        mine = RANKS[_place(module)]
        for target in sorted(_imports(path)):
            place = _place(target)
            if place == _place(module) or target == "reportkit":
                continue
            if RANKS.get(place, 99) >= mine:
                back_edges.append(f"{module} -> {target}")
    assert not back_edges, "imports against the flow:\n" + "\n".join(back_edges)


def test_no_import_circle_between_modules() -> None:
    graph = {m: {t for t in _imports(p) if t in _modules()} for m, p in _modules().items()}
    # a package's __init__ re-exporting its modules is not a circle with them
    for m in graph:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    seen: dict[str, int] = {}
    stack: list[str] = []
    circles: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                circles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("place", sorted(p for p in RANKS if p not in ("__init__", "__main__")))
def test_each_place_exists(place: str) -> None:
    assert (SRC / f"{place}.py").exists() or (SRC / place / "__init__.py").exists()


def _lazy_names(init: Path) -> tuple[set[str], dict[str, str]]:
    tree = ast.parse(init.read_text(encoding="utf-8"))
    typed: set[str] = set()
    homes: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If):  # if TYPE_CHECKING:
            for sub in node.body:
                if isinstance(sub, ast.ImportFrom):
                    typed |= {a.asname or a.name for a in sub.names}
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "attach":
            table = node.args[1]
            assert isinstance(table, ast.Dict)
            homes = {k.value: v.value for k, v in zip(table.keys, table.values, strict=True)}  # type: ignore[union-attr]
    return typed, homes


@pytest.mark.parametrize(
    "package", sorted(p.parent.name for p in SRC.glob("*/__init__.py") if p.parent.name != "store")
)
def test_each_package_names_what_it_loads_and_each_name_loads(package: str) -> None:
    import importlib

    typed, homes = _lazy_names(SRC / package / "__init__.py")
    assert homes, f"reportkit.{package} names nothing"
    assert typed == set(homes), "the TYPE_CHECKING imports and the lazy table differ"
    module = importlib.import_module(f"reportkit.{package}")
    assert module.__all__ == sorted(homes)
    for name, home in homes.items():
        value = getattr(module, name)
        assert value is getattr(importlib.import_module(f"reportkit.{package}.{home}"), name)


def test_every_module_names_its_public_api_sorted() -> None:
    import importlib

    def ruff_order(name: str) -> tuple[int, str]:  # RUF022
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    for module in _modules():
        names = getattr(importlib.import_module(module), "__all__", None)
        if names is None or (module.count(".") == 1 and (SRC / module.split(".")[1]).is_dir()):
            continue
        assert names == sorted(names, key=ruff_order), module
        assert all(hasattr(importlib.import_module(module), n) for n in names), module
