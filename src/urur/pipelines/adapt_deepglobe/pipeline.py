from kedro.pipeline import Node, Pipeline

from .nodes import adapt_deepglobe


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                adapt_deepglobe,
                inputs=["deepglobe_release", "params:deepglobe", "params:runtime", "params:environment"],
                outputs=["uhr_images", "masks", "image_manifest", "dataset_split", "dataset_source"],
                name="adapt_deepglobe",
            )
        ],
        namespace="releases.deepglobe",
        prefix_datasets_with_namespace=False,
    )
