"""Model-assisted pre-labelling: round one from scratch, drafts for the rest, corrections, effort."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
