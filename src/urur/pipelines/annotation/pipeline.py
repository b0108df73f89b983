from kedro.pipeline import Node, Pipeline

from .nodes import merge


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                merge,
                inputs=[
                    "corrected_exports",
                    "image_manifest",
                    "uhr_images",
                    "params:tiling",
                    "params:annotation",
                    "params:runtime",
                ],
                outputs=["masks", "annotation_qa"],
                name="merge_annotations",
            )
        ],
        namespace="dataset.annotation",
        prefix_datasets_with_namespace=False,
    )
