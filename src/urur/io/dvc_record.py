"""Record in DVC what a plain ``kedro run`` built, so that the two orchestrators agree.

Every ``dvc.yaml`` stage runs ``kedro run --pipelines <name> [--tags ...] [--nodes ...]``. A
``kedro run`` outside DVC (``make run``, ``kedro run --pipeline=train_urur``) builds the same
outputs, but DVC would not know them: ``dvc status`` reports every stage changed, ``dvc repro``
reruns them, and ``dvc exp run`` checks the stages' outputs out of an empty cache, deleting the
built dataset and the trained models. So after a run, every stage whose nodes *all* ran in it
is committed (``dvc commit``: the outputs go to the cache, by link where the filesystem allows,
and ``dvc.lock`` records their hashes with the deps and params they were built from). A stage
the run skipped (built earlier, ``build_if_missing``) keeps whatever DVC recorded of it.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Set by DVC for every stage command: inside `dvc repro` / `dvc exp run` DVC records the stage
# itself (and holds the repository's lock).
DVC_STAGE_ENV = "DVC_STAGE"


@dataclass(frozen=True)
class KedroStage:
    """A DVC stage and the part of a Kedro pipeline its ``kedro run`` command runs."""

    name: str  # DVC's address: "training", "compare/dvc.yaml:compare_table4"
    pipeline: str
    tags: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()


def _split_list(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(item for value in values for item in value.split(",") if item)


def parse_kedro_command(name: str, cmd: str) -> KedroStage | None:
    """The pipeline, tags and nodes of a stage's ``kedro run`` command; None for any other command.

    Only the options this project's stages use are read (``--pipeline(s)``, ``--tags``,
    ``--nodes``); any other option makes the stage unrecognised, so it is never recorded on a
    guess.
    """
    words = shlex.split(cmd)
    if words[:2] != ["kedro", "run"]:
        return None
    options: dict[str, list[str]] = {"pipeline": [], "tags": [], "nodes": []}
    aliases = {"--pipeline": "pipeline", "--pipelines": "pipeline", "--tags": "tags", "--nodes": "nodes"}
    rest = words[2:]
    while rest:
        word, rest = rest[0], rest[1:]
        key, _, inline = word.partition("=")
        if key not in aliases:
            return None
        if not inline:
            if not rest:
                return None
            inline, rest = rest[0], rest[1:]
        options[aliases[key]].append(inline)
    pipelines = _split_list(options["pipeline"])
    if len(pipelines) != 1:
        return None
    return KedroStage(name, pipelines[0], _split_list(options["tags"]), _split_list(options["nodes"]))


def kedro_stages(root: Path) -> list[KedroStage]:
    """Every stage of the DVC project at ``root`` whose command is a ``kedro run``, in DVC's order.

    Empty (nothing to record, the reason logged) where DVC cannot open the project: a copy of it
    outside git, say.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            _ = repo.scm  # no git repository around the project: nothing to record into
            found = (parse_kedro_command(stage.addressing, stage.cmd or "") for stage in repo.index.stages)
            return [stage for stage in found if stage is not None]
    except DvcException as error:
        log.info("This run's outputs are not recorded in DVC: %s", error)
        return []


def not_recorded_because(root: Path, env: str | None, runtime_params: dict | None) -> str | None:
    """Why a run's outputs must not be recorded in DVC, or None where they may be.

    ``dvc.yaml`` declares the base environment's parameter files: a run under another
    environment, or with ``--params`` other than ``runtime.*`` (how fast, never what), built
    something those files do not describe.
    """
    if os.environ.get(DVC_STAGE_ENV):
        return "inside a DVC stage, which DVC records itself"
    if not (Path(root) / ".dvc").is_dir():
        return "no DVC repository here"
    if env not in (None, "", "local"):
        return f"environment {env!r}: dvc.yaml describes conf/base"
    changed = [key for key in _dotted(runtime_params or {}) if key.split(".")[0] != "runtime"]
    if changed:
        return f"--params {', '.join(changed)} differ from the files dvc.yaml declares"
    return None


def _dotted(params: dict, prefix: str = "") -> list[str]:
    """``{"split": {"seed": 5}}`` (how Kedro holds ``--params split.seed=5``) as ``["split.seed"]``."""
    keys = []
    for key, value in params.items():
        name = f"{prefix}{key}"
        keys += _dotted(value, f"{name}.") if isinstance(value, dict) and value else [name]
    return sorted(keys)


def record_stages(root: Path, stages: Iterable[str]) -> list[str]:
    """``dvc commit`` each stage (upstream first); returns those recorded.

    A stage DVC cannot commit (an output missing, say) is named in a warning and skipped: the run
    itself succeeded, and ``dvc status`` then shows that stage as changed, which is true.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    recorded = []
    try:
        with Repo(str(root)) as repo:
            _ = repo.scm  # DVC's git repository: opened here, so that its absence ends the recording
            for stage in stages:
                try:
                    repo.commit(stage, force=True)
                except DvcException as error:
                    log.warning("Not recorded in DVC: stage %s (%s)", stage, error)
                else:
                    recorded.append(stage)
    except DvcException as error:  # no git repository around the project, say
        log.info("This run's outputs are not recorded in DVC: %s", error)
    if recorded:
        log.info("Recorded in DVC (dvc.lock, cache): %s", ", ".join(recorded))
    return recorded
