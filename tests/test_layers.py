"""The layering rules of DESIGN.md, enforced the way Kedro enforces its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "urur"
# Kedro glue: the only modules allowed to import kedro.
GLUE = {"settings.py", "pipeline_registry.py", "__main__.py", "hooks.py", "io/datasets.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _is_glue(path: Path) -> bool:
    rel = _rel(path)
    return rel in GLUE or rel.startswith("pipelines/")


LIBRARY = [p for p in sorted(SRC.rglob("*.py")) if not _is_glue(p)]


@pytest.mark.parametrize("path", LIBRARY, ids=_rel)
def test_library_never_imports_kedro(path: Path) -> None:
    rel = _rel(path)
    kedro = {name for name in _imports(path) if name.split(".")[0] in {"kedro", "kedro_datasets"}}
    assert not kedro, f"{rel} imports {kedro}: move that code into src/urur/pipelines/"


@pytest.mark.parametrize("path", LIBRARY, ids=_rel)
def test_nothing_imports_a_pipeline(path: Path) -> None:
    rel = _rel(path)
    leaked = {name for name in _imports(path) if name.startswith("urur.pipelines")}
    assert not leaked, f"{rel} imports {leaked}"


def test_checker_sees_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import kedro.io\nfrom kedro.pipeline import Node\nfrom . import sibling\n")
    assert _imports(module) == {"kedro.io", "kedro.pipeline"}
