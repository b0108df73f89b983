"""The crop sampler: windowed reads, the class-ratio redraw rule, shared geometry, repeatability."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

import urur.training.data as data
from tests.support.training_store import write_store
from urur.io.layout import image_path, mask_path
from urur.io.raster import write_raster
from urur.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from urur.training.config import AugmentationParams, TrainingParams
from urur.training.data import (
    CropDataset,
    MaskValueError,
    build_augmentation,
    build_loader,
    passes_class_ratio,
)

NO_AUGMENTATION = AugmentationParams(hflip_p=0, rotate_p=0, photometric_p=0)


def _dataset(images_dir: Path, masks_dir: Path, ids: list[str], **options: object) -> CropDataset:
    settings: dict[str, object] = {"num_classes": 8, "crop_size": 32, "crops_per_epoch": 8, "seed": 0}
    settings.update(options)
    return CropDataset(ids, images_dir, masks_dir, **settings)


def _unnormalize(image: torch.Tensor) -> np.ndarray:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (image * std + mean).round().numpy().astype(np.int64)


def test_samples_read_windows_never_whole_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a", "b"], size=128)
    windows: list[tuple[str, int, int]] = []
    real = data.read_windows

    def spy(path, requested, **kwargs):
        def record():
            for window in requested:
                windows.append((Path(path).parent.name, window.height, window.width))
                yield window

        return real(path, record(), **kwargs)

    monkeypatch.setattr(data, "read_windows", spy)
    dataset = _dataset(images_dir, masks_dir, ["a", "b"], scale_range=(0.5, 2.0))
    for n in range(8):
        image, mask = dataset[n]
        assert image.shape == (3, 32, 32) and image.dtype == torch.float32
        assert mask.shape == (32, 32) and mask.dtype == torch.int64
    assert {kind for kind, _, _ in windows} == {"images", "masks"}
    # crop / scale is at most 32 / 0.5 = 64 pixels: never the 128² image.
    assert all(0 < h <= 64 and 0 < w <= 64 for _, h, w in windows)


def test_class_ratio_rule_on_hand_made_masks() -> None:
    mask = np.full((10, 10), 255, dtype=np.uint8)
    mask.flat[:15] = 0
    mask.flat[15:20] = 1  # 75 % of the labelled pixels are class 0: kept (ignore excluded)
    assert passes_class_ratio(mask, 0.75)
    mask.flat[19] = 0  # 80 %: redrawn
    assert not passes_class_ratio(mask, 0.75)
    assert not passes_class_ratio(np.full((4, 4), 255, np.uint8), 0.75)  # nothing labelled
    assert passes_class_ratio(np.zeros((4, 4), np.uint8), 1.0)  # ratio 1 keeps everything


def _half_striped(size: int) -> np.ndarray:
    """Left half 8-px stripes of classes 0/1 (crops pass), right half all class 2 (crops fail)."""
    mask = np.full((size, size), 2, dtype=np.uint8)
    mask[:, : size // 2] = (np.arange(size // 2)[None, :] // 8) % 2
    return mask


def test_dataset_redraws_crops_dominated_by_one_class(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a"], size=128, mask_fn=_half_striped)
    kept = _dataset(images_dir, masks_dir, ["a"], crops_per_epoch=30, max_redraws=30)
    assert all(passes_class_ratio(kept[n][1].numpy().astype(np.uint8), 0.75) for n in range(30))
    once = _dataset(images_dir, masks_dir, ["a"], crops_per_epoch=30, max_redraws=0)
    assert not all(passes_class_ratio(once[n][1].numpy().astype(np.uint8), 0.75) for n in range(30))


def _position_store(root: Path, size: int = 64) -> tuple[Path, Path]:
    """Image channels 0/1 = row/column; mask = (row + 3 * col) % 200, so position ties them."""
    rows, cols = np.mgrid[:size, :size]
    image = np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    write_raster(image_path(root / "images", "p"), image)
    write_raster(mask_path(root / "masks", "p"), ((rows + 3 * cols) % 200).astype(np.uint8))
    return root / "images", root / "masks"


def test_flips_and_right_angles_move_image_and_mask_together(tmp_path: Path) -> None:
    images_dir, masks_dir = _position_store(tmp_path)
    augmentation = build_augmentation(
        AugmentationParams(hflip_p=0.5, vflip_p=0.5, rotate90_p=1.0, rotate_p=0, photometric_p=0)
    )
    dataset = _dataset(
        images_dir, masks_dir, ["p"], num_classes=200, cat_max_ratio=1.0, augmentation=augmentation
    )
    seen_layouts = set()
    for n in range(12):
        image, mask = dataset[n]
        pixels = _unnormalize(image)
        rows, cols = pixels[0], pixels[1]
        np.testing.assert_array_equal(mask.numpy(), (rows + 3 * cols) % 200)
        seen_layouts.add((bool(rows[0, 0] < rows[-1, 0]), bool(cols[0, 0] < cols[0, -1])))
    assert len(seen_layouts) > 1  # the transforms did change the geometry


def test_rotation_borders_are_image_zero_and_label_ignore(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["c"], size=64, mask_fn=lambda s: np.ones((s, s), np.uint8))
    write_raster(image_path(images_dir, "c"), np.full((64, 64, 3), 200, np.uint8))
    augmentation = build_augmentation(AugmentationParams(hflip_p=0, rotate_p=1.0, photometric_p=0))
    dataset = _dataset(images_dir, masks_dir, ["c"], cat_max_ratio=1.0, augmentation=augmentation)
    image, mask = dataset[0]
    black = (_unnormalize(image) == 0).all(axis=0)
    border = mask.numpy() == 255
    assert border.any()  # a 90..270° rotation of a square by a non-right angle leaves corners
    assert set(np.unique(mask.numpy())) <= {1, 255}
    assert (black == border).mean() > 0.97  # same pixels, up to bilinear vs nearest at the edge


def test_scaled_crops_are_padded_with_ignore(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a"], size=64)
    # Scale 0.5: the whole 64² image is read and shrunk to 32², then padded to the 64² crop.
    dataset = _dataset(images_dir, masks_dir, ["a"], crop_size=64, scale_range=(0.5, 0.5), cat_max_ratio=1.0)
    image, mask = dataset[0]
    assert (mask[32:, :] == 255).all() and (mask[:, 32:] == 255).all()
    assert (mask[:32, :32] != 255).all()
    assert (_unnormalize(image)[:, 32:, :] == 0).all()


def test_mask_value_outside_the_class_table_names_the_file(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(
        tmp_path, ["bad"], size=64, mask_fn=lambda s: np.full((s, s), 9, np.uint8)
    )
    dataset = _dataset(images_dir, masks_dir, ["bad"], cat_max_ratio=1.0)
    with pytest.raises(MaskValueError, match=r"bad\.tif holds values \[9\]"):
        dataset[0]


def test_a_missing_mask_names_the_file_and_the_stage(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a"], size=64)
    mask_path(masks_dir, "a").unlink()
    with pytest.raises(FileNotFoundError, match=r"a\.tif does not exist; build the masks"):
        _dataset(images_dir, masks_dir, ["a"], cat_max_ratio=1.0)[0]


def test_bad_inputs_fail_before_any_sample(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a"], size=64)
    with pytest.raises(ValueError, match="train split is empty"):
        _dataset(images_dir, masks_dir, [])
    with pytest.raises(ValueError, match="crop_size 96 is larger than every train image"):
        _dataset(images_dir, masks_dir, ["a"], crop_size=96)
    with pytest.raises(FileNotFoundError, match="no mask for image 'missing'"):
        write_raster(image_path(images_dir, "missing"), np.zeros((64, 64, 3), np.uint8))
        _dataset(images_dir, masks_dir, ["missing"])
    for field, value in (("lr", -0.1), ("batch_size", 0), ("crop_size", 0), ("devices", 0)):
        with pytest.raises(ValueError, match=field):
            TrainingParams(**{field: value})


def _batches(dataset: CropDataset, workers: int, seed: int, count: int = 3) -> list[torch.Tensor]:
    loader = build_loader(dataset, 2, workers=workers, seed=seed)
    return [torch.cat([images.flatten(), masks.flatten().float()]) for images, masks in islice(loader, count)]


def test_same_seed_same_batches_whatever_the_workers(tmp_path: Path) -> None:
    images_dir, masks_dir = write_store(tmp_path, ["a", "b", "c"], size=64)
    augmentation = build_augmentation(AugmentationParams(vflip_p=0.5, rotate90_p=0.5))

    def make(seed: int) -> CropDataset:
        return _dataset(
            images_dir,
            masks_dir,
            ["a", "b", "c"],
            scale_range=(0.5, 1.5),
            augmentation=augmentation,
            seed=seed,
        )

    first = _batches(make(0), workers=2, seed=0)
    again = _batches(make(0), workers=2, seed=0)
    in_process = _batches(make(0), workers=0, seed=0)
    other_seed = _batches(make(1), workers=2, seed=1)
    for a, b, c in zip(first, again, in_process, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert not all(torch.equal(a, d) for a, d in zip(first, other_seed, strict=True))


def test_ranks_draw_disjoint_shards_of_the_global_batch() -> None:
    rank0 = list(islice(data.StepBatchSampler(2, rank=0, world_size=2), 2))
    rank1 = list(islice(data.StepBatchSampler(2, rank=1, world_size=2), 2))
    single = list(islice(data.StepBatchSampler(4), 2))
    assert [a + b for a, b in zip(rank0, rank1, strict=True)] == single
    assert next(iter(data.StepBatchSampler(4, start=3))) == [12, 13, 14, 15]
