"""The paper's Tables 4-6 on this project's data (many trainings: run on demand, never by default)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
