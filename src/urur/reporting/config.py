"""Validated reporting parameters (``conf/base/parameters_reporting.yml``)."""

from __future__ import annotations

from pydantic import Field

from urur.config import Section, section_config


class ReportingParams(Section):
    """``reporting`` in conf/base/parameters_reporting.yml."""

    model_config = section_config("reporting", "conf/base/parameters_reporting.yml")
    title: str = "URUR run report"
    error_images: int = Field(1, ge=1)  # worst and best test images shown with their error maps
    panel_images: int = Field(2, ge=1)  # test images in the Figure 3 panels (with compare_urur's models)
    panel_crop: int = Field(512, ge=16)  # side of each panel's centre crop (pixels)
    figure_dir: str = "report_figures"  # the figures' folder, relative to the Markdown report
    dvc_root: str = "."  # the DVC project whose outputs' hashes the report lists
