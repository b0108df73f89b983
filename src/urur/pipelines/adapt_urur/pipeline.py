from kedro.pipeline import Node, Pipeline

from .nodes import adapt_urur


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                adapt_urur,
                inputs=["urur_release", "params:urur_release", "params:runtime", "params:environment"],
                outputs=["uhr_images", "masks", "image_manifest", "dataset_split", "dataset_source"],
                name="adapt_urur",
            )
        ],
        namespace="releases.urur",
        prefix_datasets_with_namespace=False,
    )
