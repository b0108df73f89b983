"""The DeepGlobe land-cover release (data/01_raw/deepglobe) -> raster store, masks, manifest, split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
