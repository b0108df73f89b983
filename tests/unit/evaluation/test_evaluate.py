"""The evaluation protocol: one confusion matrix over whole images, predictions, FPS and memory."""

from __future__ import annotations

import logging
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from torch import nn

from tests.support.checkpoints import tiny_meta, tiny_model, write_checkpoint
from tests.support.training_store import write_store
from urur.classes import URUR_CLASSES, URUR_PALETTE
from urur.devices import release_freed_heap
from urur.evaluation.config import EvaluationParams
from urur.evaluation.evaluate import (
    branch_metrics,
    evaluate_images,
    evaluate_zeroed_branches,
)
from urur.evaluation.speed import measure_speed_memory
from urur.io.raster import raster_info, read_raster, write_raster
from urur.models.checkpoint import build_model_from_checkpoint
from urur.models.common import Outputs, TwoBranchModel, zero_branch
from urur.pipelines.evaluation.nodes import evaluate

K = 4
CRS = "EPSG:32633"
TRANSFORM = (0.3, 0.0, 500000.0, 0.0, -0.3, 4000000.0)
IDENTITY = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


class RedDecimal(nn.Module):
    """Pointwise model: predicts the class k whose 10*k is nearest to the red value."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centres", 10.0 * torch.arange(K, dtype=torch.float32).view(1, K, 1, 1))
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(x.shape[-2:]))
        return -(x[:, :1] - self.centres).abs()


class RedDecimalBranches(TwoBranchModel):
    """RedDecimal's scores as the deep branch, a vote of 1 for class 0 as the shallow one, added at
    the fusion: the sum predicts as RedDecimal (a wrong class scores at least 10 less), the shallow
    branch alone predicts class 0 everywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("centres", 10.0 * torch.arange(K, dtype=torch.float32).view(1, K, 1, 1))

    def forward_padded(self, image: torch.Tensor, with_training_outputs: bool) -> Outputs:
        deep = -(image[:, :1] - self.centres).abs()
        shallow = torch.zeros_like(deep)
        shallow[:, 0] = 1.0
        return {"logits": self.at_fusion("deep", deep) + self.at_fusion("shallow", shallow)}

    def compute_losses(self, *_: object) -> dict[str, torch.Tensor]:
        raise NotImplementedError("evaluated only")


def _write_pair(root: Path, image_id: str, shape: tuple[int, int], seed: int) -> tuple:
    """An RGB GeoTIFF whose red band encodes the predicted class, and a mask with ignored pixels."""
    rng = np.random.default_rng(seed)
    predicted = rng.integers(0, K, shape)
    target = rng.integers(0, K, shape).astype(np.uint8)
    agree = rng.random(shape) < 0.5
    target[agree] = predicted[agree]
    target[rng.random(shape) < 0.2] = 255
    rgb = np.stack([10 * predicted, rng.integers(0, 256, shape), rng.integers(0, 256, shape)], -1)
    write_raster(root / "images" / f"{image_id}.tif", rgb.astype(np.uint8), crs=CRS, transform=TRANSFORM)
    write_raster(root / "masks" / f"{image_id}.tif", target)
    return predicted, target


def _expected_confusion(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    confusion = np.zeros((K, K), dtype=np.int64)
    for predicted, target in pairs:
        for p, t in zip(predicted.ravel(), target.ravel(), strict=True):
            if t != 255:
                confusion[t, p] += 1
    return confusion


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    pairs = {
        "a": _write_pair(tmp_path, "a", (40, 56), 0),
        "b": _write_pair(tmp_path, "b", (33, 47), 1),  # odd sides
    }
    return tmp_path, pairs


def test_whole_images_accumulate_one_confusion_matrix(dataset: tuple) -> None:
    root, pairs = dataset
    model = RedDecimal().train()
    result = evaluate_images(
        model, ["a", "b"], root / "images", root / "masks", K, progress=False, **IDENTITY
    )
    expected = _expected_confusion(list(pairs.values()))
    assert result.confusion.dtype == np.int64
    np.testing.assert_array_equal(result.confusion, expected)
    tp = np.diag(expected)
    iou = tp / (expected.sum(0) + expected.sum(1) - tp)
    assert result.metrics["mIoU"] == pytest.approx(iou.mean())
    assert result.metrics["aAcc"] == pytest.approx(tp.sum() / expected.sum())
    assert model.sizes == [(40, 56), (33, 47)]  # full resolution, one pass per image
    assert model.training  # the caller's mode is restored
    rows = result.per_image.set_index("image_id")
    for image_id, pair in pairs.items():
        own = _expected_confusion([pair])
        assert rows.loc[image_id, "pixels"] == own.sum()
        assert rows.loc[image_id, "aAcc"] == pytest.approx(np.trace(own) / own.sum())
    assert (result.per_image["seconds"] > 0).all()


def test_slide_mode_matches_whole_for_a_pointwise_model(dataset: tuple) -> None:
    root, pairs = dataset
    model = RedDecimal()
    result = evaluate_images(
        model,
        ["a", "b"],
        root / "images",
        root / "masks",
        K,
        mode="slide",
        window=16,
        overlap=4,
        progress=False,
        **IDENTITY,
    )
    np.testing.assert_array_equal(result.confusion, _expected_confusion(list(pairs.values())))
    assert max(max(size) for size in model.sizes) == 16


def test_global_mode_feeds_the_downsampled_image(dataset: tuple) -> None:
    root, _ = dataset
    model = RedDecimal()
    evaluate_images(
        model, ["a"], root / "images", root / "masks", K, mode="global", downsample=4, progress=False
    )
    assert model.sizes == [(10, 14)]


def test_predictions_are_label_rasters_named_by_the_classes(dataset: tuple) -> None:
    """Georeferenced like the image, coloured (:func:`palette_for` the names: a DeepGlobe model's
    predictions are no longer drawn in URUR's colours, tests/unit/io/test_label_raster.py) and named by
    the checkpoint's classes."""
    root, pairs = dataset
    out = root / "predictions"
    names = ("sea", "sand", "dune", "reef")
    evaluate_images(
        RedDecimal(),
        ["a"],
        root / "images",
        root / "masks",
        K,
        predictions_dir=out,
        class_names=names,
        progress=False,
        **IDENTITY,
    )
    assert sorted(p.name for p in out.iterdir()) == ["a.qml", "a.tif", "a.tif.aux.xml"]
    np.testing.assert_array_equal(read_raster(out / "a.tif"), pairs["a"][0])
    info = raster_info(out / "a.tif")
    assert (info.crs, info.transform) == (CRS, TRANSFORM)
    with rasterio.open(out / "a.tif") as written:
        colormap = written.colormap(1)
        assert written.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert [colormap[k][:3] for k in range(K)] == [tuple(c) for c in URUR_PALETTE[:K].tolist()]
    assert [e.get("label") for e in ElementTree.parse(out / "a.qml").iter("paletteEntry")] == list(names)


def test_writing_predictions_needs_the_class_names(dataset: tuple) -> None:
    root, _ = dataset
    with pytest.raises(ValueError, match="names of the 4 classes"):
        evaluate_images(
            RedDecimal(),
            ["a"],
            root / "images",
            root / "masks",
            K,
            predictions_dir=root / "p",
            progress=False,
        )
    assert not (root / "p").exists()


def test_normalisation_uses_the_given_statistics(dataset: tuple) -> None:
    root, pairs = dataset
    # The model sees (red + 4) / 2 = 5p + 2 and picks the nearest multiple of 10 (no ties).
    result = evaluate_images(
        RedDecimal(),
        ["a"],
        root / "images",
        root / "masks",
        K,
        mean=(-4.0, 0, 0),
        std=(2.0, 1, 1),
        progress=False,
    )
    predicted, target = pairs["a"]
    shifted = np.rint((10 * predicted + 4) / 2 / 10).astype(int)
    np.testing.assert_array_equal(result.confusion, _expected_confusion([(shifted, target)]))


def test_bad_inputs_name_the_file(dataset: tuple) -> None:
    root, _ = dataset
    images, masks = root / "images", root / "masks"
    with pytest.raises(ValueError, match="split is empty"):
        evaluate_images(RedDecimal(), [], images, masks, K, progress=False)
    with pytest.raises(ValueError, match="unknown evaluation mode 'tiles'"):
        evaluate_images(RedDecimal(), ["a"], images, masks, K, mode="tiles", progress=False)
    write_raster(images / "c.tif", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"c\.tif does not exist; build the masks"):
        evaluate_images(RedDecimal(), ["c"], images, masks, K, progress=False)
    write_raster(masks / "c.tif", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=r"mask .*c\.tif is 8x9 but image .*c\.tif is 8x8"):
        evaluate_images(RedDecimal(), ["c"], images, masks, K, progress=False)
    write_raster(masks / "c.tif", np.full((8, 8), 7, np.uint8))
    with pytest.raises(ValueError, match=r"c\.tif: target holds values \[7\]"):
        evaluate_images(RedDecimal(), ["c"], images, masks, K, progress=False)
    with pytest.raises(ValueError, match="model returned 4 classes, expected num_classes=5"):
        evaluate_images(RedDecimal(), ["a"], images, masks, 5, progress=False)


def test_speed_protocol_times_synchronised_runs_after_warmup() -> None:
    model = RedDecimal()
    row = measure_speed_memory(model, 24, 40, "cpu", warmup=2, runs=3)
    assert model.sizes == [(24, 40)] * 5
    assert len(row["seconds_each"]) == 3
    assert row["fps"] == pytest.approx(3 / sum(row["seconds_each"]))
    assert row["seconds_per_image"] == pytest.approx(sum(row["seconds_each"]) / 3)
    assert row["peak_memory_mb"] > 10  # a Python process with torch holds far more than 10 MB
    assert row["device"].startswith("cpu")
    calls = []
    measure_speed_memory(model, 8, 8, warmup=0, runs=1, predict=lambda x: calls.append(x.shape) or x)
    assert calls == [torch.Size([1, 3, 8, 8])]
    with pytest.raises(ValueError, match="runs >= 1"):
        measure_speed_memory(model, 8, 8, runs=0)


def _rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_freed_heap_goes_back_before_memory_is_measured() -> None:
    # 300 MB of 2 kB blocks (glibc's heap, not mmap), one in 64 kept: glibc can shrink the heap only
    # from its top, so without malloc_trim the freed 295 MB would stay in the resident set and in
    # any peak measured next (the earlier models of a comparison did exactly this).
    blocks = [bytes(2000) for _ in range(150_000)]
    _kept = blocks[::64]  # alive to the end of the test
    del blocks
    before = _rss_mb()
    if not release_freed_heap():
        pytest.skip("not glibc: no malloc_trim")
    assert before - _rss_mb() > 200
    result = measure_speed_memory(torch.nn.Conv2d(3, 2, 1), 64, 64, warmup=0, runs=1)
    assert "freed heap returned first" in result["memory_kind"]


def test_each_branch_zeroed_is_one_more_evaluation_of_the_split(dataset: tuple) -> None:
    root, pairs = dataset
    model = RedDecimalBranches()
    results = evaluate_zeroed_branches(
        model, ["a", "b"], root / "images", root / "masks", K, progress=False, **IDENTITY
    )
    assert list(results) == ["deep", "shallow"] and model.zeroed_branch is None
    full = _expected_confusion(list(pairs.values()))
    np.testing.assert_array_equal(results["shallow"].confusion, full)  # the deep branch alone
    class_0 = _expected_confusion([(np.zeros_like(p), t) for p, t in pairs.values()])
    np.testing.assert_array_equal(results["deep"].confusion, class_0)
    deep_zeroed = class_0[0, 0] / class_0.sum() / K  # IoU of class 0; every other class's is 0
    assert results["deep"].metrics["mIoU"] == pytest.approx(deep_zeroed)
    miou = results["shallow"].metrics["mIoU"]
    assert branch_metrics(miou, {b: r.metrics["mIoU"] for b, r in results.items()}) == pytest.approx(
        {
            "test/mIoU_deep_zeroed": deep_zeroed,
            "test/mIoU_shallow_zeroed": miou,
            "test/deep_branch_contribution_points": 100 * (miou - deep_zeroed),
            "test/shallow_branch_contribution_points": 0.0,
        }
    )


def _checkpoint(path: Path, model_name: str) -> Path:
    """A tiny untrained model with its classifiers' biases at zero, so that its predictions vary
    from pixel to pixel (with PyTorch's random biases one class wins everywhere)."""
    model = tiny_model(model_name)
    with torch.no_grad():
        for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d) and m.bias is not None):
            if conv.out_channels == len(URUR_CLASSES):  # a classifier
                conv.bias.zero_()
    return write_checkpoint(path, model, tiny_meta(model_name))


@pytest.mark.parametrize(
    ("model_name", "ablation", "measured"),
    [
        ("wsdnet", True, True),
        ("isdnet", True, True),
        ("stdc", True, False),
        ("deeplabv3plus", True, False),
        ("wsdnet", False, False),
    ],
)
def test_evaluation_reports_the_branch_contributions_of_two_branch_models(
    tmp_path: Path, monkeypatch, caplog, model_name: str, ablation: bool, measured: bool
) -> None:
    """The masks are the model's own predictions (test mIoU 1): with a branch zeroed the model
    scores less, test_metrics holds both zeroed mIoUs and the points lost, equal to evaluations
    under zero_branch; single-branch models skip it with a log line; the option turns it off."""
    monkeypatch.setenv("URUR_STAGING_DIR", str(tmp_path / "staging"))
    ids = ["t0", "t1"]
    images, _ = write_store(tmp_path, ids, size=64)
    checkpoint = str(_checkpoint(tmp_path / "best.pt", model_name))
    model, meta = build_model_from_checkpoint(checkpoint)
    masks = tmp_path / "own_predictions"
    own = {"mean": meta["mean"], "std": meta["std"], "progress": False}
    evaluate_images(
        model,
        ids,
        images,
        tmp_path / "masks",
        len(URUR_CLASSES),
        predictions_dir=masks,
        class_names=URUR_CLASSES,
        **own,
    )
    params = EvaluationParams(device="cpu", branch_ablation=ablation, speed={"enabled": False})
    with caplog.at_level(logging.INFO, logger="urur.evaluation.protocol"):
        metrics, *_ = evaluate(
            images,
            masks,
            pd.DataFrame({"image_id": ["x", *ids], "split": ["train", "test", "test"]}),
            pd.DataFrame({"image_id": ids, "height": 64, "width": 64}),
            {"best_checkpoint": checkpoint, "last_checkpoint": checkpoint},
            params,
        )
    assert metrics["test/mIoU"] == 1.0
    keys = [k for k in metrics if "zeroed" in k or "branch" in k]
    if not measured:
        assert keys == []
        skipped = f"Branch ablation skipped: {model_name} has one branch" in caplog.text
        assert skipped == ablation
        return
    assert keys == [
        "test/mIoU_deep_zeroed",
        "test/mIoU_shallow_zeroed",
        "test/deep_branch_contribution_points",
        "test/shallow_branch_contribution_points",
    ]
    for branch in ("deep", "shallow"):
        with zero_branch(model, branch):
            zeroed = evaluate_images(model, ids, images, masks, len(URUR_CLASSES), **own).metrics["mIoU"]
        assert zeroed < 1.0
        assert metrics[f"test/mIoU_{branch}_zeroed"] == pytest.approx(zeroed)
        assert metrics[f"test/{branch}_branch_contribution_points"] == pytest.approx(100 * (1.0 - zeroed))
    assert all(isinstance(value, (int, float)) for value in metrics.values())
