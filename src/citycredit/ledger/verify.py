"""Tamper detection: recompute leaves from the database and the tree from the leaves.

One pass over the log in windows of leaf positions (per window: one read of the leaves, one of
the stored nodes they create, one of the checkpoints that end inside it, and IN-queries for the
rows the leaves are about), then a few set-based queries over the whole database:

- every leaf's bytes hash to its stored leaf hash and to its level-0 node; an index with no leaf
  row is named as missing; a leaf beyond the latest checkpoint is named too;
- every stored tree node equals the node recomputed from the leaves (the first bad
  (level, index) is named); every stored checkpoint's root equals the recomputed root at its
  size (the first failing one is named, with the leaves it covers); the latest checkpoint's
  signature;
- every ``record.version`` leaf against its record version (field digests, kind) and its record
  (subject, item, department, record key; the current version and the status); every
  ``report.issued`` leaf against its report (number, digest of the content, subject); every
  ``export.completed`` leaf against its 双公示 export (status, kind, period, counts, the manifest
  digest the row keeps) and against the manifest its outbox event keeps (its digest, its files);
- workflow leaves (list membership steps, objection and repair steps, records marked repaired,
  records withheld from publication and released, credit checks and their feedback,
  commitments) against their rows: a step's own values against
  its step row, the membership's / case's / commitment's state against its newest leaf only (no
  row keeps it per step; see `_Scan._check_memberships` and docs/ledger.md);
- record versions, records' current versions, reports, workflow rows and exports that keep a
  manifest digest with no leaf and no pending entry;
  outbox events the sequencer has read whose ledger entry has no leaf (a removed tail);
- the last verified (size, root), kept outside the database (data_dir/ledger-verified-head.json),
  must be extended by the current signed checkpoint (a consistency proof): a smaller size or a
  failing proof is a rollback. Not a witness (security goal G22): the file is as local as the
  database; it only makes the database alone insufficient to roll the log back.

Everything runs in one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite),
so writers and the sequencer keep working while it runs and cause no false alarm. Anything found
raises an alarm for the credit office, with the first bad index.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.checks.db import CheckFeedbackRow, CreditCheckRow
from citycredit.commitments.db import CommitmentRow
from citycredit.db.sql import one_of
from citycredit.exports.db import ExportRow
from citycredit.exports.run import iso
from citycredit.exports.verify import MANIFEST, verify_export_directory
from citycredit.ingest.db import RecordRow, RecordVersionRow, RecordWithholdingRow
from citycredit.ingest.withhold import WITHHELD_REASONS
from citycredit.ingest.withhold import leaf_fields as withholding_fields
from citycredit.kernel.db import OutboxCursorRow, OutboxEventRow
from citycredit.kernel.jobs import VERIFY, Job, job_states, state_json
from citycredit.ledger.bundle import EXPORT_ENTRY, manifest_digest, report_digest
from citycredit.ledger.db import (
    LedgerAlarmRow,
    LedgerCheckpointRow,
    LedgerLeafRow,
    LedgerLogRow,
    LedgerNodeRow,
)
from citycredit.ledger.entries import LEAF_VERSION, REASON_FIELD, field_digest
from citycredit.ledger.merkle import (
    Appender,
    ProofError,
    consistency_proof,
    leaf_hash,
    node_hash,
    peaks,
    range_nodes,
    verify_consistency,
)
from citycredit.ledger.note import NoteError, open_note, parse_checkpoint
from citycredit.ledger.signers import verifier_from_vkey
from citycredit.ledger.store import DbNodeReader, appender_at, latest_checkpoint
from citycredit.ledger.suites import HashSuite, Suite, hash_suite
from citycredit.lists.db import MembershipEventRow, MembershipRow
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import ledger_personal, version_aad
from citycredit.reports.db import ReportRow
from citycredit.rights.db import CaseStepRow, ObjectionRow, RepairRow
from citycredit.shared.personal import PersonalDataError

log = logging.getLogger(__name__)

CHUNK = 5000  # leaf positions per window
VERSION_CHUNK = 1000  # record ids (report numbers, event ids) per IN (...) query
MAX_LISTED = 200
HEAD_FILE = "ledger-verified-head.json"  # in data_dir: the last verified (size, root)
REPORT_ENTRY = "report.issued"  # reports.service.ENTRY_TYPE (reports import the ledger)


@dataclass
class VerifyReport:
    """What `ledger verify` found. Indexes are leaf indexes; every list holds at most
    MAX_LISTED items (the first ones, in leaf order)."""

    leaves: int = 0  # leaf rows read
    checkpoint_size: int = 0
    root_ok: bool = True
    signature_ok: bool = True
    # rows that no longer match their leaf: {"ref", "index", "table", "fields", ...}
    changed: list[dict[str, Any]] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)  # rows with no leaf and no pending entry
    deleted: list[str] = field(default_factory=list)  # refs of leaves whose row is gone
    leaf_mismatch: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # indexes below the size with no leaf row
    node_mismatch: list[dict[str, int]] = field(default_factory=list)  # {"level", "index"}
    checkpoint_mismatch: list[dict[str, int]] = field(default_factory=list)  # {"size", "from"}
    unsequenced: list[int] = field(default_factory=list)  # outbox event ids read, with no leaf
    rollback: dict[str, Any] | None = None  # the log no longer extends the last verified head
    first_bad_index: int | None = None
    mode: str = "full"  # or "incremental": new leaves and rows, and one window of older ones
    ranges: list[dict[str, Any]] = field(default_factory=list)  # {"from", "to", "why"}: scanned

    @property
    def ok(self) -> bool:
        return (
            self.root_ok
            and self.signature_ok
            and not self.changed
            and not self.inserted
            and not self.deleted
            and not self.leaf_mismatch
            and not self.missing
            and not self.node_mismatch
            and not self.checkpoint_mismatch
            and not self.unsequenced
            and self.rollback is None
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def flag(self, index: int) -> None:
        """Note a bad leaf index (the report names the first)."""
        if self.first_bad_index is None or index < self.first_bad_index:
            self.first_bad_index = index


def _add(items: list[Any], item: Any) -> None:
    if len(items) < MAX_LISTED:
        items.append(item)


def _version_digests(
    c: Container, h: HashSuite, salt: bytes, v: Any, leaf_version: int = LEAF_VERSION
) -> dict[str, str]:
    """Field digests of a record version (a RecordVersionRow or a row of its columns), as a
    leaf of ``leaf_version`` commits to them (1: personal values raw; 2: keyed digests)."""
    personal = open_personal(
        c,
        SYSTEM,
        v.personal,
        aad=version_aad(v.record_id, v.version),
        purpose=Purpose.integrity,
    )
    if leaf_version >= 2:
        personal = ledger_personal(c.personal_codec, personal)
    fields = {**v.payload, **personal}
    out = {
        code: field_digest(h, salt, code, value)
        for code, value in fields.items()
        if value is not None
    }
    if v.kind == "withdrawal" and v.reason is not None:
        out[REASON_FIELD] = field_digest(h, salt, REASON_FIELD, v.reason)
    return out


_LEAF_COLUMNS = (
    LedgerLeafRow.idx,
    LedgerLeafRow.leaf_hash,
    LedgerLeafRow.data,
    LedgerLeafRow.salt,
    LedgerLeafRow.ref,
    LedgerLeafRow.entry_type,
    LedgerLeafRow.subject_id,
    LedgerLeafRow.record_key,
)
# a record with each of its versions (version columns None for a record with none)
_RECORD_VERSION_COLUMNS = (
    RecordRow.id.label("rid"),
    RecordRow.subject_id,
    RecordRow.item_code,
    RecordRow.department_id,
    RecordRow.record_key,
    RecordRow.current_version,
    RecordRow.status,
    RecordVersionRow.record_id,
    RecordVersionRow.version,
    RecordVersionRow.kind,
    RecordVersionRow.payload,
    RecordVersionRow.personal,
    RecordVersionRow.reason,
)
_REPORT_COLUMNS = (
    ReportRow.report_no,
    ReportRow.subject_id,
    ReportRow.content,
    ReportRow.content_hash,
)
# (a pending leaf: index, committed ref, record salt, decoded leaf bytes)
_Leaf = tuple[int, str, bytes, dict[str, Any]]

# workflow leaf types checked against their rows (audit.seal: `citycredit audit verify`)
_WORKFLOW_GROUP = {
    "list.membership": "membership",  # lists.service.record_step
    "credit_check.made": "check",  # checks.service.run_check
    "credit_check.feedback": "feedback",  # checks.service.record_feedback
    "rights.objection": "case",  # rights.cases.record_case_step
    "rights.repair": "case",
    "record.repaired": "repaired",  # rights.repairs._mark_repaired
    "record.withheld": "withholding",  # ingest.withhold (不予公示)
    "record.released": "withholding",
    EXPORT_ENTRY: "export",  # exports.run.ExportRun._commit_to_ledger (双公示)
}
_WITHHOLDING_WORDS = {"withheld": "withhold", "released": "release"}  # ref word → action
_COMMITMENT_PREFIX = "commitment."  # commitments.service._ledger: recorded | <outcome>
_CASE_ENTRIES = {"rights.objection": "objection", "rights.repair": "repair"}
_MEMBERSHIP_COLUMNS = (
    MembershipRow.id,
    MembershipRow.subject_id,
    MembershipRow.list_type,
    MembershipRow.origin,
    MembershipRow.status,
    MembershipRow.reasons,
    MembershipRow.document_no,
    MembershipRow.decision_no,
    MembershipRow.decided_on,
    MembershipRow.published_on,
    MembershipRow.expires_on,
    MembershipRow.exit_code,
    MembershipRow.record_id,
)
_MEMBERSHIP_EVENT_COLUMNS = (
    MembershipEventRow.id,
    MembershipEventRow.membership_id,
    MembershipEventRow.from_status,
    MembershipEventRow.to_status,
    MembershipEventRow.action,
    MembershipEventRow.at,
    MembershipEventRow.actor,
    MembershipEventRow.note,
    MembershipEventRow.ledger_ref,
)
_CHECK_COLUMNS = (
    CreditCheckRow.id,
    CreditCheckRow.subject_id,
    CreditCheckRow.matter,
    CreditCheckRow.eligible,
    CreditCheckRow.result,
    CreditCheckRow.checked_at,
)
_FEEDBACK_COLUMNS = (
    CheckFeedbackRow.id,
    CheckFeedbackRow.check_id,
    CheckFeedbackRow.measure_code,
    CheckFeedbackRow.applied,
    CheckFeedbackRow.reason,
    CheckFeedbackRow.recorded_at,
    select(CreditCheckRow.subject_id)
    .where(CreditCheckRow.id == CheckFeedbackRow.check_id)
    .scalar_subquery()
    .label("subject_id"),
)
_CASE_STEP_COLUMNS = (
    CaseStepRow.id,
    CaseStepRow.case_type,
    CaseStepRow.case_id,
    CaseStepRow.action,
    CaseStepRow.from_status,
    CaseStepRow.to_status,
    CaseStepRow.actor,
    CaseStepRow.note,
    CaseStepRow.at,
)
_OBJECTION_COLUMNS = (
    ObjectionRow.id,
    ObjectionRow.subject_id,
    ObjectionRow.status,
    ObjectionRow.target_type,
    ObjectionRow.target_id,
    ObjectionRow.department_id,
    ObjectionRow.ground,
    ObjectionRow.reasons,
    ObjectionRow.outcome,
)
_REPAIR_COLUMNS = (
    RepairRow.id,
    RepairRow.subject_id,
    RepairRow.status,
    RepairRow.target_type,
    RepairRow.target_id,
    RepairRow.department_id,
    RepairRow.channel,
)
_REPAIRED_RECORD_COLUMNS = (
    RecordRow.id,
    RecordRow.subject_id,
    RecordRow.repair_id,
    RecordRow.repaired_at,
)
_WITHHOLDING_COLUMNS = (
    RecordWithholdingRow.id,
    RecordWithholdingRow.record_id,
    RecordWithholdingRow.action,
    RecordWithholdingRow.reason,
    RecordWithholdingRow.basis,
    RecordWithholdingRow.department_id,
    RecordWithholdingRow.actor,
)
_COMMITMENT_COLUMNS = (
    CommitmentRow.id,
    CommitmentRow.subject_id,
    CommitmentRow.kind,
    CommitmentRow.matter,
    CommitmentRow.text,
    CommitmentRow.made_on,
    CommitmentRow.department_id,
    CommitmentRow.status,
    CommitmentRow.false_commitment,
    CommitmentRow.checked_on,
    CommitmentRow.outcome_note,
    CommitmentRow.record_id,
)
_EXPORT_COLUMNS = (
    ExportRow.id,
    ExportRow.kind,
    ExportRow.status,
    ExportRow.period_since,
    ExportRow.period_until,
    ExportRow.counts,
    ExportRow.files,
    ExportRow.completed_at,
    ExportRow.manifest_hash,
    ExportRow.directory,
    ExportRow.files_purged_at,
)


def _workflow_group(entry_type: str) -> str | None:
    if entry_type.startswith(_COMMITMENT_PREFIX):
        return "commitment"
    return _WORKFLOW_GROUP.get(entry_type)


def _instant(text: Any) -> datetime | None:
    """An ISO time as committed in a leaf or a ref (None: not one)."""
    if not isinstance(text, str):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _same_instant(committed: Any, at: datetime | None) -> bool:
    when = _instant(committed)
    return when is not None and at is not None and when == at


def _day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _case_ref(ref: str) -> tuple[str, str, datetime | None]:
    """(case id, action, time) of a case step's ref "<case>/<action>/<ISO time>"."""
    case_id, _, rest = ref.partition("/")
    action, _, at = rest.partition("/")
    return case_id, action, _instant(at)


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    if a == b:
        return []
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _node_ranges(lo: int, hi: int) -> list[tuple[int, int, int]]:
    """(level, first, last index) of the complete nodes created by appending leaves [lo, hi):
    node (level, i) is created with leaf (i + 1)·2^level − 1."""
    out = []
    for level in range(hi.bit_length()):
        first, last = ((lo + (1 << level)) >> level) - 1, (hi >> level) - 1
        if first <= last:
            out.append((level, first, last))
    return out


def _stored_nodes(conn: Connection, lo: int, hi: int) -> dict[tuple[int, int], bytes]:
    """The stored nodes that appending leaves [lo, hi) creates, in one query."""
    ranges = _node_ranges(lo, hi)
    rows = conn.execute(
        select(LedgerNodeRow.level, LedgerNodeRow.idx, LedgerNodeRow.hash).where(
            or_(
                *(
                    and_(LedgerNodeRow.level == level, LedgerNodeRow.idx.between(first, last))
                    for level, first, last in ranges
                )
            )
        )
    )
    return {(level, idx): bytes(h) for level, idx, h in rows}


class _Scan:
    """The pass over the log: recomputes the tree and checks leaves, nodes and checkpoints."""

    def __init__(
        self,
        c: Container,
        s: Session,
        suite: Suite,
        report: VerifyReport,
        cp_size: int,
        app: Appender | None = None,
        keep: Iterable[tuple[int, int]] = (),
    ) -> None:
        """`app`: the tree to go on from (a scan that starts after leaf 0); `keep`: the nodes
        whose recomputed hashes to keep in `made` (a window's compact range)."""
        self.c, self.s, self.suite, self.report = c, s, suite, report
        self.conn = s.connection()  # Core rows: the ORM's row handling doubled the reads' cost
        self.h = hash_suite(suite)
        self.app = app if app is not None else Appender(self.h)
        self.cp_size = cp_size
        self.prev_cp = self.app.size
        # recomputed root at the latest checkpoint's size
        self.root_at_cp: bytes | None = self.app.root() if self.app.size == cp_size else None
        self.keep = set(keep)
        self.made: dict[tuple[int, int], bytes] = {}
        # positions whose hash in the recomputed tree is not trusted (a bad or missing leaf):
        # the nodes above them are expected to differ and are not reported again
        self.suspect: list[int] = []
        self.placeholder = bytes(self.h.size)
        self.seen_steps: set[int] = set()  # case_steps rows a leaf was found for

    # -- the tree ------------------------------------------------------------------------

    def window(self, lo: int, hi: int) -> None:
        conn, h, report = self.conn, self.h, self.report
        leaves = {
            r.idx: r
            for r in conn.execute(
                select(*_LEAF_COLUMNS).where(LedgerLeafRow.idx >= lo, LedgerLeafRow.idx < hi)
            )
        }
        nodes = _stored_nodes(conn, lo, hi)
        checkpoints = {
            size: bytes(root)
            for size, root in conn.execute(
                select(LedgerCheckpointRow.size, LedgerCheckpointRow.root).where(
                    LedgerCheckpointRow.size > lo, LedgerCheckpointRow.size <= hi
                )
            )
        }
        versions: list[_Leaf] = []
        reports: list[_Leaf] = []
        flows: dict[str, list[_Leaf]] = {}  # workflow leaves by group (_WORKFLOW_GROUP)
        for pos in range(lo, hi):
            row = leaves.get(pos)
            stored0 = nodes.get((0, pos))
            if row is None:
                _add(report.missing, pos)
                report.flag(pos)
                if stored0 is None or len(stored0) != h.size:
                    lh = self.placeholder
                    self.suspect.append(pos)
                else:  # the leaf row is gone but its node is not: the tree goes on
                    lh = stored0
            else:
                report.leaves += 1
                data = bytes(row.data)
                lh = leaf_hash(h, data)
                if lh != bytes(row.leaf_hash) or lh != stored0 or pos >= self.cp_size:
                    _add(report.leaf_mismatch, pos)
                    report.flag(pos)
                    self.suspect.append(pos)
                self._leaf(pos, row, data, versions, reports, flows)
            for level, idx, value in self.app.append(lh):
                if (level, idx) in self.keep:
                    self.made[(level, idx)] = value
                if nodes.get((level, idx)) != value and not self._over_suspect(level, idx):
                    _add(report.node_mismatch, {"level": level, "index": idx})
                    report.flag(idx << level)
            root = checkpoints.get(pos + 1)
            if root is not None:
                self._checkpoint(pos + 1, root)
        self._check_versions(versions)
        self._check_reports(reports)
        self._check_workflows(flows)

    def _over_suspect(self, level: int, idx: int) -> bool:
        if not self.suspect:
            return False
        i = bisect_left(self.suspect, idx << level)
        return i < len(self.suspect) and self.suspect[i] < (idx + 1) << level

    def _checkpoint(self, size: int, root: bytes) -> None:
        got = self.app.root()
        if got != root:
            # the checkpoint before it matched: the difference is in the leaves [from, size);
            # a bad or missing leaf named there already explains it
            _add(self.report.checkpoint_mismatch, {"size": size, "from": self.prev_cp})
            i = bisect_left(self.suspect, self.prev_cp)
            if i == len(self.suspect) or self.suspect[i] >= size:
                self.report.flag(self.prev_cp)
        self.prev_cp = size
        if size == self.cp_size:
            self.root_at_cp = got

    # -- what the leaves are about -------------------------------------------------------

    def changed(self, entry: dict[str, Any]) -> None:
        _add(self.report.changed, entry)
        if entry.get("index") is not None:
            self.report.flag(entry["index"])

    def _leaf(
        self,
        pos: int,
        row: Any,
        data: bytes,
        versions: list[_Leaf],
        reports: list[_Leaf],
        flows: dict[str, list[_Leaf]],
    ) -> None:
        try:
            d = json.loads(data)
            if not isinstance(d, dict) or not isinstance(d.get("fields"), dict):
                raise ValueError("not a leaf")
        except ValueError:
            self.changed(
                {"ref": row.ref, "index": pos, "table": "ledger_leaves", "fields": ["data"]}
            )
            return
        # the search index beside the log (bundles and the staff search look leaves up by it)
        cols = [
            name
            for name, committed in (
                ("entry_type", d.get("type")),
                ("ref", d.get("ref")),
                ("subject_id", d.get("subject_id")),
                ("record_key", d.get("record_key")),
            )
            if getattr(row, name) != committed
        ]
        if cols:
            self.changed({"ref": row.ref, "index": pos, "table": "ledger_leaves", "fields": cols})
        kind = d.get("type")
        if kind == "record.version":
            rid, ver = d.get("record_id"), d.get("version")
            if isinstance(rid, str) and isinstance(ver, int):
                versions.append((pos, f"{rid}/{ver}", bytes(row.salt), d))
            else:
                self.changed(
                    {"ref": row.ref, "index": pos, "table": "ledger_leaves", "fields": ["data"]}
                )
        elif kind == REPORT_ENTRY and isinstance(d.get("ref"), str):
            reports.append((pos, d["ref"], bytes(row.salt), d))
        elif isinstance(kind, str) and isinstance(d.get("ref"), str):
            group = _workflow_group(kind)
            if group is not None:
                flows.setdefault(group, []).append((pos, d["ref"], bytes(row.salt), d))

    def _check_versions(self, batch: Sequence[_Leaf]) -> None:
        # The batch's records with every version of each (one index scan per record), not an
        # OR of (record_id, version) pairs; the exact version is picked here. Plain rows, no ORM.
        conn, report = self.conn, self.report
        ids = sorted({d["record_id"] for _, _, _, d in batch})
        versions: dict[tuple[str, int], Any] = {}
        records: dict[str, Any] = {}
        for i in range(0, len(ids), VERSION_CHUNK):
            query = (
                select(*_RECORD_VERSION_COLUMNS)
                .select_from(RecordRow)
                .outerjoin(RecordVersionRow, RecordVersionRow.record_id == RecordRow.id)
                .where(one_of(conn.dialect.name, RecordRow.id, ids[i : i + VERSION_CHUNK]))
            )
            for row in conn.execute(query):
                records[row.rid] = row
                if row.version is not None:
                    versions[(row.rid, row.version)] = row
        for pos, ref, salt, d in batch:
            rid, ver, kind = d["record_id"], d["version"], d.get("kind")
            about = {"ref": ref, "index": pos, "record_id": rid, "version": ver}
            v = versions.get((rid, ver))
            if v is None:
                _add(report.deleted, ref)
                report.flag(pos)
            else:
                try:
                    now = _version_digests(self.c, self.h, salt, v, int(d.get("v", 1)))
                    fields = _diff(now, d["fields"])
                except PersonalDataError:  # a sealed value edited or moved behind our back
                    fields = ["personal"]
                if kind is not None and kind != v.kind:
                    fields.append("kind")
                if fields:
                    self.changed({**about, "table": "record_versions", "fields": sorted(fields)})
            r = records.get(rid)
            if r is None:  # and so no version either (reported as deleted above)
                continue
            cols = []
            if d.get("subject_id") != r.subject_id:
                cols.append("subject_id")
            if "item" in d and d["item"] != r.item_code:
                cols.append("item_code")
            # a correction's leaf names the department that sent it; the record keeps the
            # department of its original (and a withdrawal's leaf names that one)
            department = d.get("department_id", r.department_id)
            if kind in ("original", "withdrawal") and department != r.department_id:
                cols.append("department_id")
            if "record_key" in d and d["record_key"] != r.record_key:
                cols.append("record_key")
            status = "withdrawn" if kind == "withdrawal" else "active"
            if ver > r.current_version:  # a later version is in the log: rolled back
                cols.append("current_version")
            elif ver == r.current_version and r.status != status:
                cols.append("status")
            if cols:
                self.changed({**about, "table": "records", "fields": sorted(cols)})

    def _check_reports(self, batch: Sequence[_Leaf]) -> None:
        conn, report = self.conn, self.report
        nos = sorted({ref.removesuffix("/issued") for _, ref, _, _ in batch})
        rows: dict[str, Any] = {}
        for i in range(0, len(nos), VERSION_CHUNK):
            query = select(*_REPORT_COLUMNS).where(
                one_of(conn.dialect.name, ReportRow.report_no, nos[i : i + VERSION_CHUNK])
            )
            for row in conn.execute(query):
                rows[row.report_no] = row
        for pos, ref, salt, d in batch:
            no = ref.removesuffix("/issued")
            r = rows.get(no)
            if r is None:
                _add(report.deleted, ref)
                report.flag(pos)
                continue
            want = {
                "content_hash": field_digest(self.h, salt, "content_hash", r.content_hash),
                "report_no": field_digest(self.h, salt, "report_no", r.report_no),
            }
            fields = _diff(want, d["fields"])
            if report_digest(self.suite, r.content) != r.content_hash:
                fields.append("content")
            if d.get("subject_id") != r.subject_id:
                fields.append("subject_id")
            if fields:
                self.changed(
                    {
                        "ref": ref,
                        "index": pos,
                        "report_no": no,
                        "table": "reports",
                        "fields": sorted(fields),
                    }
                )

    # -- workflow leaves (list memberships, rights cases, checks, commitments) -------------
    #
    # What each leaf commits to and which row keeps it now (docs/ledger.md, "what verify
    # checks"). A step's own values (from, to, action, actor, note, time) are kept per step in
    # membership_events and case_steps, so every step leaf is recomputed from its step row. The
    # values a step copied from its membership or case (list type, reasons, decision, dates;
    # target, department, outcome …) are NOT kept per step: only the membership / case row
    # holds them, as of its newest step. So they are compared with the row for the newest
    # step's leaf only (and the row's status with that leaf's "to"); an older step's copy of
    # them cannot be checked against anything in the database.

    def _digests_differ(
        self, salt: bytes, committed: dict[str, Any], values: dict[str, Any]
    ) -> list[str]:
        """The names in `values` whose salted digest is not the committed one (a None value
        is committed by its absence)."""
        out = []
        for name, value in values.items():
            want = None if value is None else field_digest(self.h, salt, name, value)
            if committed.get(name) != want:
                out.append(name)
        return out

    def _gone(self, pos: int, ref: str) -> None:
        _add(self.report.deleted, ref)
        self.report.flag(pos)

    def _rows(
        self,
        columns: Sequence[Any],
        key: Any,
        ids: Iterable[Any],
        *where: Any,
        group_by: Any = None,
    ) -> list[Any]:
        """Rows whose `key` is one of `ids`, VERSION_CHUNK ids per query (`group_by`: for
        aggregate columns)."""
        conn, values = self.conn, sorted(set(ids))
        out: list[Any] = []
        for i in range(0, len(values), VERSION_CHUNK):
            part = values[i : i + VERSION_CHUNK]
            query = select(*columns).where(one_of(conn.dialect.name, key, part), *where)
            if group_by is not None:
                query = query.group_by(group_by)
            out += conn.execute(query)
        return out

    def _check_workflows(self, flows: dict[str, list[_Leaf]]) -> None:
        if flows.get("membership"):
            self._check_memberships(flows["membership"])
        if flows.get("check"):
            self._check_checks(flows["check"])
        if flows.get("feedback"):
            self._check_feedback(flows["feedback"])
        if flows.get("case"):
            self._check_cases(flows["case"])
        if flows.get("repaired"):
            self._check_repaired(flows["repaired"])
        if flows.get("commitment"):
            self._check_commitments(flows["commitment"])
        if flows.get("withholding"):
            self._check_withholdings(flows["withholding"])
        if flows.get("export"):
            self._check_exports(flows["export"])

    def _check_memberships(self, batch: Sequence[_Leaf]) -> None:
        """``list.membership`` leaves (ref "<membership>/<n>/<action>") against their
        membership_events row (found by its ledger_ref) and, for the newest step, the
        membership row."""
        ids = {ref.split("/", 1)[0] for _, ref, _, _ in batch}
        members = {r.id: r for r in self._rows(_MEMBERSHIP_COLUMNS, MembershipRow.id, ids)}
        steps: dict[str, Any] = {}
        newest: dict[str, int] = {}  # membership id → id of its newest step row
        for e in self._rows(_MEMBERSHIP_EVENT_COLUMNS, MembershipEventRow.membership_id, ids):
            steps[e.ledger_ref] = e
            newest[e.membership_id] = max(e.id, newest.get(e.membership_id, e.id))
        for pos, ref, salt, d in batch:
            mid, committed = ref.split("/", 1)[0], d["fields"]
            e = steps.get(ref)
            if e is None:
                self._gone(pos, ref)
                continue
            fields = self._digests_differ(
                salt,
                committed,
                {
                    "from": e.from_status,
                    "to": e.to_status,
                    "action": e.action,
                    "actor": e.actor,
                    "note": e.note or None,
                },
            )
            if not _same_instant(d.get("at"), e.at):
                fields.append("at")
            about = {"ref": ref, "index": pos, "membership_id": mid}
            if fields:
                self.changed(
                    {**about, "table": "membership_events", "row_id": e.id, "fields": fields}
                )
            m = members.get(mid)
            if m is None:  # its steps are still there (no foreign key on SQLite)
                self._gone(pos, ref)
                continue
            if newest[mid] != e.id:
                continue
            cols = self._digests_differ(
                salt,
                committed,
                {
                    "list_type": m.list_type,
                    "origin": m.origin,
                    "reasons": m.reasons or None,
                    "document_no": m.document_no,
                    "decision_no": m.decision_no,
                    "decided_on": _day(m.decided_on),
                    "published_on": _day(m.published_on),
                    "expires_on": _day(m.expires_on),
                    "exit_code": m.exit_code,
                    "record_id": m.record_id,
                },
            )
            if self._digests_differ(salt, committed, {"to": m.status}):
                cols.append("status")
            if d.get("subject_id") != m.subject_id:
                cols.append("subject_id")
            if cols:
                self.changed({**about, "table": "memberships", "row_id": mid, "fields": cols})

    def _check_checks(self, batch: Sequence[_Leaf]) -> None:
        """``credit_check.made`` leaves (ref "<check>/made") against the check row: its
        columns and the result exactly as answered (kept whole in the row)."""
        ids = {ref.removesuffix("/made") for _, ref, _, _ in batch}
        rows = {r.id: r for r in self._rows(_CHECK_COLUMNS, CreditCheckRow.id, ids)}
        for pos, ref, salt, d in batch:
            cid, committed = ref.removesuffix("/made"), d["fields"]
            r = rows.get(cid)
            if r is None:
                self._gone(pos, ref)
                continue
            fields = self._digests_differ(
                salt, committed, {"matter": r.matter, "eligible": r.eligible}
            )
            try:
                res = r.result
                answered = {
                    "matter": res["matter"]["code"],
                    "department": res["department"],
                    "eligible": res["fast_approval"]["eligible"],
                    "measures": [m["code"] for m in res["measures"]],
                    "memberships": sorted({m["list_type"] for m in res["memberships"]}),
                }
                if self._digests_differ(salt, committed, answered) or (
                    res["subject"]["subject_id"] != r.subject_id
                ):
                    fields.append("result")
            except (KeyError, TypeError, AttributeError):  # not a result any more
                fields.append("result")
            if d.get("subject_id") != r.subject_id:
                fields.append("subject_id")
            if not _same_instant(d.get("at"), r.checked_at):
                fields.append("checked_at")
            if fields:
                self.changed(
                    {"ref": ref, "index": pos, "table": "credit_checks", "row_id": cid,
                     "fields": sorted(fields)}
                )  # fmt: skip

    def _check_feedback(self, batch: Sequence[_Leaf]) -> None:
        """``credit_check.feedback`` leaves (ref "<check>/feedback/<measure>") against the
        feedback row of that check and measure (one per measure)."""
        ids = {ref.split("/feedback/", 1)[0] for _, ref, _, _ in batch}
        rows = {
            (r.check_id, r.measure_code): r
            for r in self._rows(_FEEDBACK_COLUMNS, CheckFeedbackRow.check_id, ids)
        }
        for pos, ref, salt, d in batch:
            cid, _, measure = ref.partition("/feedback/")
            r = rows.get((cid, measure))
            if r is None:
                self._gone(pos, ref)
                continue
            fields = self._digests_differ(
                salt,
                d["fields"],
                {"measure": r.measure_code, "applied": r.applied, "reason": r.reason},
            )
            if not _same_instant(d.get("at"), r.recorded_at):
                fields.append("recorded_at")
            if r.subject_id is not None and d.get("subject_id") != r.subject_id:
                fields.append("subject_id")
            if fields:
                self.changed(
                    {"ref": ref, "index": pos, "table": "credit_check_feedback", "row_id": r.id,
                     "check_id": cid, "fields": fields}
                )  # fmt: skip

    def _check_cases(self, batch: Sequence[_Leaf]) -> None:
        """``rights.objection`` / ``rights.repair`` leaves (ref "<case>/<action>/<time>")
        against their case_steps row (case, action and time) and, for the newest step, the
        objection or repair row."""
        parsed: list[tuple[int, str, bytes, dict[str, Any], str, str, Any]] = []
        for pos, ref, salt, d in batch:
            case_type = _CASE_ENTRIES[d["type"]]
            case_id, action, at = _case_ref(ref)
            parsed.append((pos, ref, salt, d, case_type, case_id, (case_id, action, at)))
        ids = {p[5] for p in parsed}
        types = sorted({p[4] for p in parsed})
        steps: dict[tuple[str, str, str, Any], list[Any]] = {}
        newest: dict[tuple[str, str], int] = {}
        for e in self._rows(
            _CASE_STEP_COLUMNS, CaseStepRow.case_id, ids, CaseStepRow.case_type.in_(types)
        ):
            steps.setdefault((e.case_type, e.case_id, e.action, e.at), []).append(e)
            key = (e.case_type, e.case_id)
            newest[key] = max(e.id, newest.get(key, e.id))
        cases: dict[tuple[str, str], Any] = {}
        for case_type, columns, case_key in (
            ("objection", _OBJECTION_COLUMNS, ObjectionRow.id),
            ("repair", _REPAIR_COLUMNS, RepairRow.id),
        ):
            wanted = {p[5] for p in parsed if p[4] == case_type}
            if wanted:
                rows = self._rows(columns, case_key, wanted)
                cases.update(((case_type, r.id), r) for r in rows)
        for pos, ref, salt, d, case_type, case_id, (_, action, at) in parsed:
            rows = sorted(steps.get((case_type, case_id, action, at), []), key=lambda e: e.id)
            e = next((x for x in rows if x.id not in self.seen_steps), rows[0] if rows else None)
            if e is None:
                self._gone(pos, ref)
                continue
            self.seen_steps.add(e.id)
            committed = d["fields"]
            fields = self._digests_differ(
                salt,
                committed,
                {
                    "from": e.from_status,
                    "to": e.to_status,
                    "action": e.action,
                    "actor": e.actor,
                    "note": e.note,
                },
            )
            if not _same_instant(d.get("at"), e.at):
                fields.append("at")
            about = {"ref": ref, "index": pos, "case_type": case_type, "case_id": case_id}
            if fields:
                self.changed({**about, "table": "case_steps", "row_id": e.id, "fields": fields})
            case = cases.get((case_type, case_id))
            if case is None:
                self._gone(pos, ref)
                continue
            if newest[(case_type, case_id)] != e.id:
                continue
            facts: dict[str, Any] = {
                "target_type": case.target_type,
                "target_id": case.target_id,
                "department_id": case.department_id,
            }
            if case_type == "objection":
                facts |= {"ground": case.ground, "reasons": case.reasons, "outcome": case.outcome}
            else:
                facts["channel"] = case.channel
            cols = self._digests_differ(salt, committed, facts)
            if self._digests_differ(salt, committed, {"to": case.status}):
                cols.append("status")
            if d.get("subject_id") != case.subject_id:
                cols.append("subject_id")
            if cols:
                table = "objections" if case_type == "objection" else "repairs"
                self.changed({**about, "table": table, "row_id": case_id, "fields": cols})

    def _check_repaired(self, batch: Sequence[_Leaf]) -> None:
        """``record.repaired`` leaves (ref "<record>/repaired/<repair>") against the record
        (repaired by that repair while it stands), the repair and its approve step (the
        decider)."""
        pairs = [(p, ref.partition("/repaired/")) for p in batch for ref in (p[1],)]
        records = {
            r.id: r
            for r in self._rows(_REPAIRED_RECORD_COLUMNS, RecordRow.id, {x[0] for _, x in pairs})
        }
        repair_ids = {x[2] for _, x in pairs}
        repairs = {
            r.id: r for r in self._rows((RepairRow.id, RepairRow.status), RepairRow.id, repair_ids)
        }
        deciders = {
            e.case_id: e.actor
            for e in self._rows(
                (CaseStepRow.case_id, CaseStepRow.actor),
                CaseStepRow.case_id,
                repair_ids,
                CaseStepRow.case_type == "repair",
                CaseStepRow.action == "approve",
            )
        }
        for (pos, ref, salt, d), (rid, _, repair_id) in pairs:
            record, repair = records.get(rid), repairs.get(repair_id)
            if record is None or repair is None:
                self._gone(pos, ref)
                continue
            fields = self._digests_differ(
                salt, d["fields"], {"record_id": record.id, "repair_id": repair.id}
            )
            if repair_id in deciders:  # a missing approve step is named by its own leaf
                fields += self._digests_differ(
                    salt, d["fields"], {"decided_by": deciders[repair_id]}
                )
            about = {"ref": ref, "index": pos}
            if fields:
                self.changed({**about, "table": "records", "row_id": rid, "fields": fields})
            if repair.status == "approved":  # the record stays repaired until a revocation
                cols = [] if record.repair_id == repair_id else ["repair_id"]
                if record.repaired_at is None:
                    cols.append("repaired_at")
                if d.get("subject_id") != record.subject_id:
                    cols.append("subject_id")
                if cols:
                    self.changed({**about, "table": "records", "row_id": rid, "fields": cols})
            elif repair.status != "revoked":  # only an approved repair marks a record
                self.changed(
                    {**about, "table": "repairs", "row_id": repair_id, "fields": ["status"]}
                )

    def _check_withholdings(self, batch: Sequence[_Leaf]) -> None:
        """``record.withheld`` / ``record.released`` leaves (ref "<record>/<withheld|released>/
        <step>") against their record_withholdings row, and the newest step of each record
        against the record: withheld → not published, for that reason; released → no
        withholding reason left (a later correction may still make it 轻微 or a minor's)."""
        parsed: list[tuple[_Leaf, str, str, int | None]] = []
        for leaf in batch:
            rid, word, step = [*leaf[1].split("/"), "", ""][:3]
            parsed.append((leaf, rid, word, int(step) if step.isdigit() else None))
        step_ids = {n for *_, n in parsed if n is not None}
        steps = {
            r.id: r for r in self._rows(_WITHHOLDING_COLUMNS, RecordWithholdingRow.id, step_ids)
        }
        rids = {rid for _, rid, _, _ in parsed}
        records = {
            r.id: r
            for r in self._rows(
                (RecordRow.id, RecordRow.subject_id, RecordRow.published,
                 RecordRow.unpublished_reason),
                RecordRow.id,
                rids,
            )
        }  # fmt: skip
        newest: dict[str, int] = {}
        for rid, top in self._rows(
            (RecordWithholdingRow.record_id, func.max(RecordWithholdingRow.id)),
            RecordWithholdingRow.record_id,
            rids,
            group_by=RecordWithholdingRow.record_id,
        ):
            newest[rid] = top
        for (pos, ref, salt, d), rid, word, step_id in parsed:
            row = steps.get(step_id) if step_id is not None else None
            record = records.get(rid)
            if row is None or record is None or row.record_id != rid:
                self._gone(pos, ref)
                continue
            about = {"ref": ref, "index": pos}
            fields = self._digests_differ(salt, d["fields"], withholding_fields(row))
            if _WITHHOLDING_WORDS.get(word) != row.action and "action" not in fields:
                fields.append("action")
            if fields:
                self.changed(
                    {**about, "table": "record_withholdings", "row_id": row.id, "fields": fields}
                )
            cols = [] if d.get("subject_id") == record.subject_id else ["subject_id"]
            if newest.get(rid) == row.id:
                if row.action == "withhold":
                    if record.published:
                        cols.append("published")
                    if record.unpublished_reason != row.reason:
                        cols.append("unpublished_reason")
                elif record.unpublished_reason in WITHHELD_REASONS:
                    cols.append("unpublished_reason")
            if cols:
                self.changed({**about, "table": "records", "row_id": rid, "fields": cols})

    def _check_commitments(self, batch: Sequence[_Leaf]) -> None:
        """``commitment.<step>`` leaves (ref "<commitment>/<step>") against the commitment
        row. Its content is fixed when it is recorded, so every leaf is checked against it;
        its status, check date and note are kept only as they are now: against the newest
        leaf (the outcome's, or the recording's while it is still in progress)."""
        ids = {ref.split("/", 1)[0] for _, ref, _, _ in batch}
        rows = {r.id: r for r in self._rows(_COMMITMENT_COLUMNS, CommitmentRow.id, ids)}
        for pos, ref, salt, d in batch:
            cid, _, step = ref.partition("/")
            r = rows.get(cid)
            if r is None:
                self._gone(pos, ref)
                continue
            values: dict[str, Any] = {
                "kind": r.kind,
                "matter": r.matter,
                "text": r.text,
                "made_on": _day(r.made_on),
                "department_id": r.department_id,
                "record_id": r.record_id,
            }
            if step != "recorded" or r.status == "in_progress":  # the newest leaf
                values |= {
                    "status": r.status,
                    "false_commitment": r.false_commitment,
                    "checked_on": _day(r.checked_on),
                    "note": r.outcome_note,
                }
            fields = self._digests_differ(salt, d["fields"], values)
            if d.get("subject_id") != r.subject_id:
                fields.append("subject_id")
            if fields:
                self.changed(
                    {"ref": ref, "index": pos, "table": "commitments", "row_id": cid,
                     "fields": fields}
                )  # fmt: skip

    def _check_exports(self, batch: Sequence[_Leaf]) -> None:
        """``export.completed`` leaves (ref "<export>/completed") against the exports row: it
        is completed (at the leaf's time), its kind, period and counts are the committed ones,
        and so is the manifest digest it keeps (``manifest_hash``). And against the manifest
        the leaf's outbox event keeps (what the export's proof is made of): it must still hash
        to the committed digest, and the row's files (names, rows, checksums) must be the ones
        it lists. While the export's files are still on disk (not yet purged by retention),
        they are checked too, as the provincial platform will check them on receipt: every file
        the manifest.json beside them lists, with its size, SHA-256 and rows, no other file,
        and that manifest.json is the committed one (`_export_directory_problems`). A directory
        that is not there at all is not checked (a restore does not bring exports back)."""
        ids = {ref.removesuffix("/completed") for _, ref, _, _ in batch}
        rows = {r.id: r for r in self._rows(_EXPORT_COLUMNS, ExportRow.id, ids)}
        positions = [pos for pos, _, _, _ in batch]
        idx, event_id = LedgerLeafRow.idx, LedgerLeafRow.event_id
        events = dict(self._rows((idx, event_id), idx, positions))
        payloads = dict(
            self._rows(
                (OutboxEventRow.id, OutboxEventRow.payload),
                OutboxEventRow.id,
                events.values(),
            )
        )
        for pos, ref, salt, d in batch:
            xid, committed = ref.removesuffix("/completed"), d["fields"]
            r = rows.get(xid)
            if r is None:
                self._gone(pos, ref)
                continue
            fields = self._digests_differ(
                salt,
                committed,
                {
                    "export_id": r.id,
                    "kind": r.kind,
                    "since": iso(r.period_since),
                    "until": iso(r.period_until),
                    "counts": r.counts,
                    "manifest_hash": r.manifest_hash,
                },
            )
            if r.status != "completed":
                fields.append("status")
            if not _same_instant(d.get("at"), r.completed_at):
                fields.append("completed_at")
            eid = events.get(pos)
            payload = payloads.get(eid) if eid is not None else None
            manifest = payload.get("manifest") if isinstance(payload, dict) else None
            authentic = isinstance(manifest, dict) and not self._digests_differ(
                salt, committed, {"manifest_hash": _manifest_digest(self.suite, manifest)}
            )
            if authentic and not _export_files_listed(r.files, manifest):
                fields.append("files")
            about = {"ref": ref, "index": pos}
            if fields:
                self.changed({**about, "table": "exports", "row_id": xid, "fields": fields})
            if not authentic:  # the proof of this export can no longer be made
                self.changed({**about, "table": "outbox", "row_id": eid, "fields": ["manifest"]})
            elif (
                isinstance(manifest, dict)
                and r.files_purged_at is None
                and r.directory
                and Path(r.directory).is_dir()
            ):
                # (no directory at all: not on this machine — a restored backup leaves exports
                # out, db.backup.NOT_INCLUDED — and the database can export the period again)
                problems = _export_directory_problems(Path(r.directory), self.suite, manifest)
                if problems:
                    self.changed(
                        {**about, "table": "export_files", "row_id": xid, "fields": ["files"],
                         "problems": problems}
                    )  # fmt: skip


def _manifest_digest(suite: Suite, manifest: dict[str, Any]) -> str | None:
    """`ledger.bundle.manifest_digest`, or None for a manifest no longer canonical JSON."""
    try:
        return manifest_digest(suite, manifest)
    except (TypeError, ValueError):
        return None


def _export_directory_problems(
    directory: Path, suite: Suite, committed: dict[str, Any]
) -> list[str]:
    """What is wrong with an export's files on disk (`exports.verify.verify_export_directory`:
    listed files, sizes, SHA-256, rows, nothing else), and whether the manifest.json there is
    the one the export's leaf commits to (``committed`` is the event's, already checked
    against the leaf). Empty when they are intact."""
    check = verify_export_directory(directory)
    problems = list(check.problems)
    try:
        on_disk = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return problems  # named by the directory check
    if _manifest_digest(suite, on_disk) != _manifest_digest(suite, committed):
        problems.append(f"{MANIFEST} 与数据链承诺的导出清单不一致")
    return problems


def _export_files_listed(files: Any, manifest: Any) -> bool:
    """An export row's files are the manifest's list and then manifest.json's own entry
    (exports.run.ExportRun.execute)."""
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not files or not isinstance(listed, list):
        return False
    last = files[-1]
    return (
        files[:-1] == listed
        and isinstance(last, dict)
        and last.get("format") == "manifest"
        and last.get("name") == MANIFEST
    )


# -- whole-database checks ---------------------------------------------------------------------


def _pending_refs(s: Session) -> set[str]:
    """Refs of events the sequencer has not read yet: after its high water or in its gaps."""
    cursor = s.get(OutboxCursorRow, "ledger")
    last = cursor.last_event_id if cursor else 0
    unread = [OutboxEventRow.id > last]
    unread += [OutboxEventRow.id.between(g["lo"], g["hi"]) for g in (cursor.gaps if cursor else [])]
    refs = set()
    for payload in s.scalars(select(OutboxEventRow.payload).where(or_(*unread))):
        if isinstance(payload, dict) and "ledger" in payload:
            refs.add(payload["ledger"]["ref"])
    return refs


def _unlogged_versions(s: Session, pending: set[str], scope: Any = None) -> list[str]:
    """Record versions with no leaf and no pending entry: inserted behind the platform's back
    (`scope`: only the versions it selects, a condition on record_versions.id)."""
    ref = RecordVersionRow.record_id + "/" + RecordVersionRow.version.cast(LedgerLeafRow.ref.type)
    query = (
        select(RecordVersionRow.record_id, RecordVersionRow.version)
        .outerjoin(LedgerLeafRow, LedgerLeafRow.ref == ref)
        .where(LedgerLeafRow.idx.is_(None))
    )
    rows = s.execute(query if scope is None else query.where(scope))
    return [f"{r}/{n}" for r, n in rows if f"{r}/{n}" not in pending]


def _unlogged_reports(s: Session, pending: set[str]) -> list[str]:
    """Reports with no report.issued leaf and no pending entry."""
    ref = ReportRow.report_no + "/issued"
    rows = s.scalars(
        select(ReportRow.report_no)
        .outerjoin(LedgerLeafRow, LedgerLeafRow.ref == ref)
        .where(LedgerLeafRow.idx.is_(None))
    )
    return [f"{no}/issued" for no in rows if f"{no}/issued" not in pending]


def _unlogged_workflows(s: Session, pending: set[str], seen_steps: set[int] | None) -> list[str]:
    """Workflow rows that should have a leaf but have none and no pending entry: membership
    steps, checks, feedback, commitments (recorded and their outcome), records marked repaired,
    withholding steps (不予公示 / 恢复公示), exports that keep a manifest digest (older ones
    have none, and no leaf), and case steps no leaf was found for in the pass over the log
    (`seen_steps`; a case step's ref carries its time, which SQL cannot spell the same way on
    both databases). Without `seen_steps` (a pass over part of the log), a case step is
    logged when a case-step leaf names its case, action and time."""
    outcome = case(
        (CommitmentRow.status == "fulfilled", "fulfilled"),
        (CommitmentRow.false_commitment.is_(True), "false"),
        else_="breached",
    )
    expected: list[tuple[Any, Any]] = [
        (MembershipEventRow.ledger_ref, None),
        (CreditCheckRow.id + "/made", None),
        (CheckFeedbackRow.check_id + "/feedback/" + CheckFeedbackRow.measure_code, None),
        (CommitmentRow.id + "/recorded", None),
        (CommitmentRow.id + "/" + outcome, CommitmentRow.status != "in_progress"),
        (RecordRow.id + "/repaired/" + RecordRow.repair_id, RecordRow.repair_id.is_not(None)),
        (
            RecordWithholdingRow.record_id
            + case((RecordWithholdingRow.action == "withhold", "/withheld/"), else_="/released/")
            + RecordWithholdingRow.id.cast(LedgerLeafRow.ref.type),
            None,
        ),
        (ExportRow.id + "/completed", ExportRow.manifest_hash.is_not(None)),  # bundle.export_ref
    ]
    out: list[str] = []
    for ref, where in expected:
        query = (
            select(ref.label("ref"))
            .outerjoin(LedgerLeafRow, LedgerLeafRow.ref == ref)
            .where(LedgerLeafRow.idx.is_(None))
        )
        if where is not None:
            query = query.where(where)
        out += [r for r in s.scalars(query) if r not in pending]
    refs = set(pending)
    if seen_steps is None:
        seen_steps = set()
        refs.update(
            s.scalars(
                select(LedgerLeafRow.ref).where(LedgerLeafRow.entry_type.in_(list(_CASE_ENTRIES)))
            )
        )
    waiting = set()
    for ref in refs:
        case_id, action, at = _case_ref(ref)
        if at is not None:
            waiting.add((case_id, action, at))
    for e in s.execute(
        select(CaseStepRow.id, CaseStepRow.case_id, CaseStepRow.action, CaseStepRow.at)
    ):
        if e.id not in seen_steps and (e.case_id, e.action, e.at) not in waiting:
            out.append(f"{e.case_id}/{e.action}/{e.at.isoformat()}")
    return out


def _unlogged_current_versions(
    s: Session, pending: set[str], scope: Any = None
) -> Iterable[tuple[str, int]]:
    """Records whose current version has no leaf and no pending entry (raised behind the
    platform's back; a lowered one is caught by the leaf of the later version). `scope`: only
    the records with a version it selects (a condition on record_versions.id)."""
    ref = RecordRow.id + "/" + RecordRow.current_version.cast(LedgerLeafRow.ref.type)
    query = (
        select(RecordRow.id, RecordRow.current_version)
        .outerjoin(LedgerLeafRow, LedgerLeafRow.ref == ref)
        .where(LedgerLeafRow.idx.is_(None))
    )
    if scope is not None:
        query = query.where(RecordRow.id.in_(select(RecordVersionRow.record_id).where(scope)))
    rows = s.execute(query)
    return [(r, n) for r, n in rows if f"{r}/{n}" not in pending]


def _has_ledger_entry(s: Session) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return OutboxEventRow.payload.bool_op("?")(literal("ledger", String))
    return func.json_type(OutboxEventRow.payload, "$.ledger").is_not(None)


def _unsequenced_events(s: Session, cursor: OutboxCursorRow | None, after: int = 0) -> list[int]:
    """Outbox events the sequencer has read (at or below its high water, not in a gap; with
    ids above `after`) whose ledger entry has no leaf: leaves removed behind the platform's
    back (a cut tail).

    The anti-join reads ids only (the primary key and the leaves' event_id index); payloads are
    read only for the events it leaves, which are the events that carry no ledger entry."""
    if cursor is None or not cursor.last_event_id:
        return []
    no_leaf = list(
        s.scalars(
            select(OutboxEventRow.id)
            .outerjoin(LedgerLeafRow, LedgerLeafRow.event_id == OutboxEventRow.id)
            .where(
                OutboxEventRow.id > after,
                OutboxEventRow.id <= cursor.last_event_id,
                LedgerLeafRow.idx.is_(None),
            )
            .order_by(OutboxEventRow.id)
        )
    )
    gaps = sorted((int(g["lo"]), int(g["hi"])) for g in cursor.gaps or [])
    if gaps:
        starts = [lo for lo, _ in gaps]

        def in_gap(i: int) -> bool:
            k = bisect_left(starts, i + 1) - 1
            return k >= 0 and gaps[k][0] <= i <= gaps[k][1]

        no_leaf = [i for i in no_leaf if not in_gap(i)]
    out: list[int] = []
    conn, has_entry = s.connection(), _has_ledger_entry(s)
    for i in range(0, len(no_leaf), VERSION_CHUNK):
        part = no_leaf[i : i + VERSION_CHUNK]
        out += conn.scalars(
            select(OutboxEventRow.id)
            .where(one_of(conn.dialect.name, OutboxEventRow.id, part), has_entry)
            .order_by(OutboxEventRow.id)
        )
        if len(out) >= MAX_LISTED:
            break
    return out[:MAX_LISTED]


# -- the last verified head, outside the database ---------------------------------------------


def head_path(c: Container) -> Path:
    """Where the last verified (size, root) is kept: data_dir/ledger-verified-head.json."""
    return Path(c.settings.data_dir) / HEAD_FILE


def _read_head(c: Container) -> dict[str, Any] | None:
    path = head_path(c)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        head = json.loads(text)
        size, root = int(head["size"]), base64.b64decode(head["root"], validate=True)
        return {**head, "size": size, "root": root}
    except (ValueError, KeyError, TypeError, binascii.Error):
        return {"unreadable": True}


def _write_head(c: Container, head: dict[str, Any]) -> None:
    """Atomically replace the head file (write, fsync, rename); never with a smaller size (a
    run that read an older snapshot and finished after a newer one)."""
    path = head_path(c)
    kept = _read_head(c)
    if kept is not None and not kept.get("unreadable") and kept["size"] > head["size"]:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(head, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:  # verify itself succeeded; the next run compares with the older head
        log.exception("could not write %s", path)


def _check_head(
    s: Session,
    h: HashSuite,
    log_row: LedgerLogRow | None,
    size: int,
    root: bytes | None,
    head: dict[str, Any] | None,
    report: VerifyReport,
) -> None:
    """The current signed checkpoint (size, root) must extend the last verified head."""
    if head is None:
        return
    if head.get("unreadable"):
        report.rollback = {"reason": "head_unreadable", "file": HEAD_FILE}
        return
    verified, vroot = head["size"], head["root"]
    found = {"verified_size": verified, "size": size}
    if log_row is not None and head.get("vkey") not in (None, log_row.vkey):
        report.rollback = {**found, "reason": "key_changed"}
    elif size < verified or root is None:  # no root: no checkpoint at all
        report.rollback = {**found, "reason": "size_decreased"}
        report.flag(size)  # the first leaf that has gone
    elif size == verified:
        if root != vroot:
            report.rollback = {**found, "reason": "root_changed"}
    else:
        try:
            proof = consistency_proof(h, DbNodeReader(s), verified, size)
            verify_consistency(h, verified, size, proof, vroot, root)
        except (ProofError, LookupError, ValueError) as exc:
            report.rollback = {**found, "reason": "consistency_failed", "detail": str(exc)}


# -- the whole check ---------------------------------------------------------------------------


def _snapshot(s: Session) -> None:
    """Read everything from one snapshot, so concurrent writers cause no false alarm."""
    if s.get_bind().dialect.name == "postgresql":
        s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:  # pysqlite starts no transaction for a SELECT: each would see a newer database
        s.connection().exec_driver_sql("BEGIN")


def verify_log(c: Container, *, incremental: bool = False) -> VerifyReport:
    """Recompute everything from the database — or, `incremental`, what is new since the last
    verified head and the next window of older leaves and rows (see `_Increment`); raise an
    alarm row if anything is wrong, and keep the checkpoint outside the database (data_dir)
    when everything is right."""
    report = VerifyReport()
    head = _read_head(c)
    with c.uow() as uow:
        _snapshot(uow.session)
        new_head = _verify(c, uow.session, report, head, incremental)
    return _finish(c, report, new_head)


@dataclass
class _Increment:
    """An incremental run's plan. It checks, in full: the leaves after the verified head,
    going on from the stored peaks at the head's size once they fold to the root verified then
    (`edge`); one window of older leaves [lo, hi), whose compact range must lead through the
    stored nodes to those peaks; record versions above the head's watermark and one slice of
    older ones by id [rows_lo, rows_hi) (rows with no leaf); outbox events above
    `events_after` (a cut tail). The next run takes the next window and slice, so every run
    costs the new work plus a window, and the whole log is re-read once per cycle."""

    verified: int
    edge: tuple[bytes, ...]
    window_app: Appender  # the tree at `lo`, from the stored peaks
    lo: int
    hi: int
    rows_seen: int
    rows_lo: int
    rows_hi: int
    events_after: int

    def scope(self) -> Any:
        """The record versions this run looks at for rows with no leaf."""
        vid = RecordVersionRow.id
        return or_(vid > self.rows_seen, and_(vid >= self.rows_lo, vid < self.rows_hi))

    def next_head(self) -> dict[str, int]:
        return {
            "window_next": self.hi if self.hi < self.verified else 0,
            "rows_next": self.rows_hi if self.rows_hi <= self.rows_seen else 0,
        }


def _increment(
    c: Container,
    s: Session,
    h: HashSuite,
    head: dict[str, Any] | None,
    report: VerifyReport,
    cp: LedgerCheckpointRow | None,
) -> _Increment | None:
    """The plan of an incremental run, or None when only a full run will do: no verified head
    (or one written before incremental runs), a rollback, a stored node missing at the window's
    start, or stored peaks that no longer fold to the verified root (the full run then names
    what changed)."""
    if head is None or head.get("unreadable") or report.rollback is not None or cp is None:
        return None
    try:
        verified, root = int(head["size"]), bytes(head["root"])
        rows_seen, events_after = int(head["rows_seen"]), int(head["events_after"])
        lo, rows_lo = int(head.get("window_next", 0)), int(head.get("rows_next", 0))
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 < verified <= cp.size:
        return None
    lo = lo if 0 <= lo < verified else 0
    rows_lo = rows_lo if 0 <= rows_lo <= rows_seen else 0
    try:
        app = appender_at(h, s, verified)
        window_app = appender_at(h, s, lo)
    except LookupError:
        return None
    if app.root() != root:
        return None
    width = c.settings.ledger_verify_window
    return _Increment(
        verified=verified,
        edge=app.right_edge,
        window_app=window_app,
        lo=lo,
        hi=min(lo + width, verified),
        rows_seen=rows_seen,
        rows_lo=rows_lo,
        rows_hi=rows_lo + width,
        events_after=events_after,
    )


def _scan_window(scan: _Scan, plan: _Increment) -> None:
    """Scan the window of older leaves, then climb from each node of its compact range through
    the stored nodes to the peak above it: it must reach the peak that folded to the verified
    root, or the leaves (and the nodes stored over them) are not the ones verified then."""
    for lo in range(plan.lo, plan.hi, CHUNK):
        scan.window(lo, min(lo + CHUNK, plan.hi))
    tops = peaks(plan.verified)
    climbs: list[tuple[int, int, int, list[tuple[int, int]]]] = []
    for level, idx in range_nodes(plan.lo, plan.hi):
        k = next(k for k, (top, j) in enumerate(tops) if (idx << level) >> top == j)
        path = [(lv, (idx >> (lv - level)) ^ 1) for lv in range(level, tops[k][0])]
        climbs.append((level, idx, k, path))
    try:
        stored = DbNodeReader(scan.s).get_nodes([key for *_, path in climbs for key in path])
    except LookupError:
        stored = {}
    for level, idx, k, path in climbs:
        acc = scan.made.get((level, idx))
        for lv, sibling in path:
            value = stored.get((lv, sibling))
            if acc is None or value is None:
                acc = None
                break
            left, right = (value, acc) if sibling & 1 == 0 else (acc, value)
            acc = node_hash(scan.h, left, right)
        if acc != plan.edge[k]:
            _add(scan.report.node_mismatch, {"level": level, "index": idx})
            scan.report.flag(idx << level)


def _events_after(cursor: OutboxCursorRow | None) -> int:
    """The highest event id at or below which the sequencer has read every event."""
    if cursor is None:
        return 0
    return min([cursor.last_event_id or 0, *(int(g["lo"]) - 1 for g in cursor.gaps or [])])


def _verify(
    c: Container,
    s: Session,
    report: VerifyReport,
    head: dict[str, Any] | None,
    incremental: bool = False,
) -> dict[str, Any] | None:
    """Fill `report`; return the head to keep if it turns out ok."""
    cursor = s.get(OutboxCursorRow, "ledger")
    pending = _pending_refs(s)
    log_row = s.get(LedgerLogRow, 1)
    if log_row is None:  # nothing sequenced yet, or the whole log removed
        inserted = _unlogged_versions(s, pending) + _unlogged_reports(s, pending)
        report.unsequenced = _unsequenced_events(s, cursor)
        report.root_ok = s.scalar(select(LedgerLeafRow.idx).limit(1)) is None
        report.inserted = (inserted + _unlogged_workflows(s, pending, set()))[:MAX_LISTED]
        _check_head(s, hash_suite(Suite.sha256_ed25519), None, 0, None, head, report)
        return None
    suite = Suite(log_row.suite)
    h = hash_suite(suite)
    cp = latest_checkpoint(s)
    cp_size = cp.size if cp is not None else 0
    last = s.scalar(select(func.max(LedgerLeafRow.idx)))
    end = max(cp_size, last + 1 if last is not None else 0)
    signed_root: bytes | None = None
    if cp is not None:
        report.checkpoint_size = cp.size
        try:
            signed = parse_checkpoint(open_note(cp.note, [verifier_from_vkey(log_row.vkey)]).text)
            report.signature_ok = signed.size == cp.size and signed.root == bytes(cp.root)
            signed_root = signed.root
        except NoteError:
            report.signature_ok = False
        _check_head(s, h, log_row, cp.size, signed_root or bytes(cp.root), head, report)
    else:
        _check_head(s, h, log_row, 0, None, head, report)
    plan = _increment(c, s, h, head, report, cp) if incremental else None
    scope: Any = None
    if plan is None:
        report.ranges = [{"from": 0, "to": end, "why": "full"}]
        scan = _Scan(c, s, suite, report, cp_size)
        for lo in range(0, end, CHUNK):
            scan.window(lo, min(lo + CHUNK, end))
        root_at_cp, seen_steps, after = scan.root_at_cp, scan.seen_steps, 0
    else:
        report.mode = "incremental"
        report.ranges = [
            {"from": plan.verified, "to": end, "why": "new"},
            {"from": plan.lo, "to": plan.hi, "why": "window"},
        ]
        tail = _Scan(c, s, suite, report, cp_size, app=Appender(h, plan.verified, plan.edge))
        for lo in range(plan.verified, end, CHUNK):
            tail.window(lo, min(lo + CHUNK, end))
        keep = range_nodes(plan.lo, plan.hi)
        _scan_window(_Scan(c, s, suite, report, cp_size, plan.window_app, keep), plan)
        root_at_cp, seen_steps, after = tail.root_at_cp, None, plan.events_after
        scope = plan.scope()
    inserted = _unlogged_versions(s, pending, scope) + _unlogged_reports(s, pending)
    inserted += _unlogged_workflows(s, pending, seen_steps)
    report.inserted = inserted[:MAX_LISTED]
    report.unsequenced = _unsequenced_events(s, cursor, after)
    # a current version with no leaf whose row exists is listed as inserted already
    listed = set(inserted)
    for rid, version in _unlogged_current_versions(s, pending, scope):
        if f"{rid}/{version}" not in listed:
            _add(
                report.changed,
                {
                    "ref": f"{rid}/{version}",
                    "index": None,
                    "record_id": rid,
                    "version": version,
                    "table": "records",
                    "fields": ["current_version"],
                },
            )
    if cp is None:
        report.root_ok = end == 0  # leaves but no checkpoint: every checkpoint was removed
        return None
    report.root_ok = end == cp.size and root_at_cp == bytes(cp.root)
    if signed_root is None:
        return None
    rotation = plan.next_head() if plan is not None else {
        k: int(head[k]) for k in ("window_next", "rows_next")
        if head is not None and isinstance(head.get(k), int)
    }  # fmt: skip
    return {
        "origin": log_row.origin,
        "vkey": log_row.vkey,
        "size": cp.size,
        "root": base64.b64encode(signed_root).decode(),
        "verified_at": c.clock.now().isoformat(),
        "mode": report.mode,
        # watermarks of what this run has seen: the next incremental run checks what is above
        "rows_seen": int(s.scalar(select(func.max(RecordVersionRow.id))) or 0),
        "events_after": _events_after(cursor),
        "window_next": 0,
        "rows_next": 0,
        **rotation,
    }


def _finish(c: Container, report: VerifyReport, head: dict[str, Any] | None) -> VerifyReport:
    report.changed = report.changed[:MAX_LISTED]
    report.deleted = report.deleted[:MAX_LISTED]
    report.leaf_mismatch = report.leaf_mismatch[:MAX_LISTED]
    if not report.ok:
        with c.uow() as uow:  # a new transaction: the check's snapshot only read
            uow.session.add(
                LedgerAlarmRow(raised_at=c.clock.now(), kind="tamper", detail=report.as_dict())
            )
            uow.commit()
    elif head is not None:
        _write_head(c, head)
    return report


def verification_status(c: Container, actor: Principal) -> dict[str, Any]:
    """How far the log is verified, for the credit office: the last verified head (kept outside
    the database), the leaves after it not verified yet, where the incremental runs' window
    stands in its cycle, the `ledger_verify` job's last run and the open tamper alarms."""
    require(actor, Permission.run_jobs)
    head = _read_head(c)
    with c.uow() as uow:
        s = uow.session
        cp = latest_checkpoint(s)
        open_alarms = s.scalar(
            select(func.count())
            .select_from(LedgerAlarmRow)
            .where(LedgerAlarmRow.kind == "tamper", LedgerAlarmRow.acknowledged_at.is_(None))
        )
    job = JOBS[0]
    state = job_states(c, [job])[job.name]
    size = cp.size if cp is not None else 0
    window = c.settings.ledger_verify_window
    kept: dict[str, Any] | None = None
    if head is not None and not head.get("unreadable"):
        verified = int(head["size"])
        runs = -(-verified // window)  # runs to read every verified leaf once
        kept = {
            "size": verified,
            "verified_at": head.get("verified_at"),
            "mode": head.get("mode"),
            "window_next": int(head.get("window_next") or 0),
            "cycle_runs": runs,
            "cycle_hours": runs * job.interval / timedelta(hours=1),
        }
    state = state_json(state)
    return {
        "log_size": size,
        "head": kept,
        "head_unreadable": bool(head and head.get("unreadable")),
        "not_verified": size - kept["size"] if kept is not None else size,
        "window": window,
        "last_run": state["last_run"],
        "next_due_at": state["next_due_at"],
        "open_alarms": int(open_alarms or 0),
    }


def _job(c: Container) -> dict[str, Any]:
    r = verify_log(c, incremental=True)
    return {
        "ok": r.ok,
        "mode": r.mode,
        "ranges": r.ranges,
        "leaves": r.leaves,
        "changed": len(r.changed),
        "inserted": len(r.inserted),
        "deleted": len(r.deleted),
        "leaf_mismatch": len(r.leaf_mismatch),
        "missing": len(r.missing),
        "node_mismatch": len(r.node_mismatch),
        "checkpoint_mismatch": len(r.checkpoint_mismatch),
        "unsequenced": len(r.unsequenced),
        "rollback": r.rollback,
        "first_bad_index": r.first_bad_index,
        "root_ok": r.root_ok,
    }


JOBS = [
    Job(
        "ledger_verify",
        timedelta(hours=1),
        _job,
        "增量验证数据链：重新计算上次验证以来的新叶子、树节点和树根，"
        "并轮换复核一段较早的叶子和记录版本，发现被绕过平台修改、插入或删除的记录、报告和链上数据即告警"
        "（全量验证：citycredit ledger verify）",
        lane=VERIFY,
    )
]
