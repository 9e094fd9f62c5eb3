"""The exception tree: every exception class reportkit defines derives from
ReportkitError, carries an int exit code and is drawn in reportkit.errors' docstring."""

from __future__ import annotations

import importlib
import inspect
import pickle
from pathlib import Path

import pytest

from reportkit import errors
from reportkit.errors import ReportExecutionError, ReportkitError

SRC = Path(__file__).resolve().parents[1] / "src" / "reportkit"


def _exception_classes() -> list[type[BaseException]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        name = ".".join(parts)
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name:
                found.append(cls)
    return found


def test_every_exception_class_derives_from_reportkit_error_with_an_exit_code():
    classes = _exception_classes()
    assert len(classes) >= 15  # the walk found them (errors, i18n, kernels, delivery, ...)
    outside = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, ReportkitError)
    ]
    assert not outside, f"exceptions outside the ReportkitError tree: {outside}"
    for cls in classes:
        assert type(cls.exit_code) is int, cls
        assert cls.exit_code in (1, 2), cls


def test_the_tree_in_the_docstring_names_every_public_exception():
    doc = errors.__doc__ or ""
    public = [c for c in _exception_classes() if not c.__name__.startswith("_")]
    missing = [c.__name__ for c in public if c.__name__ not in doc]
    assert not missing, f"reportkit.errors' tree does not draw {missing}"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ConfigError", 2),
        ("StoreMissingError", 2),
        ("RosterMissingError", 2),
        ("StoreLockedError", 1),
        ("ReportExecutionError", 1),
    ],
)
def test_exit_codes(name, code):
    assert getattr(errors, name).exit_code == code


def test_kernel_and_label_errors_keep_their_builtin_bases():
    from reportkit.execution import KernelError
    from reportkit.i18n import UnknownLabelError, t

    assert issubclass(KernelError, RuntimeError)
    assert issubclass(UnknownLabelError, KeyError)
    assert issubclass(UnknownLabelError, ValueError)
    with pytest.raises(ReportkitError, match="unknown language 'fr'"):
        t("daily_report", "fr")


def test_a_report_execution_error_round_trips_json_and_pickle():
    error = ReportExecutionError(
        "d01", "2020-02-28", 3, "KeyError", "'体温'", kind="district", exec_count=2
    )
    assert error.to_json() == {
        "cell_index": 3,
        "exec_count": 2,
        "ename": "KeyError",
        "evalue": "'体温'",
    }
    back = ReportExecutionError.from_json(error.to_json(), "d01", "2020-02-28", kind="district")
    assert (
        str(back)
        == str(error)
        == "district d01 2020-02-28: report failed in cell 3: KeyError: '体温'"
    )
    copy = pickle.loads(pickle.dumps(error))  # results come back from Dask workers
    assert (copy.kind, copy.target_id, copy.cell_index, copy.exec_count) == (
        "district",
        "d01",
        3,
        2,
    )
    full = ReportExecutionError("s1", "2020-02-28", None, "OSError", "disk full", errno="ENOSPC")
    assert full.to_json() == {
        "cell_index": None,
        "ename": "OSError",
        "evalue": "disk full",
        "errno": "ENOSPC",
    }


def test_a_job_result_with_an_error_as_the_manifest_records_it():
    from reportkit.execution import JobResult

    result = JobResult("school", "s002", "failed", 2.0, 2, {}, {"ename": "E", "errno": "ENOSPC"})
    assert isinstance(result.error, ReportExecutionError)
    assert (result.error.ename, result.error.school_id, result.no_space) == ("E", "s002", True)
