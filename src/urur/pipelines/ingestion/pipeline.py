from kedro.pipeline import Node, Pipeline

from .nodes import ingest


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                ingest,
                inputs=["raw_scenes", "params:ingestion", "params:runtime"],
                outputs=["uhr_images", "image_manifest"],
                name="ingest_raw_scenes",
            )
        ]
    )
