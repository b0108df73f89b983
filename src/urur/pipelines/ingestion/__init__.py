"""Raw scenes -> validated UHR images in a raster store, and the image manifest."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
