"""A trained checkpoint over a folder of user rasters -> label GeoTIFFs (not part of ``__default__``)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
