"""Records without a USCC: matched by old numbers, then name + division; else the clerk's queue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RejectRow
from citycredit.ingest.service import ingest_submission, list_rejects
from citycredit.ingest.unresolved import attach_unresolved, dismiss_unresolved, list_unresolved
from citycredit.subjects.db import SubjectRow
from support import SAMR, department, uscc, write_csv

pytestmark = pytest.mark.db

REG_HEADER = ["DJ_MC", "DJ_ZTLX", "DJ_SHXYM", "DJ_GSZC", "DJ_CLRQ", "DJ_ZS", "DJ_FRDB", "DJ_ZT"]
PEN_HEADER = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_XDR_GSZC",
    "CF_XDR_ZZJG",
    "CF_XDR_DZ",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
]
SAMR_CODE = uscc("11", "610800", "MA0CAMR1")
SHENMU_AUTH = uscc("11", "610881", "MA0XMXJ1")  # 神木市市场监督管理局
CO = uscc("91", "610881", "MA6AAAA1")
TWIN_SHENMU = uscc("91", "610881", "MA6BBBB2")
TWIN_YUYANG = uscc("91", "610802", "MA6CCCC3")


def reg_no(body14: str) -> str:
    """A 15-digit 工商注册号 with its ISO 7064 MOD 11,10 check digit."""
    from stdnum.iso7064 import mod_11_10

    return body14 + mod_11_10.calc_check_digit(body14)


REG_NO = reg_no("61088100012345")


def registry_file(tmp: Path) -> Path:
    rows = [
        [
            "神木市甲煤业有限公司",
            "企业",
            CO,
            REG_NO,
            "2010-05-01",
            "陕西省榆林市神木市滨河新区",
            "王某",
            "存续",
        ],
        [
            "同名商贸有限公司",
            "企业",
            TWIN_SHENMU,
            "",
            "2015-01-01",
            "陕西省榆林市神木市",
            "李某",
            "存续",
        ],
        [
            "同名商贸有限公司",
            "企业",
            TWIN_YUYANG,
            "",
            "2016-01-01",
            "陕西省榆林市榆阳区",
            "赵某",
            "存续",
        ],
    ]
    return write_csv(tmp / "reg.csv", REG_HEADER, rows)


def pen(**over: Any) -> list[Any]:
    row = {
        "CF_XDR_MC": "神木市甲煤业有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_WSH": "神市监罚〔2026〕7号",
        "CF_WFXW": "x",
        "CF_SY": "x",
        "CF_YJ": "x",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款1万元",
        "CF_NR_FK": "1",
        "CF_JDRQ": "2026-10-10",
        "CF_CFJG": "神木市市场监督管理局",
        "CF_CFJGDM": SHENMU_AUTH,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": SAMR_CODE,
    }
    row.update(over)
    return [row.get(h) for h in PEN_HEADER]


@pytest.fixture
def loaded(container: Container, tmp_path: Path) -> Container:
    actor = department(container)
    r = ingest_submission(container, actor, path=registry_file(tmp_path), item_code="registration")
    assert r.counts.new == 3, list_rejects(container, SYSTEM, r.submission_id)
    return container


def ingest_pen(c: Container, tmp: Path, rows: list[list[Any]]) -> Any:
    path = write_csv(tmp / "pen.csv", PEN_HEADER, rows)
    return ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")


def subject_of(c: Container, code: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == code))
        assert sid is not None
        return sid


def record_subjects(c: Container) -> dict[str, str]:
    with c.uow() as uow:
        from citycredit.ingest.db import RecordVersionRow

        rows = uow.session.execute(
            select(RecordVersionRow.payload, RecordRow.subject_id)
            .join(RecordRow)
            .where(RecordRow.item_code == "penalty")
        )
        return {p["CF_WSH"]: sid for p, sid in rows}


def test_matched_by_registration_number(loaded: Container, tmp_path: Path) -> None:
    r = ingest_pen(loaded, tmp_path, [pen(CF_XDR_GSZC=REG_NO, CF_XDR_MC="名称写错了也能匹配")])
    assert r.counts.new == 1
    assert record_subjects(loaded)["神市监罚〔2026〕7号"] == subject_of(loaded, CO)


def test_matched_by_organisation_code(loaded: Container, tmp_path: Path) -> None:
    org = CO[8:17]
    r = ingest_pen(loaded, tmp_path, [pen(CF_XDR_ZZJG=org[:8] + "-" + org[8], CF_XDR_MC="别名")])
    assert r.counts.new == 1
    assert record_subjects(loaded)["神市监罚〔2026〕7号"] == subject_of(loaded, CO)


def test_matched_by_name_within_the_authoritys_division(loaded: Container, tmp_path: Path) -> None:
    # Two subjects share the name; the 神木 authority's code picks the 神木 one.
    r = ingest_pen(loaded, tmp_path, [pen(CF_XDR_MC="同名商贸有限公司")])
    assert r.counts.new == 1
    assert record_subjects(loaded)["神市监罚〔2026〕7号"] == subject_of(loaded, TWIN_SHENMU)


def test_matched_by_name_and_address_county(loaded: Container, tmp_path: Path) -> None:
    city_auth = uscc("11", "610800", "MA0CTTY1")
    r = ingest_pen(
        loaded,
        tmp_path,
        [
            pen(
                CF_XDR_MC="同名商贸有限公司",
                CF_CFJGDM=city_auth,
                CF_XDR_DZ="榆林市榆阳区长城南路1号",
            )
        ],
    )
    assert r.counts.new == 1
    assert record_subjects(loaded)["神市监罚〔2026〕7号"] == subject_of(loaded, TWIN_YUYANG)


def test_ambiguous_and_unknown_rows_go_to_the_queue_never_dropped(
    loaded: Container, tmp_path: Path
) -> None:
    city_auth = uscc("11", "610800", "MA0CTTY1")
    rows = [
        pen(CF_XDR_MC="同名商贸有限公司", CF_CFJGDM=city_auth, CF_WSH="a"),  # two candidates
        pen(CF_XDR_MC="查无此名有限公司", CF_WSH="b"),
    ]
    r = ingest_pen(loaded, tmp_path, rows)
    c = r.counts
    assert (c.received, c.new, c.rejected, c.unresolved, c.balanced) == (2, 0, 2, 2, True)
    queue = list_unresolved(loaded, SYSTEM)
    assert sorted(q["name"] for q in queue) == ["同名商贸有限公司", "查无此名有限公司"]
    ambiguous = next(q for q in queue if q["name"] == "同名商贸有限公司")
    assert len(ambiguous["candidates"]) == 2
    reasons = [
        x["code"] for rej in list_rejects(loaded, SYSTEM, r.submission_id) for x in rej["reasons"]
    ]
    assert reasons == ["subject_unresolved", "subject_unresolved"]
    with loaded.uow() as uow:
        assert (
            uow.session.scalar(
                select(func.count()).select_from(RecordRow).where(RecordRow.item_code == "penalty")
            )
            == 0
        )

    # The clerk attaches one and dismisses the other.
    target = subject_of(loaded, TWIN_YUYANG)
    record_id = attach_unresolved(loaded, SYSTEM, ambiguous["id"], target)
    other = next(q for q in queue if q["name"] == "查无此名有限公司")
    dismiss_unresolved(loaded, SYSTEM, other["id"], "请补充统一社会信用代码后重报")
    assert list_unresolved(loaded, SYSTEM) == []
    with loaded.uow() as uow:
        rec = uow.session.get(RecordRow, record_id)
        assert rec is not None and rec.subject_id == target
        statuses = sorted(uow.session.scalars(select(RejectRow.status)))
    assert statuses == ["open", "resolved"]


def test_a_person_is_never_matched_by_name(loaded: Container, tmp_path: Path) -> None:
    r = ingest_pen(loaded, tmp_path, [pen(CF_XDR_MC="王某", CF_XDR_LB="自然人")])
    assert r.counts.rejected == 1
