"""The comparison's plan: every table's runs, checked before any training starts, so a typo in
``parameters_compare.yml`` fails in seconds rather than after hours of the tables before it."""

from __future__ import annotations

import logging

from urur.config import ConfigError
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
