"""Kedro hooks: validate all parameters before any node runs, so a typo fails in seconds."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from urur.config import validate_parameters


class ValidateParametersHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        validate_parameters(context.params)
