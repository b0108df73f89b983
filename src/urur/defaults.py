"""Defaults of the command line's options, in a module that imports nothing: ``urur predict
--help`` shows them without loading torch, GDAL or Kedro (it answers in well under a second)."""

DEFAULT_TILE = 2048  # tiled prediction's window side, pixels (urur.predict.raster)
DEFAULT_OVERLAP = 256  # overlap of neighbouring windows, pixels
DEFAULT_SIMPLIFY = 0.75  # --vector's simplification tolerance, pixels (urur.io.vectorize: why 0.75)
