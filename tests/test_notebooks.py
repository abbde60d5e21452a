"""The analysis notebooks: stored clean, and executed top to bottom (a failing cell fails the test).

Each notebook runs from a temporary copy, in a kernel started from this interpreter (so the
project's environment is used), with $GLAMSIM_NOTEBOOK_OUT pointing at a temporary folder: the
executed copy and every file a notebook writes stay out of the repository.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "glamsim-test"
CELL_TIMEOUT_S = 300
# A machine path (/home/..., /Users/..., /tmp/..., C:\...; this checkout's own location is checked too).
MACHINE_PATH = re.compile(r"(/home/|/Users/|/tmp/|[A-Za-z]:\\\\)")


def is_chart(output) -> bool:
    """An inline glamsim.plots chart: the SVG Vega draws (`glamsim.plots.offline_charts`, what the
    notebooks use: it shows offline), or Altair's Vega-Lite output (its HTML embed or MIME bundle)."""
    data = output.get("data", {})
    svg = data.get("image/svg+xml", "")
    return (
        'class="marks"' in (svg if isinstance(svg, str) else "".join(svg))
        or any(k.startswith("application/vnd.vegalite") for k in data)
        or "vegaEmbed" in data.get("text/html", "")
    )


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernelspec that launches ipykernel with this interpreter (the project's .venv)."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "glamsim (tests)",
                "language": "python",
            }
        )
    )
    return root


def test_the_four_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_reproduce_glam.ipynb",
        "02_scaling_studies.ipynb",
        "03_measure_the_model.ipynb",
        "04_equal_quality.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs_or_machine_paths(path):
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert str(ROOT) not in text and not MACHINE_PATH.search(text)
    # reads as a document: a title and introduction first, then markdown before every step
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert any(c.cell_type == "markdown" and c.source.startswith("## Conclusion") for c in nb.cells)
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    assert len(headings) >= 4, headings


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_dir, tmp_path, monkeypatch):
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    copy = Path(shutil.copy(path, work / path.name))
    before = sorted(p.name for p in path.parent.iterdir())
    stored = path.read_bytes()
    monkeypatch.setenv("GLAMSIM_NOTEBOOK_OUT", str(out))
    nb = nbformat.read(copy, as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    # raises CellExecutionError, naming the cell, when any cell fails
    NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(work)}}).execute()
    nbformat.write(nb, copy)  # the executed copy stays in the temporary folder

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(is_chart(o) for o in outputs), "no inline figure"
    assert any("text/html" in o.get("data", {}) and "dataframe" in o["data"]["text/html"] for o in outputs), (
        "no DataFrame"
    )
    summary = [o for o in nb.cells[-1].outputs if o.output_type == "stream" and o.name == "stdout"]
    assert summary and re.search(r"\d", summary[0].text), "the last cell prints the conclusion's numbers"
    assert "nan" not in summary[0].text.lower().split()
    # files went to the temporary output folder, none into the repository
    assert out.is_dir() and any(out.rglob("*"))
    assert path.read_bytes() == stored
    assert sorted(p.name for p in path.parent.iterdir()) == before
