from kedro.pipeline import Node, Pipeline

from .nodes import predict


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                predict,
                inputs=["predict_inputs", "training_summary", "params:predict"],
                outputs="predict_outputs",
                name="predict_rasters",
            )
        ],
        namespace="predict",
        prefix_datasets_with_namespace=False,
    )
