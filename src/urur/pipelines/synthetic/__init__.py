"""Generate the embedded synthetic URUR-like raw scenes."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
