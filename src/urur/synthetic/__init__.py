"""Procedural URUR-like raw scenes and simulated annotators and reviewers: the embedded default dataset."""

from urur.synthetic.annotators import annotate_images, simulate_annotations
from urur.synthetic.scenes import SceneSpec, SyntheticScene, generate_scenes, synthesize_scene

__all__ = [
    "SceneSpec",
    "SyntheticScene",
    "annotate_images",
    "generate_scenes",
    "simulate_annotations",
    "synthesize_scene",
]
