from kedro.pipeline import Node, Pipeline

from .nodes import tile


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                tile,
                inputs=["uhr_images", "image_manifest", "params:tiling", "params:runtime"],
                outputs=["annotation_patches", "patch_manifest"],
                name="tile_annotation_patches",
            )
        ],
        namespace="dataset.tiling",
        prefix_datasets_with_namespace=False,
    )
