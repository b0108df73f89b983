"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

from urur.hooks import CrossParameterHook, OutputSummaryHook, RunSafetyHook

HOOKS = (CrossParameterHook(), RunSafetyHook(), OutputSummaryHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
