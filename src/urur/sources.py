"""Which raw data the chain reads: a user's own, or the embedded synthetic source.

A user's scenes and annotator exports live in ``data/01_raw/scenes`` and
``data/01_raw/annotations`` and are only ever read. The synthetic source is generated into its
own place, ``data/01_raw/synthetic/{scenes,truth,annotations}``, so generating it can never
touch a user's files. The choice is one setting, ``data_source`` in ``conf/*/globals.yml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from urur.config import ConfigError

DATA_SOURCES = ("auto", "synthetic", "user")
USER_SCENES = Path("data/01_raw/scenes")
USER_ANNOTATIONS = Path("data/01_raw/annotations")
USER_SCENE_TABLE = USER_SCENES / "scenes.csv"


def resolve_data_source(setting: str, project_root: Path) -> Literal["synthetic", "user"]:
    """``auto`` is the user's data where ``data/01_raw/scenes/scenes.csv`` exists, else synthetic."""
    if setting not in DATA_SOURCES:
        raise ConfigError(
            f"data_source is {setting!r}; expected one of {list(DATA_SOURCES)} (conf/<env>/globals.yml)"
        )
    if setting == "auto":
        return "user" if (Path(project_root) / USER_SCENE_TABLE).is_file() else "synthetic"
    return setting  # type: ignore[return-value]
