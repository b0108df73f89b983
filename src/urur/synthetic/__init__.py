"""Procedural URUR-like raw scenes and simulated annotators: the embedded default dataset."""

from urur.synthetic.annotators import annotate_images, simulate_annotations, write_annotation_export
from urur.synthetic.scenes import SceneSpec, SyntheticScene, generate_scenes, synthesize_scene

__all__ = [
    "SceneSpec",
    "SyntheticScene",
    "annotate_images",
    "generate_scenes",
    "simulate_annotations",
    "synthesize_scene",
    "write_annotation_export",
]
