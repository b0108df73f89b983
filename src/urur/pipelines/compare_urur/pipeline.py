from kedro.pipeline import Node, Pipeline

from urur.experiments.plan import plan_tables
from urur.experiments.tables import TABLES

from .nodes import compare_table


def _table_node(table: str) -> Node:
    return Node(
        compare_table,
        inputs=[
            f"{table}_plan",
            "uhr_images",
            "masks",
            "dataset_split",
            "image_manifest",
            "params:training",
            "params:evaluation",
            "params:compare",
        ],
        outputs=[
            f"compare_{table}",
            f"compare_{table}_metrics",
            f"compare_{table}_runs",
            f"compare_{table}_predictions",
        ],
        name=f"compare_{table}",
    )


def create_pipeline(**kwargs) -> Pipeline:
    """A plan node checks every table's runs before any training; one node (and DVC stage) per table."""
    return Pipeline(
        [
            Node(
                plan_tables,
                inputs=["params:compare", "params:training"],
                outputs=[f"{table}_plan" for table in TABLES],
                name="plan_comparison",
            )
        ]
        + [_table_node(table) for table in TABLES],
        namespace="compare",
        prefix_datasets_with_namespace=False,
    )
