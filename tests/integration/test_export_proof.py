"""双公示 exports the province can verify: one ``export.completed`` leaf per completed export
committing to its manifest, an offline proof bundle, and the check of a directory as received
(exports/verify.py) — every file against manifest.json, the manifest against the ledger."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.exports.db import ExportRow
from citycredit.exports.run import ExportRun
from citycredit.exports.service import (
    export_dual_publicity,
    export_proof,
    purge_export_files,
)
from citycredit.exports.verify import verify_export_directory
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import BundleError, manifest_digest, verify_bundle
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.signers import generate_signer, verifier_to_vkey
from citycredit.ledger.suites import Suite
from citycredit.ledger.verify import verify_log
from citycredit.shared.canonical import canonical_bytes
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.subjects.db import SubjectRow
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

CO = uscc("91", "610802", "MA6PRF01")
PERSON_NAME = "郝某某"
PERSON_ID = id_number("610802", "19791212")


def submit(c: Container, rows: list[list[object]], name: str = "p.csv") -> None:
    """A 市场监管局 file (the department registered on first use)."""
    try:
        dept = department_principal(c, SAMR)
    except NotFound:
        dept = department(c)
    path = write_csv(c.settings.data_dir / name, PENALTY_COLUMNS_WITH_ID, rows)
    ingest_submission(c, dept, path=path, item_code="penalty")


def rows(n: int) -> list[list[object]]:
    """A company's penalty and a natural person's (name and ID number in the file)."""
    return [
        penalty_row(PENALTY_COLUMNS_WITH_ID, CF_XDR_SHXYM=CO, CF_WSH=f"榆市监罚〔2026〕{n}号"),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=PERSON_NAME,
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON_ID,
            CF_WSH=f"榆市监罚〔2026〕{n + 1}号",
        ),
    ]


def export_events(c: Container) -> list[OutboxEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(OutboxEventRow).where(OutboxEventRow.aggregate_type == "export")
            )
        )


def export_leaves(c: Container) -> list[LedgerLeafRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(LedgerLeafRow).where(LedgerLeafRow.entry_type == "export.completed")
            )
        )


def vkey(c: Container) -> str:
    return str(ledger.checkpoint(c)["vkey"])


def sequenced_export(c: Container, n: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """Submit two penalties, export, run the sequencer; the export and its proof."""
    submit(c, rows(n), name=f"p{n}.csv")
    done = export_dual_publicity(c, SYSTEM)
    ledger.integrate_now(c)
    return done, export_proof(c, SYSTEM, done["id"])


def file_of(done: dict[str, Any], fmt: str, item: str = "penalty") -> Path:
    f = next(f for f in done["files"] if f["format"] == fmt and f["item"] == item)
    return Path(done["directory"]) / f["name"]


def test_an_export_adds_one_leaf_and_its_proof_verifies_offline(container: Container) -> None:
    c = container
    submit(c, rows(1))
    ledger.integrate_now(c)  # the records' own leaves
    leaves_before = len(list(_all_leaves(c)))
    done = export_dual_publicity(c, SYSTEM)
    assert done["counts"]["penalty"]["新增"] == 2

    [event] = export_events(c)  # exactly one event, in the export's own transaction
    assert event.event_type == "export.completed" and event.aggregate_id == done["id"]
    assert event.payload["ledger"]["ref"] == f"{done['id']}/completed"
    with pytest.raises(Conflict) as pending:  # not sequenced yet: the proof is not ready
        export_proof(c, SYSTEM, done["id"])
    assert pending.value.code == "ledger_pending" and "尚未收录到数据链" in pending.value.message

    ledger.integrate_now(c)
    [leaf] = export_leaves(c)
    assert len(list(_all_leaves(c))) == leaves_before + 1
    assert leaf.ref == f"{done['id']}/completed" and leaf.subject_id is None

    # No personal data in the leaf: the natural person's name, ID number, subject id and ID
    # digest are not in its canonical bytes (nor in the manifest it commits to).
    directory = Path(done["directory"])
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    with c.uow() as uow:
        person = uow.session.scalar(
            select(SubjectRow).where(SubjectRow.subject_type == "natural_person")
        )
        assert person is not None
        secrets = [PERSON_NAME, PERSON_ID, person.subject_id]
        secrets += [person.id_digest] if person.id_digest else []
    assert PERSON_ID in file_of(done, "csv").read_text(encoding="utf-8-sig")  # the file has it
    for text in (bytes(leaf.data).decode(), canonical_bytes(manifest).decode()):
        for secret in secrets:
            assert secret not in text
    data = json.loads(bytes(leaf.data))
    assert data["type"] == "export.completed" and data["subject_id"] is None
    assert set(data["fields"]) == {"export_id", "kind", "until", "counts", "manifest_hash"}

    bundle = export_proof(c, SYSTEM, done["id"])
    assert bundle["manifest"] == manifest  # the manifest as written
    assert bundle["disclosed"]["manifest_hash"]["value"] == manifest_digest(
        bundle["suite"], manifest
    )
    report = verify_bundle(json.loads(json.dumps(bundle)), trusted_vkey=vkey(c))
    assert report.ref == f"{done['id']}/completed" and report.key_pinned
    assert any(f"导出批次 {done['id']} 的清单与数据链中登记的摘要一致" in x for x in report.checks)
    bare = {k: v for k, v in bundle.items() if k != "manifest"}  # the leaf without its manifest
    with pytest.raises(BundleError, match="凭证缺少导出清单（manifest）"):
        verify_bundle(bare, trusted_vkey=vkey(c))
    checked = verify_export_directory(directory, bundle, trusted_vkey=vkey(c))
    assert checked.ok, checked.problems
    assert checked.export_id == done["id"] and checked.bundle is not None
    assert verify_log(c).ok  # `ledger verify` stays clean with export leaves


def _all_leaves(c: Container) -> list[int]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(LedgerLeafRow.idx)))


def test_the_directory_check_names_each_file_that_differs(container: Container) -> None:
    c = container
    done, bundle = sequenced_export(c)
    directory = Path(done["directory"])
    assert verify_export_directory(directory, bundle).ok

    csv_path, json_path = file_of(done, "csv"), file_of(done, "json")
    raw = bytearray(csv_path.read_bytes())
    raw[-3] = ord("9") if raw[-3] != ord("9") else ord("8")  # one byte of the last row
    csv_path.write_bytes(bytes(raw))
    json_path.unlink()
    (directory / "XZCF_610800_extra.csv").write_text("CF_XDR_MC\n某\n", encoding="utf-8")
    (directory / "proof.json").write_text(json.dumps(bundle), encoding="utf-8")  # ignored

    checked = verify_export_directory(directory, bundle)
    assert not checked.ok
    assert len(checked.problems) == 3, checked.problems
    changed, missing, extra = checked.problems
    assert csv_path.name in changed and "SHA-256" in changed and "内容被改动" in changed
    assert json_path.name in missing and "不存在" in missing
    assert "XZCF_610800_extra.csv" in extra and "未列出" in extra
    # the manifest itself is intact: the bundle still checks out against it
    assert any("就是数据链第" in x for x in checked.checks)


def test_an_edited_manifest_fails_against_the_ledger(container: Container) -> None:
    c = container
    done, bundle = sequenced_export(c)
    directory = Path(done["directory"])
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["counts"]["penalty"]["新增"] = 1  # a count changed; files untouched
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")

    alone = verify_export_directory(directory)  # without the proof the files still match it
    assert alone.ok, alone.problems
    checked = verify_export_directory(directory, bundle)
    [problem] = checked.problems
    assert "manifest.json 与数据链中登记的摘要不一致" in problem and "counts" in problem

    # a bundle carrying the edited manifest is refused by the offline check (the digest)
    forged = copy.deepcopy(bundle)
    forged["manifest"] = manifest
    with pytest.raises(BundleError, match="清单与数据链中登记的摘要不一致"):
        verify_bundle(forged)

    # a listed row count that does not match the file is named
    manifest = json.loads(json.dumps(bundle["manifest"]))
    entry = next(f for f in manifest["files"] if f["format"] == "json" and f["item"] == "penalty")
    entry["rows"] = 3
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    rows_off = verify_export_directory(directory)
    [problem] = rows_off.problems
    assert entry["name"] in problem and "有 2 行数据" in problem and "登记 3 行" in problem


def test_a_bundle_of_another_export_or_under_another_key_is_refused(
    container: Container, clock: FixedClock
) -> None:
    c = container
    first, first_bundle = sequenced_export(c, 1)
    clock.advance(hours=1)
    second, second_bundle = sequenced_export(c, 3)
    assert first["id"] != second["id"]
    first_dir = Path(first["directory"])

    checked = verify_export_directory(first_dir, second_bundle)
    [problem] = checked.problems
    assert f"凭证是导出批次 {second['id']} 的" in problem and first["id"] in problem
    swapped = copy.deepcopy(second_bundle)  # the first manifest under the second's leaf
    swapped["manifest"] = first_bundle["manifest"]
    with pytest.raises(BundleError, match="叶子所指的"):
        verify_bundle(swapped)

    other = generate_signer(c.settings.ledger_origin, Suite(c.settings.ledger_suite))
    wrong = verifier_to_vkey(other.verifier())
    pinned = verify_export_directory(first_dir, first_bundle, trusted_vkey=wrong)
    [problem] = pinned.problems
    assert "数据链凭证验证失败" in problem and "公钥" in problem
    assert verify_export_directory(first_dir, first_bundle, trusted_vkey=vkey(c)).ok
    assert verify_log(c).ok


def test_a_failed_export_adds_no_leaf(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    submit(c, rows(1))
    with pytest.raises(FieldError):
        export_dual_publicity(c, SYSTEM, since="x")  # invalid --since: nothing starts

    def broken(self: ExportRun, s: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ExportRun, "_log_disclosures", broken)
    with pytest.raises(RuntimeError):
        export_dual_publicity(c, SYSTEM)
    with c.uow() as uow:
        [failed] = uow.session.scalars(select(ExportRow)).all()
        assert failed.status == "failed"
    assert export_events(c) == []
    ledger.integrate_now(c)
    assert export_leaves(c) == []
    with pytest.raises(NotFound) as none:
        export_proof(c, SYSTEM, failed.id)
    assert none.value.code == "export_not_in_ledger" and "failed" in none.value.message
    assert verify_log(c).ok


def test_who_may_read_a_proof_and_unknown_exports(container: Container) -> None:
    c = container
    done, _ = sequenced_export(c)
    with pytest.raises(PermissionDenied):
        export_proof(
            c, department_principal(c, SAMR), done["id"]
        )  # a department: the files carry ID numbers
    with pytest.raises(NotFound) as unknown:
        export_proof(c, SYSTEM, "x-none")
    assert unknown.value.code == "export_not_found"


def test_the_proof_outlives_the_files_and_goes_with_them(
    container: Container, clock: FixedClock
) -> None:
    c = container
    done, bundle = sequenced_export(c)
    directory = Path(done["directory"])
    (directory / "proof.json").write_text(json.dumps(bundle), encoding="utf-8")
    clock.advance(days=c.settings.export_file_retention_days + 1)
    purged = purge_export_files(c)
    assert purged["export_ids"] == [done["id"]]
    assert not directory.exists()  # proof.json went with the files: the directory is gone
    again = export_proof(c, SYSTEM, done["id"])  # the manifest is kept with the ledger entry
    assert again["manifest"] == bundle["manifest"]
    assert verify_bundle(again, trusted_vkey=vkey(c)).ref == f"{done['id']}/completed"
