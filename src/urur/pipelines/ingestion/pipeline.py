from kedro.pipeline import Node, Pipeline

from .nodes import ingest


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                ingest,
                inputs=["raw_scenes", "params:ingestion", "params:runtime", "params:environment"],
                outputs=["uhr_images", "image_manifest", "dataset_source"],
                name="ingest_raw_scenes",
            )
        ],
        namespace="dataset.ingestion",
        prefix_datasets_with_namespace=False,
    )
