"""信用承诺 over HTTP on both databases: archive record, outcomes, publication, masking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.commitments.service import recent_breaches
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger import service as ledger
from citycredit.ledger.db import LedgerLeafRow
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS_WITH_ID, SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

AUTH = uscc("11", "610800", "MA0CAMR1")
COMPANY = uscc("91", "610802", "MA6CMT01")
PERSON_ID = id_number("610802", "19800304", "123")
PHONE = "13912345678"


def penalty(name: str, category: str, code: str, idn: str, no: str) -> list[Any]:
    head = [name, category, code, idn, no, "x", "x", "x", "警告", "警告", "", "2026-11-02"]
    return [*head, SAMR, AUTH, SAMR, AUTH]


@pytest.fixture
def world(container: Container, tmp_path: Path) -> Iterator[dict[str, Any]]:
    samr = department(container)
    rows = [
        penalty("榆阳区承诺商贸有限公司", "法人及非法人组织", COMPANY, "", "榆市监罚〔2026〕1号"),
        penalty("王小明", "自然人", "", PERSON_ID, "榆市监罚〔2026〕2号"),
    ]
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, rows)
    ingest_submission(container, samr, path=path, item_code="penalty")
    with container.uow() as uow:
        subjects = list(uow.session.scalars(select(SubjectRow)))
    ids = {("company" if s.uscc == COMPANY else "person"): s.subject_id for s in subjects}
    tokens = {
        "samr": add_user(
            container,
            SYSTEM,
            username="samr1",
            display_name="市场监管受理员",
            role=Role.department_staff,
            department=SAMR,
        ).token,
        "tax": add_department(
            container, SYSTEM, name="榆林市税务局", code=uscc("11", "610800", "MA0TAX01")
        ).token,
        "admin": add_user(
            container,
            SYSTEM,
            username="admin",
            display_name="信用办",
            role=Role.credit_office_admin,
        ).token,
    }
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens, "ids": ids, "c": container}


def h(world: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}


def commit(world: dict[str, Any], who: str | None, subject: str = "company", **body: Any) -> Any:
    data = {
        "subject_id": world["ids"][subject],
        "kind": "approval_substitute",
        "matter": "food_business_licence",
        "text": "承诺所报材料真实，三个月内补交健康证明",
        "made_on": "2026-09-01",
        **body,
    }
    return world["client"].post("/api/v1/commitments", json=data, headers=h(world, who))


def outcome(world: dict[str, Any], who: str | None, cid: str, **body: Any) -> Any:
    data = {"checked_on": "2026-11-20", **body}
    return world["client"].post(
        f"/api/v1/commitments/{cid}/outcome", json=data, headers=h(world, who)
    )


def archive_entry(world: dict[str, Any], subject: str, record_id: str) -> dict[str, Any]:
    sid = world["ids"][subject]
    groups = world["client"].get(f"/api/v1/subjects/{sid}/archive").json()["groups"]
    (group,) = [g for g in groups if g["item"] == "commitment"]
    (entry,) = [e for e in group["records"] if e["record_id"] == record_id]
    return entry


def fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {f["code"]: f["value"] for f in entry["fields"]}


def test_commitment_is_a_catalog_record_in_the_archive(world: dict[str, Any]) -> None:
    r = commit(world, "samr")
    assert r.status_code == 200, r.text
    cm = r.json()
    assert (cm["status"], cm["status_label"], cm["kind_label"]) == (
        "in_progress",
        "履约中",
        "审批替代型",
    )
    assert cm["matter_name"] == "食品经营许可" and cm["department"] == SAMR and cm["public"]
    entry = archive_entry(world, "company", cm["record_id"])
    f = fields(entry)
    assert f["CN_BH"] == cm["commitment_id"] and f["CN_LYZT"] == "履约中"
    assert (f["CN_LX"], f["CN_SLDW"], f["CN_RQ"]) == ("审批替代型", SAMR, "2026-09-01")
    assert entry["adverse"] is False
    c: Container = world["c"]
    with c.uow() as uow:
        events = list(uow.session.scalars(select(OutboxEventRow).order_by(OutboxEventRow.id)))
    kinds = [(e.event_type, e.aggregate_id) for e in events if e.aggregate_type != "record"]
    assert ("commitment.recorded", cm["commitment_id"]) in kinds
    recorded = next(e for e in events if e.event_type == "commitment.recorded")
    assert "ledger" in recorded.payload
    assert any(
        e.event_type == "record.accepted" and e.aggregate_id == cm["record_id"] for e in events
    )


def test_commitment_input_and_permissions(world: dict[str, Any]) -> None:
    no_matter = commit(world, "samr", matter=None)
    assert no_matter.status_code == 422 and no_matter.json()["field"] == "matter"
    assert commit(world, "samr", kind="voluntary", matter=None).status_code == 200
    assert commit(world, "samr", kind="主动型", matter=None).json()["kind"] == "voluntary"
    bad_kind = commit(world, "samr", kind="口头型")
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    bad_matter = commit(world, "samr", matter="no_such_matter")
    assert bad_matter.status_code == 422 and bad_matter.json()["field"] == "matter"
    future = commit(world, "samr", made_on="2027-01-01")
    assert future.status_code == 422 and future.json()["field"] == "made_on"
    assert commit(world, None).status_code == 401
    assert commit(world, "tax", department=SAMR).status_code == 403
    assert commit(world, "admin").json()["field"] == "department"
    assert commit(world, "admin", department=SAMR).status_code == 200


def test_breach_is_an_adverse_record_with_its_event(world: dict[str, Any]) -> None:
    c: Container = world["c"]
    cm = commit(world, "samr").json()
    # another department's commitment answers like a missing one (G8)
    assert outcome(world, "tax", cm["commitment_id"], result="breached").status_code == 404
    r = outcome(world, "samr", cm["commitment_id"], result="breached", note="逾期未补交")
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["status_label"], got["adverse"]) == ("breached", "未履约", True)
    assert got["false_commitment"] is False and got["checked_on"] == "2026-11-20"
    entry = archive_entry(world, "company", cm["record_id"])
    assert fields(entry)["CN_LYZT"] == "未履约" and fields(entry)["CN_LYRQ"] == "2026-11-20"
    assert entry["adverse"] is True and entry["version"] == 2
    # The evaluation (a later issue) will consume this correction from the outbox.
    with c.uow() as uow:
        s = uow.session
        events = list(s.scalars(select(OutboxEventRow).order_by(OutboxEventRow.id)))
        record = s.get(RecordRow, cm["record_id"])
        assert record is not None and record.item_code == "commitment"
        assert recent_breaches(s, world["ids"]["company"], date(2026, 11, 25)) == [
            date(2026, 11, 20)
        ]
        assert recent_breaches(s, world["ids"]["person"], date(2026, 11, 25)) == []
    corrected = [
        e
        for e in events
        if e.event_type == "record.corrected" and e.aggregate_id == cm["record_id"]
    ]
    assert len(corrected) == 1 and corrected[0].payload["item"] == "commitment"
    assert corrected[0].payload["version"] == 2
    breached = [e for e in events if e.event_type == "commitment.breached"]
    assert len(breached) == 1 and breached[0].payload["adverse"] is True
    ledger.integrate_now(c)
    with c.uow() as uow:
        refs = set(uow.session.scalars(select(LedgerLeafRow.ref)))
    assert {f"{cm['commitment_id']}/recorded", f"{cm['commitment_id']}/breached"} <= refs
    # An outcome is registered once: a second one is an illegal transition.
    again = outcome(world, "samr", cm["commitment_id"], result="fulfilled")
    assert again.status_code == 409 and again.json()["error"] == "already_checked"


def test_false_commitment_is_flagged_and_fulfilled_is_not_adverse(world: dict[str, Any]) -> None:
    cm = commit(world, "samr").json()
    no_note = outcome(world, "samr", cm["commitment_id"], result="false")
    assert no_note.status_code == 422 and no_note.json()["field"] == "note"
    bad = outcome(world, "samr", cm["commitment_id"], result="maybe")
    assert bad.status_code == 422 and bad.json()["field"] == "result"
    early = outcome(world, "samr", cm["commitment_id"], result="fulfilled", checked_on="2026-08-01")
    assert early.status_code == 422 and early.json()["field"] == "checked_on"
    r = outcome(world, "samr", cm["commitment_id"], result="false", note="健康证明系伪造")
    got = r.json()
    assert got["false_commitment"] is True and got["status"] == "breached"
    assert got["status_label"] == "未履约（虚假承诺）" and got["note"] == "健康证明系伪造"
    assert fields(archive_entry(world, "company", cm["record_id"]))["CN_LYZT"] == "未履约"
    assert outcome(world, "samr", cm["commitment_id"], result="breached").status_code == 409

    ok = commit(world, "samr", kind="voluntary", matter=None).json()
    done = outcome(world, "samr", ok["commitment_id"], result="fulfilled").json()
    assert (done["status_label"], done["adverse"]) == ("已履约", False)
    entry = archive_entry(world, "company", ok["record_id"])
    assert fields(entry)["CN_LYZT"] == "已履约" and entry["adverse"] is False
    assert outcome(world, "samr", ok["commitment_id"], result="breached").status_code == 409
    assert outcome(world, "samr", "cmnope", result="breached").status_code == 404


def test_listing_public_kinds_and_department_view(world: dict[str, Any]) -> None:
    for kind in ("approval_substitute", "voluntary", "industry_self_discipline", "repair"):
        matter = "food_business_licence" if kind == "approval_substitute" else None
        assert commit(world, "samr", kind=kind, matter=matter).status_code == 200
    assert commit(world, "admin", department="榆林市税务局", kind="voluntary").status_code == 200
    sid = world["ids"]["company"]
    client = world["client"]
    assert client.get("/api/v1/commitments").status_code == 422  # public: name a subject
    public = client.get("/api/v1/commitments", params={"subject_id": sid}).json()
    assert sorted(x["kind"] for x in public["commitments"]) == [
        "approval_substitute",
        "industry_self_discipline",
        "voluntary",
        "voluntary",
    ]
    staff = client.get("/api/v1/commitments", headers=h(world, "samr")).json()
    assert sorted(x["kind"] for x in staff["commitments"]) == [
        "approval_substitute",
        "industry_self_discipline",
        "repair",
        "voluntary",
    ]
    tax = client.get("/api/v1/commitments", params={"subject_id": sid}, headers=h(world, "tax"))
    assert [x["department"] for x in tax.json()["commitments"]] == ["榆林市税务局"]
    assert (
        len(client.get("/api/v1/commitments", headers=h(world, "admin")).json()["commitments"]) == 5
    )


def test_no_unmasked_personal_data_in_commitment_responses(world: dict[str, Any]) -> None:
    text = f"本人王小明（身份证{PERSON_ID}，电话{PHONE}）承诺按期补交材料"
    r = commit(world, "samr", subject="person", kind="voluntary", matter=None, text=text)
    assert r.status_code == 200, r.text
    cm = r.json()
    assert cm["subject_name"] == "王**"
    out = outcome(world, "samr", cm["commitment_id"], result="false", note=f"联系{PHONE}核实为虚假")
    listed = world["client"].get(
        "/api/v1/commitments", params={"subject_id": world["ids"]["person"]}
    )
    staff = world["client"].get("/api/v1/commitments", headers=h(world, "samr"))
    for resp in (r, out, listed, staff):
        assert resp.status_code == 200
        body = resp.text
        assert PERSON_ID not in body and PHONE not in body and "王小明" not in body
    assert cm["text"] == "本人王**（身份证[已隐去]，电话[已隐去]）承诺按期补交材料"
