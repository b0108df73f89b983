"""Kedro glue: one package per pipeline, each with ``create_pipeline()`` and thin nodes."""
