from kedro.pipeline import Node, Pipeline

from .nodes import generate_synthetic_scenes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_synthetic_scenes,
                inputs="params:synthetic",
                outputs=["raw_scenes", "scene_truth"],
                name="generate_synthetic_scenes",
            )
        ]
    )
