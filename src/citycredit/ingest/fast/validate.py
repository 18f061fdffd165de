"""One batch through the checks of `Intake.parse` and `publication_for`, column-wise.

Per row the outcome is the row path's: the reasons (one per failing field, in the file's column
order, then the required fields in catalog order, then the date order (`not_before`) in catalog
order, then the category check when nothing else failed, then a missing decision date), or
the record's derived columns. Reasons are kept as JSON objects
``{"field","value","code","message"}`` — the `Reason.as_dict` of the row path.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl

from citycredit.catalog.model import CatalogItem
from citycredit.catalog.values import DATE_ORDER, _describe, order_message
from citycredit.ingest.fast.cells import parse_columns
from citycredit.ingest.fast.reader import header_column
from citycredit.ingest.fast.rules import Rules, date_of, decision_of, raw_col, val_col
from citycredit.ingest.model import Reason
from citycredit.subjects.service import SubjectFacts, check_category

__all__ = ["Validator"]


def _reason(field: str, value: str | None, code: str, message: str) -> str:
    return json.dumps(Reason(field, value, code, message).as_dict(), ensure_ascii=False)


def _fill(template: str, sentinel: tuple[date, date], value: pl.Expr, before: pl.Expr) -> pl.Expr:
    """The reason text with the sentinel dates replaced by the row's two ISO dates."""
    first, second = (d.isoformat() for d in sentinel)
    parts: list[pl.Expr] = []
    for i, chunk in enumerate(template.split(first)):
        if i:
            parts.append(value)
        for j, piece in enumerate(chunk.split(second)):
            if j:
                parts.append(before)
            parts.append(pl.lit(piece))
    return pl.concat_str(parts)


class Validator:
    """The parse, required, category and publication checks of one item for one submission."""

    def __init__(
        self, item: CatalogItem, mapping: dict[str, str], headers: tuple[str, ...], today: date
    ) -> None:
        self.item = item
        self.today = today
        self.rules = Rules(item, today=today)
        # (batch column, field code) in the file's column order, as Intake.parse iterates.
        self.mapped = [
            (header_column(i), mapping[h]) for i, h in enumerate(headers) if h in mapping
        ]
        self.roles = {spec.role: spec.code for spec in item.fields if spec.role}

    def run(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The batch with r:/v: columns, ``reasons`` (JSON array text or null), derived columns."""
        item = self.item
        mapped_codes = {code for _, code in self.mapped}
        parsed = parse_columns(
            [(item.field(code), col) for col, code in self.mapped], batch, today=self.today
        )
        cols: list[pl.Series] = []
        errs: list[str] = []
        for col, code in self.mapped:
            cols.append(batch[col].alias(raw_col(code)))
            cols.append(parsed[code].value.alias(val_col(code)))
            cols.append(parsed[code].reason.alias(f"e:{code}"))
            errs.append(f"e:{code}")
        for spec in item.fields:
            if spec.code not in mapped_codes:
                cols.append(pl.Series(raw_col(spec.code), [None] * batch.height, dtype=pl.String))
                cols.append(pl.Series(val_col(spec.code), [None] * batch.height, dtype=pl.String))
        frame = self.rules.with_memos(batch.with_columns(cols))
        required = self._required(mapped_codes)
        frame = frame.with_columns(required)
        errs += [f"q:{spec.code}" for spec in item.fields if spec.required or spec.required_if]
        frame = frame.with_columns(self._order())
        errs += [f"o:{spec.code}" for spec in item.fields if spec.not_before]
        reasons = pl.concat_str([pl.col(c) for c in errs], separator=",", ignore_nulls=True)
        frame = frame.with_columns(
            pl.when(reasons != "").then(pl.lit("[") + reasons + pl.lit("]")).alias("reasons")
        ).drop(errs)
        frame = self._category(frame)
        return self._publication(frame)

    # -- checks -------------------------------------------------------------------------------
    def _required(self, mapped: set[str]) -> list[pl.Expr]:
        """`check_required`, skipping fields that already failed to parse."""
        out: list[pl.Expr] = []
        item = self.item
        for spec in item.fields:
            if spec.required:
                need: pl.Expr = pl.lit(True)
                message = f"{spec.label}（{spec.code}）必填"
            elif spec.required_if is not None:
                need = self.rules.expr(spec.required_if)
                message = f"{_describe(item, spec.required_if)}，{spec.label}（{spec.code}）必填"
            else:
                continue
            blank = pl.col(val_col(spec.code)).is_null()
            if spec.code in mapped:
                blank = blank & pl.col(f"e:{spec.code}").is_null()
            text = _reason(spec.code, "", "required", message)
            out.append(pl.when(blank & need).then(pl.lit(text)).alias(f"q:{spec.code}"))
        return out

    def _order(self) -> list[pl.Expr]:
        """`check_order`: a date before a date it may not precede (the first such, per field).

        A field that failed (parse error, or blank and so maybe required) has no value, so it
        is not compared — as the row path skips the fields it already refused."""
        out: list[pl.Expr] = []
        item = self.item
        sentinel = (date(1, 1, 1), date(1, 1, 2))  # stand-ins for the two values in the text
        for spec in item.fields:
            if not spec.not_before:
                continue
            value = pl.col(val_col(spec.code))
            chain: Any = pl
            for code in spec.not_before:
                before = pl.col(val_col(code))
                # rendered dates are ISO (YYYY-MM-DD): text order is date order
                hit = value.is_not_null() & before.is_not_null() & (value < before)
                message = order_message(spec, sentinel[0], item.field(code), sentinel[1])
                template = _reason(spec.code, sentinel[0].isoformat(), DATE_ORDER, message)
                chain = chain.when(hit).then(_fill(template, sentinel, value, before))
            out.append(chain.otherwise(pl.lit(None, dtype=pl.String)).alias(f"o:{spec.code}"))
        return out

    def _category(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`check_category` (declared category vs USCC prefix) on rows with no reason yet."""
        cat, uscc = self.roles.get("subject_category"), self.roles.get("uscc")
        if cat is None or uscc is None:
            return frame
        pairs = frame.filter(
            pl.col("reasons").is_null()
            & pl.col(val_col(cat)).is_not_null()
            & pl.col(val_col(uscc)).is_not_null()
        ).select(
            pl.col(val_col(cat)).alias("cat"),
            pl.col(val_col(uscc)).str.slice(0, 2).alias("prefix"),
            pl.col(val_col(uscc)).alias("uscc"),
        )
        bad_prefixes = set()
        for c, prefix, code in pairs.unique(["cat", "prefix"]).iter_rows():
            if check_category(SubjectFacts(category=c, uscc=code), category_field=cat):
                bad_prefixes.add((c, prefix))
        if not bad_prefixes:
            return frame
        bad = pl.DataFrame(
            [{"cat": c, "prefix": p} for c, p in sorted(bad_prefixes)],
            schema={"cat": pl.String, "prefix": pl.String},
        )
        failing = pairs.join(bad, on=["cat", "prefix"], how="semi").unique(["cat", "uscc"])
        texts = []
        for c, _prefix, code in failing.iter_rows():
            (err,) = check_category(SubjectFacts(category=c, uscc=code), category_field=cat)
            texts.append("[" + _reason(err.field, err.value, err.code, err.message) + "]")
        memo = failing.select("cat", "uscc").with_columns(pl.Series("cat_reason", texts))
        joined = frame.join(
            memo,
            left_on=[val_col(cat), val_col(uscc)],
            right_on=["cat", "uscc"],
            how="left",
            maintain_order="left",
        )
        return joined.with_columns(
            pl.when(pl.col("reasons").is_null())
            .then(pl.col("cat_reason"))
            .otherwise(pl.col("reasons"))
            .alias("reasons")
        ).drop("cat_reason")

    def _publication(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Severity (classifier or publisher), publication end and repair date, openness."""
        item = self.item
        rules = self.rules
        decision_code = item.decision_date_field
        end_code = item.publication.end_field
        dates: list[pl.Expr] = [
            pl.lit(None, dtype=pl.Date).alias("decision_date"),
            pl.lit(None, dtype=pl.Date).alias("until"),
        ]
        if decision_code:
            lookup = {
                k: decision_of(item, k)
                for k in frame[val_col(decision_code)].unique().to_list()
                if k is not None
            }
            dates[0] = (
                pl.col(val_col(decision_code))
                .replace_strict(lookup, default=None, return_dtype=pl.Date)
                .alias("decision_date")
            )
        if end_code:
            spec = item.field(end_code)
            lookup = {
                k: date_of(spec, k)
                for k in frame[val_col(end_code)].unique().to_list()
                if k is not None
            }
            dates[1] = (
                pl.col(val_col(end_code))
                .replace_strict(lookup, default=None, return_dtype=pl.Date)
                .alias("until")
            )
        adverse = rules.adverse()
        frame = frame.with_columns(
            *rules.classify(adverse),
            *dates,
            rules.openness().alias("openness"),
            adverse.alias("adverse"),
        )
        combos = frame.select("severity", "decision_date", "until").unique()
        out: dict[str, list[object]] = {"published": [], "end": [], "repair": [], "err": []}
        for sev, dec, unt in combos.iter_rows():
            published, end, repair, err = rules.periods(sev, dec, unt)
            out["published"].append(published)
            out["end"].append(end)
            out["repair"].append(repair)
            out["err"].append(err)
        table = combos.with_columns(
            pl.Series("published", out["published"], dtype=pl.Boolean),
            pl.Series("publication_end", out["end"], dtype=pl.Date),
            pl.Series("repair_from", out["repair"], dtype=pl.Date),
            pl.Series("pub_reason", out["err"], dtype=pl.String),
        )
        frame = frame.join(
            table,
            on=["severity", "decision_date", "until"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        return frame.with_columns(
            pl.when(pl.col("reasons").is_null() & pl.col("pub_reason").is_not_null())
            .then(pl.lit("[") + pl.col("pub_reason") + pl.lit("]"))
            .otherwise(pl.col("reasons"))
            .alias("reasons")
        ).drop("pub_reason", "until")
