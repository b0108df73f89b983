"""Annotators' patch masks -> full-size masks, with an annotation QA table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
