"""Empty submission templates (CSV/XLSX) whose header row is the item's national field codes."""

from __future__ import annotations

import csv
from pathlib import Path

from citycredit.catalog.model import CatalogItem, FieldSpec, FieldType

__all__ = ["TYPE_LABELS", "write_template"]

TYPE_LABELS: dict[FieldType, str] = {
    FieldType.text: "文本",
    FieldType.integer: "整数",
    FieldType.decimal: "数值",
    FieldType.date: "日期（YYYY-MM-DD）",
    FieldType.datetime: "日期时间（YYYY-MM-DD HH:MM:SS）",
    FieldType.enum: "枚举",
    FieldType.uscc: "统一社会信用代码（18位）",
    FieldType.id_number: "公民身份号码（18位）",
    FieldType.registration_no: "工商注册号（15位）",
    FieldType.org_code: "组织机构代码（9位）",
    FieldType.year_month: "年月（YYYY-MM）",
    FieldType.tags: "标签（分号分隔）",
}
_NOTES_HEADER = ("字段代码", "字段名称", "类型", "必填", "单位", "枚举值", "说明")


def _required_text(spec: FieldSpec) -> str:
    if spec.required:
        return "是"
    return "条件必填" if spec.required_if is not None else "否"


def _notes_row(spec: FieldSpec) -> tuple[str, ...]:
    enum = "、".join(spec.enum) + ("（可多选，分号分隔）" if spec.multiple else "")
    notes = "；".join(
        n for n in (spec.description, "个人信息，不公开" if spec.personal else None) if n
    )
    return (
        spec.code,
        spec.label,
        TYPE_LABELS[spec.type],
        _required_text(spec),
        spec.unit or "",
        enum if spec.enum else "",
        notes,
    )


def write_template(item: CatalogItem, path: Path, fmt: str = "csv") -> Path:
    """Write an empty template (header row = field codes); a directory gets <item>.<fmt>."""
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unsupported template format {fmt!r} (csv or xlsx)")
    target = Path(path)
    if target.is_dir():
        target = target / f"{item.code}.{fmt}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        # UTF-8 with BOM so that Excel on Windows opens the Chinese text correctly.
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerow(item.codes)
        return target
    _write_xlsx(item, target)
    return target


def _write_xlsx(item: CatalogItem, target: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = item.code[:31]
    sheet.append(list(item.codes))
    for column, spec in enumerate(item.fields, start=1):
        cell = sheet.cell(row=1, column=column)
        cell.font = Font(bold=spec.required)
        cell.comment = Comment(f"{spec.label}（{TYPE_LABELS[spec.type]}）", "citycredit")
        sheet.column_dimensions[get_column_letter(column)].width = max(14, len(spec.code) + 4)
    sheet.freeze_panes = "A2"
    notes = book.create_sheet("说明")
    notes.append([f"{item.name}（{item.code}）报送模板，目录版本 {item.version}"])
    notes.append(list(_NOTES_HEADER))
    for spec in item.fields:
        notes.append(list(_notes_row(spec)))
    for letter, width in zip("ABCDEFG", (22, 30, 24, 10, 8, 60, 50), strict=True):
        notes.column_dimensions[letter].width = width
    book.save(target)
