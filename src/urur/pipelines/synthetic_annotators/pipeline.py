from kedro.pipeline import Node, Pipeline

from .nodes import simulate_annotators


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                simulate_annotators,
                inputs=[
                    "synthetic_truth",
                    "image_manifest",
                    "params:tiling",
                    "params:synthetic_annotators",
                    "params:runtime",
                ],
                outputs="synthetic_annotations",
                name="simulate_annotators",
            )
        ],
        namespace="dataset.synthetic_annotators",
        prefix_datasets_with_namespace=False,
    )
