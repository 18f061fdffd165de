"""Tests for the intake file readers (CSV / XLSX / JSON, encodings, streaming, resume)."""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import hashlib
import json
import tracemalloc
from pathlib import Path

import openpyxl
import pytest

from citycredit.ingest.readers import (
    EXTRA_KEY,
    FileFormat,
    FileInfo,
    ReadError,
    SourceRow,
    count_rows,
    detect_format,
    iter_from,
    open_source,
)

HEADER = "CF_XDR_MC,CF_XDR_SHXYM,CF_NR_FK,CF_JDRQ\n"
ROW = "榆林市某某煤业有限公司,91610800MA1B3N1N2M,0.2,2019-10-10\n"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write raw bytes to a file under tmp_path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _read(path: Path, fmt: FileFormat | None = None) -> tuple[FileInfo, list[SourceRow]]:
    """Open a source and drain its rows."""
    info, rows = open_source(path, fmt=fmt)
    return info, list(rows)


# --------------------------------------------------------------------------- encodings


def test_plain_utf8(tmp_path: Path) -> None:
    """A UTF-8 file without BOM is decoded strictly as UTF-8."""
    data = (HEADER + ROW).encode("utf-8")
    info, rows = _read(_write(tmp_path, "a.csv", data))
    assert info.format is FileFormat.csv
    assert info.encoding == "utf-8"
    assert info.encoding_reason == "按 UTF-8 严格解码成功"
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.headers == ("CF_XDR_MC", "CF_XDR_SHXYM", "CF_NR_FK", "CF_JDRQ")
    assert rows == [
        SourceRow(
            1,
            {
                "CF_XDR_MC": "榆林市某某煤业有限公司",
                "CF_XDR_SHXYM": "91610800MA1B3N1N2M",
                "CF_NR_FK": "0.2",
                "CF_JDRQ": "2019-10-10",
            },
        )
    ]


def test_utf8_bom(tmp_path: Path) -> None:
    """A UTF-8 BOM selects utf-8-sig and never leaks into the first header."""
    info, rows = _read(_write(tmp_path, "a.csv", (HEADER + ROW).encode("utf-8-sig")))
    assert info.encoding == "utf-8-sig"
    assert info.encoding_reason == "检测到 UTF-8 BOM"
    assert info.headers[0] == "CF_XDR_MC"
    assert rows[0].values["CF_XDR_MC"] == "榆林市某某煤业有限公司"


def test_gbk(tmp_path: Path) -> None:
    """A GBK file fails UTF-8 and is read as GB18030, with the reason recorded."""
    text = "行政相对人名称,处罚机关\n榆林市横山区某商贸有限公司,榆林市市场监督管理局\n"
    info, rows = _read(_write(tmp_path, "gbk.csv", text.encode("gbk")))
    assert info.encoding == "gb18030"
    assert info.encoding_reason.startswith("UTF-8 解码失败（字节偏移 0）")
    assert info.encoding_reason.endswith("按 GB18030 严格解码成功")
    assert rows[0].values == {
        "行政相对人名称": "榆林市横山区某商贸有限公司",
        "处罚机关": "榆林市市场监督管理局",
    }


def test_gb18030_only_characters(tmp_path: Path) -> None:
    """Characters outside GBK (four-byte GB18030) decode correctly."""
    text = "姓名,备注\n张㐀,𠀀字\n"
    with pytest.raises(UnicodeEncodeError):
        "𠀀".encode("gbk")
    info, rows = _read(_write(tmp_path, "gb.csv", text.encode("gb18030")))
    assert info.encoding == "gb18030"
    assert rows[0].values == {"姓名": "张㐀", "备注": "𠀀字"}


def test_ascii_is_utf8(tmp_path: Path) -> None:
    """Pure ASCII is valid in both encodings and is recorded as UTF-8, saying why."""
    info, _ = _read(_write(tmp_path, "a.csv", b"a,b\n1,2\n"))
    assert info.encoding == "utf-8"
    assert "ASCII" in info.encoding_reason


def test_invalid_in_all_encodings_names_offset(tmp_path: Path) -> None:
    """A byte invalid in UTF-8 and GB18030 raises, naming the offset."""
    data = b"a,b\n1,\x80x\n"
    path = _write(tmp_path, "bad.csv", data)
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.field == "encoding"
    assert err.value.value == {"utf-8": 6, "gb18030": 6}
    assert "字节偏移 6" in str(err.value)
    assert "80" in str(err.value)


def test_offset_across_chunk_boundary(tmp_path: Path) -> None:
    """The reported offset is absolute even when the bad byte sits past the first chunk."""
    body = b"a,b\n" + b"x,y\n" * 100_000  # 400 KB > one 256 KiB chunk
    path = _write(tmp_path, "bad.csv", body + b"\xff\n")
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.value == {"utf-8": len(body), "gb18030": len(body)}


def test_truncated_multibyte_at_eof(tmp_path: Path) -> None:
    """A file ending inside a multi-byte sequence is invalid (final decoder flush)."""
    path = _write(tmp_path, "bad.csv", "a,b\n榆,".encode() + b"\xe6")
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.field == "encoding"


def test_bom_then_invalid_bytes(tmp_path: Path) -> None:
    """A UTF-8 BOM file with invalid bytes is not silently re-decoded as GB18030."""
    path = _write(tmp_path, "bad.csv", codecs.BOM_UTF8 + b"a,b\n" + "榆林".encode("gbk"))
    with pytest.raises(ReadError, match="UTF-8 BOM"):
        open_source(path)


def test_utf16_rejected(tmp_path: Path) -> None:
    """UTF-16 (Excel 'Unicode text') is rejected with a clear message."""
    path = _write(tmp_path, "u.txt", "a\tb\n1\t2\n".encode("utf-16"))
    with pytest.raises(ReadError, match="UTF-16") as err:
        open_source(path)
    assert err.value.field == "encoding"


# --------------------------------------------------------------------------- CSV shape


def test_quoted_multiline_cells(tmp_path: Path) -> None:
    """Quoted cells may contain newlines and delimiters; one record is one row."""
    text = 'name,fact,basis\n甲,"第一行\r\n第二行","依据《条例》,第十条"\n乙,x,y\n'
    _, rows = _read(_write(tmp_path, "m.csv", text.encode()))
    assert rows[0].values == {
        "name": "甲",
        "fact": "第一行\r\n第二行",
        "basis": "依据《条例》,第十条",
    }
    assert [r.number for r in rows] == [1, 2]


def test_extra_and_missing_cells(tmp_path: Path) -> None:
    """Extra cells are kept under __extra__; missing cells are None."""
    text = "a,b,c\n1,2,3,,4,,5\n1\n1,2,3,,\n"
    _, rows = _read(_write(tmp_path, "x.csv", text.encode()))
    assert rows[0].values == {"a": "1", "b": "2", "c": "3", EXTRA_KEY: "4,,5"}
    assert rows[1].values == {"a": "1", "b": None, "c": None}
    assert rows[2].values == {"a": "1", "b": "2", "c": "3"}


def test_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    """Empty lines (and delimiter-only lines) are skipped yet consume a row number."""
    text = "\n\na,b\n1,2\n\n,,\n 3 , \u3000\n"
    _, rows = _read(_write(tmp_path, "b.csv", text.encode()))
    assert [(r.number, r.values) for r in rows] == [
        (1, {"a": "1", "b": "2"}),
        (4, {"a": "3", "b": None}),
    ]


def test_header_cleaning_and_trailing_empty_header(tmp_path: Path) -> None:
    """Headers lose whitespace, full-width spaces and BOMs; a trailing empty header is dropped."""
    text = "\ufeff 名称\u3000,\t代码 ,\n甲,1,\n"
    info, rows = _read(_write(tmp_path, "h.csv", text.encode()))
    assert info.headers == ("名称", "代码")
    assert rows[0].values == {"名称": "甲", "代码": "1"}


def test_duplicate_header_raises(tmp_path: Path) -> None:
    """Duplicate header names raise, naming the column."""
    path = _write(tmp_path, "d.csv", "名称,代码,名称 \n1,2,3\n".encode())
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.field == "header"
    assert err.value.value == "名称"
    assert "第 3 列" in str(err.value)
    assert "第 1 列" in str(err.value)


def test_empty_header_in_middle_raises(tmp_path: Path) -> None:
    """An empty header name that is not trailing raises, naming the column."""
    path = _write(tmp_path, "e.csv", b"a,,c\n1,2,3\n")
    with pytest.raises(ReadError, match="第 2 列") as err:
        open_source(path)
    assert err.value.field == "header"


def test_header_only_and_empty_file(tmp_path: Path) -> None:
    """A header-only file has no rows; an empty file raises."""
    info, rows = _read(_write(tmp_path, "h.csv", b"a,b\n"))
    assert info.headers == ("a", "b")
    assert rows == []
    with pytest.raises(ReadError, match="为空"):
        open_source(_write(tmp_path, "z.csv", b"  \n"))


def test_tsv_and_txt(tmp_path: Path) -> None:
    """Tab-separated .tsv/.txt files are recognised by sniffing the header line."""
    text = "名称\t代码\t备注\n甲\t1\t有,逗号\n"
    for name in ("t.tsv", "t.txt"):
        info, rows = _read(_write(tmp_path, name, text.encode("gbk")))
        assert info.headers == ("名称", "代码", "备注")
        assert rows[0].values == {"名称": "甲", "代码": "1", "备注": "有,逗号"}


def test_single_column_csv(tmp_path: Path) -> None:
    """A single-column file (nothing to sniff) defaults to comma."""
    _, rows = _read(_write(tmp_path, "s.csv", b"name\nx\n"))
    assert rows[0].values == {"name": "x"}


def test_bad_quoting_raises_with_row(tmp_path: Path) -> None:
    """Malformed quoting raises ReadError naming the record instead of silently merging."""
    path = _write(tmp_path, "q.csv", b'a,b\n1,2\n3,"x"y\n')
    _, rows = open_source(path)
    assert next(rows).number == 1
    with pytest.raises(ReadError) as err:
        next(rows)
    assert err.value.row == 2
    assert "第 2 条" in str(err.value)


def test_unclosed_quote_raises(tmp_path: Path) -> None:
    """An unclosed quote at end of file raises rather than swallowing the rest."""
    path = _write(tmp_path, "q.csv", b'a,b\n1,"x\n2,3\n')
    with pytest.raises(ReadError):
        _read(path)


# --------------------------------------------------------------------------- format detection


def test_detect_format() -> None:
    """Content sniffing wins over the extension; the extension is the fallback."""
    assert detect_format("x.csv", b"PK\x03\x04rest") is FileFormat.xlsx
    assert detect_format("x.csv", b'\xef\xbb\xbf  [{"a":1}]') is FileFormat.json
    assert detect_format("x.txt", b'{"data": []}') is FileFormat.json
    assert detect_format("x.jsonl", b"") is FileFormat.json
    assert detect_format("x.XLSX", b"") is FileFormat.xlsx
    assert detect_format("x.tsv", b"a\tb") is FileFormat.csv
    with pytest.raises(ReadError) as err:
        detect_format("x.pdf", b"%PDF-1.7")
    assert err.value.field == "file"
    with pytest.raises(ReadError, match=r"\.xls"):
        detect_format("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


def test_renamed_xlsx_is_read_as_xlsx(tmp_path: Path) -> None:
    """An XLSX saved with a .csv name is still read as XLSX."""
    path = tmp_path / "really.csv"
    wb = openpyxl.Workbook()
    wb.active.append(["a"])  # type: ignore[union-attr]
    wb.active.append([1])  # type: ignore[union-attr]
    wb.save(path)
    info, rows = _read(path)
    assert info.format is FileFormat.xlsx
    assert rows[0].values == {"a": "1"}


# --------------------------------------------------------------------------- XLSX


def _xlsx(tmp_path: Path) -> Path:
    """Write a workbook with a leading blank row/column, dates, floats and a gap row."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws["B2"], ws["C2"], ws["D2"], ws["E2"], ws["F2"] = "名称 ", "罚款", "决定日期", "时间", "码"
    ws["G2"].font = openpyxl.styles.Font(bold=True)  # formatted but empty header cell
    ws["B3"], ws["C3"], ws["D3"] = "甲", 0.2, dt.date(2019, 10, 10)
    ws["E3"] = dt.datetime(2019, 5, 22, 0, 0, 0)  # noqa: DTZ001 - naive, as Excel stores
    ws["E3"].number_format = "yyyy-mm-dd hh:mm:ss"
    ws["F3"] = 91610800
    ws["B5"], ws["C5"], ws["H5"] = "乙", 2000.0, "多余"
    ws["C6"] = 0.1 + 0.2
    ws["D6"] = dt.datetime(2020, 1, 2, 8, 30)  # noqa: DTZ001
    ws["D6"].number_format = 'yyyy"年"m"月"d"日"'
    ws["B7"] = True
    wb.create_sheet("second")["A1"] = "ignored"
    path = tmp_path / "a.xlsx"
    wb.save(path)
    return path


def test_xlsx(tmp_path: Path) -> None:
    """First sheet, first non-empty row as header, ISO dates, floats without noise."""
    path = _xlsx(tmp_path)
    info, rows = _read(path)
    assert info.format is FileFormat.xlsx
    assert info.encoding is None
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.headers == ("名称", "罚款", "决定日期", "时间", "码")
    assert [r.number for r in rows] == [1, 3, 4, 5]
    assert rows[0].values == {
        "名称": "甲",
        "罚款": "0.2",
        "决定日期": "2019-10-10",
        "时间": "2019-05-22 00:00:00",
        "码": "91610800",
    }
    assert rows[1].values == {
        "名称": "乙",
        "罚款": "2000",
        "决定日期": None,
        "时间": None,
        "码": None,
        EXTRA_KEY: "多余",
    }
    assert rows[2].values["罚款"] == "0.3"
    assert rows[2].values["决定日期"] == "2020-01-02 08:30:00"
    assert rows[3].values["名称"] == "true"


def test_xlsx_resume_and_count(tmp_path: Path) -> None:
    """XLSX rows can be resumed by number; count_rows gives a cheap estimate."""
    path = _xlsx(tmp_path)
    info, rows = open_source(path)
    assert [r.number for r in iter_from(rows, 3)] == [4, 5]
    estimate = count_rows(path, info)
    assert estimate is not None
    assert estimate >= 4


def test_xlsx_duplicate_header_names_column_letter(tmp_path: Path) -> None:
    """A duplicate XLSX header names the spreadsheet column letter."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["a", "b", "a"])
    path = tmp_path / "d.xlsx"
    wb.save(path)
    with pytest.raises(ReadError, match=" C 列") as err:
        open_source(path)
    assert err.value.field == "header"


def test_corrupt_xlsx(tmp_path: Path) -> None:
    """A zip that is not a workbook raises ReadError."""
    path = _write(tmp_path, "c.xlsx", b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.field == "file"


# --------------------------------------------------------------------------- JSON


RECORD = {
    "COMP_NAME": "榆林智慧城市运营有限公司",
    "CF_NR_FK": 0.2,
    "CF_JDRQ": "2019-10-10",
    "CF_XDR_ZJHM": None,
    "AMOUNT": 2000.0,
    "CREATE_DATE": 1568180781000,
    "FLAG": True,
    "TAGS": ["a", "乙"],
    "NOTE": "  ",
}
EXPECTED = {
    "COMP_NAME": "榆林智慧城市运营有限公司",
    "CF_NR_FK": "0.2",
    "CF_JDRQ": "2019-10-10",
    "CF_XDR_ZJHM": None,
    "AMOUNT": "2000",
    "CREATE_DATE": "1568180781000",
    "FLAG": "true",
    "TAGS": '["a", "乙"]',
    "NOTE": None,
}


def test_json_array(tmp_path: Path) -> None:
    """A top-level array; headers are the union of keys; missing keys are None."""
    data = [RECORD, {"COMP_NAME": "乙", "EXTRA": 1e-7}]
    path = _write(tmp_path, "a.json", json.dumps(data, ensure_ascii=False).encode())
    info, rows = _read(path)
    assert info.format is FileFormat.json
    assert info.encoding == "utf-8"
    assert info.headers == (*RECORD.keys(), "EXTRA")
    assert rows[0] == SourceRow(1, {**EXPECTED, "EXTRA": None})
    assert rows[1].number == 2
    assert rows[1].values["EXTRA"] == "0.0000001"
    assert rows[1].values["CF_NR_FK"] is None


@pytest.mark.parametrize(
    "doc",
    [
        {"code": 0, "data": [RECORD]},
        {"rows": [RECORD], "total": 1},
        {"records": [RECORD]},
        {"status": 1, "data": {"total": 1, "list": [RECORD]}},
    ],
)
def test_json_wrapped(tmp_path: Path, doc: dict[str, object]) -> None:
    """Arrays wrapped by real APIs under data/rows/records/list are found."""
    path = _write(tmp_path, "w.json", json.dumps(doc, ensure_ascii=False).encode("gb18030"))
    info, rows = _read(path)
    assert info.encoding == "gb18030"
    assert rows == [SourceRow(1, EXPECTED)]


def test_json_without_array_raises(tmp_path: Path) -> None:
    """An object with no recognised array key raises."""
    path = _write(tmp_path, "w.json", b'{"code": 500, "msg": "error"}')
    with pytest.raises(ReadError, match="data/rows/records/list"):
        open_source(path)


def test_json_non_object_record_raises(tmp_path: Path) -> None:
    """A record that is not an object raises, naming its number."""
    path = _write(tmp_path, "w.json", b'[{"a": 1}, 2]')
    with pytest.raises(ReadError, match="第 2 条") as err:
        open_source(path)
    assert err.value.row == 2


def test_json_syntax_error(tmp_path: Path) -> None:
    """Broken JSON raises with the position."""
    path = _write(tmp_path, "w.json", b'[{"a": 1},\n {"a": }]')
    with pytest.raises(ReadError, match="第 2 行"):
        open_source(path)


def test_json_duplicate_key_raises(tmp_path: Path) -> None:
    """Duplicate keys in one object raise instead of silently keeping the last."""
    path = _write(tmp_path, "w.json", b'[{"a": 1, "a": 2}]')
    with pytest.raises(ReadError) as err:
        open_source(path)
    assert err.value.field == "header"


def test_jsonl(tmp_path: Path) -> None:
    """JSON Lines stream; numbers are line numbers, blank lines skipped but counted."""
    lines = [json.dumps(RECORD, ensure_ascii=False), "", json.dumps({"COMP_NAME": "乙"})]
    path = _write(tmp_path, "a.jsonl", ("\n".join(lines) + "\n").encode())
    info, rows = _read(path)
    assert info.headers == tuple(RECORD)
    assert rows[0] == SourceRow(1, EXPECTED)
    assert rows[1].number == 3
    assert rows[1].values["CREATE_DATE"] is None
    assert count_rows(path, info) == 2


def test_jsonl_without_extension(tmp_path: Path) -> None:
    """Several top-level objects in a .json file are read as JSON Lines."""
    path = _write(tmp_path, "a.json", b'{"a": 1}\n{"a": 2.50}\n')
    _, rows = _read(path)
    assert [r.values["a"] for r in rows] == ["1", "2.5"]


def test_jsonl_bad_line(tmp_path: Path) -> None:
    """A broken JSON Lines line raises naming the line."""
    path = _write(tmp_path, "a.ndjson", b'{"a": 1}\n{"a": \n')
    with pytest.raises(ReadError, match="第 2 行"):
        open_source(path)


# --------------------------------------------------------------------------- resume / count


def test_iter_from_resumes(tmp_path: Path) -> None:
    """iter_from skips rows up to and including start_after, keeping numbering."""
    text = "a\n" + "".join(f"{i}\n" for i in range(1, 11))
    path = _write(tmp_path, "r.csv", text.encode())
    _, rows = open_source(path)
    resumed = list(iter_from(rows, 7))
    assert [(r.number, r.values["a"]) for r in resumed] == [(8, "8"), (9, "9"), (10, "10")]
    _, rows = open_source(path)
    assert len(list(iter_from(rows, 0))) == 10
    _, rows = open_source(path)
    assert list(iter_from(rows, 99)) == []


def test_count_rows_csv(tmp_path: Path) -> None:
    """count_rows on CSV counts physical lines minus the header, with or without final newline."""
    path = _write(tmp_path, "c.csv", b"a,b\n1,2\n3,4")
    info, _ = _read(path)
    assert count_rows(path, info) == 2
    path = _write(tmp_path, "d.csv", b"a,b\r\n1,2\r\n3,4\r\n")
    info, _ = _read(path)
    assert count_rows(path, info) == 2
    path = _write(tmp_path, "e.json", b'[{"a": 1}]')
    info, _ = _read(path)
    assert count_rows(path, info) is None


def test_iterator_can_be_closed_early(tmp_path: Path) -> None:
    """Closing the iterator before the end releases the file."""
    path = _write(tmp_path, "r.csv", b"a\n1\n2\n")
    _, rows = open_source(path)
    with contextlib.closing(rows):  # type: ignore[type-var]
        assert next(rows).number == 1


# --------------------------------------------------------------------------- streaming


def test_large_csv_streams_with_flat_memory(tmp_path: Path) -> None:
    """Reading a 200k-row GB18030 CSV keeps the Python heap peak small and is fast."""
    n = 200_000
    path = tmp_path / "big.csv"
    row = "榆林市某某煤业有限公司{i},91610800MA{i:08d},0.2,2019-10-10,违反相关产品准入市场规定\n"
    with path.open("w", encoding="gb18030", newline="") as f:
        f.write("名称,代码,金额,日期,违法事实\n")
        for start in range(0, n, 10_000):
            f.write("".join(row.format(i=i) for i in range(start, start + 10_000)))
    assert path.stat().st_size > 15_000_000

    tracemalloc.start()
    try:
        info, rows = open_source(path)
        count = last = 0
        for r in rows:
            count += 1
            last = r.number
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.encoding == "gb18030"
    assert count == last == n
    assert count_rows(path, info) == n
    # Memory, not speed (speed is for benchmarks/, never a timed test): measured ≈1 MB.
    assert peak < 5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_nul_padding_is_removed_from_cells(tmp_path: Path) -> None:
    """Legacy fixed-width exports pad cells with NUL; the csv module keeps it, PostgreSQL
    refuses it in text. Both readers (and so both intake paths) drop it."""
    csv_path = _write(tmp_path, "p.csv", "CF_WSH,CF_SY\n罚1号\0\0,经查\0\n".encode())
    _, rows = _read(csv_path)
    assert rows[0].values == {"CF_WSH": "罚1号", "CF_SY": "经查"}
    doc = json.dumps([{"CF_WSH": "罚1号\u0000", "CF_SY": "经查"}])
    _, rows = _read(_write(tmp_path, "p.json", doc.encode()))
    assert rows[0].values == {"CF_WSH": "罚1号", "CF_SY": "经查"}
