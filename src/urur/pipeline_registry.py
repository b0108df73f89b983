"""Project pipelines: every package under ``urur.pipelines`` is discovered by name.

``dataset`` is the chain for a user's own data; ``__default__`` adds the synthetic sources
(``synthetic``, ``synthetic_annotators``) that feed it the embedded demo dataset.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    # Kedro 1.7 discovers only the pipelines named on the command line; __default__ needs all.
    if "__default__" in pipelines:
        pipelines["__default__"] = sum(
            (p for name, p in pipelines.items() if name != "__default__"), Pipeline([])
        )
    return pipelines
