"""The dataset-construction chain on the user's own raw scenes and annotator exports."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
