"""Random training crops read window by window from the raster store, and their DataLoader.

A sample never decodes a whole UHR image: it reads one window of the mask (to apply the
class-ratio rule) and one window of the image, both through :func:`urur.io.raster.read_windows`,
sized ``crop / scale`` for a random scale, then resizes them to the crop's scale (image
bilinear, mask nearest), pads to the crop (image 0, label 255) and augments image and mask with
one albumentations transform.

Repeatability without shared state: sample ``n`` (a global counter over the whole run) draws
everything (which image, scale, position, redraws, augmentation) from a generator seeded with
``(seed, n)``, so a sample is the same whichever worker, rank or resumed run computes it. The
batch sampler hands rank ``r`` of ``w`` the samples ``(step * w + r) * batch .. + batch``:
DistributedSampler's sharding of one global batch, and a resumed run starts at its step.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from urur.classes import IGNORE_INDEX
from urur.config import ConfigError
from urur.errors import UrurError
from urur.io.layout import find_mask, image_path
from urur.io.raster import raster_info, read_windows
from urur.io.windows import Window
from urur.preprocessing import normalize, to_tensor
from urur.training.config import AugmentationParams


class MaskValueError(UrurError, ValueError):
    """A mask holds a value that is neither a class of the class table nor the ignore label."""


def build_augmentation(params: AugmentationParams) -> A.Compose:
    """One albumentations pipeline applied to image and mask together (geometry shared).

    Rotation borders are image 0 and label 255, as in ISDNet's public configs; photometric
    distortion touches the image only.
    """
    transforms: list[A.BasicTransform] = []
    if params.hflip_p > 0:
        transforms.append(A.HorizontalFlip(p=params.hflip_p))
    if params.vflip_p > 0:
        transforms.append(A.VerticalFlip(p=params.vflip_p))
    if params.rotate90_p > 0:
        transforms.append(A.RandomRotate90(p=params.rotate90_p))
    if params.rotate_p > 0:
        transforms.append(
            A.Rotate(
                limit=params.rotate_degrees,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=IGNORE_INDEX,
                p=params.rotate_p,
            )
        )
    if params.photometric_p > 0:
        transforms.append(
            A.ColorJitter(
                brightness=params.brightness,
                contrast=params.contrast,
                saturation=params.saturation,
                hue=params.hue,
                p=params.photometric_p,
            )
        )
    return A.Compose(transforms)


@dataclass(frozen=True)
class _Source:
    image_id: str
    image: Path
    mask: Path
    height: int
    width: int


def passes_class_ratio(mask: np.ndarray, cat_max_ratio: float, ignore_index: int = IGNORE_INDEX) -> bool:
    """mmseg's RandomCrop rule: keep a crop unless one class covers more than ``cat_max_ratio`` of
    its labelled pixels (a crop with no labelled pixel is redrawn too); ratio 1 keeps every crop."""
    if cat_max_ratio >= 1.0:
        return True
    counts = np.bincount(mask[mask != ignore_index].ravel(), minlength=1)
    total = counts.sum()
    return bool(total > 0 and counts.max() <= cat_max_ratio * total)


class CropDataset(Dataset):
    """Random crops of ``image_ids``; item ``n`` is the run's ``n``-th sample (see module docstring).

    Every image's and mask's header is read once here (cheap) to check they exist, agree in size
    and can hold a crop, so bad inputs fail before training starts.
    """

    def __init__(
        self,
        image_ids: Sequence[str],
        images_dir: str | Path,
        masks_dir: str | Path,
        *,
        num_classes: int,
        crop_size: int,
        scale_range: tuple[float, float] = (1.0, 1.0),
        crops_per_epoch: int = 1000,
        cat_max_ratio: float = 0.75,
        max_redraws: int = 10,
        augmentation: A.Compose | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        seed: int = 0,
    ) -> None:
        if not image_ids:
            raise ConfigError("the train split is empty: no image ids to draw crops from; check the split")
        self.num_classes = num_classes
        self.crop_size = crop_size
        self.scale_range = scale_range
        self.crops_per_epoch = crops_per_epoch
        self.cat_max_ratio = cat_max_ratio
        self.max_redraws = max_redraws
        self.augmentation = augmentation
        self.norm = {} if mean is None else {"mean": mean, "std": std}
        self.seed = seed
        self.sources = [self._source(str(i), Path(images_dir), Path(masks_dir)) for i in image_ids]
        largest = max(max(s.height, s.width) for s in self.sources)
        if crop_size > largest:
            raise ConfigError(
                f"training.crop_size {crop_size} is larger than every train image (largest side "
                f"{largest} px): lower training.crop_size (conf/<env>/parameters_training.yml or --params)"
            )
        self._order_epoch = -1
        self._order = np.empty(0, dtype=np.int64)

    @staticmethod
    def _source(image_id: str, images_dir: Path, masks_dir: Path) -> _Source:
        image, mask = image_path(images_dir, image_id), find_mask(masks_dir, image_id)
        info, mask_info = raster_info(image), raster_info(mask)
        if info.bands != 3 or info.dtype != "uint8":
            raise ValueError(f"{image}: expected a uint8 RGB image, got {info.bands} band(s) of {info.dtype}")
        if mask_info.bands != 1 or (mask_info.height, mask_info.width) != (info.height, info.width):
            raise ValueError(
                f"{mask}: expected one band of {info.height}x{info.width} like {image}, got "
                f"{mask_info.bands} band(s) of {mask_info.height}x{mask_info.width}"
            )
        return _Source(image_id, image, mask, info.height, info.width)

    def __len__(self) -> int:
        return self.crops_per_epoch

    def image_order(self, epoch: int) -> np.ndarray:
        """Which source each of an epoch's crops comes from: every image equally often, shuffled."""
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, 1, epoch])
            self._order = rng.permutation(np.resize(np.arange(len(self.sources)), self.crops_per_epoch))
            self._order_epoch = epoch
        return self._order

    def __getitem__(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, position = divmod(int(n), self.crops_per_epoch)
        source = self.sources[self.image_order(epoch)[position]]
        rng = np.random.default_rng([self.seed, 0, int(n)])
        image, mask = self.read_crop(source, rng)
        if self.augmentation is not None:
            self.augmentation.set_random_seed(int(rng.integers(2**31)))
            out = self.augmentation(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        return normalize(to_tensor(image), **self.norm), torch.from_numpy(mask.astype(np.int64))

    def read_crop(self, source: _Source, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A crop_size² (image, mask) at a random scale and position, redrawn per the class-ratio rule."""
        scale = float(rng.uniform(*self.scale_range))
        size = max(1, round(self.crop_size / scale))
        height, width = min(size, source.height), min(size, source.width)
        with (
            _MaskReader(source.mask, self.num_classes) as mask_reader,
            _WindowReader(source.image) as image_reader,
        ):
            for attempt in range(self.max_redraws + 1):
                row = int(rng.integers(source.height - height + 1))
                col = int(rng.integers(source.width - width + 1))
                window = Window(row, col, height, width)
                mask = mask_reader(window)
                if attempt == self.max_redraws or passes_class_ratio(mask, self.cat_max_ratio):
                    break
            image = image_reader(window)
        out_h = min(self.crop_size, max(1, round(height * scale)))
        out_w = min(self.crop_size, max(1, round(width * scale)))
        if (out_h, out_w) != (height, width):
            image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
            mask = cv2.resize(mask, (out_w, out_h), interpolation=cv2.INTER_NEAREST)
        return _pad(image, self.crop_size, 0), _pad(mask, self.crop_size, IGNORE_INDEX)


def _pad(array: np.ndarray, size: int, value: int) -> np.ndarray:
    pad_h, pad_w = size - array.shape[0], size - array.shape[1]
    if not pad_h and not pad_w:
        return array
    widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, constant_values=value)


class _WindowReader:
    """One open raster for a sample's window reads, where each window depends on the last read.

    :func:`read_windows` pulls its next window lazily, so feeding it one window per call keeps a
    single open file across the redraws instead of reopening it for every attempt.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._windows: list[Window] = []
        self._reads = read_windows(path, self._requests())

    def _requests(self) -> Iterator[Window]:
        while self._windows:
            yield self._windows.pop()

    def __enter__(self) -> _WindowReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._reads.close()

    def __call__(self, window: Window) -> np.ndarray:
        self._windows.append(window)
        return next(self._reads)


class _MaskReader(_WindowReader):
    """A mask reader that rejects values outside the class table, naming the file."""

    def __init__(self, path: Path, num_classes: int) -> None:
        super().__init__(path)
        self.num_classes = num_classes

    def __call__(self, window: Window) -> np.ndarray:
        mask = super().__call__(window)
        bad = (mask >= self.num_classes) & (mask != IGNORE_INDEX)
        if bad.any():
            raise MaskValueError(
                f"mask {self.path} holds values {np.unique(mask[bad])[:10].tolist()} outside the classes "
                f"0..{self.num_classes - 1} (and {IGNORE_INDEX} = ignore), in {window}: fix the mask or the "
                "class table (class_names)"
            )
        return mask


class StepBatchSampler(Sampler[list[int]]):
    """Endless micro-batches of sample numbers for one rank, from micro-step ``start`` on.

    Micro-step ``s`` of rank ``r`` of ``world`` gets samples ``(s * world + r) * batch`` onwards, so
    the ranks together draw exactly the global batch a single process would.
    """

    def __init__(self, batch_size: int, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        self.batch_size, self.rank, self.world_size, self.start = batch_size, rank, world_size, start

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start
        while True:
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))
            step += 1


def seed_worker(seed: int, worker_id: int) -> None:
    """Seed a worker's global generators (the dataset itself does not use them) and keep OpenCV
    single-threaded so workers do not fight the training process for cores."""
    worker_seed = int(np.random.SeedSequence([seed, 2, worker_id]).generate_state(1)[0])
    random.seed(worker_seed)
    np.random.seed(worker_seed)
    torch.manual_seed(worker_seed)
    cv2.setNumThreads(0)


def build_loader(
    dataset: CropDataset,
    batch_size: int,
    *,
    workers: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    start_step: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """An endless DataLoader of this rank's micro-batches from micro-step ``start_step`` on.

    Its own generator keeps the DataLoader from drawing worker seeds from torch's global RNG, so
    loading data does not change what dropout draws in the training process.
    """
    return DataLoader(
        dataset,
        batch_sampler=StepBatchSampler(batch_size, rank, world_size, start_step),
        num_workers=workers,
        worker_init_fn=partial(seed_worker, seed),
        generator=torch.Generator().manual_seed(seed),
        pin_memory=pin_memory,
        prefetch_factor=4 if workers > 0 else None,
        persistent_workers=False,
    )
