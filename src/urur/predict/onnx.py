"""A trained checkpoint as an ONNX graph, and prediction with onnxruntime.

:func:`export_onnx` writes the checkpoint's inference graph: the model rebuilt by
:func:`~urur.models.checkpoint.build_model_from_checkpoint`, in eval mode, whose forward
returns the logits (N, classes, H, W) and runs no training head (auxiliary, super-resolution).
It is traced by ``torch.onnx.export(dynamo=True)`` (``torch.export``, ONNX opset 20): sizes stay
symbolic, so one graph takes any batch and any square tile whose side is a multiple of 32 from
:data:`MIN_SIDE` to :data:`MAX_SIDE`. The legacy TorchScript exporter (``dynamo=False``) records
the Python arithmetic on sizes (the padding to 32, the Laplacian pyramid's crops, every
resize's target size) as constants: a graph for the traced tile size only. The graph is square
because the QGIS Deepness plugin refuses non-square outputs (its ``Segmentor`` checks
``shape[2] == shape[3]``) and processes square tiles; it stops at :data:`MAX_SIDE` because above
that side the torch model runs its shallow branch in strips (exact, it bounds memory), a branch
on the input's size that one graph cannot hold. The wavelet transforms (haar packets as
convolutions), the Laplacian pyramid's shifted sums and the bilinear resizes export as plain
ONNX operators.

The graph carries the metadata Deepness reads (``metadata_props``, each value JSON):
``model_type`` "Segmentor", ``class_names`` ({"0": name, ...}), ``tile_size`` (what its code
reads; ``tiles_size`` too, the name its documentation gives), ``tiles_overlap`` (percent),
``standardization_mean`` / ``standardization_std`` (in 0-1 units: Deepness divides the pixels by
255 first), ``resolution`` (cm per pixel, when given) and ``seg_thresh`` 0: the graph returns
logits, not probabilities, and 0 turns Deepness' probability threshold off, leaving the
argmax. The key ``urur`` holds the checkpoint's model, classes and normalisation for
``urur predict --onnx``.

:class:`OnnxSegmenter` runs the graph behind ``nn.Module``'s call, so ``urur predict --onnx``
goes through :func:`urur.predict.raster.predict_raster`'s tile loop, blending and fill handling as
the torch model does; only the forward differs.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from torch import nn

from urur.errors import UrurError
from urur.io.atomic import atomic_path
from urur.models.checkpoint import build_model_from_checkpoint
from urur.models.common import SegmentationModel
from urur.models.laplacian import STRIP_ROWS
from urur.predict.raster import DEFAULT_OVERLAP, DEFAULT_TILE, PredictionError, check_outputs

logger = logging.getLogger(__name__)

MULTIPLE = SegmentationModel.pad_multiple  # the models pad every side to a multiple of 32
MIN_SIDE = 2 * MULTIPLE  # torch.export specialises sizes of 1: the 1/32 map of a 32-pixel tile
MAX_SIDE = STRIP_ROWS
INPUT, OUTPUT = "image", "logits"
META_KEY = "urur"
EXPORT_SIDE = 256  # side of the example tiles the graph is traced (and checked) with
AGREEMENT = 0.999  # share of the example's pixels whose label must match the torch model's


class OnnxModelError(UrurError, ValueError):
    """An ONNX model that ``urur predict --onnx`` cannot use; the message names the file and the fix."""


def _metadata(
    meta: Mapping[str, Any], tile: int, overlap: int, resolution_cm: float | None
) -> dict[str, str]:
    """``metadata_props`` for Deepness and for :func:`load_onnx_predictor`."""
    names = {str(index): name for index, name in enumerate(meta["class_names"])}
    props = {
        "model_type": "Segmentor",
        "class_names": names,
        "tile_size": tile,
        "tiles_size": tile,
        "tiles_overlap": round(100 * overlap / tile),
        "standardization_mean": [value / 255 for value in meta["mean"]],
        "standardization_std": [value / 255 for value in meta["std"]],
        "seg_thresh": 0,
        META_KEY: {
            key: meta[key] for key in ("model", "options", "num_classes", "class_names", "mean", "std")
        },
    }
    if resolution_cm is not None:
        props["resolution"] = resolution_cm
    return {key: json.dumps(value) for key, value in props.items()}


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's INFO logs (each optimisation pass), its note on torchvision being absent and
    torch's internal deprecation notices are not the user's business: keep warnings and errors."""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [log.level for log in loggers]
    try:
        for log in loggers:
            log.setLevel(logging.ERROR if log.name == "torch.onnx" else logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"`isinstance\(treespec, LeafSpec\)`", category=FutureWarning
            )
            warnings.filterwarnings(
                "ignore", message=r"# The axis name: .* will not be used", category=UserWarning
            )
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def export_onnx(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    resolution_cm: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``checkpoint``'s inference graph to ``output``: :func:`export_model` of the model and
    ``meta`` :func:`~urur.models.checkpoint.build_model_from_checkpoint` rebuilds from it."""
    checkpoint, output = Path(checkpoint), Path(output)
    _check_options(output, tile, overlap, resolution_cm)
    check_outputs([output], [checkpoint], overwrite)
    model, meta = build_model_from_checkpoint(checkpoint)
    export_model(
        model, meta, output, tile=tile, overlap=overlap, resolution_cm=resolution_cm, replace=overwrite
    )
    return output


def _check_options(output: Path, tile: int, overlap: int, resolution_cm: float | None) -> None:
    if output.suffix.lower() != ".onnx":
        raise PredictionError(f"the ONNX model is a .onnx file: give a .onnx path, not {output}")
    if tile % MULTIPLE or not MIN_SIDE <= tile <= MAX_SIDE or not 0 <= overlap <= tile // 2:
        raise PredictionError(
            f"need a tile that is a multiple of {MULTIPLE} in {MIN_SIDE}..{MAX_SIDE} and "
            f"0 <= overlap <= tile / 2, got tile={tile}, overlap={overlap}"
        )
    if resolution_cm is not None and not resolution_cm > 0:
        raise PredictionError(f"the resolution is in cm per pixel and positive, got {resolution_cm}")


def export_model(
    model: nn.Module,
    meta: Mapping[str, Any],
    output: str | os.PathLike,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int = DEFAULT_OVERLAP,
    resolution_cm: float | None = None,
    replace: bool = True,
) -> float:
    """Write the graph of ``model`` (eval mode; ``meta``: its checkpoint's) to ``output`` and return
    the share of the example tiles' pixels where onnxruntime's labels equal the torch model's.

    ``tile`` and ``overlap`` are the tiling Deepness proposes (metadata only: the graph takes any
    side in ``MIN_SIDE..MAX_SIDE``); ``resolution_cm`` the training imagery's ground resolution.
    The graph is run on the example tiles before it is published: below :data:`AGREEMENT`, it is
    not. ``replace=False``: ``FileExistsError`` rather than replace an ``output`` that appeared.
    """
    output = Path(output)
    _check_options(output, tile, overlap, resolution_cm)
    if model.training:
        raise PredictionError("export needs the model in eval mode: call model.eval() first")
    torch.manual_seed(0)
    example = torch.randn(2, 3, EXPORT_SIDE, EXPORT_SIDE)
    side = torch.export.Dim("side", min=MIN_SIDE // MULTIPLE, max=MAX_SIDE // MULTIPLE)
    batch = torch.export.Dim("batch", min=1)
    shapes = {"image": {0: batch, 2: MULTIPLE * side, 3: MULTIPLE * side}}
    with _quiet_exporter():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=shapes,
            verbose=False,
        )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, _metadata(meta, tile, overlap, resolution_cm))
    with torch.inference_mode():
        expected = model(example)
    with atomic_path(output, replace=replace) as tmp:
        onnx.save(proto, tmp)
        got = OnnxSegmenter(_session(tmp))(example)
        agreement = (got.argmax(1) == expected.argmax(1)).double().mean().item()
        if agreement < AGREEMENT:
            raise PredictionError(
                f"the ONNX graph gives the torch model's labels on only {agreement:.2%} of the "
                f"example's pixels; {output} is not written (report this)"
            )
    logger.info(
        "wrote %s: labels agree with torch on %.4f%% of the example, max |logit difference| %.2g",
        output,
        100 * agreement,
        (got - expected).abs().max().item(),
    )
    return agreement


def _session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    """onnxruntime's CPU session; its threads sleep between runs rather than spin (its default),
    which would take the cores from the blending that torch does between two tiles."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


class OnnxSegmenter(nn.Module):
    """An exported graph run by onnxruntime (CPU) as a segmentation model: (N, 3, H, W) float
    images in, logits (N, classes, H, W) out, for predict_raster's tile loop.

    Tiles are zero-padded at the bottom and right to a square side the graph takes (as the torch
    model pads to a multiple of 32) and the logits cropped back: tiles that are square multiples
    of 32, as predict's are wherever the raster is at least a tile in both directions, give the
    torch model's logits; a non-square tile (a raster smaller than the tile) sees more padding.
    """

    def __init__(self, session: ort.InferenceSession) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        side = max(MIN_SIDE, -(-max(height, width) // MULTIPLE) * MULTIPLE)
        if side > MAX_SIDE:
            raise PredictionError(
                f"tiles of {height}x{width} pixels are larger than the ONNX graph takes ({MAX_SIDE}); "
                f"pass --tile {MAX_SIDE} or less"
            )
        padded = F.pad(image.float(), (0, side - width, 0, side - height))
        feed = {self.input_name: np.ascontiguousarray(padded.numpy())}
        logits = torch.from_numpy(self.session.run(None, feed)[0])
        return logits[..., :height, :width]


def load_onnx_predictor(path: str | os.PathLike, threads: int | None = None) -> tuple[OnnxSegmenter, dict]:
    """The graph ``urur export-onnx`` wrote at ``path`` (onnxruntime, CPU, ``threads`` intra-op
    threads or its default) in eval mode, and the checkpoint ``meta`` it carries."""
    path = Path(path)
    fix = "export one with `urur export-onnx CHECKPOINT -o model.onnx`"
    if not path.is_file():
        raise OnnxModelError(f"ONNX model {path} does not exist; {fix}")
    try:
        session = _session(path, threads)
    except Exception as error:  # onnxruntime raises its own exception types for unreadable files
        raise OnnxModelError(f"cannot load the ONNX model {path}: {error}; {fix}") from error
    stored = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if stored is None:
        raise OnnxModelError(f"{path} lacks the '{META_KEY}' metadata (classes, normalisation); {fix}")
    return OnnxSegmenter(session).eval(), json.loads(stored)
