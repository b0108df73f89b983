from kedro.pipeline import Node, Pipeline

from .nodes import adapt_deepglobe


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                adapt_deepglobe,
                inputs=["deepglobe_release", "params:deepglobe", "params:runtime"],
                outputs=["uhr_images", "masks", "image_manifest", "dataset_split"],
                name="adapt_deepglobe",
            )
        ]
    )
