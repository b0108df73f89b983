from kedro.pipeline import Node, Pipeline

from urur.experiments.plan import comparison_split, plan_tables
from urur.experiments.tables import TABLES

from .nodes import compare_table


def _table_node(table: str) -> Node:
    return Node(
        compare_table,
        inputs=[
            f"{table}_plan",
            "uhr_images",
            "masks",
            "compare_split",
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
    """A plan node checks every table's runs and the split they share before any training; one node
    per table."""
    return Pipeline(
        [
            Node(
                plan_tables,
                inputs=["params:compare", "params:training"],
                outputs=[f"{table}_plan" for table in TABLES],
                name="plan_comparison",
            ),
            Node(
                comparison_split,
                ["dataset_split", "params:compare"],
                "compare_split",
                name="comparison_split",
            ),
        ]
        + [_table_node(table) for table in TABLES],
        namespace="compare",
        prefix_datasets_with_namespace=False,
    )
