"""Reading and writing rasters, manifests and Kedro datasets."""
