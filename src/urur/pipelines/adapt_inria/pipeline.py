from kedro.pipeline import Node, Pipeline

from .nodes import adapt_inria


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                adapt_inria,
                inputs=["inria_release", "params:inria", "params:runtime", "params:environment"],
                outputs=["uhr_images", "masks", "image_manifest", "dataset_split", "dataset_source"],
                name="adapt_inria",
            )
        ],
        namespace="releases.inria",
        prefix_datasets_with_namespace=False,
    )
