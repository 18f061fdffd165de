"""Column-wise record rules: catalog conditions, severity, publication, openness, sealing split.

Twins of `catalog.model.holds`, `catalog.publication.classify` / `publication_for`,
`CatalogItem.openness_for` / `is_adverse` and `privacy.records.is_sealed_field`, evaluated on
a batch whose columns are ``v:<code>`` (rendered values, see cells.py; null = no value) and
``r:<code>`` (the raw cells). A condition Polars cannot evaluate *exactly* (token tests on
datetimes or on non-money decimals, thresholds finer than a cent) is evaluated by the scalar
`holds` once per distinct tuple of the raw cells it reads — never approximated.
tests/unit/ingest/test_fast_rules.py compares every rule with its scalar twin on generated rows.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl

from citycredit.catalog.model import (
    MULTI_SEPARATOR,
    CatalogItem,
    Condition,
    ConditionOp,
    FieldSpec,
    FieldType,
    PublicationKind,
    Severity,
    holds,
)
from citycredit.catalog.publication import DEFAULT_RULE, PUBLISHER_RULE
from citycredit.catalog.values import LONG_TERM, parse_field
from citycredit.shared.calendar import statutory_period_end
from citycredit.shared.errors import FieldError

__all__ = ["Rules", "raw_col", "val_col"]

_STRING_TOKENS = {
    FieldType.text,
    FieldType.enum,
    FieldType.uscc,
    FieldType.id_number,
    FieldType.registration_no,
    FieldType.org_code,
    FieldType.year_month,
    FieldType.date,
    FieldType.integer,
}
_SEVERITY_BY_NAME = {s.label: s for s in Severity} | {s.value: s for s in Severity}


def val_col(code: str) -> str:
    return f"v:{code}"


def raw_col(code: str) -> str:
    return f"r:{code}"


def _is_money(spec: FieldSpec) -> bool:
    return spec.type is FieldType.decimal and spec.unit in ("元", "万元")


class Rules:
    """The record rules of one catalog item, compiled to Polars expressions.

    `expr` gives an expression for any condition; a condition that has no exact column-wise
    form reads a column ``__cond<n>`` that `with_memos` adds to the frame first.
    """

    def __init__(self, item: CatalogItem, *, today: date) -> None:
        self.item = item
        self.today = today
        self._memos: dict[Condition, str] = {}

    # -- conditions ---------------------------------------------------------------------------
    def expr(self, cond: Condition) -> pl.Expr:
        """`catalog.model.holds` as a Boolean expression (see `with_memos`)."""
        exact = self._holds_expr(cond)
        if exact is not None:
            return exact.fill_null(False)
        if cond not in self._memos:
            self._memos[cond] = f"__cond{len(self._memos)}"
        return pl.col(self._memos[cond])

    def conditions(self) -> list[Condition]:
        """Every condition of the item's record rules (required_if, public_if, classifier …)."""
        item = self.item
        out = [c for spec in item.fields for c in (spec.required_if, spec.public_if) if c]
        out += [o.when for o in item.openness_overrides]
        out += [c for c in (item.adverse_when, item.positive_when) if c]
        if item.classifier:
            out += [c for rule in item.classifier.rules for c in rule.when]
        return out

    def with_memos(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add the columns of the conditions evaluated per distinct raw tuple."""
        for cond in self.conditions():
            self.expr(cond)
        cols = [self._holds_memo(frame, cond).alias(name) for cond, name in self._memos.items()]
        return frame.with_columns(cols) if cols else frame

    def holds(self, frame: pl.DataFrame, cond: Condition) -> pl.Series:
        """`catalog.model.holds` for every row of the frame (a Boolean series)."""
        exact = self._holds_expr(cond)
        if exact is not None:
            return frame.select(exact.fill_null(False).alias("h"))["h"]
        return self._holds_memo(frame, cond)

    def _holds_expr(self, cond: Condition) -> pl.Expr | None:
        parts = [self._one(cond, self.item.field(code)) for code in cond.fields]
        if any(p is None for p in parts):
            return None
        exprs = [p for p in parts if p is not None]
        if cond.op is ConditionOp.absent:
            return pl.all_horizontal(exprs)
        return pl.any_horizontal(exprs)

    def _blank(self, spec: FieldSpec) -> pl.Expr:
        v = pl.col(val_col(spec.code))
        if spec.type is FieldType.tags:
            return v.is_null() | (v == "[]")
        return v.is_null()

    def _one(self, cond: Condition, spec: FieldSpec) -> pl.Expr | None:
        """One field's `_holds_one`, or None when it cannot be exact column-wise."""
        op = cond.op
        v = pl.col(val_col(spec.code))
        blank = self._blank(spec)
        if op is ConditionOp.absent:
            return blank
        if op is ConditionOp.present:
            return ~blank
        if op in (ConditionOp.gte, ConditionOp.lte):
            if cond.amount is None or spec.type not in (FieldType.integer, FieldType.decimal):
                return pl.lit(False)
            if spec.type is FieldType.decimal:
                exponent = cond.amount.as_tuple().exponent
                if not _is_money(spec) or not isinstance(exponent, int) or exponent < -2:
                    return None
                number = v.cast(pl.Float64, strict=False)
                limit: float | int = float(cond.amount)
            else:
                if cond.amount != cond.amount.to_integral_value():
                    return None
                number = v.cast(pl.Int64, strict=False)
                limit = int(cond.amount)
            test = number >= limit if op is ConditionOp.gte else number <= limit
            return ~blank & test.fill_null(False)
        tokens = self._tokens(spec)
        if tokens is None:
            return None
        values = list(cond.values)
        if op is ConditionOp.contains_any:
            if not values:
                return pl.lit(False)
            joined = tokens.list.join(MULTI_SEPARATOR)
            return ~blank & joined.str.contains_any(values).fill_null(False)
        hit = tokens.list.eval(pl.element().is_in(values)).list.any()
        if op is ConditionOp.in_:
            return ~blank & hit
        if op is ConditionOp.not_in:
            return ~blank & ~hit
        every = tokens.list.eval(pl.element().is_in(values)).list.all()
        return ~blank & every  # subset_of

    def _tokens(self, spec: FieldSpec) -> pl.Expr | None:
        v = pl.col(val_col(spec.code))
        if spec.type is FieldType.tags:
            return v.str.json_decode(pl.List(pl.String))
        if spec.type in _STRING_TOKENS or _is_money(spec):
            parts = v.str.split(MULTI_SEPARATOR)
            return parts.list.eval(pl.element().filter(pl.element() != ""))
        return None

    def _holds_memo(self, frame: pl.DataFrame, cond: Condition) -> pl.Series:
        """The scalar `holds` once per distinct tuple of the raw cells the condition reads."""
        cols = [raw_col(code) for code in cond.fields]
        present = [c for c in cols if c in frame.columns]
        if not present:
            return pl.Series("h", [holds(cond, {})] * frame.height, dtype=pl.Boolean)
        keys = frame.select(present).unique()
        results = []
        for row in keys.iter_rows(named=True):
            values: dict[str, Any] = {}
            for code in cond.fields:
                raw = row.get(raw_col(code))
                try:
                    values[code] = parse_field(self.item.field(code), raw, today=self.today)
                except FieldError:
                    values[code] = None
            results.append(holds(cond, values))
        keyed = keys.with_columns(pl.Series("__h", results, dtype=pl.Boolean))
        joined = frame.select(present).join(
            keyed, on=present, how="left", nulls_equal=True, maintain_order="left"
        )
        return joined["__h"]

    # -- record-level rules (expressions; the frame needs `with_memos`) ------------------------
    def adverse(self) -> pl.Expr:
        """`CatalogItem.is_adverse`."""
        if self.item.adverse:
            return pl.lit(True)
        if self.item.adverse_when is None:
            return pl.lit(False)
        return self.expr(self.item.adverse_when)

    def openness(self) -> pl.Expr:
        """`CatalogItem.openness_for` (the first matching override)."""
        out: pl.Expr = pl.lit(self.item.openness.value)
        for override in reversed(self.item.openness_overrides):
            out = (
                pl.when(self.expr(override.when))
                .then(pl.lit(override.openness.value))
                .otherwise(out)
            )
        return out

    def public_field(self, code: str) -> pl.Expr:
        """`CatalogItem.is_public_field`."""
        spec = self.item.field(code)
        if spec.personal or not spec.public:
            return pl.lit(False)
        if spec.public_if is None:
            return pl.lit(True)
        return self.expr(spec.public_if)

    def classify(self, adverse: pl.Expr) -> list[pl.Expr]:
        """`catalog.publication.classify`: severity, severity_inferred, severity_rule."""
        item = self.item
        steps: list[tuple[pl.Expr, str, bool, str]] = []
        if item.severity_field is not None:
            stated = pl.col(val_col(item.severity_field))
            for name, sev in _SEVERITY_BY_NAME.items():
                steps.append(((stated == name).fill_null(False), sev.value, False, PUBLISHER_RULE))
        if item.classifier is not None:
            for r in item.classifier.rules:
                hit = pl.all_horizontal([self.expr(c) for c in r.when]) if r.when else pl.lit(True)
                steps.append((hit, r.severity.value, True, r.id))
            steps.append((pl.lit(True), item.classifier.default.value, True, DEFAULT_RULE))
        severity: pl.Expr = pl.lit(None, dtype=pl.String)
        inferred: pl.Expr = pl.lit(False)
        rule: pl.Expr = pl.lit(None, dtype=pl.String)
        for hit, sev_value, was_inferred, rule_id in reversed(steps):
            take = adverse & hit
            severity = pl.when(take).then(pl.lit(sev_value)).otherwise(severity)
            inferred = pl.when(take).then(pl.lit(was_inferred)).otherwise(inferred)
            rule = pl.when(take).then(pl.lit(rule_id)).otherwise(rule)
        return [
            severity.alias("severity"),
            inferred.alias("severity_inferred"),
            rule.alias("severity_rule"),
        ]

    def periods(
        self, severity: str | None, decision: date | None, until: date | None
    ) -> tuple[bool, date | None, date | None, str | None]:
        """The tail of `publication_for`: (published, end, repair from, missing-date message)."""
        item = self.item
        rule = item.publication
        sev = Severity(severity) if severity else None
        end: date | None = None
        repair: date | None = None
        if rule.kind is PublicationKind.severity and sev is not None and item.severity_periods:
            if decision is None:
                return True, None, None, self._missing_decision()
            periods = item.severity_periods
            span = periods.for_severity(sev)
            if sev is Severity.minor and not periods.minor_published:
                return False, decision, decision, None
            return (
                True,
                statutory_period_end(decision, months=span.max_months),
                statutory_period_end(decision, months=span.min_months),
                None,
            )
        if rule.kind is PublicationKind.until_field and rule.end_field is not None:
            if until is not None and until != LONG_TERM:
                end = until + timedelta(days=1) if rule.end_inclusive else until
        elif rule.kind is PublicationKind.fixed and rule.fixed_months is not None:
            if decision is None:
                return True, None, None, self._missing_decision()
            end = statutory_period_end(decision, months=rule.fixed_months)
        return True, end, repair, None

    def _missing_decision(self) -> str:
        """The FieldError message of publication._require_decision, as a reason JSON."""
        import json

        item = self.item
        code = item.decision_date_field or "decision_date"
        label = item.field(code).label if item.decision_date_field else "决定日期"
        message = f"{label}（{code}）必填：{item.name}的公示期自该日期起算"
        return json.dumps(
            {"field": code, "value": "", "code": "required", "message": message},
            ensure_ascii=False,
        )


def decision_of(item: CatalogItem, rendered: str | None) -> date | None:
    """`Intake._decision_date` from the rendered decision-date cell."""
    if rendered is None or item.decision_date_field is None:
        return None
    spec = item.field(item.decision_date_field)
    if spec.type is FieldType.datetime:
        return date.fromisoformat(rendered[:10])  # rendered in Asia/Shanghai (values.py)
    if spec.type is FieldType.date:
        return date.fromisoformat(rendered)
    return None


def date_of(spec: FieldSpec, rendered: str | None) -> date | None:
    """publication._as_date of a rendered date/datetime cell."""
    if rendered is None:
        return None
    if spec.type in (FieldType.date, FieldType.datetime):
        return date.fromisoformat(rendered[:10])
    return None
