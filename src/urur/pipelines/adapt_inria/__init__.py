"""The Inria aerial release (data/01_raw/inria/AerialImageDataset) -> raster store, masks, manifest, split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
