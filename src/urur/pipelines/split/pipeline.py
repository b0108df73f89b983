from kedro.pipeline import Node, Pipeline

from .nodes import split


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                split,
                inputs=["image_manifest", "params:split"],
                outputs="dataset_split",
                name="split_dataset",
            )
        ],
        namespace="dataset.split",
        prefix_datasets_with_namespace=False,
    )
