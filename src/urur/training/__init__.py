"""Training: random crops of the raster store, augmentation, the trainer, checkpoints, DDP.

Plain Python + torch (never Kedro). The Kedro node and the CLI are thin callers of::

    from urur.models.checkpoint import build_model_from_checkpoint
    from urur.training import TrainingParams, fit

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
    model, meta = build_model_from_checkpoint(result.checkpoint, "cpu")   # the best, else the last

- :func:`fit` (:mod:`~urur.training.fit`) checks parameters, split, image headers, devices and any
  existing checkpoint before long work; resumes from ``out_dir/checkpoints`` when its
  configuration matches (``resume: false`` moves old checkpoints aside instead); ``devices > 1``
  launches DDP with torch's elastic launcher (:mod:`~urur.training.distributed`), and under
  ``torchrun`` it joins the launcher's process group. :mod:`~urur.training.trainer` is the loop.
- Checkpoints (``iter_XXXXXXXX.pt``, last ``keep_last`` kept, and ``best.pt``) load with
  ``torch.load(weights_only=True)`` and carry ``meta`` to rebuild the model alone
  (:mod:`urur.models.checkpoint`; :mod:`~urur.training.checkpoint` writes them and resumes).
- DVCLive (:mod:`~urur.training.tracking`) writes ``<live_dir>/params.yaml``, ``metrics.json`` and
  ``plots/metrics/{train,val}/*.tsv`` (x = step = iteration); declare them under the stage's
  ``metrics:`` and ``plots:`` in dvc.yaml.
"""

from urur.training.config import AugmentationParams, TrainingParams
from urur.training.data import build_loader
from urur.training.fit import fit
from urur.training.trainer import FitResult, NonFiniteLossError, build_dataset, train_one_step

__all__ = [
    "AugmentationParams",
    "FitResult",
    "NonFiniteLossError",
    "TrainingParams",
    "build_dataset",
    "build_loader",
    "fit",
    "train_one_step",
]
