from kedro.pipeline import Node, Pipeline

from .nodes import compute_dataset_stats


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compute_dataset_stats,
                inputs=["masks", "image_manifest", "params:dataset_stats", "params:runtime"],
                outputs=["dataset_stats", "dataset_class_stats"],
                name="compute_dataset_stats",
            )
        ],
        namespace="dataset.stats",
        prefix_datasets_with_namespace=False,
    )
