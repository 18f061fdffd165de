"""The hourly `ledger_verify` job is incremental: the leaves and record versions added since the
last verified head, plus one window of older leaves and one slice of older record versions in
rotation. What it checks in a run it checks as thoroughly as the full run, and a change below
the verified head that it has not reached yet is found when its window comes round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from citycredit.accounts.model import Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel.jobs import registered_jobs, run_job
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow, LedgerNodeRow
from citycredit.ledger.entries import field_digest
from citycredit.ledger.merkle import leaf_hash, node_hash
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.verify import HEAD_FILE, VerifyReport, verification_status, verify_log
from citycredit.shared.errors import PermissionDenied
from support import (
    SAMR,
    submit_penalties,
)

pytestmark = pytest.mark.db


def send(c: Container, tmp: Path, n: int, start: int = 0) -> None:
    """n penalties of n companies (numbered from `start`), sequenced into one batch."""
    submit_penalties(c, tmp, n, start, tag="MA6N")
    ledger.integrate_now(c)


def head(c: Container) -> dict[str, Any]:
    return json.loads((Path(c.settings.data_dir) / HEAD_FILE).read_text(encoding="utf-8"))


def leaf_at(c: Container, idx: int) -> Any:
    with c.uow() as uow:
        row = uow.session.scalar(select(LedgerLeafRow).where(LedgerLeafRow.idx == idx))
        assert row is not None
        uow.session.expunge(row)
        return row


def version_of(c: Container, idx: int) -> tuple[str, int]:
    """(record id, version) the leaf at `idx` commits to."""
    ref = leaf_at(c, idx).ref
    rid, _, ver = ref.rpartition("/")
    return rid, int(ver)


def edit_payload(c: Container, idx: int, code: str, value: str) -> None:
    """Change one field of the record version behind leaf `idx`, behind the platform's back."""
    rid, ver = version_of(c, idx)
    where = (RecordVersionRow.record_id == rid, RecordVersionRow.version == ver)
    with c.uow() as uow:
        payload = dict(uow.session.scalar(select(RecordVersionRow.payload).where(*where)) or {})
        payload[code] = value
        uow.session.execute(update(RecordVersionRow).where(*where).values(payload=payload))
        uow.commit()


def incremental(c: Container) -> VerifyReport:
    report = verify_log(c, incremental=True)
    assert report.mode == "incremental", report.as_dict()
    return report


def test_new_leaves_and_one_window_of_older_ones(container: Container, tmp_path: Path) -> None:
    c = container
    c.settings.ledger_verify_window = 2
    send(c, tmp_path, 4)
    first = verify_log(c, incremental=True)  # no verified head yet: a full run
    assert first.ok and first.mode == "full" and first.leaves == 4
    assert first.ranges == [{"from": 0, "to": 4, "why": "full"}]
    kept = head(c)
    assert (kept["size"], kept["window_next"], kept["rows_next"]) == (4, 0, 0)
    with c.uow() as uow:
        assert kept["rows_seen"] == uow.session.scalar(select(RecordVersionRow.id).order_by(
            RecordVersionRow.id.desc()).limit(1))  # fmt: skip
    send(c, tmp_path, 3, start=10)
    report = incremental(c)
    assert report.ok, report.as_dict()
    assert report.ranges == [
        {"from": 4, "to": 7, "why": "new"},
        {"from": 0, "to": 2, "why": "window"},
    ]
    assert report.leaves == 5 and report.root_ok and report.checkpoint_size == 7
    assert (head(c)["size"], head(c)["window_next"]) == (7, 2)


def test_the_window_goes_round_the_whole_log(container: Container, tmp_path: Path) -> None:
    c = container
    c.settings.ledger_verify_window = 2
    send(c, tmp_path, 5)
    assert verify_log(c).ok  # the full run keeps the head the incremental runs go on from
    windows = []
    for _ in range(4):
        report = incremental(c)
        assert report.ok and report.leaves == report.ranges[1]["to"] - report.ranges[1]["from"]
        windows.append((report.ranges[1]["from"], report.ranges[1]["to"]))
    assert windows == [(0, 2), (2, 4), (4, 5), (0, 2)]


def test_a_change_is_found_when_its_window_comes_round(
    container: Container, tmp_path: Path
) -> None:
    c = container
    c.settings.ledger_verify_window = 2
    send(c, tmp_path, 6)
    assert verify_log(c).ok
    edit_payload(c, 4, "CF_NR_FK", "1")  # the fine of the leaf at index 4 rewritten
    ref = "/".join(map(str, version_of(c, 4)))
    assert incremental(c).ok  # leaves 0–1: not reached yet
    assert incremental(c).ok  # 2–3
    report = incremental(c)  # 4–5
    assert not report.ok and report.first_bad_index == 4
    assert [(x["ref"], x["index"], x["fields"]) for x in report.changed] == [(ref, 4, ["CF_NR_FK"])]
    again = incremental(c)  # no new head after an alarm: the same window is read again
    assert again.ranges[1] == {"from": 4, "to": 6, "why": "window"} and not again.ok
    full = verify_log(c)
    assert not full.ok and full.mode == "full" and full.first_bad_index == 4


def test_a_rewritten_subtree_does_not_reach_the_verified_root(
    container: Container, tmp_path: Path
) -> None:
    """History rewritten consistently inside the window — the row, the leaf's digest, the leaf
    hash and every stored node over the window — still has to lead, through the stored nodes
    above the window, to the peaks that folded to the verified root."""
    c = container
    c.settings.ledger_verify_window = 2
    send(c, tmp_path, 8)
    assert verify_log(c).ok
    h = hash_suite(Suite(c.settings.ledger_suite))
    leaf = leaf_at(c, 1)
    old_value = f"榆市监罚〔2026〕{1}号"
    rid, ver = version_of(c, 1)
    with c.uow() as uow:
        payload = uow.session.scalar(
            select(RecordVersionRow.payload).where(
                RecordVersionRow.record_id == rid, RecordVersionRow.version == ver
            )
        )
    assert payload is not None
    code = next(k for k, v in payload.items() if v == old_value)
    new_value = f"榆市监罚〔2026〕{99}号"
    data = bytes(leaf.data).replace(
        field_digest(h, bytes(leaf.salt), code, old_value).encode(),
        field_digest(h, bytes(leaf.salt), code, new_value).encode(),
    )
    assert data != bytes(leaf.data)
    edit_payload(c, 1, code, new_value)
    lh = leaf_hash(h, data)
    with c.uow() as uow:
        s = uow.session
        s.execute(
            update(LedgerLeafRow).where(LedgerLeafRow.idx == 1).values(data=data, leaf_hash=lh)
        )
        left = s.scalar(
            select(LedgerNodeRow.hash).where(LedgerNodeRow.level == 0, LedgerNodeRow.idx == 0)
        )
        assert left is not None
        for level, idx, value in ((0, 1, lh), (1, 0, node_hash(h, bytes(left), lh))):
            s.execute(
                update(LedgerNodeRow)
                .where(LedgerNodeRow.level == level, LedgerNodeRow.idx == idx)
                .values(hash=value)
            )
        uow.commit()
    report = incremental(c)  # window [0, 2): every leaf and node in it agrees with its row
    assert not report.ok and not report.changed and not report.leaf_mismatch
    assert report.node_mismatch == [{"level": 1, "index": 0}]
    assert report.first_bad_index == 0
    full = verify_log(c)  # the full run finds the node above, where the rewrite stopped
    assert not full.ok and {"level": 2, "index": 0} in full.node_mismatch


def test_changed_peaks_make_it_a_full_run(container: Container, tmp_path: Path) -> None:
    c = container
    c.settings.ledger_verify_window = 2
    send(c, tmp_path, 6)  # peaks at 6: (2, 0) and (1, 2)
    assert verify_log(c).ok
    with c.uow() as uow:
        uow.session.execute(
            update(LedgerNodeRow)
            .where(LedgerNodeRow.level == 2, LedgerNodeRow.idx == 0)
            .values(hash=bytes(32))
        )
        uow.commit()
    report = verify_log(c, incremental=True)
    assert report.mode == "full" and not report.ok  # the full run names the node
    assert {"level": 2, "index": 0} in report.node_mismatch


def test_rows_added_since_the_head_are_checked(container: Container, tmp_path: Path) -> None:
    c = container
    c.settings.ledger_verify_window = 1  # the rotating slice covers one older version only
    send(c, tmp_path, 4)
    assert verify_log(c).ok
    rid, _ = version_of(c, 2)
    with c.uow() as uow:  # a version no one sent, and the record pointed at it
        base = uow.session.execute(
            select(RecordVersionRow).where(RecordVersionRow.record_id == rid)
        ).scalar_one()
        uow.session.execute(
            insert(RecordVersionRow).values(
                record_id=rid,
                version=2,
                kind="correction",
                payload={**base.payload, "CF_NR_FK": "0.01"},
                personal={},
                content_hash="0" * 64,
                created_by="someone",
                created_at=base.created_at,
            )
        )
        uow.session.execute(update(RecordRow).where(RecordRow.id == rid).values(current_version=2))
        uow.commit()
    report = incremental(c)
    assert not report.ok and report.inserted == [f"{rid}/2"]


def verify_job() -> Any:
    return next(j for j in registered_jobs() if j.name == "ledger_verify")


def test_the_job_runs_incrementally(container: Container, tmp_path: Path) -> None:
    c = container
    send(c, tmp_path, 3)
    first = run_job(c, verify_job())
    assert first.status == "ok" and first.detail["mode"] == "full"
    send(c, tmp_path, 2, start=10)
    second = run_job(c, verify_job())
    assert second.status == "ok", second
    assert second.detail["mode"] == "incremental" and second.detail["leaves"] == 5
    assert second.detail["ranges"][0] == {"from": 3, "to": 5, "why": "new"}


def test_the_credit_office_sees_how_far_the_log_is_verified(
    container: Container, tmp_path: Path
) -> None:
    c = container
    c.settings.ledger_verify_window = 2
    office = Principal(role=Role.credit_office_admin, label="信用办", user_id=None)
    send(c, tmp_path, 3)
    before = verification_status(c, office)
    assert (before["log_size"], before["head"], before["not_verified"]) == (3, None, 3)
    assert before["last_run"] is None and before["open_alarms"] == 0
    assert run_job(c, verify_job()).status == "ok"
    send(c, tmp_path, 2, start=10)
    status = verification_status(c, office)
    assert (status["log_size"], status["not_verified"], status["window"]) == (5, 2, 2)
    head = status["head"]
    assert (head["size"], head["mode"], head["window_next"]) == (3, "full", 0)
    assert (head["cycle_runs"], head["cycle_hours"]) == (2, 2.0)  # 3 leaves, 2 a run, hourly
    assert status["last_run"]["status"] == "ok" and status["next_due_at"] is not None
    assert run_job(c, verify_job()).status == "ok"
    after = verification_status(c, office)["head"]
    assert (after["size"], after["mode"], after["window_next"]) == (5, "incremental", 2)
    edit_payload(c, 0, "CF_NR_FK", "1")
    assert run_job(c, verify_job()).detail["ok"] is True  # its window is [2, 4): not yet
    assert verification_status(c, office)["open_alarms"] == 0
    verify_log(c)
    assert verification_status(c, office)["open_alarms"] == 1
    with pytest.raises(PermissionDenied):
        verification_status(c, department_principal(c, SAMR))
