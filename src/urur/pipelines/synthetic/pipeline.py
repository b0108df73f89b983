from kedro.pipeline import Node, Pipeline

from .nodes import generate_synthetic_scenes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_synthetic_scenes,
                inputs=["params:synthetic", "params:runtime"],
                outputs=["synthetic_scenes", "synthetic_truth"],
                name="generate_synthetic_scenes",
            )
        ],
        namespace="dataset.synthetic",
        prefix_datasets_with_namespace=False,
    )
