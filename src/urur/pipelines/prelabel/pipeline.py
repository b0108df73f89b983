"""Nodes tagged ``prelabel_drafts`` run before the final annotation merge, ``prelabel_report``
after it (it needs the merged masks); ``synthetic`` marks the nodes that play the annotators."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    choose_round_one,
    compare_with_truth,
    draft,
    merge_round_one,
    report,
    simulate_corrections,
    train_prelabel_model,
)

DRAFTS, REPORT, SYNTHETIC = "prelabel_drafts", "prelabel_report", "synthetic"


def create_pipeline(**kwargs) -> Pipeline:
    """Two namespaces inside ``dataset`` as two DVC stages: the drafts come before the annotation
    merge and the effort report after it, so one namespace would be interrupted by the merge."""
    drafts = Pipeline(
        [
            Node(
                choose_round_one,
                ["image_manifest", "params:prelabel"],
                "prelabel_rounds",
                name="choose_round_one",
                tags=[DRAFTS],
            ),
            Node(
                merge_round_one,
                [
                    "annotator_exports",
                    "image_manifest",
                    "uhr_images",
                    "prelabel_rounds",
                    "params:tiling",
                    "params:runtime",
                ],
                "round_one_masks",
                name="merge_round_one",
                tags=[DRAFTS],
            ),
            Node(
                train_prelabel_model,
                ["uhr_images", "round_one_masks", "prelabel_rounds", "params:prelabel"],
                "prelabel_model",
                name="train_prelabel_model",
                tags=[DRAFTS],
            ),
            Node(
                draft,
                ["uhr_images", "prelabel_rounds", "prelabel_model", "params:tiling", "params:prelabel"],
                ["prelabel_drafts", "prelabel_ranking"],
                name="draft_prelabels",
                tags=[DRAFTS],
            ),
            Node(
                simulate_corrections,
                [
                    "synthetic_truth",
                    "image_manifest",
                    "annotator_exports",
                    "prelabel_drafts",
                    "prelabel_rounds",
                    "params:prelabel",
                ],
                ["synthetic_corrected_annotations", "prelabel_corrections"],
                name="simulate_corrections",
                tags=[DRAFTS, SYNTHETIC],
            ),
        ],
        namespace="dataset.prelabel",
        prefix_datasets_with_namespace=False,
    )
    effort = Pipeline(
        [
            Node(
                report,
                ["prelabel_drafts", "corrected_exports", "masks", "prelabel_ranking", "params:prelabel"],
                ["prelabel_effort", "prelabel_patches"],
                name="prelabel_report",
                tags=[REPORT],
            ),
            Node(
                compare_with_truth,
                ["synthetic_truth", "image_manifest", "masks", "prelabel_rounds"],
                "prelabel_truth_agreement",
                name="compare_with_truth",
                tags=[REPORT, SYNTHETIC],
            ),
        ],
        namespace="dataset.prelabel_report",
        prefix_datasets_with_namespace=False,
    )
    return drafts + effort
