"""Notebooks are tests: each one runs top to bottom (small, with SIMLAB_QUICK=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from simlab.lab.report import notebook_client

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.slow


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    book = json.loads(path.read_text())
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and not cell.get("execution_count"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMLAB_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("KERAS_HOME", os.environ.get("KERAS_HOME", str(tmp_path / "keras")))
    book = nbformat.read(path, as_version=4)
    # raises CellExecutionError naming the cell on any error
    notebook_client(book, timeout=300, cwd=path.parent).execute()
    errors = [out for cell in book.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"]
    assert not errors
    assert any(cell.outputs for cell in book.cells if cell.cell_type == "code")
