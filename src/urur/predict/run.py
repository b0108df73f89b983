"""Prediction of one raster with the model a user names: a checkpoint run by torch, or the graph
``urur export-onnx`` wrote, run by onnxruntime (what ``urur predict`` calls). It sits above
:mod:`urur.predict.raster` and :mod:`urur.predict.onnx`, which the ONNX route builds on."""

from __future__ import annotations

import os

from urur.devices import resolve_device
from urur.models.checkpoint import build_model_from_checkpoint
from urur.predict.raster import PredictionError, PredictionResult, default_checkpoint, predict_raster


def predict_file(
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    onnx: str | os.PathLike | None = None,
    device: str = "auto",
    **options: object,
) -> PredictionResult:
    """:func:`predict_raster` with the model of ``checkpoint`` (default: :func:`default_checkpoint`),
    or with the graph ``urur export-onnx`` wrote at ``onnx``, run by onnxruntime on the CPU."""
    if onnx is not None:
        given = {"checkpoint": checkpoint, "device": device not in ("auto", "cpu"), **options}
        torch_only = [f"--{name}" for name in ("checkpoint", "device", "bf16", "compile") if given.get(name)]
        if torch_only:
            raise PredictionError(
                f"--onnx runs the exported graph with onnxruntime on the CPU: drop {', '.join(torch_only)} "
                "(for the torch model only)"
            )
        from urur.predict.onnx import load_onnx_predictor  # onnxruntime only where it is used

        model, meta = load_onnx_predictor(onnx)
        return predict_raster(model, meta, source, output, **options)
    resolved = resolve_device(device, "--device")
    model, meta = build_model_from_checkpoint(
        checkpoint if checkpoint is not None else default_checkpoint(), resolved
    )
    return predict_raster(model, meta, source, output, device=resolved, **options)
