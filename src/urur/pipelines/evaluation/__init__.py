"""Evaluate the trained model on the test split the paper's way; FPS and peak memory."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
