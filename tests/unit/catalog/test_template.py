"""Empty submission templates carry the item's national field codes as their header row."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.template import write_template

ITEM_CODES = list(default_catalog().items)


@pytest.mark.parametrize("item_code", ITEM_CODES)
def test_csv_header_is_field_codes(tmp_path: Path, item_code: str) -> None:
    item = default_catalog().item(item_code)
    path = write_template(item, tmp_path / f"{item_code}.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, so Excel detects UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [list(item.codes)]


@pytest.mark.parametrize("item_code", ITEM_CODES)
def test_xlsx_header_and_notes(tmp_path: Path, item_code: str) -> None:
    item = default_catalog().item(item_code)
    path = write_template(item, tmp_path / f"{item_code}.xlsx", fmt="xlsx")
    book = load_workbook(path)
    data = book.worksheets[0]
    header = [cell.value for cell in next(data.iter_rows(min_row=1, max_row=1))]
    assert header == list(item.codes)
    assert data.max_row == 1
    notes = book["说明"]
    rows = list(notes.iter_rows(values_only=True))
    assert rows[1][:6] == ("字段代码", "字段名称", "类型", "必填", "单位", "枚举值")
    described = {row[0]: row for row in rows[2:]}
    assert list(described) == list(item.codes)
    for spec in item.fields:
        row = described[spec.code]
        assert row[1] == spec.label
        if spec.required:
            assert row[3] == "是"
        if spec.enum:
            assert row[5] is not None and spec.enum[0] in row[5]


def test_penalty_notes_show_unit_and_enum(tmp_path: Path) -> None:
    path = write_template(default_catalog().item("penalty"), tmp_path / "p.xlsx", fmt="xlsx")
    rows = {row[0]: row for row in load_workbook(path)["说明"].iter_rows(values_only=True)}
    assert rows["CF_NR_FK"][4] == "万元"
    assert "警告" in rows["CF_CFLB"][5] and "可多选" in rows["CF_CFLB"][5]
    assert rows["CF_XDR_ZJHM"][3] == "条件必填"


def test_directory_target_and_bad_format(tmp_path: Path) -> None:
    item = default_catalog().item("licence")
    assert write_template(item, tmp_path) == tmp_path / "licence.csv"
    assert write_template(item, tmp_path, fmt="XLSX") == tmp_path / "licence.xlsx"
    with pytest.raises(ValueError, match="unsupported"):
        write_template(item, tmp_path, fmt="pdf")
