from kedro.pipeline import Node, Pipeline

from .nodes import evaluate


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate,
                inputs=[
                    "uhr_images",
                    "masks",
                    "dataset_split",
                    "image_manifest",
                    "training_summary",
                    "params:evaluation",
                ],
                outputs=[
                    "test_metrics",
                    "test_evaluation",
                    "test_class_metrics",
                    "test_image_metrics",
                    "test_confusion",
                    "test_predictions",
                ],
                name="evaluate_model",
            )
        ],
        namespace="evaluation",
        prefix_datasets_with_namespace=False,
    )
