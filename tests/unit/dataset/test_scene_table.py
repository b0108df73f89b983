"""The scene table: its columns, ids, optional cells and files checked, every problem named."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from tests.support.scenes import scene_row, write_table
from urur.dataset.scene_table import (
    IngestionError,
    load_scene_table,
    parse_rgb_bands,
    scene_nodata,
    validate_scene_table,
)


def test_duplicate_scene_ids_are_named(raw_dir):
    write_table(
        raw_dir / "dup.csv", [scene_row("a", "a.tif"), scene_row("b", "b.tif"), scene_row("a", "b.tif")]
    )
    with pytest.raises(IngestionError, match=r"dup\.csv lists scene ids more than once: a;"):
        load_scene_table(raw_dir / "dup.csv")


def test_missing_files_are_named(raw_dir):
    write_table(raw_dir / "missing.csv", [scene_row("a", "a.tif"), scene_row("z", "gone/z.tif")])
    with pytest.raises(IngestionError, match=r"missing\.csv lists files missing from .*raw: gone/z\.tif"):
        load_scene_table(raw_dir / "missing.csv")


def test_empty_table_and_empty_csv_and_missing_columns(raw_dir):
    write_table(raw_dir / "header_only.csv", [])
    with pytest.raises(IngestionError, match=r"header_only\.csv lists no scenes"):
        load_scene_table(raw_dir / "header_only.csv")
    (raw_dir / "blank.csv").write_text("")
    with pytest.raises(IngestionError, match=r"blank\.csv is empty"):
        load_scene_table(raw_dir / "blank.csv")
    (raw_dir / "short.csv").write_text("scene_id,file\na,a.tif\n")
    with pytest.raises(
        IngestionError, match=r"short\.csv lacks columns \['city', 'source', 'capture_date'\]"
    ):
        load_scene_table(raw_dir / "short.csv")


def test_unsafe_scene_ids_are_rejected(raw_dir):
    write_table(raw_dir / "ids.csv", [scene_row("../a", "a.tif")])
    with pytest.raises(IngestionError, match=r"ids\.csv has empty or unsafe scene ids '\.\./a'"):
        load_scene_table(raw_dir / "ids.csv")


def test_header_with_spaces_after_commas_is_accepted(raw_dir):
    text = (raw_dir / "scenes.csv").read_text().replace(",", ", ")
    (raw_dir / "scenes.csv").write_text(text)
    table = load_scene_table(raw_dir / "scenes.csv")
    assert list(table.columns) == ["scene_id", "city", "source", "capture_date", "file"]
    assert table["file"].tolist() == ["a.tif", "b.tif", "pngs/c.png"]


def test_one_file_under_two_scene_ids_is_refused_naming_both(raw_dir, tmp_path):
    write_table(raw_dir / "scenes.csv", [scene_row("a", "a.tif"), scene_row("a2", "./a.tif")])
    with pytest.raises(IngestionError, match=r"same file under several scene ids: a\.tif as 'a' and 'a2'"):
        load_scene_table(raw_dir / "scenes.csv")


def test_long_problem_lists_are_cut_at_ten(raw_dir):
    rows = [scene_row("a", "a.tif")] + [scene_row(f"z{k:02d}", f"gone/z{k:02d}.tif") for k in range(12)]
    write_table(raw_dir / "missing.csv", rows)
    names = ", ".join(f"gone/z{k:02d}.tif" for k in range(10))
    kept = r" \(the folder holds a\.tif, b\.tif, pngs/c\.png\); add them, or fix or remove their rows$"
    with pytest.raises(IngestionError, match=rf"raw: {names} and 2 more{kept}"):
        load_scene_table(raw_dir / "missing.csv")
    write_table(raw_dir / "ten.csv", rows[:11])
    with pytest.raises(IngestionError, match=rf"raw: {names}{kept}"):
        load_scene_table(raw_dir / "ten.csv")


def test_remaining_scene_table_errors_say_what_is_wrong(raw_dir, tmp_path):
    table = pd.read_csv(raw_dir / "scenes.csv", dtype=str)
    with pytest.raises(
        IngestionError, match=rf"raw folder {tmp_path / 'nowhere'} does not exist; put the raw"
    ):
        validate_scene_table(table, tmp_path / "nowhere")
    bitmap = pd.concat([table, pd.DataFrame([scene_row("d", "d.bmp")])], ignore_index=True)
    with pytest.raises(
        IngestionError, match=r"the scene table lists files of unsupported types: d\.bmp; convert"
    ):
        validate_scene_table(bitmap, raw_dir)
    with pytest.raises(
        FileNotFoundError, match=rf"scene table {raw_dir / 'other.csv'} does not exist; create"
    ):
        load_scene_table(raw_dir / "other.csv")


def test_scene_table_errors_end_with_how_to_fix_them(raw_dir):
    write_table(raw_dir / "ids.csv", [scene_row("a b", "a.tif")])
    with pytest.raises(IngestionError) as error:
        load_scene_table(raw_dir / "ids.csv")
    assert str(error.value).endswith(
        "scene ids 'a b'; use letters, digits, '.', '_' and '-' (they become file names)"
    )
    write_table(raw_dir / "twice.csv", [scene_row("a", "a.tif"), scene_row("a2", "a.tif")])
    with pytest.raises(IngestionError) as error:
        load_scene_table(raw_dir / "twice.csv")
    assert str(error.value).endswith("its pixels would land in two splits. Keep one row per file.")
    write_table(raw_dir / "bmp.csv", [scene_row("d", "d.bmp")])
    with pytest.raises(IngestionError) as error:
        load_scene_table(raw_dir / "bmp.csv")
    assert str(error.value).endswith("d.bmp; convert them to one of .jpeg, .jpg, .png, .tif, .tiff")
    (raw_dir / "blank.csv").write_text("")
    with pytest.raises(IngestionError) as error:
        load_scene_table(raw_dir / "blank.csv")
    assert str(error.value) == (
        f"scene table {raw_dir / 'blank.csv'} is empty; write the header "
        "scene_id,city,source,capture_date,file and one row per scene"
    )


def test_scene_files_the_table_skips_are_logged_by_name(raw_dir, caplog):
    write_table(raw_dir / "only_a.csv", [scene_row("a", "a.tif")])
    with caplog.at_level(logging.WARNING, logger="urur.dataset.scene_table"):
        load_scene_table(raw_dir / "only_a.csv")
        load_scene_table(raw_dir / "scenes.csv")  # lists every scene file: nothing to log
    assert [record.getMessage() for record in caplog.records] == [
        f"2 scene files in {raw_dir} are not in scene table {raw_dir / 'only_a.csv'} and are skipped: "
        "b.tif, c.png"
    ]


def test_cells_are_read_as_written(raw_dir):
    # Leading zeros kept, and "NA" or "None" are names, not missing values.
    write_table(raw_dir / "text.csv", [scene_row("007", "a.tif") | {"city": "NA", "source": "None"}])
    table = load_scene_table(raw_dir / "text.csv")
    assert table.loc[0, ["scene_id", "city", "source"]].tolist() == ["007", "NA", "None"]


def test_missing_optional_cells_of_a_table_in_memory_are_empty(raw_dir):
    table = pd.DataFrame([scene_row("a", "a.tif"), scene_row("b", "b.tif")])
    table["rgb_bands"] = [float("nan"), "3 2 1"]
    assert validate_scene_table(table, raw_dir)["rgb_bands"].tolist() == ["", "3 2 1"]


def test_the_raw_folder_may_lie_elsewhere_than_the_table(raw_dir, tmp_path):
    (tmp_path / "tables").mkdir()
    write_table(tmp_path / "tables" / "scenes.csv", [scene_row("a", "a.tif")])
    assert load_scene_table(tmp_path / "tables" / "scenes.csv", raw_dir)["file"].tolist() == ["a.tif"]


def test_band_zero_and_missing_nodata():
    with pytest.raises(ValueError, match=r"rgb_bands '0 1 2' is not three band numbers \(1-based\)"):
        parse_rgb_bands("0 1 2")
    assert scene_nodata({"nodata": ""}, zero_is_fill=False) is None
    assert scene_nodata({"nodata": ""}, zero_is_fill=True) == 0.0
