"""Train the configured model (WSDNet by default) on the train split, validating on val."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
