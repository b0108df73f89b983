from kedro.pipeline import Node, Pipeline

from .nodes import merge


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                merge,
                inputs=["annotator_exports", "image_manifest", "params:tiling", "params:annotation"],
                outputs=["masks", "annotation_qa"],
                name="merge_annotations",
            )
        ]
    )
