"""UHR images -> overlapping annotation patches for annotators, and the patch manifest."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
