"""urur: build ultra-high-resolution land-cover segmentation datasets and train WSDNet on them."""

__version__ = "0.1.0"
