"""Prediction on rasters of any size (torch or ONNX)."""
