"""Dirt: date styles, real-world oddities, defects of bad rows and content of corrections."""

from __future__ import annotations

import random
from datetime import date, timedelta

from citycredit.synth import names as nm
from citycredit.synth.codes import fmt_amount, phone, wrong_id, wrong_uscc
from citycredit.synth.records import Value
from citycredit.synth.schema import ROLES

Row = dict[str, str]

DATE_STYLES: tuple[tuple[str, int], ...] = (
    ("iso", 50),
    ("slash", 20),
    ("compact", 15),
    ("datetime", 15),
)
_IMPOSSIBLE = (
    (2023, 2, 30),
    (2022, 2, 29),
    (2021, 4, 31),
    (2024, 13, 1),
    (2019, 11, 31),
    (2025, 6, 31),
)


def fmt_date(y: int, m: int, d: int, style: str) -> str:
    """A date (possibly impossible) in one of the file date styles."""
    if style == "slash":
        return f"{y:04d}/{m:02d}/{d:02d}"
    if style == "compact":
        return f"{y:04d}{m:02d}{d:02d}"
    if style == "datetime":
        return f"{y:04d}-{m:02d}-{d:02d} 00:00:00"
    return f"{y:04d}-{m:02d}-{d:02d}"


def pick_style(rng: random.Random) -> str:
    """A file's date style."""
    return nm.pick_weighted(rng, DATE_STYLES)


def to_fullwidth_digits(code: str) -> str:
    """Digits as full-width forms (０–９), as typed by some data-entry tools."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in code)


def format_row(
    rng: random.Random, values: dict[str, Value], fields: tuple[str, ...], style: str
) -> Row:
    """Text of a row: dates in the file's style (a few rows in another), every field present."""
    row_style = style if rng.random() > 0.05 else pick_style(rng)
    out: Row = {}
    for f in fields:
        v = values.get(f, "")
        out[f] = fmt_date(v.year, v.month, v.day, row_style) if isinstance(v, date) else v
    return out


def dirty_valid(rng: random.Random, item: str, row: Row) -> None:
    """Add valid real-world oddities: full-width digits, 组织机构代码 with "-", 暂无, 1900-01-01."""
    roles = ROLES[item]
    if row.get(roles.uscc) and rng.random() < 0.01:
        row[roles.uscc] = to_fullwidth_digits(row[roles.uscc])
    if roles.org_code and len(row.get(roles.org_code, "")) == 9 and rng.random() < 0.3:
        row[roles.org_code] = row[roles.org_code][:8] + "-" + row[roles.org_code][8]
    if roles.reg_no and row.get(roles.uscc) and not row.get(roles.reg_no) and rng.random() < 0.15:
        row[roles.reg_no] = "暂无"
    if item == "penalty":
        if not row["CF_NR_WFFF"] and rng.random() < 0.1:
            row["CF_NR_WFFF"] = "暂无"
        if rng.random() < 0.03:
            row["CF_GSJZQ"] = "1900-01-01"
    if item == "registration" and rng.random() < 0.01:
        row["DJ_LXDH"] = "暂无"


def defect_kinds(item: str, row: Row) -> list[str]:
    """The bad-row classes that can be applied to this row."""
    roles = ROLES[item]
    kinds = ["missing_required"]
    if row.get(roles.uscc) or (roles.id_number and row.get(roles.id_number)):
        kinds.append("bad_check")
    if roles.decision_date and row.get(roles.decision_date):
        kinds += ["impossible_date", "future_date"]
    if roles.enum:
        kinds.append("unknown_enum")
    return kinds


def apply_defect(
    rng: random.Random, item: str, row: Row, kind: str, style: str, as_of: date
) -> str:
    """Make the row bad in the given way; returns the field made bad."""
    roles = ROLES[item]
    if kind == "bad_check":
        if row.get(roles.uscc):
            row[roles.uscc] = wrong_uscc(row[roles.uscc], rng)
            return roles.uscc
        row[roles.id_number] = wrong_id(row[roles.id_number], rng)
        return roles.id_number
    if kind == "missing_required":
        field = rng.choice(roles.required)
        row[field] = ""
        return field
    if kind == "impossible_date":
        row[roles.decision_date] = fmt_date(*rng.choice(_IMPOSSIBLE), style)
        return roles.decision_date
    if kind == "future_date":
        d = as_of + timedelta(days=rng.randint(10, 400))
        row[roles.decision_date] = fmt_date(d.year, d.month, d.day, style)
        return roles.decision_date
    if kind == "unknown_enum":
        row[roles.enum] = roles.bad_enum
        return roles.enum
    raise ValueError(kind)


def _shift_date(text: str, days: int) -> str:
    """A date string moved by some days, in the same style (unchanged if unparsable)."""
    digits = "".join(c for c in text[:10] if c.isdigit())
    if len(digits) != 8:
        return text
    try:
        d = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])) + timedelta(days=days)
    except ValueError:
        return text
    style = (
        "datetime"
        if len(text) > 10
        else "slash"
        if "/" in text
        else "compact"
        if len(text) == 8
        else "iso"
    )
    return fmt_date(d.year, d.month, d.day, style)


def correct(rng: random.Random, item: str, row: Row) -> Row:
    """A corrected version of a row: same key, changed content (what a department resends)."""
    new = dict(row)
    if item == "registration":
        if new["DJ_FRDB"] and new["DJ_ZTLX"] not in ("农户", "自然人"):
            new["DJ_FRDB"] = nm.person_name(rng, rng.random() < 0.8)
        new["DJ_LXDH"] = phone(rng)
    elif item == "licence":
        new["XK_NR"] = new["XK_NR"] + "（许可事项变更）"
    elif item == "penalty":
        if new["CF_NR_FK"] and new["CF_NR_FK"] != "暂无":
            fine = max(float(new["CF_NR_FK"]) / 2, 0.01)
            new["CF_NR_FK"] = fmt_amount(round(fine, 4))
            new["CF_NR"] = f"罚款人民币{fmt_amount(round(fine * 10000, 2))}元（经行政复议变更）"
        else:
            new["CF_SY"] = new["CF_SY"] + "（案情更正）"
    elif item == "judgment_defaulter":
        new["SX_LXQK"] = "部分未履行" if new["SX_LXQK"] == "全部未履行" else "全部未履行"
    elif item == "serious_dishonesty":
        new["YZ_LRYY"] = new["YZ_LRYY"] + "（更正）"
    elif item == "red_list":
        new["HM_YXQZ"] = _shift_date(new["HM_YXQZ"], 365)
    elif item == "commitment":
        new["CN_SY"] = new["CN_SY"] + "（补充承诺事项）"
    elif item == "honour":
        new["RY_RYMC"] = new["RY_RYMC"] + "（更正）"
    elif item == "tax_credit_grade":
        new["NS_DJ"] = rng.choice([g for g in "ABMCD" if g != new["NS_DJ"]])
    elif item == "abnormal_operation":
        new["YC_LRYY"] = "通过登记的住所或者经营场所无法联系"
        if new["YC_LRYY"] == row["YC_LRYY"]:
            new["YC_LRYY"] = "未按规定报送年度报告"
    elif item in ("social_insurance_arrears", "utility_arrears"):
        field = "QJ_JE" if item.startswith("social") else "QF_JE"
        new[field] = f"{float(new[field]) * rng.uniform(0.3, 0.9):.2f}"
    elif item == "contract_performance":
        new["HT_LYZT"] = "违约" if new["HT_LYZT"] != "违约" else "正常履约"
        new["HT_WYQK"] = "未按合同约定工期完工" if new["HT_LYZT"] == "违约" else ""
    return new


WITHDRAWAL_REASONS: dict[str, tuple[str, ...]] = {
    "penalty": ("行政复议决定撤销原处罚决定", "人民法院判决撤销原处罚决定", "信息报送错误"),
    "licence": ("行政许可被依法撤销", "信息报送错误", "重复报送"),
}
