"""The dataset chain: ingestion, tiling, annotation merge, split, statistics, release adapters."""
