"""Exports carried from one annotation folder to another: every kind, only the images asked for."""

from __future__ import annotations

import numpy as np

from urur.dataset.annotation.export import copy_exports, export_paths, write_annotation_export


def test_copy_exports_carries_every_kind_of_the_listed_images_only(tmp_path):
    patch = {"x_r00000_c00000": np.zeros((4, 4), np.uint8)}
    for image_id, fmt in (("a", "index"), ("b", "cvat"), ("c", "label_studio"), ("d", "cvat")):
        write_annotation_export(
            tmp_path / "in", image_id, {p.replace("x", image_id): m for p, m in patch.items()}, fmt
        )
    copy_exports(tmp_path / "in", ["a", "b", "c"], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a", "b.zip", "c.json"]
    assert (tmp_path / "out" / "b.zip").read_bytes() == (tmp_path / "in" / "b.zip").read_bytes()
    assert (tmp_path / "out" / "c.json").read_text() == (tmp_path / "in" / "c.json").read_text()
    assert [p.name for p in (tmp_path / "out" / "a").iterdir()] == ["a_r00000_c00000.png"]
    assert export_paths(tmp_path, "a") == (tmp_path / "a", tmp_path / "a.zip", tmp_path / "a.json")
