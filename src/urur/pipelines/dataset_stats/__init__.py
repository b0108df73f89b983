"""The paper's Table 1 statistics and context richness R of the built dataset."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
