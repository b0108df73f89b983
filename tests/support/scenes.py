"""Raw scenes and scene tables for the ingestion tests (scene table, ingestion, imagery)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# A rotated/sheared transform so that the offset rule is checked in full, not only for north-up.
RAW_TRANSFORM = (0.5, 0.1, 500000.0, 0.2, -0.5, 4000000.0)


def scene_row(scene_id: str, file: str) -> dict[str, str]:
    """A scene-table row of ``file`` with fixed city, source and date."""
    return {
        "scene_id": scene_id,
        "city": "hefei",
        "source": "gf2",
        "capture_date": "2021-05-01",
        "file": file,
    }


def write_table(path, rows) -> None:
    """A scene table CSV with the required columns only."""
    pd.DataFrame(rows, columns=["scene_id", "city", "source", "capture_date", "file"]).to_csv(
        path, index=False
    )


def noise(shape, dtype=np.uint8, seed=0) -> np.ndarray:
    """Seeded pixels over the whole range of ``dtype``."""
    return np.random.default_rng(seed).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
