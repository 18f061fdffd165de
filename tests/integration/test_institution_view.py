"""An institution's read under an authorisation, on both databases: the grade only when the
grant covers it (or it is public anyway), what is public shown as to any visitor and marked so,
and the disclosure log naming exactly what went beyond the public view (docs/rights.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import Principal, Role
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.ingest.withhold import withhold_record
from citycredit.kernel.db import DisclosureRow
from citycredit.kernel.deliveries import deliver_all
from citycredit.rights import account
from citycredit.rights import authorisations as auth
from citycredit.shared.clock import FixedClock
from citycredit.subjects.archive import public_archive
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

COURT = "榆林市中级人民法院"
SHOP, SHOP_CODE = "榆阳区张记小吃店", uscc("92", "610802", "MA6GT001")  # 个体工商户
COMPANY, CODE = "榆阳区授权商贸有限公司", uscc("91", "610802", "MA6AU002")
BANK, BANK_CODE = "榆林农村商业银行股份有限公司", uscc("91", "610800", "MA6BK002")
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_SXQX"]


def setup(c: Container, tmp: Path) -> dict[str, str]:
    """A 个体工商户 on the public 失信被执行人 list with a withheld (不予公示) penalty, a company
    with a public and a withheld penalty, and the bank; everyone evaluated."""
    court = department(c, COURT, "MA0CRT01")
    row = [SHOP, "个体工商户", SHOP_CODE, "（2026）陕0802执7号", COURT, "2026-10-01", "拒不履行"]
    path = write_csv(tmp / "sx.csv", DEFAULTER, [row])
    ingest_submission(c, court, path=path, item_code="judgment_defaulter")
    samr = department(c)
    rows = [
        penalty_row(CF_XDR_MC=SHOP, CF_XDR_LB="个体工商户", CF_XDR_SHXYM=SHOP_CODE, CF_WSH="1号"),
        penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕2号"),
        penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕3号"),
        penalty_row(CF_XDR_MC=BANK, CF_XDR_SHXYM=BANK_CODE, CF_WSH="榆市监罚〔2026〕4号"),
    ]
    ingest_submission(
        c, samr, path=write_csv(tmp / "p.csv", PENALTY_COLUMNS, rows), item_code="penalty"
    )
    with c.uow() as uow:
        s = uow.session
        ids = {r.uscc: r.subject_id for r in s.scalars(select(SubjectRow))}
        penalties = {
            sid: sorted(
                r.id
                for r in s.scalars(
                    select(RecordRow).where(
                        RecordRow.subject_id == sid, RecordRow.item_code == "penalty"
                    )
                )
            )
            for sid in (ids[SHOP_CODE], ids[CODE])
        }
    # the shop's only penalty and one of the company's two leave the public view
    for rid in (penalties[ids[SHOP_CODE]][0], penalties[ids[CODE]][0]):
        withhold_record(c, samr, rid, reason="privacy", basis="涉及个人隐私")
    deliver_all(c)  # lists (the 失信被执行人 membership) and evaluation
    deliver_all(c)  # the membership's own event re-evaluates
    return {"shop": ids[SHOP_CODE], "company": ids[CODE], "bank": ids[BANK_CODE]}


def agent(sid: str) -> Principal:
    return Principal(
        role=Role.enterprise_agent, label="经办人", user_id=None, subject_ids=frozenset({sid})
    )


def bank(bank_sid: str) -> Principal:
    return Principal(
        role=Role.financial_institution, label="榆林农商行信贷部", subject_ids=frozenset({bank_sid})
    )


def grant(c: Container, sid: str, items: list[str]) -> dict[str, Any]:
    return auth.grant(
        c,
        agent(sid),
        subject_id=sid,
        grantee=BANK_CODE,
        purpose="贷款审批",
        valid_until=date(2026, 12, 31),
        items=items,
    )


def last_log(c: Container, sid: str) -> DisclosureRow:
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(DisclosureRow)
            .where(DisclosureRow.subject_id == sid)
            .order_by(DisclosureRow.id.desc())
        ).all()
    assert rows
    return rows[0]


def entries(view: dict[str, Any], item: str) -> list[dict[str, Any]]:
    return [e for g in view["groups"] if g["item"] == item for e in g["records"]]


def test_a_narrow_grant_shows_no_grade_of_a_person_and_what_is_public_as_public(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    ids = setup(c, tmp_path)
    sid, reader = ids["shop"], bank(ids["bank"])
    public = public_archive(c, Principal(role=Role.public, label="访客"), sid)
    assert [g["item"] for g in public["groups"]] == ["judgment_defaulter"]
    grant(c, sid, ["penalty"])
    view = auth.institution_query(c, reader, sid)
    # 个体工商户: its grade is never public, and the grant does not cover it
    assert view["evaluation"]["shown"] is False and "grade" not in view["evaluation"]
    assert "本次授权未包括" in view["evaluation"]["note"]
    assert view["authorisation"]["evaluation"] is False
    assert "授权未包括公共信用综合评价结果" in view["scope_note"]
    # the authorised item (its withheld penalty), and the public 失信被执行人 record as public
    groups = {g["item"]: g for g in view["groups"]}
    assert groups["penalty"]["authorised"] is True
    assert [e["public"] for e in groups["penalty"]["records"]] == [False]
    assert groups["judgment_defaulter"]["authorised"] is False
    shown_public = groups["judgment_defaulter"]["records"]
    assert [e["public"] for e in shown_public] == [True]
    assert [e["fields"] for e in shown_public] == [
        e["fields"] for g in public["groups"] for e in g["records"]
    ]
    assert [m["list_type"] for m in view["public_lists"]["lists"]] == ["judgment_defaulter"]
    assert view["public_lists"]["measures"]
    # the log names exactly what went beyond the public view: the penalty, no grade
    log = last_log(c, sid)
    assert log.items == view["disclosed"] == ["penalty"]
    assert log.detail["records"] == 1
    queries = account.my_queries(c, agent(sid))["items"]
    assert queries[0]["items"] == ["penalty"] and queries[0]["channel"] == "institution"

    # a grant of an item the subject has no record of: nothing beyond the public view
    clock.advance(minutes=1)  # the newest grant is the one used
    grant(c, sid, ["licence"])
    view = auth.institution_query(c, reader, sid)
    assert view["evaluation"]["shown"] is False
    assert [(g["item"], g["authorised"]) for g in view["groups"]] == [("judgment_defaulter", False)]
    log = last_log(c, sid)
    assert log.items == view["disclosed"] == [] and log.detail["records"] == 0


def test_a_grant_covering_the_evaluation_shows_the_grade_and_logs_it(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    c = container
    ids = setup(c, tmp_path)
    sid, reader = ids["shop"], bank(ids["bank"])
    a = grant(c, sid, ["penalty", "evaluation"])
    assert a["evaluation"] is True and a["items"] == ["evaluation", "penalty"]
    view = auth.institution_query(c, reader, sid)
    assert view["evaluation"]["shown"] is True and view["evaluation"]["grade"]
    assert view["evaluation"]["public"] is False
    assert last_log(c, sid).items == view["disclosed"] == ["evaluation", "penalty"]
    # a grant naming nothing covers the whole archive, the evaluation included
    clock.advance(minutes=1)  # the newest grant is the one used
    a = grant(c, sid, [])
    assert a["all_non_public_items"] is True and a["evaluation"] is True
    view = auth.institution_query(c, reader, sid)
    assert view["evaluation"]["shown"] is True
    assert all(g["authorised"] for g in view["groups"])
    log = last_log(c, sid)
    assert log.items == view["disclosed"] and {"evaluation", "penalty"} <= set(log.items)


def test_an_organisations_grade_is_public_shown_as_such_and_not_logged(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = setup(c, tmp_path)
    sid = ids["company"]
    grant(c, sid, ["penalty"])
    view = auth.institution_query(c, bank(ids["bank"]), sid)
    grade = view["evaluation"]
    assert grade["shown"] is True and grade["public"] is True
    public = public_archive(c, Principal(role=Role.public, label="访客"), sid)["evaluation"]
    assert {k: v for k, v in grade.items() if k != "public"} == public
    # two penalties: the public one as the public sees it, the withheld one under the grant
    assert sorted(e["public"] for e in entries(view, "penalty")) == [False, True]
    log = last_log(c, sid)
    assert log.items == view["disclosed"] == ["penalty"] and log.detail["records"] == 1


def test_a_staff_read_of_a_person_like_grade_logs_the_evaluation(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    """The authorised (staff) view shows every grade; a grade the public may not see (a 个体
    工商户's) is logged as `evaluation`, an organisation's public one is not."""
    from citycredit.accounts.service import department_principal
    from citycredit.subjects.archive import authorised_archive
    from support import SAMR

    c = container
    ids = setup(c, tmp_path)
    staff = department_principal(c, SAMR)
    shop = authorised_archive(c, staff, ids["shop"], purpose="行政审批核查")
    assert shop["evaluation"]["shown"] is True
    assert "evaluation" in last_log(c, ids["shop"]).items
    company = authorised_archive(c, staff, ids["company"], purpose="行政审批核查")
    assert company["evaluation"]["shown"] is True
    assert "evaluation" not in last_log(c, ids["company"]).items
