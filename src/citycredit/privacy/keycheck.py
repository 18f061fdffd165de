"""Is this keyring the one this database was sealed with? A few indexed reads, no full scan.

A wrong ring (another deployment's, a fresh `crypto init`, a regenerated dev ring) does not
fail loudly by itself: new values get sealed under keys nothing else has, content hashes and
blind-index digests stop matching (a re-sent file becomes "corrections", a lookup finds
nothing). So the ring is checked against the database before it is used (`privacy.keys`):

* blind-index key: the newest and the oldest rows of ``personal_index`` (primary-key order)
  must carry the ring's index key id, and their digest must be reproduced from the clear value
  of the version they index — so a ring with a colliding id but another key fails too;
* data keys: the key ids of the newest and oldest ``SAMPLE`` rows of ``record_versions``,
  ``rejects`` and ``unresolved`` (primary-key order) must all be in the ring, and for each key
  id at least one of up to ``PROOFS`` of those values must open with the ring's key.

That is a handful of primary-key range reads and a few decryptions whatever the size of the
database; an empty (or not yet migrated) database passes at once. `crypto status` counts every
value per key (a full scan, on demand) and reports key ids the sample did not meet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import DBAPIError

from citycredit.shared.personal import ENVELOPE, Keyring, PersonalCodec, PersonalDataError

KEYED_TABLES = ("personal_index", "record_versions", "rejects", "unresolved")
SAMPLE = 64  # rows read at each end of each sealed table
PROOFS = 3  # values of one key id tried before the ring's key is called wrong


@dataclass
class RingCheck:
    """What the sample of the database says about a keyring."""

    ring: Keyring
    missing: set[str] = field(default_factory=set)  # key ids in use that the ring lacks
    wrong: set[str] = field(default_factory=set)  # key ids whose ring key opens none
    index_kids: set[str] = field(default_factory=set)  # other blind-index key ids in use
    index_wrong: bool = False  # same index key id, but digests are not reproduced

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong or self.index_kids or self.index_wrong)

    def problems(self) -> list[str]:
        out = []
        if self.missing:
            out.append(
                f"数据库中有个人信息由密钥 {'、'.join(sorted(self.missing))} 加密，"
                "密钥环中没有这些密钥"
            )
        if self.wrong:
            out.append(
                f"密钥环中的密钥 {'、'.join(sorted(self.wrong))} 打不开数据库中由同一编号加密的"
                "个人信息（编号相同，密钥不同）"
            )
        if self.index_kids:
            out.append(
                f"数据库的盲索引由盲索引密钥 {'、'.join(sorted(self.index_kids))} 生成，"
                f"密钥环的盲索引密钥是 {self.ring.index_kid}"
            )
        if self.index_wrong:
            out.append(
                f"密钥环的盲索引密钥 {self.ring.index_kid} 算不出数据库中的盲索引（编号相同，"
                "密钥不同）"
            )
        return out


def check_keyring(engine: Engine, ring: Keyring, *, index: bool = True) -> RingCheck:
    """Compare a ring with a sample of the database (`index=False`: data keys only)."""
    from citycredit.ingest.db import RecordVersionRow, RejectRow, UnresolvedRow
    from citycredit.privacy.db import PersonalIndexRow
    from citycredit.privacy.records import reject_aad, unresolved_aad, version_aad

    result = RingCheck(ring)
    occupied = _occupied(engine)
    if not occupied:
        return result  # a new (or not yet migrated) database: any ring fits
    codec = PersonalCodec(ring)
    with engine.connect() as conn:
        tables: list[tuple[Any, Any, Callable[[Any], str], tuple[Any, ...]]] = [
            (
                RecordVersionRow,
                RecordVersionRow.personal,
                lambda r: version_aad(r.record_id, r.version),
                (RecordVersionRow.record_id, RecordVersionRow.version),
            ),
            (
                RejectRow,
                RejectRow.raw,
                lambda r: reject_aad(r.submission_id, r.row_number),
                (RejectRow.submission_id, RejectRow.row_number),
            ),
            (
                UnresolvedRow,
                UnresolvedRow.values,
                lambda r: unresolved_aad(r.submission_id, r.row_number),
                (UnresolvedRow.submission_id, UnresolvedRow.row_number),
            ),
        ]
        tried: dict[str, list[bool]] = {}
        for table, column, aad_of, context in tables:
            if table.__tablename__ not in occupied:
                continue
            sampled: dict[str, list[int]] = {}
            for kid, row_id in _kids(conn, table.id, column):
                if kid not in sampled or len(sampled[kid]) < PROOFS:
                    sampled.setdefault(kid, []).append(row_id)
            for kid, ids in sampled.items():
                if ring.get(kid) is None:
                    result.missing.add(kid)
                    continue
                rows = conn.execute(select(column, *context).where(table.id.in_(ids))).all()
                tried.setdefault(kid, []).extend(_opens(codec, r[0], aad_of(r)) for r in rows)
        result.wrong = {kid for kid, opened in tried.items() if opened and not any(opened)}
        if index and PersonalIndexRow.__tablename__ in occupied:
            _check_index(conn, codec, result, PersonalIndexRow, RecordVersionRow, version_aad)
    return result


def verify_keyring(engine: Engine, ring: Keyring, *, source: str, index: bool = True) -> None:
    """Raise `PersonalDataError` (``personal_key_mismatch``) unless the ring fits the database."""
    result = check_keyring(engine, ring, index=index)
    if result.ok:
        return
    raise PersonalDataError(
        f"个人信息密钥环 {source} 不是这个数据库所用的密钥环：{'；'.join(result.problems())}。"
        "用它会加密出别处解不开的数据、查询结果为空、重复数据被当作更正。请把 "
        "CITYCREDIT_PERSONAL_KEYS 指向这个数据库原来的密钥环（开发环境：从备份恢复 "
        "data_dir/personal.keys）；citycredit crypto status 列出数据库用到的密钥",
        code="personal_key_mismatch",
    )


def holds_sealed_values(engine: Engine) -> bool:
    """True when any stored value needs a key: a sealed envelope or a blind-index row.

    Stops at the first such row; used only before generating a development ring.
    """
    from citycredit.ingest.db import RecordVersionRow, RejectRow, UnresolvedRow
    from citycredit.privacy.db import PersonalIndexRow

    occupied = _occupied(engine)
    if not occupied:
        return False
    if PersonalIndexRow.__tablename__ in occupied:
        return True
    with engine.connect() as conn:
        for table, column in (
            (RecordVersionRow, RecordVersionRow.personal),
            (RejectRow, RejectRow.raw),
            (UnresolvedRow, UnresolvedRow.values),
        ):
            if table.__tablename__ not in occupied:
                continue
            enc, kid = column["enc"].as_string(), column["kid"].as_string()
            sealed = select(table.id).where(enc.is_not(None), kid.is_not(None)).limit(1)
            if conn.execute(sealed).first() is not None:
                return True
    return False


def latest_index_kid(conn: Connection) -> str | None:
    """The blind-index key id of the newest index row (one primary-key read)."""
    from citycredit.privacy.db import PersonalIndexRow

    return conn.execute(
        select(PersonalIndexRow.index_kid).order_by(PersonalIndexRow.id.desc()).limit(1)
    ).scalar()


def _occupied(engine: Engine) -> set[str]:
    """Which of the tables holding keyed data have any row: one query (an empty database, as
    every test starts with, costs nothing more). Empty when the schema is not there yet."""
    sql = "SELECT " + ", ".join(f"(SELECT id FROM {name} LIMIT 1)" for name in KEYED_TABLES)
    try:
        with engine.connect() as conn:
            row = conn.execute(text(sql)).one()
    except DBAPIError:
        if not inspect(engine).has_table(KEYED_TABLES[0]):
            return set()  # before migration 0008 nothing is sealed
        raise
    return {name for name, value in zip(KEYED_TABLES, row, strict=True) if value is not None}


def _kids(conn: Connection, pk: Any, column: Any) -> Iterator[tuple[str, int]]:
    """(key id, row id) of the sealed values among the first and last SAMPLE rows."""
    enc, kid = column["enc"].as_string(), column["kid"].as_string()
    for order in (pk.desc(), pk.asc()):
        for row_id, marker, value in conn.execute(
            select(pk, enc, kid).order_by(order).limit(SAMPLE)
        ):
            if marker == ENVELOPE and value is not None:
                yield str(value), int(row_id)


def _opens(codec: PersonalCodec, stored: Any, aad: str) -> bool:
    try:
        codec.open(stored, aad=aad)
    except PersonalDataError:
        return False
    return True


def _check_index(
    conn: Connection,
    codec: PersonalCodec,
    result: RingCheck,
    index_row: Any,
    version_row: Any,
    version_aad: Callable[[str, int], str],
) -> None:
    """The newest and oldest index rows: their key id, and their digest recomputed."""
    ring = codec.keyring
    seen: set[int] = set()
    compared: list[bool] = []
    for order in (index_row.id.desc(), index_row.id.asc()):
        rows = conn.execute(
            select(
                index_row.id,
                index_row.kind,
                index_row.digest,
                index_row.index_kid,
                index_row.record_id,
                index_row.version,
                index_row.field,
            )
            .order_by(order)
            .limit(PROOFS)
        ).all()
        for r in rows:
            if r.id in seen:
                continue
            seen.add(r.id)
            if r.index_kid != ring.index_kid:
                result.index_kids.add(str(r.index_kid))
                continue
            stored = conn.execute(
                select(version_row.personal).where(
                    version_row.record_id == r.record_id, version_row.version == r.version
                )
            ).scalar()
            try:
                clear = codec.open(stored, aad=version_aad(r.record_id, r.version))
            except PersonalDataError:
                continue  # the data-key sample reports a ring that cannot open
            value = clear.get(r.field)
            if value in (None, ""):
                continue
            compared.append(codec.blind_index(r.kind, str(value)) == r.digest)
    result.index_wrong = bool(compared) and not any(compared)


__all__ = [
    "PROOFS",
    "SAMPLE",
    "RingCheck",
    "check_keyring",
    "holds_sealed_values",
    "latest_index_kid",
    "verify_keyring",
]
