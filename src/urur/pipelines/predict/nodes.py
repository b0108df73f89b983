from __future__ import annotations

import logging
from pathlib import Path

from urur.config import PredictParams
from urur.devices import resolve_device
from urur.io.atomic import staging_directories
from urur.models.checkpoint import build_model_from_checkpoint, run_checkpoint
from urur.predict.raster import predict_folder

log = logging.getLogger(__name__)


def predict(input_dir: Path, training_summary: dict, p: PredictParams) -> Path:
    """Predict every raster of ``input_dir`` with the configured (default: best) checkpoint."""
    checkpoint = p.checkpoint or run_checkpoint(training_summary)
    device = resolve_device(p.device, "predict.device")
    model, meta = build_model_from_checkpoint(checkpoint, device)
    options = p.model_dump(exclude={"checkpoint", "device"})
    with staging_directories("predict") as (out_dir,):
        results = predict_folder(model, meta, input_dir, out_dir, device=device, progress=True, **options)
    log.info("Predicted %d rasters from %s with %s", len(results), input_dir, checkpoint)
    return out_dir
