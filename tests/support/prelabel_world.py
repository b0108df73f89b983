"""The tiny world of the pre-labelling tests (tests/unit/prelabel, tests/pipelines/prelabel)."""

from __future__ import annotations

import pandas as pd

# One 96² image per scene: 4 annotation patches of 64² (overlap 8).
SIZE, PATCH, OVERLAP = 96, 64, 8


def one_image_scenes(scenes: list[tuple[str, str]]) -> pd.DataFrame:
    """A manifest of one SIZE² image per ``(scene, city)``, named ``<scene>_0``."""
    return pd.DataFrame(
        [
            {
                "image_id": f"{scene}_0",
                "scene_id": scene,
                "city": city,
                "row_off": 0,
                "col_off": 0,
                "height": SIZE,
                "width": SIZE,
                "path": f"{scene}_0.tif",
            }
            for scene, city in scenes
        ]
    )
