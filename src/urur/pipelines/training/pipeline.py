from kedro.pipeline import Node, Pipeline

from urur.experiments.train import train_on_split


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                train_on_split,
                inputs=[
                    "uhr_images",
                    "masks",
                    "dataset_split",
                    "params:training",
                    "params:evaluation",
                    "params:training_run",
                ],
                outputs="training_summary",
                name="train_model",
            )
        ],
        namespace="training",
        prefix_datasets_with_namespace=False,
    )
