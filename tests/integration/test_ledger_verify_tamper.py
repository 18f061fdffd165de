"""`ledger verify` names each kind of change made directly in the database, by leaf index
(security goal G11), and the sequencer refuses to build on a changed stored tree."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update

from citycredit.accounts.model import ANONYMOUS
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import withdraw_record
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import report_digest
from citycredit.ledger.db import (
    LedgerAlarmRow,
    LedgerCheckpointRow,
    LedgerLeafRow,
    LedgerNodeRow,
)
from citycredit.ledger.merkle import Appender, leaf_hash, node_hash
from citycredit.ledger.store import LedgerHeadError
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.verify import HEAD_FILE, VerifyReport, verify_log
from citycredit.reports import service as reports
from citycredit.reports.db import ReportRow
from support import (
    SAMR,
    department,
    submit_penalties,
)

pytestmark = pytest.mark.db


def send(c: Container, tmp: Path, n: int, start: int = 0) -> None:
    """n penalties of n companies (numbered from `start`), sequenced into one batch."""
    submit_penalties(c, tmp, n, start)
    ledger.integrate_now(c)


def record(c: Container, i: int) -> tuple[str, str]:
    """(record id, subject id) of penalty number i."""
    with c.uow() as uow:
        for rid, sid, payload in uow.session.execute(
            select(RecordRow.id, RecordRow.subject_id, RecordVersionRow.payload).join(
                RecordVersionRow, RecordVersionRow.record_id == RecordRow.id
            )
        ):
            if payload.get("CF_WSH") == f"榆市监罚〔2026〕{i}号":
                return rid, sid
    raise AssertionError(i)


def index_of(c: Container, ref: str) -> int:
    with c.uow() as uow:
        idx = uow.session.scalar(select(LedgerLeafRow.idx).where(LedgerLeafRow.ref == ref))
    assert idx is not None, ref
    return idx


def tampered(c: Container) -> VerifyReport:
    report = verify_log(c)
    assert not report.ok
    with c.uow() as uow:  # every finding raises an alarm for the credit office
        alarm = uow.session.scalar(select(LedgerAlarmRow).order_by(LedgerAlarmRow.id.desc()))
    assert alarm is not None and alarm.kind == "tamper"
    assert alarm.detail["first_bad_index"] == report.first_bad_index
    return report


def changed(report: VerifyReport) -> list[tuple[Any, ...]]:
    return [(x["ref"], x["index"], x["table"], x["fields"]) for x in report.changed]


def suite(c: Container) -> Any:
    return hash_suite(Suite(c.settings.ledger_suite))


# -- the rows the leaves are about ------------------------------------------------------------


def test_records_table_changes_are_named(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 3)
    (a, _), (b, sb), (x, _) = record(c, 0), record(c, 1), record(c, 2)
    withdraw_record(c, department_principal(c, SAMR), x, "复议撤销")
    ledger.integrate_now(c)
    assert verify_log(c).ok
    other = department(c, "榆林市税务局", "MA0CTAX1").department_id
    with c.uow() as uow:
        s = uow.session
        # a penalty moved to another company; b's item, department and key rewritten; the
        # withdrawal of x reverted (public again)
        s.execute(update(RecordRow).where(RecordRow.id == a).values(subject_id=sb))
        s.execute(
            update(RecordRow)
            .where(RecordRow.id == b)
            .values(item_code="licence", department_id=other, record_key="0" * 64)
        )
        s.execute(
            update(RecordRow).where(RecordRow.id == x).values(status="active", current_version=1)
        )
        uow.commit()
    report = tampered(c)
    ia, ib, ix = index_of(c, f"{a}/1"), index_of(c, f"{b}/1"), index_of(c, f"{x}/2")
    assert sorted(changed(report), key=lambda e: e[1]) == sorted(
        [
            (f"{a}/1", ia, "records", ["subject_id"]),
            (f"{b}/1", ib, "records", ["department_id", "item_code", "record_key"]),
            (f"{x}/2", ix, "records", ["current_version"]),
        ],
        key=lambda e: e[1],
    )
    assert report.first_bad_index == min(ia, ib, ix)
    assert report.root_ok and report.signature_ok and not report.leaf_mismatch


def test_reverted_status_and_raised_current_version(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 2)
    (a, _), (x, _) = record(c, 0), record(c, 1)
    withdraw_record(c, department_principal(c, SAMR), x, "复议撤销")
    ledger.integrate_now(c)
    with c.uow() as uow:
        s = uow.session
        s.execute(update(RecordRow).where(RecordRow.id == x).values(status="active"))
        s.execute(update(RecordRow).where(RecordRow.id == a).values(current_version=4))
        uow.commit()
    report = tampered(c)
    ix = index_of(c, f"{x}/2")
    assert changed(report) == [
        (f"{x}/2", ix, "records", ["status"]),
        (f"{a}/4", None, "records", ["current_version"]),  # no leaf for version 4
    ]
    assert report.first_bad_index == ix


def test_version_kind_change_is_named(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 2)
    a, _ = record(c, 1)
    with c.uow() as uow:
        uow.session.execute(
            update(RecordVersionRow)
            .where(RecordVersionRow.record_id == a)
            .values(kind="correction")
        )
        uow.commit()
    report = tampered(c)
    ia = index_of(c, f"{a}/1")
    assert changed(report) == [(f"{a}/1", ia, "record_versions", ["kind"])]
    assert report.first_bad_index == ia


def test_search_index_columns_are_checked(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 2)
    a, _ = record(c, 0)
    ia = index_of(c, f"{a}/1")
    with c.uow() as uow:  # the leaf no longer shows up in a search for its subject
        uow.session.execute(
            update(LedgerLeafRow).where(LedgerLeafRow.idx == ia).values(subject_id="s-nobody")
        )
        uow.commit()
    report = tampered(c)
    assert changed(report) == [(f"{a}/1", ia, "ledger_leaves", ["subject_id"])]


def test_report_leaves_are_recomputed(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 1)
    _, sid = record(c, 0)
    no = reports.issue_report(c, ANONYMOUS, sid)["report_no"]
    ledger.integrate_now(c)
    assert verify_log(c).ok
    ref = f"{no}/issued"
    idx = index_of(c, ref)
    with c.uow() as uow:  # content and digest rewritten together: the penalty section removed
        row = uow.session.get(ReportRow, no)
        assert row is not None
        original = copy.deepcopy(row.content)
        content = {**copy.deepcopy(row.content), "sections": []}
        row.content = content
        row.content_hash = report_digest(c.settings.ledger_suite, content)
        uow.commit()
    report = tampered(c)
    assert changed(report) == [(ref, idx, "reports", ["content_hash"])]
    assert report.changed[0]["report_no"] == no and report.first_bad_index == idx
    with c.uow() as uow:  # the content alone (the digest left as issued)
        uow.session.execute(
            update(ReportRow)
            .where(ReportRow.report_no == no)
            .values(
                content_hash=report_digest(c.settings.ledger_suite, original),
                content={**original, "tags": ["守信激励对象"]},
            )
        )
        uow.commit()
    assert changed(tampered(c)) == [(ref, idx, "reports", ["content"])]
    with c.uow() as uow:
        uow.session.execute(delete(ReportRow).where(ReportRow.report_no == no))
        uow.commit()
    report = tampered(c)
    assert report.deleted == [ref] and report.first_bad_index == idx


# -- the tree ---------------------------------------------------------------------------------


def test_changed_inner_nodes_are_named(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 8)
    assert verify_log(c).ok
    with c.uow() as uow:
        for level, idx in ((1, 0), (2, 1)):
            uow.session.execute(
                update(LedgerNodeRow)
                .where(LedgerNodeRow.level == level, LedgerNodeRow.idx == idx)
                .values(hash=b"\x00" * suite(c).size)
            )
        uow.commit()
    report = tampered(c)
    assert report.node_mismatch == [{"level": 1, "index": 0}, {"level": 2, "index": 1}]
    assert report.first_bad_index == 0
    # the leaves and the root are intact: only the served proofs were broken
    assert report.root_ok and not report.leaf_mismatch and not report.missing


def test_deleted_leaf_is_missing_not_its_successors(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 8)
    with c.uow() as uow:
        ref = uow.session.scalar(select(LedgerLeafRow.ref).where(LedgerLeafRow.idx == 3))
        uow.session.execute(delete(LedgerLeafRow).where(LedgerLeafRow.idx == 3))
        uow.commit()
    report = tampered(c)
    assert report.missing == [3] and report.leaf_mismatch == [] and report.first_bad_index == 3
    assert report.inserted == [ref]  # its record version now has no leaf
    assert report.root_ok  # its level-0 node is still there: the tree still adds up
    with c.uow() as uow:  # its node too
        uow.session.execute(
            delete(LedgerNodeRow).where(LedgerNodeRow.level == 0, LedgerNodeRow.idx == 3)
        )
        uow.commit()
    report = tampered(c)
    assert report.missing == [3] and report.leaf_mismatch == [] and report.first_bad_index == 3
    assert report.node_mismatch == []  # the nodes above it are not blamed
    assert not report.root_ok and report.checkpoint_mismatch == [{"size": 8, "from": 0}]


def test_consistent_leaf_rewrite_is_named(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 8)
    with c.uow() as uow:
        leaf = uow.session.get(LedgerLeafRow, 5)
        assert leaf is not None
        data = json.loads(leaf.data)
        data["at"] = "2020-01-01T00:00:00+00:00"  # a field no row holds
        leaf.data = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        leaf.leaf_hash = leaf_hash(suite(c), leaf.data)
        uow.commit()
    report = tampered(c)
    assert report.leaf_mismatch == [5] and report.first_bad_index == 5
    assert report.node_mismatch == [] and not report.root_ok
    assert report.checkpoint_mismatch == [{"size": 8, "from": 0}]


def test_every_checkpoint_is_checked(container: Container, tmp_path: Path) -> None:
    c = container
    h = suite(c)
    send(c, tmp_path, 3)
    send(c, tmp_path, 5, start=10)
    assert verify_log(c).ok
    # an older checkpoint's stored root is checked too, not only the latest's
    with c.uow() as uow:
        cp3 = uow.session.get(LedgerCheckpointRow, 3)
        assert cp3 is not None
        root3, cp3.root = bytes(cp3.root), b"\x22" * h.size
        uow.commit()
    report = tampered(c)
    assert report.checkpoint_mismatch == [{"size": 3, "from": 0}] and report.root_ok
    assert report.first_bad_index == 0
    with c.uow() as uow:
        uow.session.execute(
            update(LedgerCheckpointRow).where(LedgerCheckpointRow.size == 3).values(root=root3)
        )
        uow.commit()
    assert verify_log(c).ok
    # leaf 4 rewritten and every node rebuilt to match: only the signed roots still know
    with c.uow() as uow:
        s = uow.session
        leaf = s.get(LedgerLeafRow, 4)
        assert leaf is not None
        data = json.loads(leaf.data)
        data["at"] = "2020-01-01T00:00:00+00:00"
        leaf.data = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        leaf.leaf_hash = leaf_hash(h, leaf.data)
        s.flush()
        hashes = list(s.scalars(select(LedgerLeafRow.leaf_hash).order_by(LedgerLeafRow.idx)))
        s.execute(delete(LedgerNodeRow))
        nodes = Appender(h).extend([bytes(x) for x in hashes])
        s.execute(
            insert(LedgerNodeRow), [{"level": lv, "idx": ix, "hash": hv} for lv, ix, hv in nodes]
        )
        uow.commit()
    report = tampered(c)
    assert report.leaf_mismatch == [] and report.node_mismatch == []
    assert report.checkpoint_mismatch == [{"size": 8, "from": 3}]  # the first one that fails
    assert report.first_bad_index == 3 and not report.root_ok and report.signature_ok
    with pytest.raises(LedgerHeadError):  # nor does the sequencer build on the rebuilt tree
        send(c, tmp_path, 1, start=30)
    with c.uow() as uow:
        assert uow.session.scalar(select(func.max(LedgerCheckpointRow.size))) == 8


# -- the sequencer ----------------------------------------------------------------------------


def test_sequencer_refuses_to_append_on_a_changed_peak(
    container: Container, tmp_path: Path
) -> None:
    c = container
    h = suite(c)
    send(c, tmp_path, 3)  # peaks (1, 0) and (0, 2)
    with c.uow() as uow:
        good = uow.session.get(LedgerNodeRow, (1, 0))
        assert good is not None
        good_hash = bytes(good.hash)
        good.hash = b"\x11" * h.size
        uow.commit()
    with pytest.raises(LedgerHeadError):
        send(c, tmp_path, 2, start=10)
    with pytest.raises(LedgerHeadError):  # the sweep retries: still refused, one alarm
        ledger.integrate_now(c)
    assert ledger.checkpoint(c)["size"] == 3  # nothing signed on top of the changed peak
    with c.uow() as uow:
        alarms = list(
            uow.session.scalars(
                select(LedgerAlarmRow).where(LedgerAlarmRow.kind == "sequencer_halted")
            )
        )
        assert len(alarms) == 1
        assert uow.session.scalar(select(func.count()).select_from(LedgerLeafRow)) == 3
    assert tampered(c).node_mismatch == [{"level": 1, "index": 0}]
    # the checkpoint rewritten to match the changed peak: its signature no longer holds
    with c.uow() as uow:
        cp = uow.session.get(LedgerCheckpointRow, 3)
        peak2 = uow.session.get(LedgerNodeRow, (0, 2))
        assert cp is not None and peak2 is not None
        forged = node_hash(h, b"\x11" * h.size, bytes(peak2.hash))
        cp.note = cp.note.replace(
            base64.b64encode(cp.root).decode(), base64.b64encode(forged).decode()
        )
        cp.root = forged
        uow.commit()
    with pytest.raises(LedgerHeadError, match="签名"):
        ledger.integrate_now(c)
    with c.uow() as uow:  # put everything back: the sequencer goes on
        s = uow.session
        s.execute(
            update(LedgerNodeRow)
            .where(LedgerNodeRow.level == 1, LedgerNodeRow.idx == 0)
            .values(hash=good_hash)
        )
        uow.commit()
    with c.uow() as uow:
        cp = uow.session.get(LedgerCheckpointRow, 3)
        assert cp is not None
        cp.note = cp.note.replace(
            base64.b64encode(cp.root).decode(),
            base64.b64encode(node_hash(h, good_hash, bytes(peak2.hash))).decode(),
        )
        cp.root = node_hash(h, good_hash, bytes(peak2.hash))
        uow.commit()
    ledger.integrate_now(c)
    assert ledger.checkpoint(c)["size"] == 5
    assert verify_log(c).ok


# -- a removed tail ---------------------------------------------------------------------------


def _cut_last_batch(c: Container, *, events_too: bool = False) -> list[int]:
    """Delete leaves 3-4, their nodes, checkpoint 5 and their records; the events' ids."""
    with c.uow() as uow:
        s = uow.session
        leaves = list(
            s.execute(
                select(LedgerLeafRow.ref, LedgerLeafRow.event_id).where(LedgerLeafRow.idx >= 3)
            )
        )
        gone = [ref.split("/")[0] for ref, _ in leaves]
        s.execute(delete(LedgerLeafRow).where(LedgerLeafRow.idx >= 3))
        s.execute(delete(LedgerNodeRow).where(LedgerNodeRow.level == 0, LedgerNodeRow.idx >= 3))
        s.execute(delete(LedgerNodeRow).where(LedgerNodeRow.level == 1, LedgerNodeRow.idx >= 1))
        s.execute(delete(LedgerNodeRow).where(LedgerNodeRow.level == 2))
        s.execute(delete(LedgerCheckpointRow).where(LedgerCheckpointRow.size == 5))
        s.execute(delete(RecordVersionRow).where(RecordVersionRow.record_id.in_(gone)))
        s.execute(delete(RecordRow).where(RecordRow.id.in_(gone)))
        events = sorted(e for _, e in leaves)
        if events_too:
            s.execute(delete(OutboxEventRow).where(OutboxEventRow.id.in_(events)))
        uow.commit()
    return events


def test_removed_last_batch_is_a_rollback(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 3)
    send(c, tmp_path, 2, start=10)
    assert verify_log(c).ok
    head_file = Path(c.settings.data_dir) / HEAD_FILE
    head = json.loads(head_file.read_text(encoding="utf-8"))
    assert head["size"] == 5 and head["root"] == ledger.checkpoint(c)["root"]
    events = _cut_last_batch(c)
    report = tampered(c)
    assert report.rollback is not None and report.rollback["reason"] == "size_decreased"
    assert (report.rollback["verified_size"], report.rollback["size"]) == (5, 3)
    assert report.unsequenced == events  # the sequencer read them; their leaves are gone
    assert report.first_bad_index == 3
    assert report.root_ok and report.signature_ok  # what is left is a consistent log
    assert json.loads(head_file.read_text(encoding="utf-8"))["size"] == 5  # kept
    head_file.unlink()  # without the file the outbox still tells
    report = tampered(c)
    assert report.rollback is None and report.unsequenced == events


def test_rewritten_tail_fails_the_consistency_proof(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 3)
    send(c, tmp_path, 2, start=10)
    assert verify_log(c).ok
    _cut_last_batch(c, events_too=True)  # no trace left in the database
    send(c, tmp_path, 3, start=20)  # and the log grows past the size once verified
    assert ledger.checkpoint(c)["size"] == 6
    report = tampered(c)
    assert report.rollback is not None and report.rollback["reason"] == "consistency_failed"
    assert (report.rollback["verified_size"], report.rollback["size"]) == (5, 6)
    assert report.unsequenced == [] and report.root_ok and not report.changed


def test_a_verified_head_is_extended(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 3)
    assert verify_log(c).ok
    send(c, tmp_path, 2, start=10)
    assert verify_log(c).ok  # the consistency proof from 3 to 5 holds
    head = json.loads((Path(c.settings.data_dir) / HEAD_FILE).read_text(encoding="utf-8"))
    assert head["size"] == 5
