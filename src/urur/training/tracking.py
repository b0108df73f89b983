"""DVCLive: the training curves as files, and a finished run saved as a DVC experiment so that
``dvc exp show`` lists the comparison's runs side by side (params, metrics) and ``dvc plots diff``
overlays their curves (``--targets`` one of the record's TSV files).

Why not DVCLive's own ``save_dvc_exp``: it saves the experiment after ``dvc commit`` of *every*
stage of the project, which fails ("output ... does not exist") wherever one stage's outputs are
absent, e.g. the default run's outputs before a comparison, or a comparison's before it ends. Here
the experiment is saved with ``targets`` set to a dvc.yaml without stages, written into the record
folder itself (only the record's metrics and params), so nothing is committed to the DVC cache;
the workspace, the index and the user's files stay as they were. Being written with the record,
it declares no metrics file before a comparison has run (``dvc metrics show`` would fail on it).
"""

from __future__ import annotations

import csv
import functools
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@functools.cache
def _files_only_live() -> type:
    """DVCLive's ``Live`` without its repository integration.

    Why a subclass: DVCLive (3.49) has no option or environment variable for this. ``Live()``
    always looks for the DVC repository (``save_dvc_exp=False`` and ``dvcyaml=False`` only skip
    what it does with one), and that lookup runs ``dvc init`` in a git repository without DVC and
    fails in one without commits ("Empty git repo"); ``DVCLIVE_TEST`` skips it but writes to a
    temporary folder. So the one hook that does the lookup is replaced by what ``Live`` keeps when
    it finds no repository. dvclive is imported here, on first use: it takes half a second.
    """
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self) -> None:
            self._dvc_file = self._init_dvc_file()

    return FilesOnlyLive


def open_live(live_dir: str | Path, resume: bool = False) -> Any:
    """A DVCLive ``Live`` that only writes files in ``live_dir`` (params.yaml, metrics.json, plots)
    and never touches the repository (no experiment, no ``dvc init``), wherever it runs."""
    return _files_only_live()(dir=str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)


def open_training_live(
    live_dir: str | Path | None, params: Mapping[str, Any], start: int, resumed: bool
) -> Any:
    """DVCLive in ``live_dir`` for a training run (None: off), its ``params`` logged. The curves are
    declared in the project's dvc.yaml (``<live_dir>/plots/metrics``, x: step), so DVCLive writes no
    dvc.yaml and no experiment of its own; a resumed run continues the curves from its checkpoint's
    iteration ``start``, a fresh one starts them over."""
    if live_dir is None:
        return None
    live_dir = Path(live_dir)
    if resumed:
        _truncate_curves(live_dir, start)
    elif live_dir.exists():
        shutil.rmtree(live_dir)
    live = open_live(live_dir, resume=resumed)
    live.log_params(dict(params))
    return live


def log_record(live: Any, iteration: int, record: Mapping[str, float]) -> None:
    """One iteration's record (``iteration`` and its metrics) as points of the curves at its step."""
    live.step = iteration
    for name, value in record.items():
        if name != "iteration":
            live.log_metric(name, value)
    live.make_summary()


def _truncate_curves(live_dir: Path, iteration: int) -> None:
    """Drop curve rows logged after the checkpoint a run resumes from (they are computed again)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        with tsv.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
            fields = list(rows[0]) if rows else []
        kept = [row for row in rows if int(row["step"]) <= iteration]
        with tsv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, delimiter="\t")
            writer.writeheader()
            writer.writerows(kept)


RECORD_DVCYAML = "metrics:\n  - metrics.json\nparams:\n  - params.yaml\n"


def save_experiment(
    name: str,
    run_live_dir: str | Path,
    record_dir: str | Path,
    params: Mapping[str, object],
    metrics: Mapping[str, float | None],
) -> str | None:
    """Copy a run's DVCLive folder to ``record_dir`` (one path for every run, so that every
    experiment has the same columns), add ``params``, the final ``metrics`` and the dvc.yaml that
    declares them, and save the workspace as DVC experiment ``name`` (replacing one of that name).

    Returns the experiment's commit; None, with the reason logged, where there is no experiment to
    save into: outside a git repository with commits and DVC, or inside ``dvc repro`` / ``dvc exp
    run`` (DVC records the stage itself there and holds the repository's lock).
    """
    record_dir = Path(record_dir)
    dvcyaml = record_dir / "dvc.yaml"
    if record_dir.exists():
        shutil.rmtree(record_dir)
    shutil.copytree(run_live_dir, record_dir)
    dvcyaml.write_text(RECORD_DVCYAML)
    live = open_live(record_dir, resume=True)
    live.log_params(dict(params))
    for key, value in metrics.items():  # nested on "/" like DVCLive's own log_metric ("test/mIoU")
        *groups, leaf = key.split("/")
        if value is not None:
            node = functools.reduce(lambda parent, group: parent.setdefault(group, {}), groups, live.summary)
            node[leaf] = value
    live.make_summary()
    if os.environ.get("DVC_ROOT"):
        log.info("Not saving experiment %s: inside a DVC stage, which DVC records itself", name)
        return None
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc.scm import NoSCM

    try:
        with Repo(Repo.find_root()) as repo:
            if isinstance(repo.scm, NoSCM):
                raise DvcException("DVC is used without git here (`dvc init --no-scm`)")
            if repo.scm.no_commits:
                raise DvcException("the git repository has no commit to base experiments on")
            return repo.experiments.save(
                targets=[str(dvcyaml)], name=name, include_untracked=[str(record_dir)], force=True
            )
    except DvcException as error:  # NotDvcRepoError, SCM errors: a run without git/DVC still counts
        log.warning("Not saving experiment %s (`dvc exp show` will not list it): %s", name, error)
        return None
