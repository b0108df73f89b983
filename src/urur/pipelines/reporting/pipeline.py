from kedro.pipeline import Node, Pipeline, pipeline

from urur.reporting.build import draw_figures, write_report


def create_pipeline(**kwargs) -> Pipeline:
    """Inputs named ``<dataset>_if_present`` load as None where the dataset does not exist yet."""
    return Pipeline(
        [
            Node(
                draw_figures,
                inputs=[
                    "test_class_metrics_if_present",
                    "test_confusion_if_present",
                    "test_image_metrics_if_present",
                    "test_predictions_if_present",
                    "compare_table4_predictions_if_present",
                    "uhr_images_if_present",
                    "masks_if_present",
                    "dataset_split_if_present",
                    "training_summary_if_present",
                    "compare_table4_if_present",
                    "compare_table5_if_present",
                    "compare_table6_if_present",
                    "params:training",
                    "params:training_run",
                    "params:reporting",
                ],
                outputs="report_figures",
                name="draw_report_figures",
            ),
            Node(
                write_report,
                inputs=[
                    "report_figures",
                    "dataset_stats_if_present",
                    "dataset_class_stats_if_present",
                    "annotation_qa_if_present",
                    "prelabel_effort_if_present",
                    "prelabel_ranking_if_present",
                    "prelabel_truth_agreement_if_present",
                    "training_summary_if_present",
                    "test_metrics_if_present",
                    "test_evaluation_if_present",
                    "test_class_metrics_if_present",
                    "test_image_metrics_if_present",
                    "test_confusion_if_present",
                    "dataset_split_if_present",
                    "compare_table4_if_present",
                    "compare_table5_if_present",
                    "compare_table6_if_present",
                    "params:training",
                    "params:evaluation",
                    "params:reporting",
                ],
                outputs=["report_html", "report_markdown"],
                name="write_report",
            ),
        ],
        namespace="reporting",
        prefix_datasets_with_namespace=False,
    )


OPTIONAL_SUFFIX = "_if_present"


def after(report: Pipeline, chain: Pipeline) -> Pipeline:
    """``report`` run after ``chain``: an input ``<name>_if_present`` that ``chain`` writes reads ``<name>``.

    Kedro orders nodes by the datasets they share, so the report in a whole run waits for the
    stages it reports on (and reads their outputs strictly); what the chain does not write stays
    optional.
    """
    produced = chain.all_outputs()
    mapping = {
        name: name.removesuffix(OPTIONAL_SUFFIX)
        for name in report.inputs()
        if name.endswith(OPTIONAL_SUFFIX) and name.removesuffix(OPTIONAL_SUFFIX) in produced
    }
    return pipeline(report, inputs=mapping) if mapping else report
