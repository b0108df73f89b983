"""Inputs of the report shared by its unit and pipeline tests."""

from __future__ import annotations

# The dataset statistics of the tiny project (urur.dataset.stats.dataset_statistics' keys).
STATS = {
    "images": 16,
    "resolution_height": 128,
    "resolution_width": 128,
    "distinct_resolutions": 1,
    "pixels_millions": 0.26,
    "annotation_density": 1.0,
    "classes": 8,
    "instances": 400,
    "avg_classes_per_image": 6.1,
    "avg_classes_per_region": 2.9,
    "avg_instances_per_image": 25.0,
    "avg_instances_per_region": 4.0,
    "cities": 2,
    "context_richness": 0.41,
}
