"""Column-wise parsing of cells: `catalog.values.parse_field`, one column at a time.

The scalar rule stays the one definition. A column is parsed in two parts:

* a *recogniser* (Polars expressions) accepts the cells already in the shape the scalar rule
  would return unchanged — a plain text without stray spaces, an ISO date, an 18-character
  USCC with a good check character … — and gives their value without calling Python per cell;
* every other cell (dirty values, errors, rare formats) goes through `parse_field` itself,
  once per *distinct* value, and is joined back.

A recogniser may only accept; it never rejects. So a bug in one can at worst make a valid
value slower, and tests/unit/ingest/test_fast_cells.py checks on generated values that every
accepted cell has exactly the value `parse_field` gives.

Each parsed cell is *rendered* as the text of ``json_value(value)``: strings as they are, dates
and datetimes ISO 8601, money as a plain decimal string, integers as digits, tags as a canonical
JSON array. `literal` turns a rendered column into its canonical JSON literal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from citycredit.catalog.model import FieldSpec, FieldType
from citycredit.catalog.values import _NULLS, LONG_TERM, parse_field
from citycredit.ingest.fast.textops import ISSPACE, char_class, json_literal
from citycredit.ingest.model import Reason
from citycredit.shared.canonical import canonical_bytes, json_value
from citycredit.shared.errors import FieldError
from citycredit.shared.ids import USCC_ALPHABET

__all__ = ["ParsedColumn", "literal", "parse_column", "python_value", "render"]

# Text the scalar rule changes: Python space other than a single ' ', invisible characters,
# full-width digits and Latin letters (normalise_text maps them), control-free otherwise.
_FULLWIDTH_ALNUM = "".join(
    chr(c) for c in range(0xFF01, 0xFF5F) if chr(c - 0xFEE0).isascii() and chr(c - 0xFEE0).isalnum()
)
_TEXT_CHANGED = char_class(
    "".join(ch for ch in ISSPACE if ch != " ")
    + "\u200b\u200c\u200d\u2060\ufeff\u00ad"
    + _FULLWIDTH_ALNUM
)
_SHORT_SAFE = r"^[\p{Han}0-9]+$"  # short cells: only these can never be a null marker by case
_NULL_WORDS = sorted(_NULLS)
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_NULL_DATES = (date(1899, 12, 30), date(1899, 12, 31), date(1900, 1, 1))
_USCC_RE = "^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}$"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_RE = "^[0-9A-Z]{8}[0-9X]$"
_ORG_VALUE = {
    ch: (int(ch) if ch.isdigit() else ord(ch) - 55) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ID_RE = "^[0-9]{17}[0-9X]$"
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
_MONEY_RE = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$"


@dataclass
class ParsedColumn:
    """A parsed column: rendered values (null = no value or failed) and failure reasons."""

    value: pl.Series  # str
    reason: pl.Series  # str: JSON of the Reason, null when the cell is fine


def render(spec: FieldSpec, value: object) -> str | None:
    """The rendered text of a parsed value (see the module docstring)."""
    if value is None:
        return None
    if spec.type is FieldType.tags:
        return canonical_bytes(json_value(value)).decode()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def python_value(spec: FieldSpec, text: str | None) -> Any:
    """The parsed Python value back from its rendered text (render's inverse)."""
    if text is None:
        return None
    if spec.type is FieldType.tags:
        return tuple(json.loads(text))
    if spec.type is FieldType.date:
        return date.fromisoformat(text)
    if spec.type is FieldType.datetime:
        return datetime.fromisoformat(text)
    if spec.type is FieldType.decimal:
        return Decimal(text)
    if spec.type is FieldType.integer:
        return int(text)
    return text


def literal(spec: FieldSpec, rendered: pl.Expr) -> pl.Expr:
    """Canonical JSON literal of a rendered column (``canonical_bytes(json_value(v))``)."""
    if spec.type in (FieldType.integer, FieldType.tags):
        return rendered
    return json_literal(rendered)


def reason_json(e: FieldError) -> str:
    return json.dumps(Reason(e.field, e.value, e.code, e.message).as_dict(), ensure_ascii=False)


def parse_column(spec: FieldSpec, raw: pl.Series, *, today: date) -> ParsedColumn:
    """Parse one column of raw cells (str or null) as `parse_field` parses each cell."""
    batch = pl.DataFrame({"raw": raw.cast(pl.String)})
    return parse_columns([(spec, "raw")], batch, today=today)[spec.code]


_STR_VALUED = (
    FieldType.text,
    FieldType.uscc,
    FieldType.id_number,
    FieldType.org_code,
    FieldType.registration_no,
)


def parse_columns(
    pairs: Sequence[tuple[FieldSpec, str]], batch: pl.DataFrame, *, today: date
) -> dict[str, ParsedColumn]:
    """Parse several columns of a batch at once: ``(spec, batch column)`` → parsed by code."""
    fast: list[pl.Expr] = []
    for spec, col in pairs:
        recognise = _RECOGNISERS.get(spec.type)
        expr = recognise(spec, pl.col(col), today) if recognise else pl.lit(None, dtype=pl.String)
        if spec.max_length is not None and spec.type in _STR_VALUED:
            expr = pl.when(expr.str.len_chars() <= spec.max_length).then(expr)
        fast.append(expr.cast(pl.String).alias(f"f:{spec.code}"))
    work = batch.select(pl.col([col for _, col in pairs]), *fast)
    rest = work.select(
        pl.col(col)
        .filter(pl.col(col).is_not_null() & pl.col(f"f:{spec.code}").is_null())
        .unique()
        .implode()
        .alias(spec.code)
        for spec, col in pairs
    ).row(0, named=True)
    out_exprs: list[pl.Expr] = []
    for spec, col in pairs:
        slow, reasons = _scalar_memo(spec, rest[spec.code], today)
        value = pl.col(f"f:{spec.code}")
        if slow:
            value = pl.coalesce(
                value, pl.col(col).replace_strict(slow, default=None, return_dtype=pl.String)
            )
        reason = (
            pl.col(col).replace_strict(reasons, default=None, return_dtype=pl.String)
            if reasons
            else pl.lit(None, dtype=pl.String)
        )
        out_exprs += [value.alias(f"v:{spec.code}"), reason.alias(f"e:{spec.code}")]
    out = work.select(out_exprs)
    return {
        spec.code: ParsedColumn(out[f"v:{spec.code}"], out[f"e:{spec.code}"]) for spec, _ in pairs
    }


def _scalar_memo(
    spec: FieldSpec, raws: Sequence[str], today: date
) -> tuple[dict[str, str | None], dict[str, str]]:
    """`parse_field` once per distinct cell the recogniser did not take: values, reasons."""
    values: dict[str, str | None] = {}
    reasons: dict[str, str] = {}
    for raw in raws:
        try:
            values[raw] = render(spec, parse_field(spec, raw, today=today))
        except FieldError as e:
            reasons[raw] = reason_json(e)
    return values, reasons


# --------------------------------------------------------------------------- recognisers
# Each returns the value for the cells it accepts and null for every other cell.

Recogniser = Callable[[FieldSpec, pl.Expr, date], pl.Expr]


def _text(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    n = raw.str.len_chars()
    ok = (
        ~raw.str.contains(_TEXT_CHANGED)
        & ~raw.str.contains("  ", literal=True)
        & ~raw.str.starts_with(" ")
        & ~raw.str.ends_with(" ")
        & ((n > 5) | (raw.str.contains(_SHORT_SAFE) & ~raw.is_in(_NULL_WORDS)))
    )
    if spec.max_length is not None:
        ok = ok & (n <= spec.max_length)
    return pl.when(ok).then(raw)


def _date(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    day = raw.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    ok = raw.str.contains(_DATE) & day.is_not_null() & (day.dt.year() >= 1)
    ok = ok & ~day.is_in(_NULL_DATES) & (day < LONG_TERM)
    if spec.not_future:
        ok = ok & (day <= today)
    return pl.when(ok).then(raw)


def _money(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    if spec.unit not in ("元", "万元"):
        return pl.lit(None, dtype=pl.String)
    parts = raw.str.extract_groups(_MONEY_RE)
    whole = parts.struct.field("1").cast(pl.Int64)
    cents = (parts.struct.field("2").str.slice(1).fill_null("") + "00").str.slice(0, 2)
    cents_n = cents.cast(pl.Int64)
    if spec.unit == "万元":
        text = (whole * 10000 + cents_n * 100).cast(pl.String) + ".00"
    else:
        text = whole.cast(pl.String) + "." + cents
    return pl.when(raw.str.contains(_MONEY_RE)).then(text)


def _weighted(raw: pl.Expr, values: dict[str, int], weights: Sequence[int]) -> pl.Expr:
    total = pl.lit(0, dtype=pl.Int64)
    for i, w in enumerate(weights):
        ch = raw.str.slice(i, 1).replace_strict(values, default=0, return_dtype=pl.Int64)
        total = total + ch * w
    return total


def _not_placeholder(raw: pl.Expr, start: int, length: int) -> pl.Expr:
    first = raw.str.slice(start, 1)
    same = [raw.str.slice(start + i, 1) == first for i in range(1, length)]
    return ~pl.all_horizontal(same)


def _uscc(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    total = _weighted(raw, _USCC_VALUE, _USCC_WEIGHTS)
    check = ((31 - total % 31) % 31).replace_strict(
        dict(enumerate(USCC_ALPHABET)), return_dtype=pl.String
    )
    ok = raw.str.contains(_USCC_RE) & _not_placeholder(raw, 8, 9) & (check == raw.str.slice(17, 1))
    return pl.when(ok).then(raw)


def _org_code(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    total = _weighted(raw, _ORG_VALUE, _ORG_WEIGHTS)
    c = 11 - total % 11
    check = (
        pl.when(c == 10)
        .then(pl.lit("X"))
        .when(c == 11)
        .then(pl.lit("0"))
        .otherwise(c.cast(pl.String))
    )
    ok = raw.str.contains(_ORG_RE) & _not_placeholder(raw, 0, 8) & (check == raw.str.slice(8, 1))
    return pl.when(ok).then(raw)


def _id_number(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    digits = {str(d): d for d in range(10)}
    total = _weighted(raw, digits, _ID_WEIGHTS)
    check = (total % 11).replace_strict(dict(enumerate(_ID_CHECK)), return_dtype=pl.String)
    born = raw.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    ok = (
        raw.str.contains(_ID_RE)
        & (check == raw.str.slice(17, 1))
        & born.is_not_null()
        & (born <= today)
        & (born.dt.year() >= 1880)
    )
    return pl.when(ok).then(raw)


_MOD_11_10 = {c: ((c or 10) * 2) % 11 for c in range(10)}  # one step of ISO 7064 MOD 11,10


def _registration_no(spec: FieldSpec, raw: pl.Expr, today: date) -> pl.Expr:
    # stdnum.iso7064.mod_11_10: check = (((check or 10) * 2) % 11 + digit) % 10, valid at 1.
    # The step is a table lookup so each step names `check` once (the expression stays small).
    check = pl.lit(5, dtype=pl.Int64)
    for i in range(15):
        digit = raw.str.slice(i, 1).cast(pl.Int64, strict=False).fill_null(0)
        check = (check.replace_strict(_MOD_11_10, return_dtype=pl.Int64) + digit) % 10
    fifteen = raw.str.contains("^[0-9]{15}$") & (check == 1) & _not_placeholder(raw, 0, 15)
    thirteen = raw.str.contains("^[0-9]{13}$") & _not_placeholder(raw, 0, 13)
    return pl.when(fifteen | thirteen).then(raw)


_RECOGNISERS: dict[FieldType, Recogniser] = {
    FieldType.text: _text,
    FieldType.date: _date,
    FieldType.decimal: _money,
    FieldType.uscc: _uscc,
    FieldType.org_code: _org_code,
    FieldType.id_number: _id_number,
    FieldType.registration_no: _registration_no,
}
