"""Simulated annotators label every annotation patch of the synthetic images."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
