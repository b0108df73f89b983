"""The scene table: which raw scene files make the dataset, and how to read each.

A CSV with the columns ``scene_id, city, source, capture_date, file`` (``file`` relative to the
raw folder; spaces after the commas are allowed) and two optional ones, empty meaning "default":

- ``rgb_bands``: the 1-based band numbers that become R, G, B, e.g. ``3 2 1`` for a
  blue-green-red stack such as Landsat 8 B2, B3, B4 (also ``3;2;1``, or ``"3,2,1"`` in quotes).
  Default: the caller's ``rgb_bands``, ``1 2 3``, so RGBN and RGBA imagery keep their first
  three bands. Ingestion checks it against the file's band count before any pixel is read.
- ``nodata``: a pixel value that marks fill in this scene (a pixel is fill where all three
  chosen bands equal it, :mod:`urur.io.imagery`), in addition to what the file itself marks.

Scene ids become file names, so they are restricted to safe characters. A file listed under two
scene ids is refused: its pixels would land in two splits.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from urur.errors import UrurError
from urur.io.raster import DRIVERS_BY_SUFFIX

logger = logging.getLogger(__name__)

SCENE_TABLE_COLUMNS = ("scene_id", "city", "source", "capture_date", "file")
OPTIONAL_SCENE_COLUMNS = ("rgb_bands", "nodata")
# Scene ids become file names, so they must be safe in every file system.
SCENE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class IngestionError(UrurError, ValueError):
    """Raw scenes or the scene table cannot be ingested as they are."""


def listing(items: Sequence[object], limit: int = 10) -> str:
    """The first ``limit`` items, comma-separated, and how many more there are: messages stay short."""
    shown = ", ".join(str(item) for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def parse_rgb_bands(text: str) -> tuple[int, ...]:
    """``"3 2 1"``, ``"3,2,1"`` or ``"3;2;1"`` -> ``(3, 2, 1)``: three positive band numbers."""
    parts = [part for part in re.split(r"[\s,;]+", text.strip()) if part]
    if len(parts) != 3 or not all(part.isdigit() and int(part) >= 1 for part in parts):
        raise ValueError(f"rgb_bands {text!r} is not three band numbers (1-based), e.g. '3 2 1'")
    return tuple(int(part) for part in parts)


def _parse_nodata(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"nodata {text!r} is not a number; give the fill value, e.g. 0, or leave it empty")
    return value


def scene_bands(row: Mapping[str, str], default: Sequence[int]) -> tuple[int, ...]:
    """The row's ``rgb_bands``, or ``default`` where it is empty."""
    text = str(row.get("rgb_bands") or "").strip()
    return parse_rgb_bands(text) if text else tuple(default)


def scene_nodata(row: Mapping[str, str], zero_is_fill: bool) -> float | None:
    """The row's ``nodata``, or 0 with ``zero_is_fill``, or ``None`` (the file's own mask alone)."""
    text = str(row.get("nodata") or "").strip()
    return _parse_nodata(text) if text else (0.0 if zero_is_fill else None)


def _scene_files(raw_dir: Path) -> list[Path]:
    return sorted(p for p in raw_dir.rglob("*") if p.is_file() and p.suffix.lower() in DRIVERS_BY_SUFFIX)


def _check_rows(table: pd.DataFrame, source: str) -> None:
    """Scene ids safe and unique, optional cells parseable, no file under two scene ids."""
    bad_ids = [scene_id for scene_id in table["scene_id"] if not SCENE_ID_PATTERN.fullmatch(scene_id)]
    if bad_ids:
        raise IngestionError(
            f"{source} has empty or unsafe scene ids {listing([repr(i) for i in bad_ids])}; use letters, "
            "digits, '.', '_' and '-' (they become file names)"
        )
    duplicated = sorted(set(table.loc[table["scene_id"].duplicated(), "scene_id"]))
    if duplicated:
        raise IngestionError(
            f"{source} lists scene ids more than once: {listing(duplicated)}; make them unique"
        )
    bad_cells = []
    for record in table.to_dict("records"):
        for column, parse in (("rgb_bands", parse_rgb_bands), ("nodata", _parse_nodata)):
            if record.get(column):
                try:
                    parse(record[column])
                except ValueError as error:
                    bad_cells.append(f"scene {record['scene_id']!r}: {error}")
    if bad_cells:
        raise IngestionError(f"{source} has bad optional columns: {listing(bad_cells)}")
    files = table["file"].map(lambda f: os.path.normpath(f))
    repeated = files[files.duplicated(keep=False)]
    if not repeated.empty:
        ids_of = table["scene_id"].groupby(repeated).agg(lambda ids: " and ".join(map(repr, ids)))
        pairs = [f"{file} as {ids}" for file, ids in ids_of.items()]
        raise IngestionError(
            f"{source} lists the same file under several scene ids: {listing(pairs)}; its pixels would "
            "land in two splits. Keep one row per file."
        )


def _check_files(table: pd.DataFrame, raw_dir: Path, source: str) -> None:
    """Every listed file a supported raster in ``raw_dir``; scene files the table skips are logged."""
    if not raw_dir.is_dir():
        raise IngestionError(f"raw folder {raw_dir} does not exist; put the raw scenes there or fix the path")
    unsupported = [f for f in table["file"] if Path(f).suffix.lower() not in DRIVERS_BY_SUFFIX]
    if unsupported:
        raise IngestionError(
            f"{source} lists files of unsupported types: {listing(unsupported)}; "
            f"convert them to one of {', '.join(sorted(DRIVERS_BY_SUFFIX))}"
        )
    missing_files = [f for f in table["file"] if not (raw_dir / f).is_file()]
    if missing_files:
        present = [str(p.relative_to(raw_dir)) for p in _scene_files(raw_dir)]
        raise IngestionError(
            f"{source} lists files missing from {raw_dir}: {listing(missing_files)} (the folder holds "
            f"{listing(present) if present else 'no scene files'}); add them, or fix or remove their rows"
        )
    listed = {(raw_dir / f).resolve() for f in table["file"]}
    unlisted = [p for p in _scene_files(raw_dir) if p.resolve() not in listed]
    if unlisted:
        logger.warning(
            "%d scene files in %s are not in %s and are skipped: %s",
            len(unlisted),
            raw_dir,
            source,
            listing([p.name for p in unlisted]),
        )


def validate_scene_table(
    table: pd.DataFrame, raw_dir: str | os.PathLike, *, source: str = "the scene table"
) -> pd.DataFrame:
    """Check the scene table against ``raw_dir`` and return a clean copy (all columns strings).

    ``source`` names the table (its CSV path) in the error messages.
    """
    raw_dir = Path(raw_dir)
    missing_columns = [column for column in SCENE_TABLE_COLUMNS if column not in table.columns]
    if missing_columns:
        raise IngestionError(
            f"{source} lacks columns {missing_columns} (found {list(table.columns)}); "
            f"it needs {list(SCENE_TABLE_COLUMNS)}"
        )
    if table.empty:
        raise IngestionError(f"{source} lists no scenes; add one row per raw scene file in {raw_dir}")
    table = table.copy()
    for column in SCENE_TABLE_COLUMNS + OPTIONAL_SCENE_COLUMNS:
        if column in table.columns:
            table[column] = table[column].fillna("").astype(str).str.strip()
    _check_rows(table, source)
    _check_files(table, raw_dir, source)
    return table


def read_scene_table(path: str | os.PathLike) -> pd.DataFrame:
    """The scene table CSV as strings, unchecked (:func:`validate_scene_table` checks it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"scene table {path} does not exist; create it (columns {list(SCENE_TABLE_COLUMNS)})"
        )
    try:
        # skipinitialspace: "scene_id, city, ..." (spaces after the commas) is a common way to write it.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        table.columns = table.columns.str.strip()
    except pd.errors.EmptyDataError as error:
        raise IngestionError(
            f"scene table {path} is empty; write the header "
            f"{','.join(SCENE_TABLE_COLUMNS)} and one row per scene"
        ) from error
    return table


def table_source(path: str | os.PathLike) -> str:
    """How error messages name the scene table read from ``path``."""
    return f"scene table {Path(path)}"


def load_scene_table(path: str | os.PathLike, raw_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read and validate the scene table CSV; ``raw_dir`` defaults to the CSV's folder."""
    path = Path(path)
    return validate_scene_table(
        read_scene_table(path), path.parent if raw_dir is None else raw_dir, source=table_source(path)
    )
