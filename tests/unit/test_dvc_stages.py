"""dvc.yaml's stages declare the code they run, no more and no less, and the committed dvc.lock
records the code and parameters of the tree (a stale lock makes a newcomer's `dvc repro` rerun
stages for nothing)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

from tests.support.tools import run_tool
from urur.io.dvc_record import DVC_STAGE_ENV, not_recorded_because, parse_kedro_command

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
# Models are built by name (urur.models.build_model imports the class on demand), and the losses
# with them: a static import walk does not see them, so stages that build a model declare these.
MODEL_CODE = {"src/urur/models", "src/urur/models/losses.py"}
MODEL_STAGES = {"prelabel", "training", "evaluation", "reporting"}


def _module_file(name: str) -> Path | None:
    path = SRC / Path(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(file: Path, module: str) -> set[str]:
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {name for name in found if name.split(".")[0] == "urur"}


def imported_files(pipeline: str) -> set[str]:
    """Every file of ``urur`` the pipeline's package imports, directly or not (package inits too)."""
    seen: dict[str, Path] = {}
    todo = [f"urur.pipelines.{pipeline}.pipeline", f"urur.pipelines.{pipeline}.nodes"]
    while todo:
        module = todo.pop()
        file = _module_file(module)
        if file is None or module in seen:
            continue
        seen[module] = file
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))] + sorted(_imports(file, module))
    return {str(f.relative_to(ROOT)) for f in seen.values()}


def _stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _covered(file: str, deps: set[str]) -> bool:
    return any(file == dep or file.startswith(f"{dep}/") for dep in deps)


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_each_stage_declares_the_code_it_imports_and_no_other(stage: str) -> None:
    spec = _stages()[stage]
    command = parse_kedro_command(stage, spec["cmd"])
    assert command is not None, f"{stage}: not a `kedro run` command the DVC record understands"
    declared = {dep for dep in spec["deps"] if dep.startswith("src/")}
    used = imported_files(command.pipeline) - {"src/urur/__init__.py", "src/urur/pipelines/__init__.py"}
    missing = sorted(file for file in used if not _covered(file, declared))
    assert not missing, f"{stage} imports code dvc.yaml does not declare: {missing}"
    allowed = MODEL_CODE if stage in MODEL_STAGES else set()
    unused = sorted(dep for dep in declared - allowed if not any(_covered(file, {dep}) for file in used))
    assert not unused, f"{stage} declares code it never imports: {unused}"
    for dep in declared - allowed:  # a whole folder only where the stage imports all of it
        if (ROOT / dep).is_dir():
            files = {str(p.relative_to(ROOT)) for p in (ROOT / dep).rglob("*.py")}
            assert files <= used, f"{stage} declares all of {dep} but uses only part: list the files"


def test_the_committed_lock_records_the_code_and_parameters_of_the_tree() -> None:
    """`dvc status` may find the data absent (a clean clone has none), never the code or params changed."""
    result = run_tool(ROOT, "dvc", "status", "--json", "dvc.yaml", timeout=300)
    stale = {}
    for stage, changes in json.loads(result.stdout or "{}").items():
        for change in changes:
            for dep, state in (change.get("changed deps") or {}).items():
                if not dep.startswith("data/"):  # code (src/...) and params files (conf/...)
                    stale.setdefault(stage, []).append(f"{dep}: {state}")
    assert not stale, f"dvc.lock is stale for {stale}: `make run` records the stages it builds; commit it"


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ("kedro run --pipelines tiling", ("tiling", (), ())),
        ("kedro run --pipeline=prelabel --tags prelabel_drafts", ("prelabel", ("prelabel_drafts",), ())),
        ("kedro run --pipelines compare_urur --nodes a,b", ("compare_urur", (), ("a", "b"))),
        ("kedro run --pipelines a,b", None),  # two pipelines: not one stage's part
        ("kedro run --pipelines tiling --runner ParallelRunner", None),  # an option not understood
        ("kedro run --pipelines", None),
        ("python train.py", None),
    ],
)
def test_stage_commands_are_read_exactly_or_not_at_all(cmd: str, expected: tuple | None) -> None:
    stage = parse_kedro_command("s", cmd)
    assert (stage and (stage.pipeline, stage.tags, stage.nodes)) == expected


def test_runs_dvc_yaml_does_not_describe_are_not_recorded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(DVC_STAGE_ENV, raising=False)
    (tmp_path / ".dvc").mkdir()
    assert not_recorded_because(tmp_path, None, {"runtime": {"workers": 1}}) is None
    assert not_recorded_because(tmp_path, "local", {}) is None
    assert "environment 'urur'" in not_recorded_because(tmp_path, "urur", {})
    reason = not_recorded_because(tmp_path, None, {"split": {"seed": 5}, "runtime": {"workers": 1}})
    assert reason == "--params split.seed differ from the files dvc.yaml declares"
    assert "no DVC repository" in not_recorded_because(tmp_path / "elsewhere", None, {})
    monkeypatch.setenv(DVC_STAGE_ENV, "training")
    assert "inside a DVC stage" in not_recorded_because(tmp_path, None, {})
