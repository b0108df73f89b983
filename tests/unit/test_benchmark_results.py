"""Every benchmark result in benchmarks/results/ was written by the benchmark script as it is now.

Each ``benchmarks/bench_<name>.py`` declares the top-level fields it writes (``RESULT_KEYS``,
which ``common.write_results`` enforces when it writes) and ``common.py`` the fields every result
has (``COMMON_KEYS``); each result records the SHA-256 of the script that wrote it. A script
edited without regenerating its results therefore fails here: re-run
``.venv/bin/python benchmarks/bench_<name>.py`` (its command is in the result) and commit both
files. No benchmark runs in these tests; the scripts are parsed, not imported.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("bench_*.py"))


def module_constant(path: Path, name: str) -> object:
    """The literal value of the module-level ``name = ...`` in ``path``, without importing it."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} declares no {name}")


def benchmarks_common() -> ModuleType:
    """``benchmarks/common.py``, imported from its folder (the benchmarks are scripts, not a package)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("common")
    finally:
        sys.path.remove(str(BENCHMARKS))


def load(name: str) -> dict[str, object]:
    path = RESULTS / f"{name}.json"
    assert path.is_file(), f"{path} is missing: run .venv/bin/python benchmarks/{name}.py"
    return json.loads(path.read_text())


def test_every_result_file_has_its_script() -> None:
    assert SCRIPTS, "no benchmark scripts found"
    stems = {path.name.split(".")[0] for path in RESULTS.iterdir() if not path.name.startswith(".")}
    assert stems == set(SCRIPTS), f"results without a script: {stems - set(SCRIPTS)}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_result_fields_are_the_ones_its_script_writes(name: str) -> None:
    script = BENCHMARKS / f"{name}.py"
    expected = [
        *module_constant(BENCHMARKS / "common.py", "COMMON_KEYS"),
        *module_constant(script, "RESULT_KEYS"),
    ]
    assert list(load(name)) == expected


@pytest.mark.parametrize("name", SCRIPTS)
def test_result_was_written_by_the_current_script(name: str) -> None:
    script_sha256 = benchmarks_common().script_sha256
    result = load(name)
    current = script_sha256(BENCHMARKS / f"{name}.py")
    assert result["script_sha256"] == current, (
        f"benchmarks/{name}.py changed since its results were written: run `{result['command']}`"
    )
    assert result["command"].startswith(f".venv/bin/python benchmarks/{name}.py")


@pytest.mark.parametrize("name", SCRIPTS)
def test_markdown_and_json_come_from_the_same_run(name: str) -> None:
    """The .md ends with the footer made from the JSON: command, hash, machine, load averages."""
    footer = benchmarks_common().footer
    result = load(name)
    assert len(result["load_average_before"]) == len(result["load_average_after"]) == 3
    markdown = (RESULTS / f"{name}.md").read_text()
    assert markdown.endswith(footer(result))


def test_write_results_refuses_fields_other_than_result_keys(tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import common
    finally:
        sys.path.remove(str(BENCHMARKS))
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "bench_stats.py")])
    with pytest.raises(
        ValueError, match=r"bench_x: results have fields \['a', 'b'\], RESULT_KEYS say \['a'\]"
    ):
        common.write_results("bench_x", {"a": 1, "b": 2}, "body", ("a",))
    assert not list(tmp_path.iterdir())
    full = common.write_results("bench_x", {"a": 1}, lambda r: f"a = {r['a']}", ("a",))
    assert list(json.loads((tmp_path / "bench_x.json").read_text())) == [*common.COMMON_KEYS, "a"]
    assert (tmp_path / "bench_x.md").read_text() == f"a = 1\n\n{common.footer(full)}"
