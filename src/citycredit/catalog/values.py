"""Parse real-world cell values (dirty dates, 万元 amounts, codes, placeholders) per FieldSpec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from citycredit.catalog.model import (
    MULTI_SEPARATOR,
    CatalogItem,
    Condition,
    ConditionOp,
    FieldSpec,
    FieldType,
    holds,
    is_blank,
)
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.errors import FieldError
from citycredit.shared.ids import (
    parse_id_number,
    parse_org_code,
    parse_registration_no,
    parse_uscc,
)
from citycredit.shared.text import normalise_code, normalise_text, to_halfwidth

__all__ = ["LONG_TERM", "check_order", "check_required", "parse_field", "parse_row"]

DATE_ORDER = "date_order"  # reason code of `check_order`

LONG_TERM: date = date(2099, 12, 31)  # sentinel meaning 长期 (XK_YXQZI "2099/12/31" = 长期)

# Cells that mean "no value" in real exports (暂无, 无处罚期限, 1900-01-01 placeholders …).
_NULLS = frozenset(
    v.casefold()
    for v in ("暂无", "无", "无处罚期限", "-", "--", "/", "null", "none", "nan", "空", "无数据")
)
_NULL_DATES = frozenset({date(1900, 1, 1), date(1899, 12, 30), date(1899, 12, 31)})
_LONG_TERM_WORDS = frozenset({"长期", "永久", "长期有效", "永久有效"})
_DATE_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$"
)
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_YEAR_MONTH_RE = re.compile(
    r"^(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))(?:[-/.]\d{1,2}日?)?$"
)
_MONEY_RE = re.compile(
    r"^(?P<prefix>\D*?)[¥￥]?(?P<num>[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?P<unit>万元|元|万)?$"
)
_INTEGER_RE = re.compile(r"^([+-]?\d+)(?:\.0+)?(\D*)$")
_TAG_SPLIT_RE = re.compile(r"[;；,，、|\s]+")
_MULTI_SPLIT_RE = re.compile(r"[;；,，|]+")
_MASKED_ID_RE = re.compile(r"^[0-9X*]{15,18}$")
_CENT = Decimal("0.01")
_TEN_THOUSAND = Decimal(10000)


def _fail(spec: FieldSpec, raw: object, code: str, problem: str) -> FieldError:
    text = "" if raw is None else str(raw)
    return FieldError(spec.code, text, code, f"{spec.label}（{spec.code}）的值“{text}”{problem}")


def _clean(raw: object) -> str | None:
    """Trimmed text of a cell, or None for blanks and null markers."""
    if raw is None:
        return None
    text = normalise_text(str(raw))
    if not text or text.casefold() in _NULLS:
        return None
    return text


def parse_field(spec: FieldSpec, raw: object, *, today: date | None = None) -> object:
    """Parse one cell into its normalised value (None if empty); raises FieldError if invalid."""
    if isinstance(raw, datetime | date) and spec.type in (FieldType.date, FieldType.datetime):
        return _finish_date(spec, raw, raw, today)
    if isinstance(raw, datetime | date) and spec.type is FieldType.year_month:
        return f"{raw.year}-{raw.month:02d}"
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        if isinstance(raw, float):  # JSON numbers: 0.2 (万元), 1568180781000.0 (epoch ms)
            raw = str(int(raw)) if raw.is_integer() else format(Decimal(str(raw)), "f")
        raw = str(raw)
    text = _clean(raw)
    if text is None:
        return None
    if spec.type not in (FieldType.text, FieldType.enum, FieldType.tags):
        text = to_halfwidth(text)  # ２０１９－０７－１３, １，２００ …
    value = _PARSERS[spec.type](spec, text, today)
    if spec.max_length is not None and isinstance(value, str) and len(value) > spec.max_length:
        raise _fail(spec, raw, "too_long", f"超过最大长度 {spec.max_length}（实际 {len(value)}）")
    return value


def _text(spec: FieldSpec, text: str, today: date | None) -> str:
    return text


def _date_or_datetime(spec: FieldSpec, text: str, today: date | None) -> date | datetime | None:
    folded = text.replace(" ", "")
    if folded in _LONG_TERM_WORDS:
        return _finish_date(spec, LONG_TERM, text, today)
    if text.isdigit() and len(text) in (10, 13):  # epoch seconds / milliseconds
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        instant = datetime.fromtimestamp(seconds, tz=UTC).astimezone(SHANGHAI)
        return _finish_date(spec, instant, text, today)
    match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
    if match is None:
        raise _fail(spec, text, "invalid_date", "不是可识别的日期（如 2026-04-10）")
    y, m, d, hh, mm, ss = ([int(g) if g else 0 for g in match.groups()] + [0, 0, 0])[:6]
    try:
        value = datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)
    except ValueError:
        raise _fail(spec, text, "invalid_date", "不是存在的日期") from None
    return _finish_date(spec, value, text, today)


def _finish_date(
    spec: FieldSpec, value: date | datetime, raw: object, today: date | None
) -> date | datetime | None:
    """Apply placeholders (1900-01-01 → None), 长期 (≥ 2099-12-31) and not_future."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)
        aware = aware.astimezone(SHANGHAI)
        day = aware.date()
    else:
        day, aware = value, datetime.combine(value, time(), tzinfo=SHANGHAI)
    if day in _NULL_DATES:
        return None
    if day >= LONG_TERM:
        day, aware = LONG_TERM, datetime.combine(LONG_TERM, time(), tzinfo=SHANGHAI)
    if spec.not_future:
        now_day = today or datetime.now(SHANGHAI).date()
        if day > now_day:
            raise _fail(spec, raw, "future_date", f"晚于当前日期 {now_day.isoformat()}")
    return aware if spec.type is FieldType.datetime else day


def _decimal(spec: FieldSpec, text: str, today: date | None) -> Decimal:
    compact = re.sub(r"(?<=\d),(?=\d{3})", "", to_halfwidth(text).replace(" ", ""))
    match = _MONEY_RE.match(compact)
    money = spec.unit in ("元", "万元")
    # A prefix such as "罚款" is only accepted when an explicit 元/万元 suffix makes it clear.
    if match is None or (match["prefix"] and not (money and match["unit"])):
        raise _fail(spec, text, "invalid_decimal", "不是有效的数值")
    if match["unit"] and not money:
        raise _fail(spec, text, "invalid_decimal", "带有金额单位，但该字段不是金额")
    number = Decimal(match["num"])
    if not money:
        return number
    unit = {"万": "万元"}.get(match["unit"], match["unit"]) or spec.unit
    try:
        amount = number * _TEN_THOUSAND if unit == "万元" else number
        if amount < 0:
            raise _fail(spec, text, "negative_amount", "金额不能为负数")
        return amount.quantize(_CENT, rounding=ROUND_HALF_UP)
    except ArithmeticError:  # beyond 28 significant digits ("1e30"), or overflow ("1E999999")
        raise _fail(spec, text, "invalid_decimal", "超出可处理的金额范围") from None


MAX_INTEGER_DIGITS = 18  # no catalog integer (years, counts, scores) comes near; int64 holds it


def _integer(spec: FieldSpec, text: str, today: date | None) -> int:
    match = _INTEGER_RE.match(text.replace(" ", ""))
    if match is None or (match[2] and not (spec.unit and match[2].startswith(spec.unit))):
        raise _fail(spec, text, "invalid_integer", "不是有效的整数")
    if len(match[1].lstrip("+-0")) > MAX_INTEGER_DIGITS:
        raise _fail(spec, text, "invalid_integer", f"整数超过 {MAX_INTEGER_DIGITS} 位")
    return int(match[1])


def _year_month(spec: FieldSpec, text: str, today: date | None) -> str:
    match = _YEAR_MONTH_RE.match(text.replace(" ", ""))
    month = int(match[2] or match[3]) if match else 0
    if match is None or not 1 <= month <= 12:
        raise _fail(spec, text, "invalid_year_month", "不是有效的年月（如 2026-03）")
    return f"{match[1]}-{month:02d}"


def _one_enum(spec: FieldSpec, token: str) -> str | None:
    found = spec.canonical_enum(token)
    if found is None and "其他" in spec.enum and re.match(r"^其他[-—:：（(]", token):
        return token  # "其他-…": the national guidance asks to state what "other" is
    return found


def _enum(spec: FieldSpec, text: str, today: date | None) -> str:
    found = _one_enum(spec, text)
    if found is not None:
        return found
    values = _multi_enum(spec, text) if spec.multiple else None
    if values:
        return MULTI_SEPARATOR.join(values)
    raise _fail(spec, text, "not_in_enum", f"不在允许的取值中（{_allowed(spec)}）")


def _allowed(spec: FieldSpec) -> str:
    """The allowed values, each quoted: a value may contain 「、」 (暂扣或者吊销许可证、…)."""
    return "、".join(f"「{v}」" for v in spec.enum)


def _multi_enum(spec: FieldSpec, text: str) -> tuple[str, ...] | None:
    """Split "警告;罚款" or "警告、罚款" into canonical values; None if any part is unknown."""
    out: list[str | None] = []
    for token in filter(None, (t.strip() for t in _MULTI_SPLIT_RE.split(text))):
        found = _one_enum(spec, token)
        # "、" also occurs inside values (没收违法所得、没收非法财物), so split on it last.
        out.extend([found] if found else [_one_enum(spec, p.strip()) for p in token.split("、")])
    if not out or None in out:
        return None
    return tuple(dict.fromkeys(v for v in out if v))


def _tags(spec: FieldSpec, text: str, today: date | None) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(t for t in _TAG_SPLIT_RE.split(text) if t))
    if spec.enum:
        canonical = tuple(spec.canonical_enum(t) for t in tags)
        if None in canonical:
            raise _fail(spec, text, "not_in_enum", f"含不允许的标签（可用：{_allowed(spec)}）")
        return tuple(dict.fromkeys(t for t in canonical if t))
    return tags


def _identifier(spec: FieldSpec, text: str, today: date | None) -> str:
    if spec.allow_masked and "*" in text:
        masked = normalise_code(text)
        if not _MASKED_ID_RE.match(masked):
            raise _fail(spec, text, "invalid_masked", "不是有效的脱敏证件号码")
        return masked
    try:
        if spec.type is FieldType.uscc:
            return parse_uscc(text, spec.code).value
        if spec.type is FieldType.id_number:
            return parse_id_number(text, spec.code, today=today).value
        if spec.type is FieldType.org_code:
            return parse_org_code(text, spec.code)
        return parse_registration_no(text, spec.code)
    except FieldError as exc:
        raise _fail(spec, text, exc.code, f"无效：{exc.message}") from None


_PARSERS = {
    FieldType.text: _text,
    FieldType.integer: _integer,
    FieldType.decimal: _decimal,
    FieldType.date: _date_or_datetime,
    FieldType.datetime: _date_or_datetime,
    FieldType.enum: _enum,
    FieldType.uscc: _identifier,
    FieldType.id_number: _identifier,
    FieldType.registration_no: _identifier,
    FieldType.org_code: _identifier,
    FieldType.year_month: _year_month,
    FieldType.tags: _tags,
}


def _describe(item: CatalogItem, cond: Condition) -> str:
    """Chinese wording of a required_if condition, for error messages."""
    labels = "或".join(item.field(code).label for code in cond.fields)
    values = "、".join(cond.values)
    return {
        ConditionOp.in_: f"{labels}为{values}时",
        ConditionOp.not_in: f"{labels}不为{values}时",
        ConditionOp.absent: f"{labels}为空时",
        ConditionOp.present: f"填写{labels}时",
    }.get(cond.op, "满足条件时")


def check_required(item: CatalogItem, values: Mapping[str, object]) -> list[FieldError]:
    """Errors (code "required") for empty required fields, including required_if conditions."""
    errors: list[FieldError] = []
    for spec in item.fields:
        if not is_blank(values.get(spec.code)):
            continue
        if spec.required:
            errors.append(FieldError(spec.code, "", "required", f"{spec.label}（{spec.code}）必填"))
        elif spec.required_if is not None and holds(spec.required_if, values):
            when = _describe(item, spec.required_if)
            message = f"{when}，{spec.label}（{spec.code}）必填"
            errors.append(FieldError(spec.code, "", "required", message))
    return errors


def order_message(spec: FieldSpec, value: date, other: FieldSpec, before: date) -> str:
    """有效期至（XK_YXQZI）「2026-01-01」早于有效期自（XK_YXQZ）「2026-10-10」."""
    return (
        f"{spec.label}（{spec.code}）「{value.isoformat()}」早于"
        f"{other.label}（{other.code}）「{before.isoformat()}」"
    )


def check_order(
    item: CatalogItem, values: Mapping[str, object], skip: frozenset[str] | set[str] = frozenset()
) -> list[FieldError]:
    """Errors (code "date_order") for date fields earlier than a field they may not precede
    (`not_before`, catalog order): one per field, naming the first such field; fields in
    ``skip`` (already refused) and blank values are not compared."""
    errors: list[FieldError] = []
    for spec in item.fields:
        value = values.get(spec.code)
        if not spec.not_before or spec.code in skip or not isinstance(value, date):
            continue
        for code in spec.not_before:
            before = values.get(code)
            if code in skip or not isinstance(before, date) or value >= before:
                continue
            message = order_message(spec, value, item.field(code), before)
            errors.append(FieldError(spec.code, value.isoformat(), DATE_ORDER, message))
            break
    return errors


def parse_row(
    item: CatalogItem, row: Mapping[str, object], *, today: date | None = None
) -> tuple[dict[str, object], list[FieldError]]:
    """Parse a row keyed by field code: (values of every field, all field and required errors)."""
    values: dict[str, object] = {}
    errors: list[FieldError] = []
    for spec in item.fields:
        try:
            values[spec.code] = parse_field(spec, row.get(spec.code), today=today)
        except FieldError as exc:
            values[spec.code] = None
            if not _foreign_document(item, spec, row, values):
                errors.append(exc)
    errors.extend(
        e for e in check_required(item, values) if e.field not in {x.field for x in errors}
    )
    errors.extend(check_order(item, values, {x.field for x in errors}))
    return values, errors


def _foreign_document(
    item: CatalogItem, spec: FieldSpec, row: Mapping[str, object], values: dict[str, object]
) -> bool:
    """Keep a passport/permit number as text when the row's 证件类型 is not 身份证."""
    id_type = item.field_by_role("id_type")
    if spec.role != "id_number" or id_type is None:
        return False
    try:
        kind = parse_field(id_type, row.get(id_type.code))
    except FieldError:
        return False
    if kind is None or kind == "身份证":
        return False
    values[spec.code] = normalise_code(str(row.get(spec.code)))
    return True
