"""The deep branch's 32-px lattice: its strength in the label maps of trained checkpoints.

WSDNet's deep branch predicts each 1/32 cell's 4x4 block of 1/8 features with one conv before the
inverse wavelet transform. With the paper's 1x1 conv a cell's block ignores its neighbours, so
on imagery unlike the training data the label map can change more often on the 32-px grid than
between any other two pixels. Measured here on two images the demo never showed: a smooth texture
(fractal noise with a 1/f^2.5 spectrum through a sand-to-grass colour ramp: no edges, no objects)
and a hill-shaded real DEM (matplotlib's sample terrain); as a control, on images given with
``--control`` (e.g. demo test images):

- ``grid_change_ratio``: the share of neighbouring pixel pairs with different labels across the
  32-px grid lines (columns and rows multiple of 32, where the padded input's 1/32 cells meet),
  over the same share elsewhere. 1 = no lattice; the model pads bottom and right only, so the grid
  starts at the top-left pixel.
- ``spectral_peak``: the power of the one-hot label maps' row and column spectra at a period of
  32 px over the median power of the 8 frequencies around it (excluded itself).

Run: ``.venv/bin/python benchmarks/bench_lattice.py --checkpoints paper=A.pt conv3x3=B.pt
[--control demo.tif ...]`` (results in ``benchmarks/results``). The checkpoints' demo test mIoU
is what the training that made them measured; docs/models.md quotes both side by side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import rasterio
import torch
from common import write_results

from urur.evaluation.paradigms import whole_inference
from urur.models.checkpoint import build_model_from_checkpoint
from urur.preprocessing import normalize, to_tensor

NAME = "bench_lattice"
PERIOD = 32  # the deep branch's cell side in input pixels
RESULT_KEYS = ("texture", "size", "seed", "rows")


def smooth_texture(size: int, seed: int, beta: float = 2.5) -> np.ndarray:
    """(size, size, 3) uint8: fractal noise with a 1/f**beta power spectrum through a colour ramp."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    radius[0, 0] = 1.0
    spectrum = (rng.normal(size=radius.shape) + 1j * rng.normal(size=radius.shape)) / radius ** (beta / 2)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(size, size))
    field = (field - field.min()) / np.ptp(field)
    sand, grass = np.array([196.0, 178.0, 128.0]), np.array([78.0, 112.0, 58.0])
    rgb = sand + field[..., None] * (grass - sand) + rng.normal(0, 2.0, (size, size, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)


def shaded_relief(size: int) -> np.ndarray:
    """(size, size, 3) uint8: matplotlib's sample DEM of real terrain (Jacksboro fault), bicubic to
    ``size``, hill-shaded through an earth colour map: natural relief, no objects."""
    import matplotlib
    from matplotlib import cbook
    from matplotlib.colors import LightSource

    dem = cbook.get_sample_data("jacksboro_fault_dem.npz")["elevation"]
    elevation = torch.tensor(dem, dtype=torch.float32)[None, None]
    elevation = torch.nn.functional.interpolate(elevation, size=(size, size), mode="bicubic")[0, 0]
    shade = LightSource(315, 45).shade(
        elevation.numpy(), cmap=matplotlib.colormaps["gist_earth"], blend_mode="soft", vert_exag=0.05
    )
    return (shade[..., :3] * 255).astype(np.uint8)


def grid_change_ratio(labels: np.ndarray, period: int = PERIOD) -> float:
    """Label changes across grid lines per neighbouring pair, over the same rate off the grid."""
    on, off = [], []
    for axis in (0, 1):
        changed = np.diff(labels, axis=axis) != 0  # pair (i-1, i) sits at index i-1
        boundary = np.arange(1, labels.shape[axis]) % period == 0
        view = np.moveaxis(changed, axis, 0)
        on.append(view[boundary].ravel())
        off.append(view[~boundary].ravel())
    rate_on, rate_off = np.concatenate(on).mean(), np.concatenate(off).mean()
    return float(rate_on / rate_off) if rate_off > 0 else float("inf") if rate_on > 0 else 1.0


def spectral_peak(labels: np.ndarray, num_classes: int, period: int = PERIOD) -> float:
    """Power at the 32-px period over the median of its 8 neighbouring frequencies."""
    power = np.zeros(labels.shape[1] // 2 + 1)
    for axis in (0, 1):
        lines = labels if axis == 1 else labels.T  # square maps: rows, then columns
        for value in range(num_classes):
            onehot = (lines == value).astype(np.float64)
            onehot -= onehot.mean(axis=1, keepdims=True)
            power += (np.abs(np.fft.rfft(onehot, axis=1)) ** 2).sum(axis=0)
    k = labels.shape[1] // period
    around = [power[k + d] for d in (-4, -3, -2, -1, 1, 2, 3, 4)]
    median = float(np.median(around))
    return float(power[k] / median) if median > 0 else float("inf")


def labels_of(model: torch.nn.Module, meta: dict, image: np.ndarray) -> np.ndarray:
    pixels = normalize(to_tensor(image), meta["mean"], meta["std"])
    with torch.inference_mode():
        return whole_inference(model, pixels[None])[0].argmax(0).numpy()


def read_rgb(path: Path, size: int) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read((1, 2, 3), window=((0, size), (0, size))).transpose(1, 2, 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", required=True, help="LABEL=PATH of each checkpoint")
    parser.add_argument("--control", nargs="*", type=Path, default=[], help="in-distribution images")
    parser.add_argument("--size", type=int, default=1024, help="side of the texture and control crops")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.size % PERIOD or args.size < 16 * PERIOD:
        raise SystemExit(f"--size must be a multiple of {PERIOD} and at least {16 * PERIOD}")
    images = {"texture": smooth_texture(args.size, args.seed), "relief": shaded_relief(args.size)}
    images.update({f"control:{path.name}": read_rgb(path, args.size) for path in args.control})
    rows = []
    for item in args.checkpoints:
        label, _, path = item.partition("=")
        model, meta = build_model_from_checkpoint(path)
        for image_name, image in images.items():
            labels = labels_of(model, meta, image)
            rows.append(
                {
                    "checkpoint": label,
                    "path": path,
                    "options": meta["options"],
                    "image": image_name,
                    "grid_change_ratio": grid_change_ratio(labels),
                    "spectral_peak": spectral_peak(labels, meta["num_classes"]),
                    "classes_predicted": int(np.unique(labels).size),
                }
            )
            print(rows[-1])
    results = {
        "texture": "fractal noise 1/f^2.5, sand-to-grass ramp; relief: jacksboro_fault_dem hill-shaded",
        "size": args.size,
        "seed": args.seed,
    }
    results["rows"] = rows

    def markdown(full: dict) -> str:
        lines = [
            "# The deep branch's 32-px lattice\n",
            f"{full['size']}² crops; texture: {full['texture']} (seed {full['seed']}).\n",
            "| checkpoint | image | grid change ratio | spectral peak at 32 px | classes predicted |",
            "|---|---|---|---|---|",
        ]
        for row in full["rows"]:
            lines.append(
                f"| {row['checkpoint']} | {row['image']} | {row['grid_change_ratio']:.2f} | "
                f"{row['spectral_peak']:.1f} | {row['classes_predicted']} |"
            )
        return "\n".join(lines) + "\n\n"

    write_results(NAME, results, markdown, RESULT_KEYS)


if __name__ == "__main__":
    main()
