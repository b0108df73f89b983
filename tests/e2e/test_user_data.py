"""A user's data survives every documented command; killed runs leave nothing inconsistent.

Subprocesses run the real ``kedro`` and ``dvc`` commands in a tiny throwaway project.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.kedro_project import TINY_PARAMETERS, make_project
from tests.support.tools import folder_bytes, run_tool


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project after the default `kedro run` on the synthetic source."""
    root = make_project(tmp_path_factory.mktemp("built"))
    run_tool(root, "kedro", "run")
    return root


def test_user_scenes_and_exports_survive_kedro_run_and_dvc_repro(built: Path, tmp_path: Path) -> None:
    root = make_project(tmp_path)
    raw = root / "data/01_raw"
    # The user's data: scenes with their table, annotator exports, and a file of their own.
    shutil.copytree(built / "data/01_raw/synthetic/scenes", raw / "scenes", dirs_exist_ok=True)
    shutil.copytree(built / "data/01_raw/synthetic/annotations", raw / "annotations", dirs_exist_ok=True)
    (raw / "scenes/notes.txt").write_text("the user's own notes\n")
    before = folder_bytes(raw)

    first = run_tool(root, "kedro", "run")
    assert "Data source: user" in first.stdout + first.stderr
    assert (root / "data/08_reporting/dataset_stats.json").is_file()
    assert not (raw / "synthetic").exists()  # the default run left the synthetic source out
    run_tool(root, "kedro", "run", "--pipelines", "synthetic")
    assert folder_bytes(raw / "synthetic/scenes")  # generated into its own place ...
    others = {k: v for k, v in folder_bytes(raw).items() if not k.startswith("synthetic/")}
    assert others == before  # ... only

    run_tool(root, "git", "init", "-q")
    shutil.rmtree(root / ".dvc", ignore_errors=True)
    run_tool(root, "dvc", "init", "-q")
    run_tool(root, "dvc", "config", "core.analytics", "false")
    run_tool(root, "dvc", "repro")
    # After a repro, the user adds a file: the next repro must not restore the old folder.
    (raw / "scenes/later.txt").write_text("added after the first repro\n")
    (raw / "annotations/later.txt").write_text("added after the first repro\n")
    after_first = folder_bytes(raw)
    second = run_tool(root, "dvc", "repro")
    assert "Running stage 'ingestion'" in second.stdout  # the user's folder is a dependency
    now = folder_bytes(raw)
    assert {k: v for k, v in now.items() if not k.startswith("synthetic/")} == {
        k: v for k, v in after_first.items() if not k.startswith("synthetic/")
    }
    assert before.items() <= now.items()


KILL = """
import os, signal, sys
from pathlib import Path
root = Path.cwd()
sys.path.insert(0, str(root / "src"))
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

class Kill:
    @hook_impl
    def {when}(self, dataset_name):
        if dataset_name == "uhr_images":
            os.kill(os.getpid(), signal.SIGKILL)

bootstrap_project(root)
with KedroSession.create(project_path=root) as session:
    session._hook_manager.register(Kill())
    session.run(pipeline_names=["ingestion"])
"""


def test_a_stage_killed_between_its_saves_is_refused_downstream(built: Path, tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(built, root)
    # The next ingestion cuts each scene into one image instead of four.
    ingestion = {**TINY_PARAMETERS["ingestion"], "split_factor": 1}
    (root / "conf/local/parameters_ingestion.yml").write_text(yaml.safe_dump({"ingestion": ingestion}))

    killed = run_tool(root, sys.executable, "-c", KILL.replace("{when}", "before_dataset_saved"), ok=False)
    assert killed.returncode == -9
    assert list((root / "data/.staging").iterdir())  # SIGKILL left the staging folder behind

    killed = run_tool(root, sys.executable, "-c", KILL.replace("{when}", "after_dataset_saved"), ok=False)
    assert killed.returncode == -9
    assert not list((root / "data/.staging").iterdir())  # its start cleaned the first run's staging
    # New images beside the old manifest: tiling refuses them, naming the stage to rerun.
    refused = run_tool(root, "kedro", "run", "--pipelines", "tiling", ok=False)
    assert refused.returncode == 1
    assert "Error: StaleOutputError: " in refused.stderr
    assert "Rerun the stage that writes both: `kedro run --pipelines ingestion`" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr

    run_tool(root, "kedro", "run", "--pipelines", "ingestion")
    run_tool(root, "kedro", "run", "--pipelines", "tiling")
    assert not [p for p in (root / "data").rglob(".*") if p.name not in {".gitkeep", ".urur-run.lock"}]


UNEXPECTED = """
import sys
from pathlib import Path
sys.path.insert(0, str(Path.cwd() / "src"))
import urur.pipelines.split.nodes as nodes

def broken(*args, **kwargs):
    raise TypeError("a bug, not a user error")

nodes.split_images = broken
from kedro.framework.cli import main
sys.argv = ["kedro", "run", "--pipelines", "split"]
main()
"""


def test_user_errors_print_message_and_fix_and_bugs_keep_their_traceback(built: Path) -> None:
    bad = run_tool(built, "kedro", "run", "--pipelines", "tiling", "--params", "tiling.overlap=500", ok=False)
    assert bad.returncode == 1
    assert "Error: ParameterValidationError" in bad.stderr
    assert "overlap (500) must be smaller than patch_size (64)" in bad.stderr
    assert "parameters_tiling.yml" in bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr and "╭" not in bad.stdout + bad.stderr

    bug = run_tool(built, sys.executable, "-c", UNEXPECTED, ok=False)
    assert bug.returncode == 1
    assert "TypeError: a bug, not a user error" in bug.stdout + bug.stderr
    assert "Traceback" in bug.stdout + bug.stderr or "╭" in bug.stdout + bug.stderr
