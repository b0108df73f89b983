"""The ``urur`` command: what users run beside ``kedro`` (``urur predict big.tif -o mask.tif``).

The project has three entry points; each does one job:

- ``urur`` (pyproject ``[project.scripts]``, this module): the user's tools around a trained
  model, ``predict`` and ``export-onnx``. It starts without Kedro; torch, GDAL and onnxruntime
  are imported inside the commands that use them, so ``--help`` answers at once (option defaults
  come from :mod:`urur.defaults`).
- ``kedro run`` (pyproject ``kedro.project_commands``, :mod:`urur.__main__`): Kedro's own command,
  running the pipelines; wrapped only to print user errors as one line.
- ``python -m urur`` (:mod:`urur.__main__`): that same ``kedro run``.

The module is not called ``cli.py``: Kedro reserves ``<package>/cli.py`` for a project's own
``kedro`` commands (a ``cli`` group), and fails every ``kedro`` command when it holds none.

A user error (bad input, output or checkpoint) prints its one-line message and fix, exit status 1
(``--verbose`` or ``URUR_DEBUG=1``: its traceback, :mod:`urur.errors`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import click

from urur.defaults import DEFAULT_OVERLAP, DEFAULT_SIMPLIFY, DEFAULT_TILE
from urur.errors import short_errors, user_message

# Besides the project's own errors, these name the file and the fix too (a missing input, an
# output folder the user may not write).
_message = functools.partial(user_message, outside=(FileNotFoundError, PermissionError))


def _rgb_bands(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    from urur.dataset.scene_table import parse_rgb_bands

    try:
        return parse_rgb_bands(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="urur", message="%(prog)s %(version)s")
def main() -> None:
    """URUR: ultra-high-resolution land-cover segmentation."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="label GeoTIFF (.tif)")
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path),
    help="trained checkpoint (default: best_checkpoint of data/06_models/training_summary.json)",
)
@click.option(
    "--onnx",
    type=click.Path(path_type=Path),
    help="run this ONNX model (urur export-onnx) with onnxruntime on the CPU instead of a checkpoint",
)
@click.option("--tile", default=DEFAULT_TILE, show_default=True, help="tile side in pixels")
@click.option("--overlap", default=DEFAULT_OVERLAP, show_default=True, help="overlap of neighbouring tiles")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto")
@click.option("--batch", default=1, show_default=True, help="tiles per forward pass")
@click.option("--bf16", is_flag=True, help="bfloat16 autocast (GPUs, and CPUs with AVX-512 BF16 / AMX)")
@click.option("--compile", is_flag=True, help="torch.compile the model (1-2 min once; ~1.4x faster on CPU)")
@click.option("--confidence", type=click.Path(path_type=Path), help="also write a half-float confidence .tif")
@click.option(
    "--preview", type=click.Path(path_type=Path), help="also write a colour preview .png with a legend"
)
@click.option(
    "--vector",
    type=click.Path(path_type=Path),
    help="also write the labels as polygons to a GeoPackage (.gpkg): one feature per region",
)
@click.option(
    "--simplify",
    default=DEFAULT_SIMPLIFY,
    show_default=True,
    type=click.FloatRange(min=0),
    help="--vector's simplification tolerance in pixels (0: exact pixel edges)",
)
@click.option(
    "--rgb-bands", default="1 2 3", show_default=True, callback=_rgb_bands, help="input bands giving R, G, B"
)
@click.option("--nodata", type=float, help="input value marking fill, besides the file's own nodata/mask")
@click.option("--overwrite", is_flag=True, help="replace existing outputs")
@click.option("--verbose", is_flag=True, help="show the traceback of an error (also URUR_DEBUG=1)")
def predict(source: Path, output: Path, checkpoint: Path | None, verbose: bool, **options: object) -> None:
    """Predict land cover of SOURCE (GeoTIFF, PNG or JPEG of any size) into a label GeoTIFF.

    The labels are a Cloud-Optimised GeoTIFF named by class, with a QGIS style (.qml) beside it.
    """
    from urur.predict.run import predict_file

    options["batch_size"] = options.pop("batch")
    with short_errors(verbose, _message):
        result = predict_file(source, output, checkpoint=checkpoint, **options)
    click.echo(
        f"wrote {result.output} ({result.height}x{result.width}, {result.tiles} tiles, "
        f"{result.megapixels_per_second:.2f} MP/s)"
    )
    if result.vector is not None:
        click.echo(f"wrote {result.vector}")


@main.command("export-onnx")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="ONNX model (.onnx)")
@click.option("--tile", default=DEFAULT_TILE, show_default=True, help="tile side the metadata proposes")
@click.option("--overlap", default=DEFAULT_OVERLAP, show_default=True, help="overlap the metadata proposes")
@click.option("--resolution", type=float, help="ground resolution of the training imagery, cm per pixel")
@click.option("--overwrite", is_flag=True, help="replace an existing output")
@click.option("--verbose", is_flag=True, help="show the traceback of an error (also URUR_DEBUG=1)")
def export_onnx(
    checkpoint: Path, output: Path, resolution: float | None, verbose: bool, **options: object
) -> None:
    """Export CHECKPOINT's inference graph to ONNX, with the metadata of QGIS' Deepness plugin.

    The graph takes any batch of square tiles whose side is a multiple of 32 (64-2560 pixels)
    and returns logits; `urur predict --onnx` runs it with onnxruntime.
    """
    from urur.predict.onnx import export_onnx as export

    with short_errors(verbose, _message):
        written = export(checkpoint, output, resolution_cm=resolution, **options)
    click.echo(f"wrote {written}")
