"""DVCLive logs as files, and a finished run saved as a DVC experiment so that ``dvc exp show``
lists the comparison's runs side by side (params, metrics) and ``dvc plots diff`` overlays their
curves (``--targets`` one of the record's TSV files).

Why not DVCLive's own ``save_dvc_exp``: it saves the experiment after ``dvc commit`` of *every*
stage of the project, which fails ("output ... does not exist") wherever one stage's outputs are
absent, e.g. the default run's outputs before a comparison, or a comparison's before it ends. Here
the experiment is saved with ``targets`` set to a dvc.yaml without stages, written into the record
folder itself (only the record's metrics and params), so nothing is committed to the DVC cache;
the workspace, the index and the user's files stay as they were. Being written with the record,
it declares no metrics file before a comparison has run (``dvc metrics show`` would fail on it).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

log = logging.getLogger(__name__)


def open_live(live_dir: str | Path, resume: bool = False) -> Any:
    """A DVCLive ``Live`` that only writes files in ``live_dir`` (params.yaml, metrics.json, plots):
    its repository integration (experiments, ``dvc init`` of a bare git repo) stays off, and it
    fails in a git repository without commits ("Empty git repo")."""
    import dvclive.live
    from dvclive import Live

    with mock.patch.object(dvclive.live, "get_dvc_repo", return_value=None):
        return Live(dir=str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False)


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
