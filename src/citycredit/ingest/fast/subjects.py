"""Which subject each valid row of a batch is about: `SubjectRegistry.resolve`, set-based.

Rows with a USCC or a resident ID number are matched with one query per batch (the ID number
as its keyed digest, hashed column-wise); the codes not yet known create their subjects from
the first valid row that names them — the row the row path would create them at — with the
same attributes, aliases and ``subject.created`` event. Rows without either code (and rows
with a masked ID number) go through the registry itself, one by one in row order. A codeless
row must see exactly the subjects the row path had created when it reached that row, so when
a subject this batch creates at a *later* row could match it (same normalised name, 注册号 or
组织机构代码), the batch's new subjects are inserted in segments around that row.

As in the registry, an ID number never identifies (nor is kept on) a subject with a USCC: the
digest lookup skips such subjects, and a new subject created from its USCC gets no ID digest,
masked form or birth date even when the row names its operator's ID number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Table
from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.ingest.fast.cells import python_value
from citycredit.ingest.fast.digests import Hasher, random_ids
from citycredit.ingest.fast.rules import val_col
from citycredit.ingest.fast.sink import Sink
from citycredit.shared.divisions import county_for_code, division_from_address
from citycredit.shared.text import normalise_name
from citycredit.subjects.db import SubjectAliasRow, SubjectRow
from citycredit.subjects.service import SubjectFacts, SubjectRegistry, facts_from_roles

__all__ = ["SubjectStage", "Unresolved"]

_BRACKETS_FROM = ["（", "）", "【", "】", "〔", "〕", "[", "]", "［", "］"]
_BRACKETS_TO = ["(", ")", "(", ")", "(", ")", "(", ")", "(", ")"]
_PLAIN_NAME = r"^[\p{Han}A-Za-z0-9()]+$"  # names whose normal form is just upper-cased
_SUBJECT_SCHEMA = {
    "code": pl.String,
    "subject_id": pl.String,
    "subject_type": pl.String,
    "birth_date": pl.String,
}


@dataclass
class Unresolved:
    """A valid row whose subject could not be identified (the clerk's queue)."""

    rn: int
    name: str
    division: str | None
    candidates: list[dict[str, Any]] = field(default_factory=list)


def _county(code: str | None) -> str | None:
    county = county_for_code(code) if code else None
    return county.code if county else None


def _address_county(text: str | None) -> str | None:
    county = division_from_address(text) if text else None
    return county.code if county else None


def _memo(series: pl.Series, fn: Any) -> pl.Series:
    keys = [k for k in series.unique().to_list() if k is not None]
    return series.replace_strict({k: fn(k) for k in keys}, default=None, return_dtype=pl.String)


class SubjectStage:
    """Resolution state of one submission (the registry's session, hasher, clock)."""

    def __init__(
        self,
        c: Container,
        s: Session,
        sink: Sink,
        hasher: Hasher,
        item: CatalogItem,
        *,
        now: datetime,
        actor_label: str,
    ) -> None:
        self.c, self.s, self.sink, self.hasher, self.item = c, s, sink, hasher, item
        self.now = now
        self.roles = {spec.role: spec.code for spec in item.fields if spec.role}
        self.registry = SubjectRegistry(s, c.digester, now=now, actor_label=actor_label)
        self.id_key = c.settings.secret_key.get_secret_value().encode()

    def role(self, frame: pl.DataFrame, name: str) -> pl.Series:
        code = self.roles.get(name)
        if code is None:
            return pl.Series(name, [None] * frame.height, dtype=pl.String)
        return frame[val_col(code)].alias(name)

    def resolve(self, valid: pl.DataFrame) -> tuple[pl.DataFrame, list[Unresolved], pl.DataFrame]:
        """(rows with subject_id/subject_type/birth_date, unresolved rows, subject events)."""
        uscc, idn = self.role(valid, "uscc"), self.role(valid, "id_number")
        masked = idn.str.contains("*", literal=True).fill_null(False)
        digest = self._digests(idn, masked)
        # A masked ID number identifies no one: such rows take the registry's own path, which
        # resolves them as rows without an ID number (注册号, name + division, or the queue).
        kind = pl.select(
            pl.when(masked)
            .then(pl.lit("registry"))
            .when(uscc.is_not_null())
            .then(pl.lit("uscc"))
            .when(idn.is_not_null())
            .then(pl.lit("id"))
            .otherwise(pl.lit("registry"))
        ).to_series()
        code = pl.select(pl.when(kind == "uscc").then(uscc).when(kind == "id").then(digest))
        rows = valid.with_columns(
            kind.alias("_kind"), code.to_series().alias("_code"), digest.alias("_digest")
        )
        found = pl.concat(
            [
                self._lookup("uscc", rows.filter(pl.col("_kind") == "uscc")["_code"]),
                self._lookup("id_digest", rows.filter(pl.col("_kind") == "id")["_code"]),
            ]
        )
        rows = rows.join(found, left_on="_code", right_on="code", how="left", maintain_order="left")
        new = self._new_subjects(rows)
        registry_rows = rows.filter(pl.col("_kind") == "registry").sort("rn")
        waiting = self._waiting(registry_rows, new)
        resolved: dict[int, tuple[str, str, str | None]] = {}
        unresolved: list[Unresolved] = []
        inserted = 0
        for row in registry_rows.filter(pl.col("rn").is_in(waiting)).iter_rows(named=True):
            inserted = self._insert(new, inserted, before=row["rn"])
            self._one(row, resolved, unresolved)
        self._insert(new, inserted, before=None)
        for row in registry_rows.filter(~pl.col("rn").is_in(waiting)).iter_rows(named=True):
            self._one(row, resolved, unresolved)
        rows = self._attach(rows, new, resolved)
        gone = [u.rn for u in unresolved]
        rows = rows.filter(~pl.col("rn").is_in(gone)).drop("_kind", "_code", "_digest")
        return rows, sorted(unresolved, key=lambda u: u.rn), self._events(new)

    def _digests(self, idn: pl.Series, masked: pl.Series) -> pl.Series:
        """The keyed digest under which the registry stores each (unmasked) ID number."""
        clear = pl.select(pl.when(~masked).then(idn)).to_series()
        return self.hasher.hmac(self.id_key, b"id-number\x00", clear)

    # -- set-based part ------------------------------------------------------------------------
    def _lookup(self, column: str, codes: pl.Series) -> pl.DataFrame:
        values = [v for v in codes.unique().to_list() if v is not None]
        # `SubjectRegistry.by_id_number`: an ID number never finds a subject with a USCC.
        only = "uscc IS NULL AND " if column == "id_digest" else ""
        sql = (
            f"SELECT {column}, subject_id, subject_type, CAST(birth_date AS TEXT) "
            f"FROM subjects WHERE {only}{column} IN_LIST"
        )
        return self.sink.select_in(sql, column, values, _SUBJECT_SCHEMA)

    def _new_subjects(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`SubjectRegistry.create` for every code not yet registered, from its first valid row.

        The frame carries the subjects table's columns plus ``_code``, ``rn`` (the creating row)
        and the alias candidates ``_reg`` and ``_org``.
        """
        first = (
            rows.filter(pl.col("_kind").is_in(["uscc", "id"]) & pl.col("subject_id").is_null())
            .sort("rn")
            .unique("_code", keep="first", maintain_order=True)
        )
        n = first.height
        f = {
            r: self.role(first, r)
            for r in (
                "subject_name",
                "subject_category",
                "uscc",
                "id_number",
                "registration_no",
                "org_code",
                "address",
                "division_code",
                "legal_rep",
            )
        }
        name, idn = f["subject_name"], f["id_number"]
        # `SubjectRegistry.create`: a subject with a USCC keeps nothing of an ID number.
        own = pl.select(pl.when(f["uscc"].is_null()).then(idn)).to_series()
        digest = pl.select(pl.when(f["uscc"].is_null()).then(first["_digest"])).to_series()
        division = pl.select(
            pl.coalesce(
                _memo(f["division_code"], _county),
                _memo(f["uscc"].str.slice(2, 6), _county),
                _memo(f["address"], _address_county),
                _memo(idn.str.slice(0, 6), _county),
            )
        ).to_series()
        now_text = self.sink.timestamp(_SUBJECTS, "created_at", self.now)
        return pl.DataFrame(
            {
                "subject_id": random_ids("s", n),
                "subject_type": self._types(f),
                "name": name.fill_null("（未提供名称）"),
                "name_norm": _name_norm(name),
                "uscc": f["uscc"],
                "id_digest": digest,
                # parse_id_number always gives 18 characters: mask_id_number_at_rest keeps the
                # first 4 only (docs/adr/0014).
                "id_masked": pl.select(own.str.slice(0, 4) + pl.lit("*" * 14)).to_series(),
                "birth_date": own.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False),
                "division_code": division,
                "professions": pl.Series(["[]"] * n, dtype=pl.String),
                "legal_rep": f["legal_rep"],
                "origin": pl.Series(["record"] * n, dtype=pl.String),
                "created_at": pl.Series([now_text] * n, dtype=pl.String),
                "updated_at": pl.Series([now_text] * n, dtype=pl.String),
                "_code": first["_code"],
                "rn": first["rn"],
                "_reg": f["registration_no"],
                "_org": pl.select(
                    pl.coalesce(f["org_code"], f["uscc"].str.slice(8, 9))
                ).to_series(),
            },
            schema_overrides={"birth_date": pl.Date},
        )

    def _types(self, f: dict[str, pl.Series]) -> pl.Series:
        """`SubjectRegistry._type_for` once per distinct (category, USCC prefix, has ID)."""
        keys = pl.DataFrame(
            {
                "cat": f["subject_category"],
                "uscc": f["uscc"],
                "prefix": f["uscc"].str.slice(0, 2),
                "has_id": f["id_number"].is_not_null(),
            }
        )
        distinct = keys.unique(["cat", "prefix", "has_id"], keep="first", maintain_order=True)
        out = []
        for cat, code, _prefix, has_id in distinct.iter_rows():
            facts = SubjectFacts(category=cat, uscc=code, id_number="x" if has_id else None)
            out.append(self.registry._type_for(facts).value)
        table = distinct.select("cat", "prefix", "has_id").with_columns(
            pl.Series("stype", out, dtype=pl.String)
        )
        joined = keys.join(
            table,
            on=["cat", "prefix", "has_id"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        return joined["stype"]

    def _waiting(self, registry_rows: pl.DataFrame, new: pl.DataFrame) -> list[int]:
        """Registry rows a subject created at a later row of this batch could match."""
        if registry_rows.is_empty() or new.is_empty():
            return []
        name = self.role(registry_rows, "subject_name")
        probe = pl.DataFrame(
            {
                "rn": registry_rows["rn"],
                "nn": _name_norm(name),
                "reg": self.role(registry_rows, "registration_no"),
                "org": self.role(registry_rows, "org_code"),
            }
        )
        made = new.select(
            pl.col("rn").alias("at"),
            pl.col("name_norm").alias("nn"),
            pl.col("_reg").alias("reg"),
            pl.col("_org").alias("org"),
        )
        hits = [
            probe.join(made.select("at", key), on=key, how="inner").filter(
                pl.col("at") > pl.col("rn")
            )
            for key in ("nn", "reg", "org")
        ]
        return sorted(set(pl.concat([h.select("rn") for h in hits])["rn"].to_list()))

    def _insert(self, new: pl.DataFrame, done: int, *, before: int | None) -> int:
        """Insert the new subjects (and aliases) created before a row; returns how many are in."""
        if new.is_empty():
            return done
        upto = new.height if before is None else new.filter(pl.col("rn") < before).height
        if upto <= done:
            return done
        part = new.slice(done, upto - done)
        self.sink.insert(_SUBJECTS, part.drop("_code", "rn", "_reg", "_org"))
        self._aliases(part)
        return upto

    def _aliases(self, part: pl.DataFrame) -> None:
        """`SubjectRegistry._add_aliases` for new subjects, in creation order."""
        cand = (
            pl.concat(
                [
                    part.select(
                        "rn",
                        pl.lit(0).alias("o"),
                        pl.lit("registration_no").alias("kind"),
                        pl.col("_reg").alias("value"),
                        "subject_id",
                    ),
                    part.select(
                        "rn",
                        pl.lit(1).alias("o"),
                        pl.lit("org_code").alias("kind"),
                        pl.col("_org").alias("value"),
                        "subject_id",
                    ),
                ]
            )
            .filter(pl.col("value").is_not_null())
            .sort("rn", "o")
        )
        cand = cand.unique(["kind", "value"], keep="first", maintain_order=True)
        if cand.is_empty():
            return
        taken = self.sink.select_in(
            "SELECT kind, value FROM subject_aliases WHERE value IN_LIST",
            "value",
            cand["value"].unique().to_list(),
            {"kind": pl.String, "value": pl.String},
        )
        cand = cand.join(taken, on=["kind", "value"], how="anti", maintain_order="left")
        self.sink.insert(_ALIASES, cand.select("subject_id", "kind", "value"))

    def _events(self, new: pl.DataFrame) -> pl.DataFrame:
        """The ``subject.created`` events, each at its creating row."""
        if new.is_empty():
            return pl.DataFrame()
        return new.select(
            "rn",
            pl.lit("subject.created").alias("event_type"),
            pl.lit("subject").alias("aggregate_type"),
            pl.col("subject_id").alias("aggregate_id"),
            "subject_id",
            (
                pl.lit('{"origin":"record","subject_type":"')
                + pl.col("subject_type")
                + pl.lit('"}')
            ).alias("payload"),
        )

    # -- the registry, for codeless rows -------------------------------------------------------
    def _one(
        self,
        row: dict[str, Any],
        resolved: dict[int, tuple[str, str, str | None]],
        unresolved: list[Unresolved],
    ) -> None:
        values = {
            code: python_value(self.item.field(code), row[val_col(code)])
            for code in self.roles.values()
        }
        resolution = self.registry.resolve(facts_from_roles(values, self.roles), create=True)
        self.s.flush()
        subject = resolution.subject
        if subject is None:
            name_code = self.roles.get("subject_name")
            name = str(values.get(name_code) or "") if name_code else ""
            unresolved.append(
                Unresolved(row["rn"], name, resolution.division_code, resolution.candidates)
            )
            return
        birth = subject.birth_date.isoformat() if isinstance(subject.birth_date, date) else None
        resolved[row["rn"]] = (subject.subject_id, subject.subject_type, birth)

    def _attach(
        self,
        rows: pl.DataFrame,
        new: pl.DataFrame,
        resolved: dict[int, tuple[str, str, str | None]],
    ) -> pl.DataFrame:
        parts = []
        if not new.is_empty():
            parts.append(
                rows.select("rn", "_code")
                .join(
                    new.select(
                        "_code",
                        pl.col("subject_id").alias("x_id"),
                        pl.col("subject_type").alias("x_type"),
                        pl.col("birth_date").cast(pl.String).alias("x_birth"),
                    ),
                    on="_code",
                    how="inner",
                )
                .drop("_code")
            )
        if resolved:
            parts.append(
                pl.DataFrame(
                    {
                        "rn": list(resolved),
                        "x_id": [v[0] for v in resolved.values()],
                        "x_type": [v[1] for v in resolved.values()],
                        "x_birth": [v[2] for v in resolved.values()],
                    },
                    schema={
                        "rn": pl.Int64,
                        "x_id": pl.String,
                        "x_type": pl.String,
                        "x_birth": pl.String,
                    },
                )
            )
        if not parts:
            return rows
        fix = pl.concat(parts)
        return (
            rows.join(fix, on="rn", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("subject_id", "x_id").alias("subject_id"),
                pl.coalesce("subject_type", "x_type").alias("subject_type"),
                pl.coalesce("birth_date", "x_birth").alias("birth_date"),
            )
            .drop("x_id", "x_type", "x_birth")
        )


_SUBJECTS: Table = SubjectRow.__table__  # type: ignore[assignment]
_ALIASES: Table = SubjectAliasRow.__table__  # type: ignore[assignment]


def _name_norm(name: pl.Series) -> pl.Series:
    """`normalise_name` of each name (of "" when there is none), column-wise where it is plain."""
    plain = name.str.replace_many(_BRACKETS_FROM, _BRACKETS_TO)
    fast = pl.select(pl.when(plain.str.contains(_PLAIN_NAME)).then(plain.str.to_uppercase()))
    fast_s = fast.to_series()
    rest = [n for n in name.filter(fast_s.is_null()).unique().to_list() if n is not None]
    slow = name.replace_strict(
        {n: normalise_name(n) for n in rest}, default=None, return_dtype=pl.String
    )
    return pl.select(pl.coalesce(fast_s, slow, pl.lit(normalise_name("")))).to_series()
