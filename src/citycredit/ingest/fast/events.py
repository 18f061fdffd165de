"""Outbox payloads of new record versions with their pending ledger leaves, column-wise.

The twin of `Intake._event_payload` + `ledger.entries.record_version_entry(...).as_payload()`:
the leaf's canonical bytes are assembled as text in the sorted key order of
`shared.canonical.canonical_bytes`, its field digests hashed column-wise under a fresh salt per
version. tests/unit/ingest/test_fast_digests.py decodes generated payloads and checks them
against `record_version_entry` with the same salt. The SM3 suite has no column-wise hash
here: its leaves are built by `record_version_entry` itself, one per version.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl

from citycredit.catalog.model import CatalogItem
from citycredit.ingest.fast.cells import literal, python_value
from citycredit.ingest.fast.digests import Hasher
from citycredit.ingest.fast.rules import val_col
from citycredit.ingest.fast.textops import json_literal, json_object
from citycredit.ledger.entries import LEAF_VERSION, record_version_entry
from citycredit.privacy.records import LEDGER_LABEL, ledger_personal
from citycredit.shared.canonical import json_value
from citycredit.shared.personal import PersonalCodec

__all__ = ["PayloadBuilder", "version_payloads"]

SHA256_SUITE = "sha256-ed25519"
_SLICE = 2_000


class PayloadBuilder:
    """The payload expressions of one submission (item, department, time), built once."""

    def __init__(
        self,
        hasher: Hasher,
        *,
        suite: str,
        item: CatalogItem,
        department_id: int,
        at: datetime,
        submission_id: str,
        codec: PersonalCodec | None = None,
    ) -> None:
        self.hasher, self.suite, self.item, self.codec = hasher, suite, item, codec
        self.department_id, self.at, self.submission_id = department_id, at, submission_id
        self.literals = [
            literal(spec, pl.col(val_col(spec.code))).alias(spec.code) for spec in item.fields
        ]
        codes = [spec.code for spec in item.fields]
        self.fields = json_object([(code, json_literal(pl.col(code))) for code in codes])
        ver = pl.col("version").cast(pl.String)
        rid, sid, key = pl.col("record_id"), pl.col("subject_id"), pl.col("record_key")
        ref = json_literal(rid + "/" + ver)
        self.data = (
            pl.lit(f'{{"at":{json.dumps(at.isoformat())},"department_id":{department_id},"fields":')
            + pl.col("_fields")
            + pl.lit(f',"item":{json.dumps(item.code, ensure_ascii=False)},"kind":')
            + json_literal(pl.col("kind"))
            + pl.lit(',"record_id":')
            + json_literal(rid)
            + pl.lit(',"record_key":')
            + json_literal(key)
            + pl.lit(',"ref":')
            + ref
            + pl.lit(',"subject_id":')
            + json_literal(sid)
            + pl.lit(f',"type":"record.version","v":{LEAF_VERSION},"version":')
            + ver
            + pl.lit("}")
        )
        head = json.dumps(item.code, ensure_ascii=False)
        self.payload = (
            pl.lit(f'{{"item":{head},"version":')
            + ver
            + pl.lit(',"content_hash":')
            + json_literal(pl.col("content_hash"))
            + pl.lit(
                f',"submission_id":{json.dumps(submission_id)},'
                '"ledger":{"type":"record.version","ref":'
            )
            + ref
            + pl.lit(',"subject_id":')
            + json_literal(sid)
            + pl.lit(',"record_key":')
            + json_literal(key)
            + pl.lit(',"data":"')
            + pl.col("_data").str.encode("base64")
            + pl.lit('","salt":"')
            + pl.col("salt").bin.encode("hex")
            + pl.lit('"}}')
        )

    def payloads(self, versions: pl.DataFrame) -> pl.Series:
        """The outbox payload (JSON text) of each version.

        ``versions`` carries record_id, version (int), kind, subject_id, record_key,
        content_hash, salt (16 bytes), the rendered ``v:<code>`` column of every field and
        ``personal`` (the JSON text of the version's sealed fields: the leaf commits to those
        as keyed digests, `privacy.records.ledger_personal`; needs the codec).
        """
        if versions.is_empty():
            return pl.Series("payload", [], dtype=pl.String)
        if self.codec is None and (versions["personal"] != "{}").any():
            raise ValueError("personal values need the codec for their ledger commitment")
        if self.suite != SHA256_SUITE:
            return _python_payloads(
                self.suite,
                self.item,
                self.department_id,
                self.at,
                self.submission_id,
                versions,
                self.codec,
            )
        # In slices: a payload is ~2.4 kB and its leaf text, base64 and digests are built
        # beside it, so a whole batch at once would set the process's peak memory.
        parts = [self._slice(versions.slice(i, _SLICE)) for i in range(0, versions.height, _SLICE)]
        return pl.concat(parts)

    def _slice(self, versions: pl.DataFrame) -> pl.Series:
        literals = self._keyed_personal(versions.select(self.literals), versions["personal"])
        digests = self.hasher.field_digests(versions["salt"], literals)
        fields = digests.select(self.fields.alias("_fields"))["_fields"]
        work = versions.select(
            "record_id", "version", "kind", "subject_id", "record_key", "content_hash", "salt"
        ).with_columns(fields)
        work = work.with_columns(self.data.alias("_data"))
        return work.select(self.payload.alias("payload"))["payload"]

    def _keyed_personal(self, literals: pl.DataFrame, personal: pl.Series) -> pl.DataFrame:
        """Literals of sealed fields replaced by the literal of their keyed digest."""
        if self.codec is None:
            return literals
        for code in literals.columns:
            sealed = personal.str.json_path_match(f"$.{code}").is_not_null()
            if not sealed.any():
                continue
            keyed = ('"' + self._keyed(literals[code]) + '"').alias(code)
            column = pl.select(pl.when(sealed).then(keyed).otherwise(literals[code])).to_series()
            literals = literals.with_columns(column.alias(code))
        return literals

    def _keyed(self, canonical: pl.Series) -> pl.Series:
        """`PersonalCodec.keyed_digest(…, label=b"ledger")` of each canonical literal."""
        assert self.codec is not None
        ring = self.codec.keyring
        if ring.index_alg == "hmac-sha256":
            return self.hasher.hmac(ring.index_key, LEDGER_LABEL + b"\x00", canonical)
        codec = self.codec
        return pl.Series(
            [
                None if t is None else codec.keyed_digest(t.encode(), label=LEDGER_LABEL)
                for t in canonical
            ],
            dtype=pl.String,
        )


def version_payloads(
    hasher: Hasher,
    *,
    suite: str,
    item: CatalogItem,
    department_id: int,
    at: datetime,
    submission_id: str,
    versions: pl.DataFrame,
    codec: PersonalCodec | None = None,
) -> pl.Series:
    """The outbox payloads of versions (a one-off `PayloadBuilder`)."""
    builder = PayloadBuilder(
        hasher,
        suite=suite,
        item=item,
        department_id=department_id,
        at=at,
        submission_id=submission_id,
        codec=codec,
    )
    return builder.payloads(versions)


def _python_payloads(
    suite: str,
    item: CatalogItem,
    department_id: int,
    at: datetime,
    submission_id: str,
    versions: pl.DataFrame,
    codec: PersonalCodec | None,
) -> pl.Series:
    """Payloads built by `record_version_entry` itself (suites without a column-wise hash)."""
    out: list[str] = []
    for row in versions.iter_rows(named=True):
        fields: dict[str, Any] = {}
        for spec in item.fields:
            value = python_value(spec, row[val_col(spec.code)])
            if value is not None:
                fields[spec.code] = json_value(value)
        sealed = json.loads(row["personal"])
        if sealed:
            assert codec is not None
            personal = {code: fields.pop(code) for code in sealed if code in fields}
            fields.update(ledger_personal(codec, personal))
        entry = record_version_entry(
            suite,
            record_id=row["record_id"],
            version=row["version"],
            kind=row["kind"],
            item=item.code,
            subject_id=row["subject_id"],
            department_id=department_id,
            record_key=row["record_key"],
            fields=fields,
            at=at,
            salt=row["salt"],
        )
        out.append(
            json.dumps(
                {
                    "item": item.code,
                    "version": row["version"],
                    "content_hash": row["content_hash"],
                    "submission_id": submission_id,
                    "ledger": entry.as_payload(),
                },
                ensure_ascii=False,
            )
        )
    return pl.Series("payload", out, dtype=pl.String)
