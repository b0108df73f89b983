from kedro.pipeline import Pipeline

from urur.pipelines import annotation, dataset_stats, ingestion, prelabel, split, tiling


def create_pipeline(**kwargs) -> Pipeline:
    """ingestion -> tiling -> (round one, ISDNet drafts) -> annotation -> split -> dataset_stats,
    without the synthetic sources."""
    stages = (ingestion, tiling, prelabel, annotation, split, dataset_stats)
    return sum((stage.create_pipeline() for stage in stages), Pipeline([]))
