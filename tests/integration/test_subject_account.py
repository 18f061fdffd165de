"""信用账户 on both databases: a bound account sees its whole archive (non-public items, ID
masked, marks, repair eligibility), list entries with exit conditions, its objections and
repairs, and every disclosure of its information; nobody else's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.service import ingest_submission
from citycredit.rights import account, authorisations, objections
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.subjects.archive import authorised_archive
from citycredit.subjects.db import SubjectRow
from support import (
    PENALTY_COLUMNS_WITH_ID,
    department,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

PERSON_ID = id_number("610802", "19800304", "123")
BANK, BANK_CODE = "榆林农村商业银行股份有限公司", uscc("91", "610800", "MA6BK002")
CLERK = Principal(role=Role.credit_office_admin, label="大厅窗口")


def setup(c: Container, tmp: Path) -> tuple[str, str, str]:
    samr = department(c)
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="王小明",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON_ID,
            CF_WSH="榆市监罚〔2026〕5号",
            CF_JDRQ="2026-06-01",
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=BANK,
            CF_XDR_SHXYM=BANK_CODE,
            CF_WSH="榆市监罚〔2026〕6号",
        ),
    ]
    ingest_submission(
        c, samr, path=write_csv(tmp / "p.csv", PENALTY_COLUMNS_WITH_ID, rows), item_code="penalty"
    )
    with c.uow() as uow:
        subjects = {s.name: s for s in uow.session.scalars(select(SubjectRow))}
        person = subjects["王小明"]
        record_id = uow.session.scalar(
            select(account.repairs.RecordRow.id).where(
                account.repairs.RecordRow.subject_id == person.subject_id
            )
        )
    assert record_id is not None
    return person.subject_id, subjects[BANK].subject_id, record_id


def me(sid: str) -> Principal:
    return Principal(role=Role.natural_person, label="王小明", subject_ids=frozenset({sid}))


def test_own_archive_and_inquiry_list(container: Container, tmp_path: Path) -> None:
    c = container
    sid, bank_sid, rid = setup(c, tmp_path)
    tax = department(c, "榆林市税务局", "MA0TAX01")
    authorised_archive(c, tax, sid, purpose="个人所得税核查")
    objections.file_objection(
        c, me(sid), target_type="record", target_id=rid, ground="wrong", reasons="处罚对象错误"
    )
    authorisations.grant(
        c,
        me(sid),
        subject_id=sid,
        grantee=BANK_CODE,
        purpose="个人贷款审批",
        valid_until=date(2026, 12, 31),
    )
    bank = Principal(
        role=Role.financial_institution, label="榆林农商行", subject_ids=frozenset({bank_sid})
    )
    authorisations.institution_query(c, bank, sid)

    view = account.my_archive(c, me(sid))
    assert view["view"] == "own" and view["subject"]["id_number_masked"].startswith("6108")
    assert PERSON_ID not in str(view)  # masked, never in clear
    entry = next(e for g in view["groups"] for e in g["records"] if e["record_id"] == rid)
    assert entry["objection_mark"]["mark"] == "异议处理中"
    assert entry["repair"]["eligible"] is True
    assert any(f.get("masked") for f in entry["fields"])  # the ID field, masked
    assert [o["target"]["id"] for o in view["objections"]] == [rid]
    assert view["authorisations"][0]["grantee"]["name"] == BANK
    assert view["evaluation_detail"]["view"] == "own"  # a person: not public, but shown to self
    # Reading one's own archive is not a disclosure; the tax bureau's and the bank's reads are.
    q = account.my_queries(c, me(sid))
    assert [x["who"] for x in q["items"]] == ["榆林农商行", "榆林市税务局"]
    assert q["items"][0]["purpose"] == "个人贷款审批" and q["items"][0]["authorisation"]
    assert q["items"][1]["purpose"] == "个人所得税核查"


def test_no_account_reads_another_subject(container: Container, tmp_path: Path) -> None:
    c = container
    sid, bank_sid, _ = setup(c, tmp_path)
    for actor in (me(bank_sid), ANONYMOUS, CLERK):
        with pytest.raises(PermissionDenied):
            account.my_archive(c, actor, sid)
        with pytest.raises(PermissionDenied):
            account.my_queries(c, actor, sid)
    with pytest.raises(PermissionDenied):  # no binding at all
        account.my_archive(c, Principal(role=Role.natural_person, label="未绑定"))
    two = Principal(
        role=Role.enterprise_agent, label="经办人", subject_ids=frozenset({sid, bank_sid})
    )
    with pytest.raises(FieldError) as err:
        account.my_archive(c, two)
    assert err.value.field == "subject_id"
    assert account.my_archive(c, two, bank_sid)["subject"]["name"] == BANK
