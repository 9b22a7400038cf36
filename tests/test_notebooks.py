"""The notebooks run top to bottom at tiny scale (they call the same pipelines as the CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import DATA

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, work: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    os.environ["CARDVAULT_CATALOG_DIR"] = str(DATA)
    os.environ["CARDVAULT_NOTEBOOK_WORK"] = str(work)
    try:
        NotebookClient(
            notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
        ).execute()
    finally:
        os.environ.pop("CARDVAULT_NOTEBOOK_WORK", None)
        os.environ.pop("CARDVAULT_CATALOG_DIR", None)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs


def test_detector_notebook_runs(tmp_path: Path) -> None:
    _execute("detector.ipynb", tmp_path)
    assert (tmp_path / "runs" / "detector" / "weights").exists()
    assert (tmp_path / "scenes" / "data.yaml").exists()
    assert (tmp_path / "corners" / "corners.onnx").exists()


def test_identifier_grader_notebook_runs(tmp_path: Path) -> None:
    _execute("identifier_grader.ipynb", tmp_path)
    assert (tmp_path / "identifier" / "identifier.onnx").exists() and (tmp_path / "grader" / "grader.onnx").exists()
    assert (tmp_path / "wear" / "wear.onnx").exists()
    assert (tmp_path / "index.npz").exists()
