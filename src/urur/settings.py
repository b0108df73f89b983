"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from urur.hooks import CrossParameterHook, DaskSchedulerHook, DvcRecordHook, OutputSummaryHook, RunSafetyHook
from urur.session import ProjectSession

HOOKS = (CrossParameterHook(), DaskSchedulerHook(), RunSafetyHook(), DvcRecordHook(), OutputSummaryHook())

# Kedro's session; train_urur's dataset chain runs only where it is missing (urur/session.py).
SESSION_CLASS = ProjectSession

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> overrides single keys of a section (conf/deepglobe sets training.class_names
    # only); the rest comes from conf/base. conf/paper resolves to the same parameters either way.
    "merge_strategy": {"parameters": "soft"},
}
