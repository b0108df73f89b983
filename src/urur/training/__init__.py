"""Training: random crops of the raster store, augmentation, the trainer, checkpoints, DDP.

Plain Python + torch (never Kedro). The Kedro node and the CLI are thin callers of::

    from urur.training import TrainingParams, fit, build_model_from_checkpoint

    result = fit(
        TrainingParams(model="wsdnet", model_options={"width": 0.5}, iterations=400),
        train_ids,                      # image ids of the train split
        images_dir,                     # raster store: urur.io.layout.image_path(images_dir, id)
        masks_dir,                      # masks: urur.io.layout.mask_path(masks_dir, id) (or <id>.png)
        out_dir,                        # checkpoints go to out_dir/checkpoints/
        validate=my_validate,           # optional: model -> {"mIoU": ..., ...}, logged as val/...
        live_dir="dvclive/training",    # optional: DVCLive metrics and curves
    )
    result.best_checkpoint, result.last_checkpoint, result.history
    model, meta = build_model_from_checkpoint(result.best_checkpoint or result.last_checkpoint, "cpu")

- :func:`fit` checks parameters, split, image headers, devices and any existing checkpoint
  before long work; resumes from ``out_dir/checkpoints`` when its configuration matches
  (``resume: false`` moves old checkpoints aside instead); ``devices > 1`` launches DDP with
  torch's elastic launcher, and under ``torchrun`` it joins the launcher's process group.
- Checkpoints (``iter_XXXXXXXX.pt``, last ``keep_last`` kept, and ``best.pt``) load with
  ``torch.load(weights_only=True)`` and carry ``meta`` to rebuild the model alone.
- DVCLive writes ``<live_dir>/params.yaml``, ``metrics.json`` and ``plots/metrics/{train,val}/*.tsv``
  (x = step = iteration); declare them under the stage's ``metrics:`` and ``plots:`` in dvc.yaml.
"""

from urur.training.checkpoint import (
    CheckpointError,
    build_model_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from urur.training.config import AugmentationParams, TrainingParams
from urur.training.data import CropDataset, MaskValueError, build_augmentation, build_loader
from urur.training.trainer import FitResult, NonFiniteLossError, build_dataset, fit, train_one_step

__all__ = [
    "AugmentationParams",
    "CheckpointError",
    "CropDataset",
    "FitResult",
    "MaskValueError",
    "NonFiniteLossError",
    "TrainingParams",
    "build_augmentation",
    "build_dataset",
    "build_loader",
    "build_model_from_checkpoint",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "train_one_step",
]
