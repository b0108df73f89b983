"""The URUR release (data/01_raw/urur_release) -> raster store, masks, manifest and its own split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
