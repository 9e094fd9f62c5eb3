"""A warm kernel runs a notebook's cells in one request, and the executed notebook is
the one papermill's own cell-by-cell execution gives: the same outputs in the same
cells, the same execution counts, the same account of which cell ran, failed or
never ran."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell
from papermill.exceptions import PapermillExecutionError

from reportkit.execution import WarmKernel
from reportkit.execution.batch import thread_executor
from reportkit.execution.kernels import CELL_MARK, ENGINE, KERNEL_ARGS, OneRequestClient
from tests.factories import PROBE, probe_lines, probe_notebook, probe_spec, write_notebook

pytestmark = pytest.mark.slow

CELLS = [
    new_markdown_cell("# A probe"),
    new_code_cell('school_id = "none"', metadata={"tags": ["parameters"]}),
    new_code_cell(
        'import sys\nprint("to stdout", school_id)\nprint("to stderr", file=sys.stderr)\n'
        "len(school_id)"
    ),
    new_code_cell(""),
    new_markdown_cell("Displays, an update and a clear."),
    new_code_cell(
        "from IPython.display import HTML, Markdown, clear_output, display\n"
        'handle = display(HTML("<b>first</b>"), display_id="shown")\n'
        'print("between")\n'
        'handle.update(HTML("<b>updated</b>"))\n'
        'display(Markdown("**more**"))'
    ),
    new_code_cell('print("cleared away")\nclear_output(wait=True)\nprint("after the clear")'),
    new_code_cell("for i in range(3):\n    print(i)\n{'a': [1, 2]}"),
    new_code_cell("x = 1  # nothing shown"),
]
FAILING = [
    new_code_cell('if school_id == "s2":\n    raise ValueError(f"broken export of {school_id}")'),
    new_code_cell('print("never runs")'),
]


def _notebook(path: Path, cells: list) -> Path:
    return write_notebook(path, [nbformat.from_dict(c) for c in cells])  # copies


def _cell_by_cell(notebook: Path, out: Path, school: str):
    """papermill's own engine: a fresh kernel, one request a cell."""
    return pm.execute_notebook(
        notebook, out, parameters={"school_id": school}, kernel_name="python3",
        progress_bar=False, request_save_on_cell_execute=False,
        extra_arguments=list(KERNEL_ARGS),
    )  # fmt: skip


REQUESTS: list[str] = []  # the code of each execute request the last notebook sent


def _one_request(kernel: WarmKernel, notebook: Path, out: Path, school: str):
    km, kc = kernel.acquire()
    ok = False
    REQUESTS.clear()
    execute = kc.execute
    kc.execute = lambda code, *a, **kw: REQUESTS.append(code) or execute(code, *a, **kw)
    try:
        nb = pm.execute_notebook(
            notebook, out, parameters={"school_id": school}, engine_name=ENGINE,
            kernel_name="python3", progress_bar=False, request_save_on_cell_execute=False,
            km=km, kc=kc,
        )  # fmt: skip
        ok = True
        return nb
    finally:
        del kc.execute
        kernel.release(ok)


def _account(nb) -> list[tuple]:
    """What each cell shows and what papermill recorded of it (no times)."""
    rows = []
    for cell in nb.cells:
        papermill = cell.metadata.get("papermill", {})
        rows.append(
            (
                cell.cell_type,
                cell.get("execution_count"),
                [_output(o) for o in cell.get("outputs", [])],
                papermill.get("status"),
                papermill.get("exception"),
                "iopub.execute_input" in cell.metadata.get("execution", {}),
            )
        )
    return rows


def _output(output) -> dict:
    output = dict(output)
    if output["output_type"] == "error":  # the traceback's last line: the error itself
        output["traceback"] = output["traceback"][-1:]
    return output


def test_cells_sent_in_one_request_give_the_cell_by_cell_notebook(tmp_path):
    notebook = _notebook(tmp_path / "probe.ipynb", CELLS)
    with WarmKernel(max_uses=10) as kernel:
        for school in ("s1", "s22"):  # the second on the same kernel, after a reset
            expected = _cell_by_cell(notebook, tmp_path / f"{school}-reference.ipynb", school)
            got = _one_request(kernel, notebook, tmp_path / f"{school}.ipynb", school)
            assert _account(got) == _account(expected)
            assert len(REQUESTS) == 1  # every cell in one request
            assert got.metadata.papermill["exception"] is None
            assert got.metadata["language_info"]["name"] == "python"
        assert kernel.started == 1  # both ran on the one warm kernel
    shown = _account(got)
    assert shown[3][2][0]["text"] == "to stdout s22\n"  # each output in its own cell ...
    assert shown[6][2][-1]["data"]["text/markdown"] == "**more**"
    assert shown[7][2] == [{"output_type": "stream", "name": "stdout", "text": "after the clear\n"}]
    assert [row[1] for row in shown if row[0] == "code"] == [1, 2, 3, None, 4, 5, 6, 7]
    assert not any(CELL_MARK in o.get("data", {}) for row in shown for o in row[2])  # no marks


def test_a_warm_kernel_is_asked_its_language_info_once(tmp_path):
    notebook = _notebook(tmp_path / "probe.ipynb", CELLS)
    asked: list[int] = []

    def run(kernel: WarmKernel, school: str):
        """One notebook on the warm kernel, counting the kernel_info requests it sends."""
        km, kc = kernel.acquire()
        kernel_info = kc.kernel_info
        kc.kernel_info = lambda *a, **kw: asked.append(1) or kernel_info(*a, **kw)
        try:
            nb = pm.execute_notebook(
                notebook, tmp_path / f"{school}.ipynb", parameters={"school_id": school},
                engine_name=ENGINE, kernel_name="python3", progress_bar=False,
                request_save_on_cell_execute=False, km=km, kc=kc,
            )  # fmt: skip
        finally:
            del kc.kernel_info
            kernel.release(True)
        assert nb.metadata["language_info"]["name"] == "python"
        return nbformat.read(tmp_path / f"{school}.ipynb", as_version=4)

    with WarmKernel(max_uses=10) as kernel:
        shown = [run(kernel, school) for school in ("s1", "s2", "s3")]
        assert len(asked) == 1  # the first notebook's, kept for the kernel's next ones
        assert shown[0].metadata["language_info"] == shown[2].metadata["language_info"]
        kernel.discard()  # a new kernel is asked again
        run(kernel, "s4")
        assert len(asked) == 2


def test_a_failing_cell_stops_the_notebook_where_cell_by_cell_execution_stops_it(tmp_path):
    notebook = _notebook(tmp_path / "probe.ipynb", CELLS + FAILING)
    with pytest.raises(PapermillExecutionError) as reference:
        _cell_by_cell(notebook, tmp_path / "reference.ipynb", "s2")
    with WarmKernel(max_uses=10) as kernel, pytest.raises(PapermillExecutionError) as got:
        _one_request(kernel, notebook, tmp_path / "s2.ipynb", "s2")
    assert (got.value.cell_index, got.value.ename, got.value.evalue) == (
        reference.value.cell_index,
        reference.value.ename,
        reference.value.evalue,
    )
    assert got.value.evalue == "broken export of s2"
    assert len(REQUESTS) == 1
    expected = nbformat.read(tmp_path / "reference.ipynb", as_version=4)
    written = nbformat.read(tmp_path / "s2.ipynb", as_version=4)
    assert _account(written) == _account(expected)
    after = written.cells[-1]
    assert after.metadata.papermill["status"] == "pending"  # the cell after it never ran
    assert after.outputs == []


def test_notebooks_a_single_request_cannot_run_go_cell_by_cell(tmp_path):
    """Top-level ``await`` needs the kernel's own loop; a cell that may fail needs
    execution to go on after it."""
    awaiting = _notebook(
        tmp_path / "await.ipynb",
        [new_code_cell('school_id = "none"', metadata={"tags": ["parameters"]}),
         new_code_cell("import asyncio\nawait asyncio.sleep(0)\nschool_id")],
    )  # fmt: skip
    may_fail = _notebook(
        tmp_path / "may-fail.ipynb",
        [new_code_cell("1 / 0", metadata={"tags": ["raises-exception"]}),
         new_code_cell('"went on"')],
    )  # fmt: skip
    with WarmKernel(max_uses=10) as kernel:
        got = _one_request(kernel, awaiting, tmp_path / "await-out.ipynb", "s9")
        assert len(REQUESTS) == 3  # a request a cell (the injected parameters too)
        assert got.cells[-1].outputs[0]["data"]["text/plain"] == "'s9'"
        with pytest.raises(PapermillExecutionError):  # papermill reports it all the same
            _one_request(kernel, may_fail, tmp_path / "may-fail-out.ipynb", "s9")
        got = nbformat.read(tmp_path / "may-fail-out.ipynb", as_version=4)
        assert got.cells[-1].outputs[0]["data"]["text/plain"] == "'went on'"  # it went on

    def client(path: Path) -> OneRequestClient:
        from papermill.engines import NotebookExecutionManager

        return OneRequestClient(NotebookExecutionManager(nbformat.read(path, as_version=4)))

    assert not client(awaiting).one_request()
    assert not client(may_fail).one_request()
    assert client(_notebook(tmp_path / "plain.ipynb", CELLS)).one_request()


def test_a_cell_showing_a_mark_of_its_own_keeps_it_as_an_output(tmp_path):
    spoof = new_code_cell(
        "from IPython.display import display\n"
        f'display({{"{CELL_MARK}": {{"end": 0, "ok": False, "cell": 0}}}}, raw=True)\n'
        '"still here"'
    )
    notebook = _notebook(tmp_path / "probe.ipynb", [*CELLS, spoof])
    with WarmKernel(max_uses=10) as kernel:
        got = _one_request(kernel, notebook, tmp_path / "out.ipynb", "s1")
    expected = _cell_by_cell(notebook, tmp_path / "reference.ipynb", "s1")
    assert _account(got) == _account(expected)
    assert got.cells[-1].outputs[0]["data"][CELL_MARK]["ok"] is False  # shown, not obeyed
    assert got.cells[-1].outputs[-1]["data"]["text/plain"] == "'still here'"


def test_a_kernel_killed_inside_a_cell_fails_that_report_and_the_next_runs(tmp_path):
    nb = probe_notebook(
        tmp_path / "probe.ipynb",
        PROBE,
        'import os, signal\nif school_id == "s001":\n    os.kill(os.getpid(), signal.SIGKILL)',
        'print("after the kill")',
    )
    specs = [probe_spec(tmp_path, s, nb) for s in ("s001", "s002")]
    results = {r.id: r for r in thread_executor(1, kernel_reuse=10)(specs, lambda r: None)}
    assert results["s001"].status == "failed"
    assert "died" in str(results["s001"].error).lower()
    kept = nbformat.read(results["s001"].outputs["ipynb"], as_version=4)
    killed = results["s001"].error.cell_index
    assert "os.kill" in kept.cells[killed].source
    assert kept.cells[killed].metadata["papermill"]["status"] == "failed"
    assert results["s002"].status == "ok"
    assert "after the kill" in str(nbformat.read(results["s002"].outputs["ipynb"], as_version=4))
    assert probe_lines(results["s002"])["pid"] != probe_lines(results["s001"])["pid"]
