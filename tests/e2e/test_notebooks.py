"""The notebooks run top to bottom, headless, on the outputs of a whole tiny run, from their own
folder (Jupyter's working directory), with no log line in their outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _execute(name: str, project: Path) -> nbformat.NotebookNode:
    """Run the notebook with ``<project>/notebooks`` as its working directory, as Jupyter opens it."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    folder = project / "notebooks"
    folder.mkdir(exist_ok=True)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return notebook


def _logged(notebook: nbformat.NotebookNode) -> list[str]:
    """Output lines that are log records or warnings: Kedro's rich handler shows them as
    ``[time] INFO ...`` displays, a plain handler or ``warnings`` as stream text."""
    record = re.compile(r"\b(DEBUG|INFO|WARNING)\b|Warning:")
    return [line for line in _text(notebook).splitlines() if record.search(line)]


def _text(notebook: nbformat.NotebookNode) -> str:
    """Every text output, without the terminal colours rich gives the displayed values."""
    return ANSI.sub(
        "",
        "\n".join(
            str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
            for cell in notebook.cells
            if cell.cell_type == "code"
            for output in cell.outputs
        ),
    )


def _images(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )


def test_dataset_notebook_browses_images_masks_patches_qa_and_statistics(project: Path) -> None:
    notebook = _execute("01_dataset.ipynb", project)
    text = _text(notebook)
    assert "9 patches of 64² for" in text
    assert "URUR (quoted from the paper)" in text and "min_pair_agreement" in text
    assert _images(notebook) == 3  # image | mask, its patches, the class balance
    assert _logged(notebook) == []


def test_results_notebook_predicts_a_test_image_through_the_catalog(project: Path) -> None:
    notebook = _execute("02_results.ipynb", project)
    text = _text(notebook)
    assert "'model': 'wsdnet'" in text and "pixel accuracy" in text
    assert "class_name" in text and "predicted" in text  # per-class table and the confused pairs
    assert _images(notebook) == 1
    assert _logged(notebook) == []
