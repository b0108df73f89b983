"""The run's report: HTML (self-contained) and Markdown in data/08_reporting, last stage of every run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
