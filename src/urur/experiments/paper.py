"""Numbers quoted from the paper (Ji et al., "Ultra-High Resolution Segmentation with Ultra-Rich
Context: A Novel Benchmark", CVPR 2023): Table 1 rows and Tables 4-6, for reference beside this
project's own figures. Quoted, never recomputed; their hardware was one RTX 2080Ti."""

from __future__ import annotations

PAPER_HARDWARE = "RTX 2080Ti, batch 1, full-resolution input (the paper)"

# Table 1, the columns this project computes (urur.dataset.stats.dataset_statistics); "Type" as printed.
TABLE1_QUOTED: tuple[dict[str, object], ...] = (
    {
        "dataset": "DeepGlobe",
        "images": 803,
        "resolution": "2448×2448",
        "type": "coarse",
        "pixels": "4812M",
        "density": 1.0,
        "classes": 8,
        "instances": "21K",
        "classes_per_image_region": "3.9/1.8",
        "instances_per_image_region": "17/4.9",
        "cities": 3,
        "context_richness": 0.398,
    },
    {
        "dataset": "Inria Aerial",
        "images": 180,
        "resolution": "5000×5000",
        "type": "fine",
        "pixels": "710M",
        "density": 0.16,
        "classes": 2,
        "instances": "138K",
        "classes_per_image_region": "2/0.8",
        "instances_per_image_region": "766/302",
        "cities": 10,
        "context_richness": 0.367,
    },
    {
        "dataset": "URUR",
        "images": 3008,
        "resolution": "5120×5120",
        "type": "fine",
        "pixels": "78852M",
        "density": 1.0,
        "classes": 8,
        "instances": "1140K",
        "classes_per_image_region": "7.2/5.6",
        "instances_per_image_region": "379/201",
        "cities": 63,
        "context_richness": 0.883,
    },
)

# Table 4 (URUR test): mIoU %, Acc % (None: not given), memory MB, FPS.
TABLE4_QUOTED: dict[str, dict[str, float | None]] = {
    "PSPNet": {"mIoU": 32.0, "aAcc": None, "memory_mb": 5482, "fps": 1.86},
    "DeepLabV3+": {"mIoU": 33.1, "aAcc": None, "memory_mb": 5508, "fps": 1.97},
    "STDC": {"mIoU": 42.0, "aAcc": None, "memory_mb": 7617, "fps": 4.31},
    "GLNet": {"mIoU": 41.2, "aAcc": 71.5, "memory_mb": 3063, "fps": 0.04},
    "FCtL": {"mIoU": 43.1, "aAcc": 73.8, "memory_mb": 4508, "fps": 0.03},
    "ISDNet": {"mIoU": 45.8, "aAcc": 75.6, "memory_mb": 4920, "fps": 6.31},
    "WSDNet": {"mIoU": 46.9, "aAcc": 76.8, "memory_mb": 4560, "fps": 7.13},
}
# Table 5 (deep-branch downsampling), by WSDNet's ``downsample`` option: mIoU %, FPS.
TABLE5_QUOTED: dict[str, dict[str, float]] = {
    "bilinear": {"mIoU": 45.1, "fps": 7.65},
    "cnn": {"mIoU": 45.8, "fps": 5.62},
    "adaptive": {"mIoU": 46.0, "fps": 4.96},
    "dwt": {"mIoU": 46.9, "fps": 7.13},
}
# Table 6 (losses), by WSDNet's ``aux_loss`` option: mIoU %.
TABLE6_QUOTED: dict[str, float] = {"none": 45.2, "sr_sd": 45.9, "wsl": 46.9}
