"""Tiled prediction of rasters of any size (urur.predict.raster) and the ``urur predict`` command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
import torch
import torch._inductor.config as inductor_config
from click.testing import CliRunner
from scipy import ndimage
from torch import nn

from urur.classes import URUR_CLASSES, URUR_PALETTE, index_to_rgb
from urur.commands import main
from urur.dataset.tiling import patch_grid
from urur.evaluation.paradigms import whole_inference
from urur.io.raster import raster_block_writer, raster_writer, read_raster, read_valid, write_raster
from urur.io.windows import Window
from urur.models.checkpoint import build_model_from_checkpoint
from urur.predict.raster import (
    PredictionError,
    blend_weights,
    check_outputs,
    default_checkpoint,
    hann_ramp,
    predict_folder,
    predict_raster,
)
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD, normalize, to_tensor

CRS = "EPSG:32650"
TRANSFORM = (0.5, 0.0, 500000.0, 0.0, -0.5, 4400000.0)
META = {"num_classes": 8, "class_names": list(URUR_CLASSES), "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


class Pointwise(nn.Module):
    """Logits that depend on each pixel alone: tiled and whole-image predictions must agree."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 16, 1), nn.Tanh(), nn.Conv2d(16, 8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random RGB: neighbouring pixels alike, as in imagery."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float64)
    return np.kron(coarse, np.ones((8, 8, 1)))[:height, :width].astype(np.uint8)


def _whole_logits(model: nn.Module, pixels: np.ndarray) -> torch.Tensor:
    image = normalize(to_tensor(pixels), IMAGENET_MEAN, IMAGENET_STD)[None]
    return whole_inference(model.eval(), image)[0]


def test_hann_ramp_is_a_half_hann_window_and_neighbours_sum_to_one():
    overlap = 16
    ramp = hann_ramp(64, overlap)
    reference = np.hanning(4 * overlap + 1)[1 : 2 * overlap : 2]  # Hann at the pixel centres
    np.testing.assert_allclose(ramp[:overlap], reference, atol=1e-12)
    np.testing.assert_allclose(ramp[-overlap:], reference[::-1], atol=1e-12)
    assert (ramp[overlap:-overlap] == 1).all() and ramp.min() > 0
    # Two windows overlapping by `overlap`: the falling and the rising ramp add up to 1.
    np.testing.assert_allclose(ramp[-overlap:] + ramp[:overlap], 1.0, atol=1e-12)
    assert blend_weights(8, 64, 0).eq(1).all()


def test_blended_tiles_equal_whole_image_and_keep_georeferencing(tmp_path):
    pixels = _image(200, 232)
    source = tmp_path / "scene.tif"
    write_raster(source, pixels, crs=CRS, transform=TRANSFORM)
    model = Pointwise().eval()
    out, conf = tmp_path / "labels.tif", tmp_path / "conf.tif"
    result = predict_raster(
        model, META, source, out, tile=64, overlap=16, batch_size=3, confidence=conf, progress=False
    )
    assert result.tiles == len(patch_grid(200, 232, 64, 16)) > 9
    whole = _whole_logits(model, pixels)
    np.testing.assert_array_equal(read_raster(out), whole.argmax(0).numpy())
    probability = whole.softmax(0).max(0).values.numpy()
    np.testing.assert_allclose(read_raster(conf), probability, rtol=1e-3)  # half floats on disk
    with rasterio.open(out) as dataset:
        assert dataset.count == 1 and dataset.dtypes == ("uint8",)
        assert dataset.crs.to_string() == CRS and tuple(dataset.transform)[:6] == TRANSFORM
        assert dataset.nodata == 255 and dataset.block_shapes == [(256, 256)]
        assert dataset.compression.value == "ZSTD"
        table = dataset.colormap(1)
        assert [table[i][:3] for i in range(8)] == [tuple(c) for c in URUR_PALETTE.tolist()]
    with rasterio.open(conf) as dataset:
        assert dataset.tags(1, "IMAGE_STRUCTURE")["NBITS"] == "16" and dataset.crs.to_string() == CRS


def test_wsdnet_tiles_equal_a_slow_blend_of_each_window(tmp_path, checkpoint):
    """The streamed row-band blending against the blend written out over the whole image."""
    model, meta = build_model_from_checkpoint(checkpoint)
    pixels = _image(120, 136, seed=1)
    source = tmp_path / "scene.png"
    write_raster(source, pixels)
    out, preview = tmp_path / "labels.tif", tmp_path / "preview.png"
    predict_raster(
        model, meta, source, out, tile=64, overlap=16, batch_size=2, preview=preview, progress=False
    )
    image = normalize(to_tensor(pixels), IMAGENET_MEAN, IMAGENET_STD)[None]
    summed, weights = torch.zeros(8, 120, 136), torch.zeros(120, 136)
    ramp = torch.from_numpy(np.outer(hann_ramp(64, 16), hann_ramp(64, 16))).float()
    with torch.inference_mode():
        for w in patch_grid(120, 136, 64, 16):
            summed[:, w.slices[0], w.slices[1]] += model(image[(..., *w.slices)])[0] * ramp
            weights[w.slices] += ramp
    labels = read_raster(out)
    expected = (summed / weights).argmax(0).numpy()
    assert (labels == expected).mean() >= 0.999
    # One tile covering the image is the whole-image prediction.
    single = tmp_path / "single.tif"
    predict_raster(model, meta, source, single, tile=256, overlap=0, progress=False)
    np.testing.assert_array_equal(read_raster(single), _whole_logits(model, pixels).argmax(0).numpy())
    # The map is the preview's top-left corner; the legend is beside it (tests/unit/io/test_label_raster.py).
    np.testing.assert_array_equal(read_raster(preview)[:120, :136], index_to_rgb(labels, URUR_PALETTE))


def test_fill_becomes_nodata_255(tmp_path):
    pixels = _image(96, 80)
    pixels[10:30, 5:40] = 0
    source = tmp_path / "scene.tif"
    write_raster(source, pixels, crs=CRS, transform=TRANSFORM, nodata=0)
    out, conf = tmp_path / "labels.tif", tmp_path / "conf.tif"
    predict_raster(
        Pointwise().eval(), META, source, out, tile=64, overlap=16, confidence=conf, progress=False
    )
    labels, fill = read_raster(out), (pixels == 0).all(axis=-1)
    assert (labels[fill] == 255).all() and (labels[~fill] < 8).all() and fill.sum() == 20 * 35
    assert (read_raster(conf)[fill] == 0).all()


def test_16_bit_input_is_stretched_like_ingestion(tmp_path):
    rng = np.random.default_rng(3)
    raw = rng.integers(100, 4000, (80, 96, 3)).astype(np.uint16)
    write_raster(tmp_path / "raw16.tif", raw)
    low, high = np.percentile(raw.reshape(-1, 3), [2, 98], axis=0)
    stretched = np.clip(np.rint((raw - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    write_raster(tmp_path / "raw8.tif", stretched)
    model = Pointwise().eval()
    for name in ("raw16", "raw8"):
        predict_raster(
            model, META, tmp_path / f"{name}.tif", tmp_path / f"{name}_out.tif", tile=64, overlap=8
        )
    np.testing.assert_array_equal(
        read_raster(tmp_path / "raw16_out.tif"), read_raster(tmp_path / "raw8_out.tif")
    )


def test_4_band_input_with_band_choice(tmp_path):
    pixels = _image(70, 90)
    nir = np.full((70, 90, 1), 77, np.uint8)
    write_raster(tmp_path / "rgb.tif", pixels)
    write_raster(tmp_path / "bgrn.tif", np.concatenate([pixels[..., ::-1], nir], axis=-1))
    model = Pointwise().eval()
    predict_raster(model, META, tmp_path / "rgb.tif", tmp_path / "a.tif", tile=64, overlap=8, progress=False)
    predict_raster(
        model, META, tmp_path / "bgrn.tif", tmp_path / "b.tif", tile=64, overlap=8, rgb_bands=(3, 2, 1)
    )
    np.testing.assert_array_equal(read_raster(tmp_path / "a.tif"), read_raster(tmp_path / "b.tif"))
    with pytest.raises(PredictionError, match=r"rgb bands \(3, 2, 5\).*1\.\.4.*bgrn.tif"):
        predict_raster(model, META, tmp_path / "bgrn.tif", tmp_path / "c.tif", rgb_bands=(3, 2, 5))


def test_existing_output_refused_unless_overwrite_and_bad_folders(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    out = tmp_path / "labels.tif"
    out.write_bytes(b"keep me")
    model = Pointwise().eval()
    with pytest.raises(PredictionError, match=r"labels.tif exists; pass --overwrite"):
        predict_raster(model, META, source, out, progress=False)
    assert out.read_bytes() == b"keep me"
    predict_raster(model, META, source, out, overwrite=True, progress=False)
    assert read_raster(out).shape == (40, 40)
    (tmp_path / "afile").write_text("")
    folder_error = (
        f"cannot create the output folder {tmp_path / 'afile'} for {tmp_path / 'afile' / 'x.tif'}: "
        "File exists; choose a folder you can write to"
    )
    with pytest.raises(PredictionError, match=_whole(folder_error)):
        predict_raster(model, META, source, tmp_path / "afile" / "x.tif", progress=False)
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00garbage")
    with pytest.raises(PredictionError, match=r"cannot predict on .*corrupt.tif"):
        predict_raster(model, META, corrupt, tmp_path / "y.tif", progress=False)
    assert not (tmp_path / "y.tif").exists() and not list(tmp_path.glob(".*tmp*"))


def test_default_checkpoint_from_training_summary(tmp_path):
    with pytest.raises(PredictionError, match=r"no trained model.*kedro run --pipeline=train_urur"):
        default_checkpoint(tmp_path)
    summary = tmp_path / "data" / "06_models" / "training_summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"best_checkpoint": "data/06_models/run/best.pt", "last_checkpoint": "x"}))
    assert default_checkpoint(tmp_path) == tmp_path / "data/06_models/run/best.pt"


def test_cli_predict(tmp_path, checkpoint, monkeypatch):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(100, 120), crs=CRS, transform=TRANSFORM)
    out = tmp_path / "out" / "mask.tif"
    args = [
        "predict",
        str(source),
        "-o",
        str(out),
        "--checkpoint",
        checkpoint,
        "--tile",
        "64",
        "--overlap",
        "16",
    ]
    runner = CliRunner()
    done = runner.invoke(main, [*args, "--device", "cpu", "--preview", str(tmp_path / "p.png")])
    assert done.exit_code == 0, done.output
    with rasterio.open(out) as dataset:
        assert dataset.crs.to_string() == CRS and dataset.shape == (100, 120)
    again = runner.invoke(main, args)
    assert again.exit_code == 1 and "mask.tif exists; pass --overwrite" in again.output
    monkeypatch.chdir(tmp_path)
    missing = runner.invoke(main, ["predict", str(source), "-o", str(tmp_path / "m.tif")])
    assert missing.exit_code == 1 and "kedro run --pipeline=train_urur" in missing.output


def test_raster_writer_takes_strips_of_any_height(tmp_path):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 255, (600, 70), dtype=np.uint8)
    valid = rng.random((600, 70)) > 0.1
    path = tmp_path / "strips.tif"
    with raster_writer(path, 600, 70, masked=True, nodata=255) as writer:
        for row in range(0, 600, 97):
            writer.write(pixels[row : row + 97], valid[row : row + 97])
    np.testing.assert_array_equal(read_raster(path), pixels)
    np.testing.assert_array_equal(read_valid(path), valid)
    short = raster_writer(tmp_path / "short.tif", 600, 70)
    with pytest.raises(ValueError, match=r"short.tif: got 97 of its 600 rows"), short as writer:
        writer.write(pixels[:97])
    assert list(tmp_path.iterdir()) == [path]


def test_bad_tiling_options_refused(tmp_path):
    write_raster(tmp_path / "a.tif", _image(40, 40))
    with pytest.raises(PredictionError, match=r"overlap <= tile / 2.*overlap=40"):
        predict_raster(Pointwise().eval(), META, tmp_path / "a.tif", tmp_path / "b.tif", tile=64, overlap=40)


def test_outputs_naming_one_file_are_refused(tmp_path, checkpoint):
    """``-o out.tif --confidence out.tif`` (or a link to it) would keep one output and lose the other."""
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    out = tmp_path / "out.tif"
    (tmp_path / "link.tif").symlink_to(out)  # dangling until out.tif exists
    runner = CliRunner()
    base = ["predict", str(source), "-o", str(out), "--checkpoint", checkpoint, "--device", "cpu"]
    for other in (out, tmp_path / "link.tif", tmp_path / "." / "out.tif"):
        done = runner.invoke(main, [*base, "--tile", "64", "--overlap", "16", "--confidence", str(other)])
        assert done.exit_code == 1, done.output
        assert f"outputs {out} and {other} are the same file" in done.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tif", "scene.tif"]


class PublishesFirst(Pointwise):
    """Writes ``target`` during its first forward, as a second run finishing first would."""

    def __init__(self, target) -> None:
        super().__init__()
        self.target = target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.target.exists():
            self.target.write_bytes(b"the other run's labels")
        return super().forward(x)


def test_an_output_another_run_wrote_meanwhile_is_kept_unless_overwrite(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    out = tmp_path / "labels.tif"
    with pytest.raises(PredictionError, match=r"labels.tif appeared while .* kept.*pass --overwrite"):
        predict_raster(PublishesFirst(out).eval(), META, source, out, tile=32, overlap=0, progress=False)
    assert out.read_bytes() == b"the other run's labels"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif", "scene.tif"]
    out.unlink()
    predict_raster(PublishesFirst(out).eval(), META, source, out, tile=32, overlap=0, overwrite=True)
    assert read_raster(out).shape == (40, 40)


def test_temporaries_of_a_killed_prediction_are_removed_at_the_next_run(tmp_path, caplog):
    import fcntl

    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    stale = tmp_path / ".labels.k1ll3d_x.tmp.tif"  # atomic_path's name for labels.tif
    live = tmp_path / ".labels.st1ll0n_.tmp.tif"  # a running prediction's: it holds the lock
    kept = [
        tmp_path / ".labels.notes.txt",
        tmp_path / ".labels.tmp.tif",
        tmp_path / ".other.k1ll3d_x.tmp.tif",
    ]
    for path in (stale, live, *kept):
        path.write_bytes(b"x" * 100)
    with live.open("rb") as holder, caplog.at_level("WARNING", logger="urur"):
        fcntl.flock(holder, fcntl.LOCK_EX)
        predict_raster(Pointwise().eval(), META, source, tmp_path / "labels.tif", tile=32, overlap=0)
    assert not stale.exists() and live.exists() and all(path.exists() for path in kept)
    removed = f"removed {stale}, the temporary output of an interrupted prediction"
    assert removed in [record.getMessage() for record in caplog.records]
    assert str(live) not in caplog.text


class Local(nn.Module):
    """A 5x5 convolution: each window's logits near its border differ from its neighbour's, so the
    blend (not just the tiling) decides the labels there."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(3, 8, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _whole_image_blend(
    model: nn.Module, pixels: np.ndarray, valid: np.ndarray, tile: int, overlap: int
) -> tuple[np.ndarray, np.ndarray]:
    """What the row-band blending computed, on the whole image at once: each window's logits
    times its weights summed in float32 with the same addcmul_, window by window in row-major
    order; labels and half-float confidence, fill 255 / 0."""
    height, width = pixels.shape[:2]
    windows = patch_grid(height, width, tile, overlap)
    weight = blend_weights(windows[0].height, windows[0].width, overlap)
    summed, weights = torch.zeros(8, height, width), torch.zeros(height, width)
    with torch.inference_mode():
        for w in windows:
            crop = normalize(to_tensor(pixels[w.slices])[None], IMAGENET_MEAN, IMAGENET_STD)
            logits = model(crop.contiguous(memory_format=torch.channels_last)).float()[0]
            summed[(slice(None), *w.slices)].addcmul_(logits, weight)
            weights[w.slices] += weight
    labels = summed.argmax(0).to(torch.uint8).numpy()
    blended = summed / weights
    confidence = (1 / (blended - blended.max(0, keepdim=True).values).exp().sum(0)).numpy()
    labels[~valid], confidence[~valid] = 255, 0
    return labels, confidence


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_streamed_blend_gives_exactly_the_labels_of_the_whole_image_blend(tmp_path, suffix):
    """Several tile rows and columns, odd sizes, a last row and column flush with the border
    (pixels under three windows), fill: labels, confidence and preview bit for bit."""
    pixels = _image(203, 341, seed=4)
    pixels[150:190, 20:90] = 0
    valid = ~(pixels == 0).all(axis=-1) if suffix == ".tif" else np.ones((203, 341), bool)
    source = tmp_path / f"scene{suffix}"
    write_raster(source, pixels, **({"nodata": 0} if suffix == ".tif" else {}))
    model = Local().eval()
    out, conf, preview = tmp_path / "labels.tif", tmp_path / "conf.tif", tmp_path / "preview.png"
    predict_raster(
        model, META, source, out, tile=64, overlap=16, confidence=conf, preview=preview, progress=False
    )
    labels, confidence = _whole_image_blend(model, pixels, valid, 64, 16)
    np.testing.assert_array_equal(read_raster(out), labels)
    with raster_writer(tmp_path / "expected.tif", 203, 341, dtype="float32", half_float=True) as writer:
        writer.write(confidence)  # GDAL's rounding to half floats, as predict's output has
    np.testing.assert_array_equal(read_raster(conf), read_raster(tmp_path / "expected.tif"))
    np.testing.assert_array_equal(
        read_raster(preview)[: labels.shape[0], : labels.shape[1]], index_to_rgb(labels, URUR_PALETTE)
    )


_MEASURE_GROWTH = """
import sys
from pathlib import Path

import numpy as np
import torch

from tests.unit.predict.test_raster import META, Pointwise, _image
from urur.devices import peak_rss_mb, reset_peak_rss
from urur.predict.raster import predict_raster
from urur.io.raster import write_raster

torch.set_num_threads(1)  # 64² tiles: a second thread only adds synchronisation
folder = Path(sys.argv[1])


def predict(width: int, name: str) -> float:
    source = folder / f"{name}.tif"
    write_raster(source, np.tile(_image(64, 512), (1, width // 512 + 1, 1))[:, :width])
    reset_peak_rss()
    before = peak_rss_mb()
    predict_raster(
        Pointwise().eval(), META, source, folder / f"{name}_labels.tif", tile=64, overlap=8,
        confidence=folder / f"{name}_confidence.tif", progress=False,
    )
    return peak_rss_mb() - before


predict(2000, "warm_up")  # the first prediction's one-off allocations (GDAL's drivers, torch's kernels)
print(predict(int(sys.argv[2]), "measured"))
"""


# Slow (two 48x-wide predictions in processes of their own, ~17 s): out of the fast loop and so of
# `make mutation`, whose mutants would each pay for it; `make test` and CI run it.
@pytest.mark.e2e
def test_memory_is_bounded_by_the_tile_not_the_raster_width(tmp_path):
    """A raster 48x wider must not need more memory: the row-band blend held 8 classes x tile
    rows x the raster's width of float32 logits (197 MB here for the wide one).

    Each width is measured in a process of its own after a warm-up prediction: in the test
    session's process the heap earlier tests left behind moved the figures by tens of MB."""
    from urur.devices import reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("needs /proc/self/clear_refs to reset the peak RSS")
    growth = {}
    for width in (2000, 96000):
        folder = tmp_path / str(width)
        folder.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE_GROWTH, str(folder), str(width)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[3],
            check=False,
        )
        assert done.returncode == 0, done.stderr
        growth[width] = float(done.stdout.split()[-1])
    assert growth[96000] - growth[2000] < 48, growth


def test_raster_block_writer_takes_windows_in_any_order(tmp_path):
    rng = np.random.default_rng(6)
    pixels = rng.random((300, 530), dtype=np.float32)
    windows = [
        Window(r, c, min(70, 300 - r), min(70, 530 - c)) for r in range(0, 300, 70) for c in range(0, 530, 70)
    ]
    path = tmp_path / "blocks.tif"
    with raster_block_writer(path, 300, 530, dtype="float32", crs=CRS, transform=TRANSFORM) as writer:
        for k in rng.permutation(len(windows)):
            writer.write(windows[k], pixels[windows[k].slices])
    np.testing.assert_array_equal(read_raster(path), pixels)
    with rasterio.open(path) as dataset:
        assert dataset.block_shapes == [(256, 256)]
    short = raster_block_writer(tmp_path / "short.tif", 300, 530, dtype="float32")
    with pytest.raises(ValueError, match=r"short.tif: got 4900 of its 159000 pixels"), short as writer:
        writer.write(windows[0], pixels[windows[0].slices])
    assert list(tmp_path.iterdir()) == [path]


# --- Mutation-testing additions (urur.predict.raster): each pins a value computed independently. ---


def _pointwise_labels(
    model: nn.Module,
    pixels: np.ndarray,
    valid: np.ndarray | None = None,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> np.ndarray:
    """Whole-image labels of a pointwise model (what any tiling of it gives), fill 255."""
    image = normalize(to_tensor(pixels), mean, std)[None]
    labels = whole_inference(model.eval(), image)[0].argmax(0).numpy().astype(np.uint8)
    if valid is not None:
        labels[~valid] = 255
    return labels


def _stretched(raw: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Ingestion's 16-bit stretch by hand: per band, the 2nd..98th percentiles of the valid pixels."""
    low, high = np.percentile(raw[valid], [2, 98], axis=0)
    return np.clip(np.rint((raw - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


def _whole(message: str) -> str:
    """A ``match`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


def test_predict_folder_writes_each_image_by_stem_in_sorted_order(tmp_path):
    """GeoTIFF, PNG and an upper-case suffix are predicted in name order into ``<stem>.tif`` (and,
    if asked, ``<stem>_confidence.tif`` and ``<stem>_preview.png``); other files and folders are not."""
    images = tmp_path / "in"
    (images / "sub.tif").mkdir(parents=True)  # a folder with a raster's suffix is no image
    (images / "notes.txt").write_text("not an image")
    pixels = {"b": _image(64, 64, seed=1), "a": _image(64, 64, seed=2), "c": _image(64, 64, seed=3)}
    pixels["a"][5:20, 10:30] = 0  # fill, by the nodata option passed through
    write_raster(images / "b.tif", pixels["b"], crs=CRS, transform=TRANSFORM)
    write_raster(images / "a.png", pixels["a"])
    write_raster(images / "c.TIF", pixels["c"])
    model, out = Pointwise().eval(), tmp_path / "out"
    results = predict_folder(
        model, META, images, out, confidence=True, preview=True, tile=64, overlap=0, nodata=0, progress=False
    )
    assert [r.output for r in results] == [out / "a.tif", out / "b.tif", out / "c.tif"]
    assert [r.confidence for r in results] == [out / f"{s}_confidence.tif" for s in "abc"]
    assert [r.preview for r in results] == [out / f"{s}_preview.png" for s in "abc"]
    assert (read_raster(out / "a.tif") == 255).sum() == 15 * 20
    for stem in "abc":
        expected = _pointwise_labels(model, pixels[stem], (pixels[stem] != 0).any(axis=-1))
        np.testing.assert_array_equal(read_raster(out / f"{stem}.tif"), expected)
        np.testing.assert_array_equal(
            read_raster(out / f"{stem}_preview.png")[:64, :64], index_to_rgb(expected, URUR_PALETTE)
        )
        assert read_raster(out / f"{stem}_confidence.tif").shape == (64, 64)
    # Without confidence and preview (the defaults) only the label rasters are written.
    plain = predict_folder(model, META, images, tmp_path / "plain", tile=64, overlap=0, progress=False)
    assert [(r.confidence, r.preview) for r in plain] == [(None, None)] * 3
    # The label rasters and their side-cars (QGIS style, GDAL's category names) only.
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == sorted(
        f"{stem}{suffix}" for stem in "abc" for suffix in (".qml", ".tif", ".tif.aux.xml")
    )


def test_predict_folder_refuses_an_empty_folder_and_images_sharing_a_stem(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub.png").mkdir(parents=True)
    (empty / "readme.txt").write_text("")
    model = Pointwise().eval()
    with pytest.raises(
        PredictionError,
        match=_whole(
            f"no images to predict in {empty}; put GeoTIFF, PNG or JPEG files "
            "(.jpeg, .jpg, .png, .tif, .tiff) there"
        ),
    ):
        predict_folder(model, META, empty, tmp_path / "out", progress=False)
    clashing = tmp_path / "clashing"
    clashing.mkdir()
    for name in ("b.tif", "b.png", "a.tif", "a.jpg", "c.tif"):
        write_raster(clashing / name, _image(40, 40))
    with pytest.raises(
        PredictionError,
        match=_whole(
            f"{clashing} holds several images named a, b (other suffixes): their predictions would "
            "share a name; rename them"
        ),
    ):
        predict_folder(model, META, clashing, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _read_vector(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    meta, _, geometry, fields = pyogrio.raw.read(path)
    return shapely.from_wkb(geometry), dict(zip(meta["fields"], fields, strict=True))


def test_vector_output_holds_the_label_regions_simplified_as_asked(tmp_path, caplog):
    """``simplify=0``: polygons along pixel edges, their areas the pixels'; an overwrite with a
    coarser ``simplify`` replaces them with fewer vertices; the log names the polygon count."""
    rows, cols = np.mgrid[0:100, 0:120]  # diagonal gradients: regions with one-pixel staircases
    pixels = np.stack([(rows + cols) * 2, (rows * 3 + cols) % 256, 255 - (rows + 2 * cols)], axis=-1)
    source = tmp_path / "scene.tif"
    write_raster(source, pixels.clip(0, 255).astype(np.uint8), crs=CRS, transform=TRANSFORM)
    model = Pointwise().eval()
    labels, vector = tmp_path / "labels.tif", tmp_path / "labels.gpkg"
    with caplog.at_level("INFO", logger="urur.predict.raster"):
        result = predict_raster(
            model, META, source, labels, tile=64, overlap=16, vector=vector, simplify=0, progress=False
        )
    assert result.vector == vector
    predicted = read_raster(labels)
    geometry, table = _read_vector(vector)
    assert len(geometry) == sum(ndimage.label(predicted == v)[1] for v in range(8)) > 5
    for value in range(8):
        assert table["pixels"][table["class_value"] == value].sum() == (predicted == value).sum()
    assert list(table["class_name"]) == [URUR_CLASSES[v] for v in table["class_value"]]
    np.testing.assert_allclose(shapely.area(geometry), table["pixels"] * 0.25)  # 0.25 m² pixels
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("wrote ")]
    assert len(logged) == 1
    found = re.fullmatch(r"wrote (\d+) polygons to (.+) in (\d+\.\d) s", logged[0])
    assert found and int(found[1]) == len(geometry) and found[2] == str(vector)
    assert 0 <= float(found[3]) < 30
    vertices = shapely.get_num_coordinates(geometry).sum()
    predict_raster(
        model, META, source, labels, tile=64, overlap=16, vector=vector, simplify=3, overwrite=True
    )
    simplified, _ = _read_vector(vector)
    assert len(simplified) == len(geometry) and shapely.get_num_coordinates(simplified).sum() < vertices


def test_vector_output_another_run_wrote_meanwhile_is_kept(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    vector = tmp_path / "labels.gpkg"
    with pytest.raises(
        PredictionError,
        match=_whole(
            f"output {vector} appeared while this run was predicting (another run wrote it?); it is "
            "kept: pass --overwrite to replace it, or choose another output"
        ),
    ):
        predict_raster(
            PublishesFirst(vector).eval(), META, source, tmp_path / "l.tif", tile=32, overlap=0, vector=vector
        )
    assert vector.read_bytes() == b"the other run's labels"


def test_default_checkpoint_messages_and_the_current_folder(tmp_path, monkeypatch):
    summary = tmp_path / "data" / "06_models" / "training_summary.json"
    train = "`make run` (or `kedro run --pipeline=train_urur`)"
    with pytest.raises(
        PredictionError,
        match=_whole(
            f"no trained model: {summary} does not exist. Train one with {train} in the project "
            "folder, or pass a checkpoint (--checkpoint PATH)"
        ),
    ):
        default_checkpoint(tmp_path)
    summary.parent.mkdir(parents=True)
    summary.write_text("{}")  # neither a best nor a last checkpoint
    with pytest.raises(
        PredictionError,
        match=_whole(
            f"cannot read the checkpoint from {summary}: KeyError('last_checkpoint'). Re-run training "
            f"({train}) or pass a checkpoint (--checkpoint PATH)"
        ),
    ):
        default_checkpoint(tmp_path)
    summary.write_text(json.dumps({"best_checkpoint": None, "last_checkpoint": "runs/last.pt"}))
    monkeypatch.chdir(tmp_path)
    assert default_checkpoint() == Path("runs/last.pt")


def test_rgb_bands_outside_the_raster_name_the_option_to_fix(tmp_path):
    source = tmp_path / "rgb.tif"
    write_raster(source, _image(40, 40))
    with pytest.raises(
        PredictionError,
        match=_whole(f"rgb bands (1, 2) must be three band numbers within 1..3 of {source}; fix --rgb-bands"),
    ):
        predict_raster(Pointwise().eval(), META, source, tmp_path / "x.tif", rgb_bands=(1, 2))


def test_16_bit_band_choice_with_a_nodata_value_is_stretched_over_valid_pixels(tmp_path):
    """Four 16-bit bands of different ranges, three chosen out of order, a ``nodata`` value (no tag
    in the file): the stretch limits are the chosen bands' percentiles over the valid pixels only."""
    rng = np.random.default_rng(7)
    ranges = [(100, 1000), (2000, 9000), (300, 4000), (50, 600)]
    raw = np.stack([rng.integers(lo, hi, (80, 150)) for lo, hi in ranges], axis=-1).astype(np.uint16)
    raw[10:40, 20:90] = 7  # 17.5 % fill: the 2nd percentile would be the fill value
    source = tmp_path / "bands16.tif"
    write_raster(source, raw)
    model, out = Pointwise().eval(), tmp_path / "labels.tif"
    predict_raster(
        model, META, source, out, tile=64, overlap=8, rgb_bands=(3, 1, 4), nodata=7, progress=False
    )
    chosen = raw[..., [2, 0, 3]]
    valid = (chosen != 7).any(axis=-1)
    expected = _pointwise_labels(model, _stretched(chosen, valid), valid)
    np.testing.assert_array_equal(read_raster(out), expected)
    assert (expected == 255).sum() == 30 * 70


def test_16_bit_png_with_zero_fill_is_stretched_and_masked(tmp_path):
    """PNG input is read a row of windows at a time: the stretch and the fill apply there too."""
    rng = np.random.default_rng(8)
    raw = rng.integers(500, 6000, (70, 150, 3)).astype(np.uint16)
    raw[5:30, 100:140] = 0
    source = tmp_path / "scene16.png"
    write_raster(source, raw)
    model, out = Pointwise().eval(), tmp_path / "labels.tif"
    predict_raster(model, META, source, out, tile=64, overlap=16, zero_is_fill=True, progress=False)
    valid = (raw != 0).any(axis=-1)
    expected = _pointwise_labels(model, _stretched(raw, valid), valid)
    np.testing.assert_array_equal(read_raster(out), expected)
    assert (expected == 255).sum() == 25 * 40


def test_all_fill_16_bit_is_refused_and_all_fill_8_bit_is_all_nodata(tmp_path):
    """A 16-bit raster of fill alone has no stretch; an 8-bit one needs none and is predicted."""
    source16 = tmp_path / "fill16.tif"
    write_raster(source16, np.zeros((40, 50, 3), np.uint16))
    with pytest.raises(
        PredictionError,
        match=_whole(f"{source16} is all fill (nodata) in the sampled pixels; check its nodata value"),
    ):
        predict_raster(Pointwise().eval(), META, source16, tmp_path / "a.tif", zero_is_fill=True)
    source8 = tmp_path / "fill8.tif"
    write_raster(source8, np.zeros((40, 50, 3), np.uint8))
    out = tmp_path / "b.tif"
    predict_raster(Pointwise().eval(), META, source8, out, tile=32, overlap=8, nodata=0, progress=False)
    np.testing.assert_array_equal(read_raster(out), np.full((40, 50), 255, np.uint8))


def test_tiles_taller_than_a_geotiff_block_blend_exactly(tmp_path):
    """288-pixel tiles are finished and shifted in blocks of 256 rows; the last window of each row
    and column is flush with the border, 12 and 42 pixels after the first (short strides)."""
    pixels = _image(300, 330, seed=9)
    source = tmp_path / "scene.tif"
    write_raster(source, pixels)
    model = Local().eval()
    out, conf = tmp_path / "labels.tif", tmp_path / "conf.tif"
    predict_raster(model, META, source, out, tile=288, overlap=16, confidence=conf, progress=False)
    assert sorted({(w.row, w.col) for w in patch_grid(300, 330, 288, 16)}) == [
        (0, 0),
        (0, 42),
        (12, 0),
        (12, 42),
    ]
    labels, confidence = _whole_image_blend(model, pixels, np.ones((300, 330), bool), 288, 16)
    np.testing.assert_array_equal(read_raster(out), labels)
    with raster_writer(tmp_path / "expected.tif", 300, 330, dtype="float32", half_float=True) as writer:
        writer.write(confidence)
    np.testing.assert_array_equal(read_raster(conf), read_raster(tmp_path / "expected.tif"))


def test_preview_samples_every_step_th_pixel_across_unaligned_windows(tmp_path, monkeypatch):
    """A preview 7x smaller than the raster: windows start at columns 0, 48, 96, .. (not multiples
    of 7), yet the preview is exactly every 7th row and column of the labels."""
    monkeypatch.setattr("urur.predict.raster.PREVIEW_SIDE", 50)
    source = tmp_path / "scene.tif"
    write_raster(source, _image(203, 341, seed=5))
    out, preview = tmp_path / "labels.tif", tmp_path / "preview.png"
    predict_raster(
        Pointwise().eval(), META, source, out, tile=64, overlap=16, preview=preview, progress=False
    )
    sampled = read_raster(out)[::7, ::7]
    assert sampled.shape == (29, 49)
    np.testing.assert_array_equal(read_raster(preview)[:29, :49], index_to_rgb(sampled, URUR_PALETTE))


def test_bf16_autocast_rounds_the_logits_but_keeps_the_labels(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(96, 128, seed=6))
    model = Pointwise().eval()
    confidence = {}
    for bf16 in (False, True):
        out, conf = tmp_path / f"labels{bf16}.tif", tmp_path / f"conf{bf16}.tif"
        predict_raster(
            model, META, source, out, tile=64, overlap=16, bf16=bf16, confidence=conf, progress=False
        )
        confidence[bf16] = read_raster(conf)
    assert not np.array_equal(confidence[True], confidence[False])  # bfloat16 has 8 mantissa bits
    np.testing.assert_allclose(confidence[True], confidence[False], atol=0.05)
    assert (
        read_raster(tmp_path / "labelsTrue.tif") == read_raster(tmp_path / "labelsFalse.tif")
    ).mean() > 0.95
    # bf16 is bfloat16 whatever autocast's default (float16 on CUDA; settable on the CPU too).
    default = torch.get_autocast_dtype("cpu")
    torch.set_autocast_dtype("cpu", torch.float16)
    try:
        conf = tmp_path / "conf_half_default.tif"
        predict_raster(
            model, META, source, tmp_path / "l.tif", tile=64, overlap=16, bf16=True, confidence=conf
        )
    finally:
        torch.set_autocast_dtype("cpu", default)
    np.testing.assert_array_equal(read_raster(conf), confidence[True])


class LayoutProbe(Local):
    """Records, at every forward, whether its weights and input are channels-last and whether
    inductor's freezing is on (what the docstring of predict_raster promises)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[bool, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_last = torch.channels_last
        weight = self.conv.weight
        self.seen.append(
            (
                weight.is_contiguous(memory_format=channels_last) and not weight.is_contiguous(),
                x.is_contiguous(memory_format=channels_last),
                inductor_config.freezing,
            )
        )
        return super().forward(x)


def test_compile_gets_the_channels_last_model_and_runs_it_with_freezing(tmp_path, monkeypatch):
    """A real torch.compile takes minutes: a spy records what is compiled and counts the calls of
    what it returns, which must be what predicts."""
    compiled: list[nn.Module] = []

    class Counted(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            return self.inner(x)

    wrappers: list[Counted] = []

    def spy(module: nn.Module) -> nn.Module:
        compiled.append(module)
        wrappers.append(Counted(module))
        return wrappers[-1]

    monkeypatch.setattr(torch, "compile", spy)
    source = tmp_path / "scene.tif"
    pixels = _image(96, 112, seed=3)
    write_raster(source, pixels)
    probe = LayoutProbe().eval()
    out = tmp_path / "labels.tif"
    predict_raster(probe, META, source, out, tile=64, overlap=16, compile=True, progress=False)
    windows = len(patch_grid(96, 112, 64, 16))
    assert compiled == [probe] and wrappers[0].calls == windows
    assert probe.seen == [(True, True, True)] * windows
    labels, _ = _whole_image_blend(Local().eval(), pixels, np.ones((96, 112), bool), 64, 16)
    np.testing.assert_array_equal(read_raster(out), labels)


def test_normalisation_uses_the_checkpoint_mean_and_std(tmp_path):
    meta = {**META, "mean": (100.0, 110.0, 120.0), "std": (30.0, 40.0, 50.0)}
    pixels = _image(64, 64, seed=11)
    source = tmp_path / "scene.tif"
    write_raster(source, pixels)
    model = Pointwise().eval()
    out, conf = tmp_path / "labels.tif", tmp_path / "conf.tif"
    predict_raster(model, meta, source, out, tile=64, overlap=0, confidence=conf, progress=False)
    by_hand = (
        torch.from_numpy(pixels).permute(2, 0, 1).float() - torch.tensor([100.0, 110.0, 120.0])[:, None, None]
    ) / torch.tensor([30.0, 40.0, 50.0])[:, None, None]
    with torch.inference_mode():
        logits = model(by_hand[None])[0]
    np.testing.assert_array_equal(read_raster(out), logits.argmax(0).numpy())
    np.testing.assert_allclose(read_raster(conf), logits.softmax(0).max(0).values.numpy(), rtol=1e-3)


def test_a_model_with_another_class_count_than_its_checkpoint_is_refused(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(64, 64))
    five_classes = nn.Conv2d(3, 5, 1).eval()
    with pytest.raises(
        PredictionError, match=_whole("the model returned 5 classes but its checkpoint says 8")
    ):
        predict_raster(five_classes, META, source, tmp_path / "x.tif", tile=64, overlap=0, progress=False)


def test_confidence_nodata_tag_and_the_progress_bar_total(tmp_path, capsys):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(100, 120), crs=CRS, transform=TRANSFORM)
    conf = tmp_path / "conf.tif"
    result = predict_raster(
        Pointwise().eval(), META, source, tmp_path / "l.tif", tile=64, overlap=16, confidence=conf
    )
    with rasterio.open(conf) as dataset:
        assert dataset.nodata == 0.0 and dataset.dtypes == ("float32",)
    tiles = len(patch_grid(100, 120, 64, 16))
    assert result.tiles == tiles == 6
    assert "predict scene.tif: 100%|" in (bar := capsys.readouterr().err)
    assert f"| {tiles}/{tiles} [" in bar


class CutsScratch(Pointwise):
    """At its ``cut_at``-th forward (0-based), truncates the deleted (scratch) files it holds open
    in ``folder``, as a full disk or another process might; records the scratch files it saw."""

    def __init__(self, folder: Path, cut_at: int | None) -> None:
        super().__init__()
        self.folder, self.cut_at, self.calls, self.scratch = folder, cut_at, 0, set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.endswith(" (deleted)") and Path(target).parent == self.folder:
                self.scratch.add(target)
                if self.calls == self.cut_at:
                    os.ftruncate(int(fd), 0)
        self.calls += 1
        return super().forward(x)


def test_scratch_files_lie_beside_the_output_and_one_cut_short_is_an_error(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(120, 136))
    folder = tmp_path / "out"
    probe = CutsScratch(folder, cut_at=None).eval()
    predict_raster(probe, META, source, folder / "a.tif", tile=64, overlap=16, progress=False)
    assert len(probe.scratch) == 2  # the two alternating carries, unlinked, in the output's folder
    columns = len({w.col for w in patch_grid(120, 136, 64, 16)})
    cutter = CutsScratch(folder, cut_at=columns).eval()  # the second row's first window
    with pytest.raises(OSError, match=_whole(f"the prediction's scratch file in {folder} was cut short")):
        predict_raster(cutter, META, source, folder / "b.tif", tile=64, overlap=16, progress=False)
    assert not (folder / "b.tif").exists()


def test_a_short_scratch_write_is_an_error(tmp_path, monkeypatch):
    """A write of fewer bytes than asked (simulated: a full disk) must not go unnoticed."""
    source = tmp_path / "scene.tif"
    write_raster(source, _image(120, 136))
    real_pwrite = os.pwrite
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: real_pwrite(fd, data, offset) - 1)
    with pytest.raises(
        OSError, match=_whole(f"cannot write the prediction's scratch file in {tmp_path}: is the disk full?")
    ):
        predict_raster(Pointwise().eval(), META, source, tmp_path / "a.tif", tile=64, overlap=16)


def test_hann_ramps_of_a_short_window_meet_in_its_middle():
    """An overlap past half the window is cut to half of it: the two ramps meet, never cross."""
    np.testing.assert_allclose(hann_ramp(10, 5), [*hann_ramp(20, 5)[:5], *hann_ramp(20, 5)[:5][::-1]])
    np.testing.assert_allclose(hann_ramp(10, 8), hann_ramp(10, 5))
    weights = blend_weights(10, 12, 4)
    assert weights.dtype == torch.float32  # summed into float32 logits
    np.testing.assert_allclose(weights.numpy(), np.outer(hann_ramp(10, 4), hann_ramp(12, 4)), rtol=1e-7)


def test_an_output_that_is_the_input_is_refused_by_name(tmp_path):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    message = f"output {source} is the input; choose another output path"
    with pytest.raises(PredictionError, match=_whole(message)):
        check_outputs([source], [source], overwrite=True)
    other = tmp_path / "sub" / ".." / "labels.tif"
    message = (
        f"outputs {tmp_path / 'labels.tif'} and {other} are the same file ({tmp_path / 'labels.tif'}): one "
        "would overwrite the other; give each output its own path"
    )
    with pytest.raises(PredictionError, match=_whole(message)):
        check_outputs([tmp_path / "labels.tif", other], [source], overwrite=True)


def test_overwrite_replaces_the_preview_too(tmp_path):
    """A second prediction with ``overwrite`` publishes its preview over the first one's."""
    source, out, preview = tmp_path / "scene.tif", tmp_path / "labels.tif", tmp_path / "preview.png"
    write_raster(source, _image(40, 40))
    predict_raster(Pointwise().eval(), META, source, out, preview=preview, tile=32, overlap=0, progress=False)
    preview.write_bytes(b"stale")
    options = {"preview": preview, "tile": 32, "overlap": 0, "progress": False}
    predict_raster(Pointwise().eval(), META, source, out, overwrite=True, **options)
    assert preview.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"tile": 65, "overlap": 33},
            "need tile >= 32, 0 <= overlap <= tile / 2 and batch >= 1, got tile=65, overlap=33, batch=1",
        ),
        (
            {"confidence": "c.png"},
            "label and confidence outputs are GeoTIFFs: give a .tif path, not {tmp}/c.png",
        ),
        ({"preview": "p.jpg"}, "the preview is a PNG: give a .png path, got {tmp}/p.jpg"),
        ({"vector": "v.shp"}, "the vector output is a GeoPackage: give a .gpkg path, got {tmp}/v.shp"),
        ({"simplify": -1.0}, "--simplify is a tolerance in pixels, >= 0 (0: pixel edges), got -1.0"),
        ({"train": True}, "prediction needs the model in eval mode: call model.eval() first"),
    ],
)
def test_each_refusal_before_any_work_says_what_to_fix(tmp_path, options, message):
    source = tmp_path / "scene.tif"
    write_raster(source, _image(40, 40))
    model = Pointwise().train(options.pop("train", False))
    paths = {key: tmp_path / options[key] for key in ("confidence", "preview", "vector") if key in options}
    with pytest.raises(PredictionError, match=_whole(message.format(tmp=tmp_path))):
        predict_raster(model, META, source, tmp_path / "labels.tif", progress=False, **{**options, **paths})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_the_limits_themselves_are_accepted_and_folders_are_made(tmp_path):
    """Overlap of exactly half a tile (odd tiles round down), ``.tiff`` outputs, nested new folders."""
    source = tmp_path / "scene.tif"
    write_raster(source, _image(70, 70))
    out = tmp_path / "new" / "deeper" / "labels.tiff"
    confidence = tmp_path / "other" / "nested" / "confidence.TIFF"
    options = {"tile": 65, "overlap": 32, "progress": False}
    predict_raster(Pointwise().eval(), META, source, out, confidence=confidence, **options)
    assert read_raster(out).shape == (70, 70) and read_raster(confidence).shape == (70, 70)


def test_the_result_and_the_log_say_what_was_predicted_and_how_long_it_took(tmp_path, caplog):
    source, out = tmp_path / "scene.tif", tmp_path / "labels.tif"
    write_raster(source, _image(40, 70))
    with caplog.at_level("INFO", logger="urur"):
        result = predict_raster(Pointwise().eval(), META, source, out, tile=32, overlap=0, progress=False)
    assert (result.height, result.width, result.tiles) == (40, 70, 6) and 0 < result.seconds < 60
    logged = f"predicted {source} (40x70, 6 tiles) -> {out} in {result.seconds:.1f} s"
    assert logged in [record.getMessage() for record in caplog.records]


def test_a_preview_another_run_wrote_meanwhile_is_kept(tmp_path):
    source, out, preview = tmp_path / "scene.tif", tmp_path / "labels.tif", tmp_path / "preview.png"
    write_raster(source, _image(40, 40))
    with pytest.raises(PredictionError, match=r"preview.png appeared while .* kept"):
        predict_raster(PublishesFirst(preview).eval(), META, source, out, preview=preview, tile=32, overlap=0)
    assert preview.read_bytes() == b"the other run's labels"
