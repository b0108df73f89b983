"""Deterministic train/val/test split that keeps raw scenes whole and balances cities."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
