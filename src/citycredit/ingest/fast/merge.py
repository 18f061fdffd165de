"""The record merge of one batch: new, corrected, duplicate — `Intake.store`, set-based.

For every key of the batch the database's current state is read once (records joined to their
current version), then the rows of each key are replayed in row order with window functions:

* no record yet → the first row creates it (version 1, ``record.accepted``);
* a record from an earlier submission → the rows equal to its active current version are
  duplicates; the first row that differs (or any row, if it was withdrawn) creates the next
  version (``record.corrected``);
* after that, and for a version this submission created in an earlier batch, later rows of the
  same key are in-file repeats: each is a duplicate with a note, and the version takes the
  content of the last of them (the row path rewrites it in place each time it changes).

So each key yields at most one new version and its event, written once with the final content;
repeats of a version from an earlier batch update it (``UPDATE … FROM``) with its event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Table, select

from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem, FieldType
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.fast.cells import literal
from citycredit.ingest.fast.digests import Hasher, random_ids, random_salts
from citycredit.ingest.fast.events import PayloadBuilder
from citycredit.ingest.fast.rules import Rules, val_col
from citycredit.ingest.fast.sealing import aad_column, seal_column
from citycredit.ingest.fast.sink import Sink
from citycredit.ingest.fast.textops import json_object
from citycredit.ingest.intake import repeat_note, revived_note
from citycredit.ingest.withhold import WITHHELD_REASONS
from citycredit.kernel.db import OutboxEventRow
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.records import PERSON_ROLES, index_kind, version_aad
from citycredit.shared.calendar import local_date
from citycredit.subjects.model import SubjectType

__all__ = ["BatchOutcome", "RecordStage"]

PERSON_TYPES = (SubjectType.natural_person.value, SubjectType.farm_household.value)
_RECORDS: Table = RecordRow.__table__  # type: ignore[assignment]
_VERSIONS: Table = RecordVersionRow.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxEventRow.__table__  # type: ignore[assignment]
_INDEX: Table = PersonalIndexRow.__table__  # type: ignore[assignment]
_DERIVED = [
    "decision_date",
    "severity",
    "severity_inferred",
    "severity_rule",
    "published",
    "unpublished_reason",
    "publication_end",
    "repair_from",
    "openness",
]
_STATE_SCHEMA = {
    "record_key": pl.String,
    "ex_id": pl.String,
    "ex_status": pl.String,
    "ex_version": pl.Int64,
    "ex_hash": pl.String,
    "ex_sub": pl.String,
    "ex_kind": pl.String,
    "ex_rn": pl.Int64,
    "ex_unpub": pl.String,
}


@dataclass
class BatchOutcome:
    """What one batch did to the receipt."""

    new: int = 0
    corrected: int = 0
    duplicate: int = 0
    notes: list[str] = field(default_factory=list)
    events: pl.DataFrame = field(default_factory=pl.DataFrame)  # record events, with ``rn``


class RecordStage:
    """Record state changes of one submission, batch after batch."""

    def __init__(
        self,
        c: Container,
        sink: Sink,
        hasher: Hasher,
        item: CatalogItem,
        *,
        department_id: int,
        submission_id: str,
        actor_label: str,
        now: datetime,
        due_days: int | None,
        onboarded: date,
        rules: Rules,
    ) -> None:
        self.c, self.sink, self.hasher, self.item = c, sink, hasher, item
        self.department_id = department_id
        self.submission_id = submission_id
        self.actor_label = actor_label
        self.now = now
        self.due_days = due_days
        self.onboarded = onboarded
        self.rules = rules
        self.codec = c.personal_codec
        self.now_text = sink.timestamp(_RECORDS, "updated_at", now)
        self._due: dict[date, date] = {}
        self.builder = PayloadBuilder(
            hasher,
            suite=c.settings.ledger_suite,
            item=item,
            department_id=department_id,
            at=now,
            submission_id=submission_id,
            codec=c.personal_codec,
        )

    # -- per-row values -------------------------------------------------------------------------
    def prepare(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Record key, payload/personal split, content hash and publication for the minor rule."""
        item = self.item
        natural = pl.col("subject_type").is_in(PERSON_TYPES)
        rows = rows.with_columns(natural.alias("_natural"))
        parts = [pl.lit(item.code), pl.col("subject_id")]
        fallbacks = dict(item.key_fallbacks)
        for code in item.key_fields:
            value = pl.col(val_col(code))
            if code in fallbacks:
                value = pl.coalesce(value, pl.col(val_col(fallbacks[code])))
            parts.append(value.fill_null(""))
        key_text = pl.concat_str(parts, separator="|")
        sealed_cols = []
        for spec in item.fields:
            if spec.personal:
                sealed = pl.lit(True)
            elif spec.role in PERSON_ROLES:
                sealed = pl.col("_natural") | ~self.rules.public_field(spec.code)
            else:
                sealed = pl.lit(False)
            sealed_cols.append(sealed.alias(f"s:{spec.code}"))
        rows = rows.with_columns(sealed_cols)
        lits = {spec.code: literal(spec, pl.col(val_col(spec.code))) for spec in item.fields}
        payload = json_object(
            [(code, pl.when(~pl.col(f"s:{code}")).then(lit)) for code, lit in lits.items()]
        )
        personal = json_object(
            [(code, pl.when(pl.col(f"s:{code}")).then(lit)) for code, lit in lits.items()]
        )
        rows = rows.with_columns(
            key_text.alias("_key_full"), payload.alias("payload"), personal.alias("personal")
        ).drop([f"s:{spec.code}" for spec in item.fields])
        canonical = (
            pl.lit('{"payload":')
            + pl.col("payload")
            + pl.lit(',"personal":')
            + pl.col("personal")
            + pl.lit("}")
        )
        canon = rows.select(canonical.alias("c"))["c"]
        plain = self.hasher.sha256(canon)
        keyed = self._keyed(canon)
        has_personal = rows["personal"] != "{}"
        content = pl.select(pl.when(has_personal).then(keyed).otherwise(plain)).to_series()
        rows = rows.with_columns(
            self.hasher.sha256(rows["_key_full"]).alias("record_key"),
            pl.col("_key_full").str.slice(0, 400).alias("key_text"),
            content.alias("content_hash"),
        ).drop("_key_full")
        return self._minor(rows)

    def _keyed(self, canon: pl.Series) -> pl.Series:
        """`PersonalCodec.keyed_digest` (HMAC over ``content\\0`` + canonical bytes)."""
        ring = self.codec.keyring
        if ring.index_alg == "hmac-sha256":
            return self.hasher.hmac(ring.index_key, b"content\x00", canon)
        return pl.Series([self.codec.keyed_digest(t.encode()) for t in canon], dtype=pl.String)

    def _minor(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Adverse records of a person who was a minor at the decision date are not published."""
        born = pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False)
        dec = pl.col("decision_date")
        age = (
            dec.dt.year()
            - born.dt.year()
            - (
                (dec.dt.month() * 100 + dec.dt.day()) < (born.dt.month() * 100 + born.dt.day())
            ).cast(pl.Int32)
        )
        minor = (
            (pl.col("subject_type") == SubjectType.natural_person.value)
            & born.is_not_null()
            & dec.is_not_null()
            & (age < 18)
        ).fill_null(False)
        hide = pl.col("published") & minor & pl.col("adverse")
        return rows.with_columns(
            (pl.col("published") & ~hide).alias("published"),
            pl.when(~pl.col("published"))
            .then(pl.lit("severity"))
            .when(hide)
            .then(pl.lit("minor"))
            .alias("unpublished_reason"),
        )

    # -- the merge --------------------------------------------------------------------------------
    def merge(self, rows: pl.DataFrame, notes_left: int) -> BatchOutcome:
        """Apply one batch of resolved valid rows; returns counts, notes and record events."""
        out = BatchOutcome()
        if rows.is_empty():
            return out
        rows = self.prepare(rows).sort("rn")
        state = self.sink.select_in(
            "SELECT r.record_key, r.id, r.status, r.current_version, v.content_hash, "
            "v.submission_id, v.kind, v.row_number, r.unpublished_reason FROM records r "
            "JOIN record_versions v "
            "ON v.record_id = r.id AND v.version = r.current_version WHERE r.record_key IN_LIST",
            "record_key",
            rows["record_key"].unique().to_list(),
            _STATE_SCHEMA,
        )
        rows = rows.join(state, on="record_key", how="left", maintain_order="left")
        # 不予公示 (ingest/withhold.py) outlives a correction: only a release publishes it.
        held = pl.col("ex_unpub").is_in(sorted(WITHHELD_REASONS)).fill_null(False)
        rows = rows.with_columns(
            (pl.col("published") & ~held).alias("published"),
            pl.when(held)
            .then(pl.col("ex_unpub"))
            .otherwise(pl.col("unpublished_reason"))
            .alias("unpublished_reason"),
        )
        k = "record_key"
        mine = (pl.col("ex_sub") == self.submission_id) & (pl.col("ex_kind") != "withdrawal")
        rows = rows.with_columns(
            pl.when(pl.col("ex_id").is_null())
            .then(pl.lit("none"))
            .when(mine.fill_null(False))
            .then(pl.lit("mine"))
            .otherwise(pl.lit("other"))
            .alias("_state")
        )
        same_as_db = (pl.col("ex_status") == "active") & (
            pl.col("content_hash") == pl.col("ex_hash")
        )
        creator = (
            pl.when(pl.col("_state") == "none")
            .then(pl.col("rn").min().over(k))
            .when(pl.col("_state") == "other")
            .then(pl.col("rn").filter(~same_as_db.fill_null(False)).min().over(k))
        )
        rows = rows.with_columns(creator.alias("_creator"))
        role = (
            pl.when(pl.col("_state") == "mine")
            .then(pl.lit("repeat"))
            .when(pl.col("_creator").is_null() | (pl.col("rn") < pl.col("_creator")))
            .then(pl.lit("dup"))
            .when(pl.col("rn") == pl.col("_creator"))
            .then(pl.lit("create"))
            .otherwise(pl.lit("repeat"))
        )
        rows = rows.with_columns(role.alias("_role"))
        seq = rows.filter(pl.col("_role") != "dup")
        prev = pl.col("content_hash").shift(1).over(k)
        prev = (
            pl.when(prev.is_null() & (pl.col("_state") == "mine"))
            .then(pl.col("ex_hash"))
            .otherwise(prev)
        )
        changed = prev.is_null() | (pl.col("content_hash") != prev)
        seq = seq.with_columns(changed.alias("_changed"))
        start = pl.when(pl.col("_changed")).then(pl.col("rn")).forward_fill().over(k)
        seq = seq.with_columns(start.fill_null(pl.col("ex_rn")).alias("_start"))
        seq = seq.with_columns(
            pl.col("_start").shift(1).over(k).fill_null(pl.col("ex_rn")).alias("_first"),
            pl.col("_changed").any().over(k).alias("_any_change"),
            (pl.col("rn") == pl.col("rn").max().over(k)).alias("_last"),
        )
        repeats = seq.filter(pl.col("_role") == "repeat")
        notes = [
            (rn, repeat_note(rn, first, text))
            for rn, first, text in (
                repeats.select("rn", "_first", "key_text").head(notes_left).iter_rows()
            )
        ]
        creators = rows.filter(pl.col("_role") == "create").select(
            k, "rn", "decision_date", "_state", "ex_id", "ex_version", "ex_status", "key_text"
        )
        notes += self._revived(creators)
        # in row order, as the row path notes them (a row is a repeat or a revival, not both)
        out.notes = [text for _, text in sorted(notes, key=lambda n: n[0])[:notes_left]]
        creators = creators.drop("ex_status", "key_text")
        final = seq.filter(pl.col("_last"))
        created = final.join(
            creators.select(k, pl.col("rn").alias("_at"), pl.col("decision_date").alias("_dec0")),
            on=k,
            how="inner",
        )
        replaced = final.filter((pl.col("_state") == "mine") & pl.col("_any_change"))
        out.new = creators.filter(pl.col("_state") == "none").height
        out.corrected = creators.filter(pl.col("_state") == "other").height
        out.duplicate = rows.height - out.new - out.corrected
        out.events = self._create(created)
        self._replace(replaced)
        return out

    def _revived(self, creators: pl.DataFrame) -> list[tuple[int, str]]:
        """(row, note) of the rows bringing a withdrawn record back (`Intake.store`), with the
        withdrawal's date: read before this batch moves the records past their tombstones."""
        revived = creators.filter(
            (pl.col("_state") == "other") & (pl.col("ex_status") == "withdrawn")
        )
        if revived.is_empty():
            return []
        v = RecordVersionRow
        found = self.sink.session.execute(
            select(v.record_id, v.created_at)
            .join(RecordRow, RecordRow.id == v.record_id)
            .where(v.record_id.in_(revived["ex_id"].to_list()))
            .where(v.version == RecordRow.current_version)
        )
        at: dict[str, datetime] = {row[0]: row[1] for row in found}
        return [
            (rn, revived_note(rn, text, at.get(rid)))
            for rn, rid, text in revived.select("rn", "ex_id", "key_text").iter_rows()
        ]

    # -- writes -----------------------------------------------------------------------------------
    def _create(self, created: pl.DataFrame) -> pl.DataFrame:
        """Insert new records, update corrected ones, insert their versions; return events."""
        if created.is_empty():
            return pl.DataFrame()
        is_new = pl.col("_state") == "none"
        created = created.with_columns(random_ids("r", created.height).alias("_rid"))
        created = created.with_columns(
            pl.when(is_new).then(pl.col("_rid")).otherwise(pl.col("ex_id")).alias("record_id"),
            pl.when(is_new)
            .then(pl.lit(1, dtype=pl.Int64))
            .otherwise(pl.col("ex_version") + 1)
            .alias("version"),
            pl.when(is_new).then(pl.lit("original")).otherwise(pl.lit("correction")).alias("kind"),
            pl.col("_start").alias("row_number"),
        )
        created = created.with_columns(random_salts(created.height).alias("salt"))
        fresh = created.filter(is_new)
        due, on_time = self._due_dates(fresh["_dec0"])
        records = fresh.select(
            pl.col("record_id").alias("id"),
            "record_key",
            "key_text",
            pl.lit(self.item.code).alias("item_code"),
            "subject_id",
            pl.lit(self.department_id).alias("department_id"),
            pl.lit(1).alias("current_version"),
            pl.lit("active").alias("status"),
            *_DERIVED,
            due.alias("due_date"),
            on_time.alias("on_time"),
            pl.lit(self.now_text).alias("first_submitted_at"),
            pl.lit(self.now_text).alias("updated_at"),
        )
        # The sealing and the ledger leaves are computed while the database stores the records.
        with self.sink.inserting(_RECORDS, records):
            sealed = self._sealed(created)
            payloads = self._payloads(created)
        self.sink.update(
            _RECORDS,
            created.filter(~is_new).select(
                pl.col("record_id").alias("id"),
                pl.col("version").alias("current_version"),
                pl.lit("active").alias("status"),
                pl.lit(self.now_text).alias("updated_at"),
                *_DERIVED,
            ),
            ["id"],
        )
        versions = created.select(
            "record_id",
            "version",
            "kind",
            pl.lit(self.submission_id).alias("submission_id"),
            "row_number",
            "payload",
            sealed.alias("personal"),
            "content_hash",
            pl.lit(self.actor_label).alias("created_by"),
            pl.lit(self.now_text).alias("created_at"),
        )
        with self.sink.inserting(_VERSIONS, versions):
            index = self._index_rows(created)
        self.sink.insert(_INDEX, index)
        return created.select(
            pl.col("_at").alias("rn"),
            pl.when(is_new)
            .then(pl.lit("record.accepted"))
            .otherwise(pl.lit("record.corrected"))
            .alias("event_type"),
            pl.lit("record").alias("aggregate_type"),
            pl.col("record_id").alias("aggregate_id"),
            "subject_id",
        ).with_columns(payloads.alias("payload"))

    def _replace(self, replaced: pl.DataFrame) -> None:
        """In-file repeats of versions created by an earlier batch: rewrite them in place."""
        if replaced.is_empty():
            return
        replaced = replaced.with_columns(
            pl.col("ex_id").alias("record_id"),
            pl.col("ex_version").alias("version"),
            pl.when(pl.col("ex_version") == 1)
            .then(pl.lit("original"))
            .otherwise(pl.lit("correction"))
            .alias("kind"),
            random_salts(replaced.height).alias("salt"),
        )
        self.sink.update(
            _VERSIONS,
            replaced.select(
                "record_id",
                "version",
                "payload",
                self._sealed(replaced).alias("personal"),
                "content_hash",
                pl.col("_start").alias("row_number"),
            ),
            ["record_id", "version"],
        )
        self.sink.update(
            _RECORDS, replaced.select(pl.col("record_id").alias("id"), *_DERIVED), ["id"]
        )
        pairs = list(
            zip(replaced["record_id"].to_list(), replaced["version"].to_list(), strict=True)
        )
        cur = self.sink.raw.cursor()
        mark = "%s" if self.sink.dialect.name == "postgresql" else "?"
        try:
            cur.executemany(
                f"DELETE FROM personal_index WHERE record_id = {mark} AND version = {mark}", pairs
            )
        finally:
            cur.close()
        self.sink.insert(_INDEX, self._index_rows(replaced))
        events = self.sink.select_in(
            "SELECT aggregate_id, MAX(id) FROM outbox WHERE aggregate_type = 'record' "
            "AND aggregate_id IN_LIST GROUP BY aggregate_id",
            "aggregate_id",
            replaced["record_id"].to_list(),
            {"record_id": pl.String, "id": pl.Int64},
        )
        payloads = replaced.select("record_id").with_columns(
            self._payloads(replaced).alias("payload")
        )
        self.sink.update(
            _OUTBOX, events.join(payloads, on="record_id").select("id", "payload"), ["id"]
        )

    def _payloads(self, versions: pl.DataFrame) -> pl.Series:
        return self.builder.payloads(versions)

    def _sealed(self, versions: pl.DataFrame) -> pl.Series:
        """`PersonalCodec.seal` of each version's personal fields, bound to the version."""
        aads = versions.select(
            aad_column(
                version_aad, pl.col("record_id"), pl.col("version"), markers=("\x01r", 987654321)
            )
        ).to_series()
        codes = [spec.code for spec in self.item.fields]
        return seal_column(self.codec, codes, versions["personal"], aads).alias("personal")

    def _index_rows(self, versions: pl.DataFrame) -> pl.DataFrame:
        """Blind-index rows of the versions' personal ID and phone numbers (`index_rows`)."""
        parts = []
        for spec in self.item.fields:
            kind = index_kind(spec)
            if kind is None:
                continue
            personal = versions.select(
                "record_id",
                "version",
                pl.col("personal").str.json_path_match(f"$.{spec.code}").alias("value"),
            ).filter(pl.col("value").is_not_null() & (pl.col("value") != ""))
            if personal.is_empty():
                continue
            digest = self._blind(kind, personal["value"], spec.type)
            parts.append(
                personal.select(
                    pl.lit(kind).alias("kind"),
                    digest.alias("digest"),
                    pl.lit(self.codec.keyring.index_kid).alias("index_kid"),
                    "record_id",
                    "version",
                    pl.lit(spec.code).alias("field"),
                )
            )
        return pl.concat(parts) if parts else pl.DataFrame()

    def _blind(self, kind: str, values: pl.Series, ftype: FieldType) -> pl.Series:
        """`PersonalCodec.blind_index`: column-wise for plain ID numbers, else one by one."""
        ring = self.codec.keyring
        plain = values.str.contains(r"^[0-9X*]+$")
        if kind == "id_number" and ring.index_alg == "hmac-sha256" and plain.all():
            return self.hasher.hmac(ring.index_key, b"id_number\x00", values)
        blind = self.codec.blind_index
        return pl.Series([blind(kind, str(v)) for v in values.to_list()], dtype=pl.String)

    def _due_dates(self, decisions: pl.Series) -> tuple[pl.Series, pl.Series]:
        """The obligation's due date and on-time flag from each new record's decision date."""
        if not self.due_days:
            none = pl.Series([None] * decisions.len(), dtype=pl.Date)
            return none, pl.Series([None] * decisions.len(), dtype=pl.Boolean)
        today = local_date(self.now)
        lookup: dict[Any, Any] = {}
        for d in decisions.unique().to_list():
            if d is None or d < self.onboarded:
                continue
            if d not in self._due:
                self._due[d] = self.c.calendar.add_working_days(d, self.due_days).due
            lookup[d] = self._due[d]
        due = decisions.replace_strict(lookup, default=None, return_dtype=pl.Date)
        on_time = pl.select(pl.when(due.is_not_null()).then(pl.lit(today) <= due)).to_series()
        return due, on_time
