"""`ledger verify` checks 双公示 exports against their ``export.completed`` leaves both ways: an
exports row edited (counts, period, files, status, the manifest digest it keeps) or deleted, or
the manifest kept in the leaf's outbox event altered, is named with the leaf's index; an export
that keeps a manifest digest but has no leaf is named as inserted. Exports made before the
leaves (no digest) and failed ones expect no leaf. Migration 0034 adds the digest column and
fills it in for the exports that already have a leaf."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, text, update

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.db.migrate import alembic_config, drift, upgrade
from citycredit.exports.db import ExportRecordRow, ExportRow
from citycredit.exports.run import ExportRun
from citycredit.exports.service import export_dual_publicity, export_proof
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import manifest_digest
from citycredit.ledger.db import LedgerAlarmRow, LedgerLeafRow
from citycredit.ledger.verify import VerifyReport, verify_log
from citycredit.shared.clock import FixedClock
from support import PENALTY_COLUMNS, SAMR, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

CO = uscc("91", "610802", "MA6LXC01")
COMPANY = "榆阳区链上导出商贸有限公司"


# -- helpers -----------------------------------------------------------------------------------


def export_one(c: Container, dept: Principal, n: int, *, sequence: bool = True) -> str:
    """A company penalty ingested and a 双公示 export of it; its id (sequenced unless told)."""
    row = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CO, CF_WSH=f"榆市监罚〔2026〕{n}号")
    path = write_csv(c.settings.data_dir / f"p{n}.csv", PENALTY_COLUMNS, [row])
    ingest_submission(c, dept, path=path, item_code="penalty")
    done = export_dual_publicity(c, SYSTEM)
    assert done["status"] == "completed" and done["counts"]["total"] == 1
    if sequence:
        ledger.integrate_now(c)
    return str(done["id"])


def exported(c: Container) -> tuple[str, int]:
    """One sequenced export that verifies clean: (its id, its leaf's index)."""
    xid = export_one(c, department(c), 1)
    report = verify_log(c)
    assert report.ok, report.as_dict()
    return xid, leaf_index(c, xid)


def leaf_index(c: Container, xid: str) -> int:
    with c.uow() as uow:
        idx = uow.session.scalar(
            select(LedgerLeafRow.idx).where(LedgerLeafRow.ref == f"{xid}/completed")
        )
    assert idx is not None
    return idx


def export_row(c: Container, xid: str) -> ExportRow:
    with c.uow() as uow:
        row = uow.session.get(ExportRow, xid)
        assert row is not None
        uow.session.expunge(row)
        return row


def event_of(c: Container, xid: str) -> OutboxEventRow:
    with c.uow() as uow:
        event = uow.session.scalars(
            select(OutboxEventRow).where(
                OutboxEventRow.aggregate_type == "export", OutboxEventRow.aggregate_id == xid
            )
        ).one()
        uow.session.expunge(event)
        return event


def sql(c: Container, *statements: Any) -> None:
    with c.uow() as uow:
        for st in statements:
            uow.session.execute(st)
        uow.commit()


def tampered(c: Container) -> VerifyReport:
    """A verify that fails and raises its tamper alarm; the tree itself is intact."""
    report = verify_log(c)
    assert not report.ok
    with c.uow() as uow:
        alarm = uow.session.scalar(select(LedgerAlarmRow).order_by(LedgerAlarmRow.id.desc()))
    assert alarm is not None and alarm.kind == "tamper"
    assert alarm.detail["first_bad_index"] == report.first_bad_index
    assert report.root_ok and report.signature_ok and not report.leaf_mismatch
    assert not report.unsequenced and report.rollback is None
    return report


def findings(report: VerifyReport) -> list[tuple[Any, ...]]:
    return [
        (x["ref"], x["index"], x["table"], x["row_id"], tuple(x["fields"])) for x in report.changed
    ]


# -- a clean export ----------------------------------------------------------------------------


def test_a_completed_export_keeps_its_leafs_digest_and_verifies_clean(
    container: Container, clock: FixedClock
) -> None:
    c = container
    xid, _ = exported(c)
    row = export_row(c, xid)
    bundle = export_proof(c, SYSTEM, xid)
    assert row.manifest_hash == manifest_digest(bundle["suite"], bundle["manifest"])
    assert bundle["disclosed"]["manifest_hash"]["value"] == row.manifest_hash
    # a second export on top: both leaves are checked, still clean
    clock.advance(hours=1)
    export_one(c, department_principal(c, SAMR), 2)
    report = verify_log(c)
    assert report.ok, report.as_dict()


# -- the row changed or gone -------------------------------------------------------------------

EDITS: dict[str, tuple[Callable[[ExportRow], dict[str, Any]], tuple[str, ...]]] = {
    "counts": (lambda r: {"counts": {**r.counts, "total": r.counts["total"] + 1}}, ("counts",)),
    "until": (lambda r: {"period_until": r.period_until - timedelta(hours=1)}, ("until",)),
    "since": (lambda r: {"period_since": r.period_until - timedelta(days=1)}, ("since",)),
    "kind": (lambda r: {"kind": "credit_report"}, ("kind",)),
    "digest": (lambda r: {"manifest_hash": "0" * 64}, ("manifest_hash",)),
    "checksum": (
        lambda r: {"files": [{**r.files[0], "sha256": "0" * 64}, *r.files[1:]]},
        ("files",),
    ),
    "manifest entry": (lambda r: {"files": r.files[:-1]}, ("files",)),
    "status": (lambda r: {"status": "failed"}, ("status",)),
    "completed_at": (
        lambda r: {"completed_at": r.completed_at + timedelta(minutes=1)},
        ("completed_at",),
    ),
    "counts and period": (
        lambda r: {
            "counts": {**r.counts, "total": 0},
            "period_until": r.period_until + timedelta(days=1),
        },
        ("until", "counts"),
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_export_row_is_named_with_its_leaf(container: Container, edit: str) -> None:
    c = container
    xid, idx = exported(c)
    values, fields = EDITS[edit]
    sql(c, update(ExportRow).where(ExportRow.id == xid).values(**values(export_row(c, xid))))
    report = tampered(c)
    assert findings(report) == [(f"{xid}/completed", idx, "exports", xid, fields)]
    assert report.first_bad_index == idx
    assert not report.deleted and not report.inserted


def test_a_deleted_export_row_is_named(container: Container) -> None:
    c = container
    xid, idx = exported(c)
    sql(
        c,
        delete(ExportRecordRow).where(ExportRecordRow.export_id == xid),
        delete(ExportRow).where(ExportRow.id == xid),
    )
    report = tampered(c)
    assert report.deleted == [f"{xid}/completed"]
    assert report.first_bad_index == idx
    assert not report.changed and not report.inserted


# -- the manifest the proof is made of ---------------------------------------------------------


def test_an_altered_or_removed_manifest_in_the_outbox_is_named(container: Container) -> None:
    c = container
    xid, idx = exported(c)
    event = event_of(c, xid)
    manifest = event.payload["manifest"]
    altered = {**manifest, "counts": {**manifest["counts"], "total": 5}}
    sql(
        c,
        update(OutboxEventRow)
        .where(OutboxEventRow.id == event.id)
        .values(payload={**event.payload, "manifest": altered}),
    )
    report = tampered(c)
    # the row still agrees with the leaf; the manifest no longer hashes to the committed digest
    assert findings(report) == [(f"{xid}/completed", idx, "outbox", event.id, ("manifest",))]
    assert report.first_bad_index == idx

    sql(c, delete(OutboxEventRow).where(OutboxEventRow.id == event.id))
    assert findings(tampered(c)) == [(f"{xid}/completed", idx, "outbox", event.id, ("manifest",))]


# -- an export with no leaf --------------------------------------------------------------------


def test_an_export_whose_leaf_was_never_emitted_is_named_unless_it_predates_the_leaves(
    container: Container,
) -> None:
    c = container
    dept = department(c)
    xid = export_one(c, dept, 1, sequence=False)
    assert verify_log(c).ok  # its leaf still pending: not a finding
    event = event_of(c, xid)
    sql(c, delete(OutboxEventRow).where(OutboxEventRow.id == event.id))  # never emitted
    ledger.integrate_now(c)
    report = tampered(c)
    assert report.inserted == [f"{xid}/completed"]
    assert not report.changed and not report.deleted

    # without the digest it is an export made before the leaves: none is expected
    sql(c, update(ExportRow).where(ExportRow.id == xid).values(manifest_hash=None))
    assert verify_log(c).ok


def test_a_failed_export_has_no_leaf_and_no_finding(
    container: Container, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    dept = department(c)
    export_one(c, dept, 1)  # one export that did complete
    clock.advance(hours=1)

    def broken(self: ExportRun, s: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ExportRun, "_log_disclosures", broken)
    with pytest.raises(RuntimeError):
        export_one(c, dept, 2)
    ledger.integrate_now(c)
    with c.uow() as uow:
        failed = uow.session.scalars(select(ExportRow).where(ExportRow.status == "failed")).one()
        assert failed.manifest_hash is None
        leaves = uow.session.scalars(
            select(LedgerLeafRow.ref).where(LedgerLeafRow.entry_type == "export.completed")
        ).all()
    assert len(leaves) == 1 and f"{failed.id}/completed" not in leaves
    report = verify_log(c)
    assert report.ok, report.as_dict()


# -- migration 0034 ----------------------------------------------------------------------------


def test_models_and_migration_0034_agree(container: Container) -> None:
    """`citycredit db check` for the exports table (PostgreSQL compares the column comment)."""
    assert [d for d in drift(container.engine) if "'exports'" in repr(d)] == []


def test_migration_0034_fills_in_the_digest_of_exports_already_in_the_ledger(
    container: Container, clock: FixedClock
) -> None:
    c = container
    dept = department(c)
    kept = export_one(c, dept, 1)
    clock.advance(hours=1)
    altered = export_one(c, dept, 2)
    clock.advance(hours=1)
    old = export_one(c, dept, 3, sequence=False)  # stands for an export made before the leaves
    sql(c, delete(OutboxEventRow).where(OutboxEventRow.id == event_of(c, old).id))
    sql(c, update(ExportRow).where(ExportRow.id == old).values(manifest_hash=None))
    ledger.integrate_now(c)
    assert verify_log(c).ok
    digest = export_row(c, kept).manifest_hash
    assert digest is not None

    url = c.engine.url.render_as_string(hide_password=False)
    try:
        with c.engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0033")
        event = event_of(c, altered)  # its manifest altered while the column did not exist
        manifest = event.payload["manifest"]
        forged = {**manifest, "counts": {**manifest["counts"], "total": 7}}
        sql(
            c,
            update(OutboxEventRow)
            .where(OutboxEventRow.id == event.id)
            .values(payload={**event.payload, "manifest": forged}),
        )
    finally:
        upgrade(c.engine)
    with c.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != "0033"
        hashes = dict(conn.execute(text("SELECT id, manifest_hash FROM exports")).all())
    # filled in where the event's manifest gives the leaf's digest; left NULL otherwise
    assert hashes == {kept: digest, altered: None, old: None}
    report = tampered(c)
    idx = leaf_index(c, altered)
    assert findings(report) == [
        (f"{altered}/completed", idx, "exports", altered, ("manifest_hash",)),
        (f"{altered}/completed", idx, "outbox", event.id, ("manifest",)),
    ]


# -- the files on disk -------------------------------------------------------------------------


def test_an_export_file_changed_added_or_removed_on_disk_is_named(container: Container) -> None:
    """While an export's files are kept, `ledger verify` checks them as the province will on
    receipt: a data file edited, an unlisted file added, a listed one removed, or manifest.json
    replaced by a consistent one of its own — each is named with the export's leaf. Files purged
    by retention, or not on this machine at all (a restored backup), are not checked."""
    from pathlib import Path

    from citycredit.exports.verify import MANIFEST

    c = container
    xid, idx = exported(c)
    directory = Path(str(export_row(c, xid).directory))
    data = sorted(p for p in directory.iterdir() if p.name != MANIFEST and p.stat().st_size)
    assert data, list(directory.iterdir())
    target = data[0]
    original = target.read_bytes()

    def problems() -> list[str]:
        report = tampered(c)
        assert findings(report) == [(f"{xid}/completed", idx, "export_files", xid, ("files",))]
        assert report.first_bad_index == idx
        return list(report.changed[0]["problems"])

    target.write_bytes(original.replace("榆阳区".encode(), "神木市".encode(), 1))
    assert target.read_bytes() != original
    assert any(target.name in p and "SHA-256" in p for p in problems())
    target.write_bytes(original)
    assert verify_log(c).ok
    (directory / "extra.csv").write_text("x\n", encoding="utf-8")
    assert any("extra.csv" in p for p in problems())
    (directory / "extra.csv").unlink()
    target.unlink()
    assert any(target.name in p for p in problems())
    target.write_bytes(original)
    # a manifest rewritten to describe other files consistently: not the committed one
    manifest = directory / MANIFEST
    kept = manifest.read_bytes()
    manifest.write_text(kept.decode().replace(xid, xid + "x", 1), encoding="utf-8")
    assert any(MANIFEST in p and "数据链" in p for p in problems())
    manifest.write_bytes(kept)
    assert verify_log(c).ok
    # purged by retention, or the directory not here at all: nothing to check
    target.write_bytes(b"changed")
    sql(c, update(ExportRow).where(ExportRow.id == xid).values(files_purged_at=c.clock.now()))
    assert verify_log(c).ok
    sql(c, update(ExportRow).where(ExportRow.id == xid).values(files_purged_at=None))
    assert not verify_log(c).ok
    moved = directory.with_name(directory.name + "-elsewhere")
    directory.rename(moved)
    assert verify_log(c).ok
