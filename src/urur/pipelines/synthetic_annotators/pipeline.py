from kedro.pipeline import Node, Pipeline

from .nodes import simulate_annotators


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                simulate_annotators,
                inputs=["scene_truth", "image_manifest", "params:tiling", "params:synthetic_annotators"],
                outputs="annotator_exports",
                name="simulate_annotators",
            )
        ]
    )
