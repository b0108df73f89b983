"""The comparison's plan: every table's runs and the split they share, checked before any training
starts, so a typo in ``parameters_compare.yml`` fails in seconds rather than after hours of the
tables before it."""

from __future__ import annotations

import logging

import pandas as pd

from urur.config import ConfigError
from urur.dataset.split import split_images
from urur.experiments.tables import PARAMETERS_FILE, TABLES, CompareParams, check_rows, table_rows
from urur.training import TrainingParams

log = logging.getLogger(__name__)


def plan_tables(compare: CompareParams, training: TrainingParams) -> tuple[dict, ...]:
    """Every table's runs (one plan per table, in :data:`TABLES`' order), checked before any
    training: budget keys, model names, options and option values."""
    try:
        TrainingParams.model_validate({**training.model_dump(), **compare.budget})
    except ValueError as error:
        raise ConfigError(f"{PARAMETERS_FILE}: compare.budget: {error}") from error
    rows = {table: table_rows(compare, table) for table in TABLES}
    for table_runs in rows.values():
        check_rows(table_runs, training.model_options, len(training.classes))
    log.info(
        "Comparison: %s x %d seeds", ", ".join(f"{t} {len(r)} rows" for t, r in rows.items()), compare.seeds
    )
    return tuple({"table": table, "rows": [row.model_dump() for row in rows[table]]} for table in TABLES)


def comparison_split(dataset_split: pd.DataFrame, compare: CompareParams) -> pd.DataFrame:
    """The split every comparison run trains, validates and tests on: the dataset's, or its images
    split again by ``compare.split`` (the dataset's own rules: scenes whole, cities balanced).

    Raises :class:`~urur.config.ConfigError` where the test split holds images of fewer than
    ``compare.min_test_cities`` cities: one city's look would decide the ranking.
    """
    split = dataset_split
    if compare.split is not None:
        manifest = dataset_split.drop(columns=["group", "split"], errors="ignore")
        split = split_images(manifest, ratios=compare.split.ratios, seed=compare.split.seed)
    test = split[split["split"] == "test"]
    if "city" in test:
        cities = sorted(test["city"].astype(str).unique())
    else:  # split_images' rule: without a city column all images are one city
        cities = ["one city: no city column"] if len(test) else []
    if len(cities) < compare.min_test_cities:
        source = (
            f"compare.split (ratios {list(compare.split.ratios)}, seed {compare.split.seed})"
            if compare.split is not None
            else "the dataset's split (data/05_model_input/split.csv)"
        )
        raise ConfigError(
            f"{PARAMETERS_FILE}: {source} puts {len(test)} test image(s) of {len(cities)} "
            f"{'city' if len(cities) == 1 else 'cities'} ({', '.join(cities) or 'no test image'}) in the "
            f"comparison's test split, and compare.min_test_cities is {compare.min_test_cities}; "
            "give compare.split a larger test ratio or another seed"
        )
    log.info(
        "Comparison split: %s; test from %d cities (%s)",
        split["split"].value_counts().to_dict(),
        len(cities),
        ", ".join(cities),
    )
    return split
