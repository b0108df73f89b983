"""Tiled prediction of rasters of any size (urur.predict.raster) and the ``urur predict`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
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
    default_checkpoint,
    hann_ramp,
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
    with pytest.raises(PredictionError, match=r"cannot create the output folder .*afile"):
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
    assert str(stale) in caplog.text and str(live) not in caplog.text


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
