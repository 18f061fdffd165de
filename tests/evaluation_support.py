"""Test support for 公共信用综合评价: companies with records, deliveries, a second model version."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.evaluation.loader import DEFAULT_DIRECTORY
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel import outbox
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS_WITH_ID, SAMR, id_number, uscc, write_csv

COMPANY = uscc("91", "610802", "MA6EA001")
OTHER = uscc("91", "610802", "MA6EA002")
SHOP = uscc("92", "610802", "MA6EA003")  # 个体工商户
PERSON = id_number("610802", "19800304", "123")
COURT = "榆林市中级人民法院"
DEFAULTER = ["SX_MC", "SX_LB", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_SXQX"]
TODAY = date(2026, 11, 25)  # the fixture clock's Shanghai date


def penalty(
    code: str, no: str, *, kind: str = "罚款", amount: str = "2", name: str = ""
) -> list[Any]:
    """A 行政处罚 row (PENALTY_COLUMNS_WITH_ID) of a company, 个体工商户 or natural person."""
    auth = uscc("11", "610800", "MA0CAMR1")
    person = code == PERSON
    category = "自然人" if person else "个体工商户" if code[:2] == "92" else "法人及非法人组织"
    name = name or ("王小明" if person else "榆阳区评价商贸有限公司")
    content = f"罚款{amount}万元" if kind == "罚款" else kind
    fine = amount if kind == "罚款" else ""
    row = [name, category, "" if person else code, code if person else "", no, "x", "x", "x"]
    return [
        *row,
        kind,
        content,
        fine,
        "2026-11-02",
        "榆林市市场监督管理局",
        auth,
        "榆林市市场监督管理局",
        auth,
    ]


def ingest(c: Container, tmp: Path, rows: list[list[Any]], name: str = "p.csv") -> Any:
    path = write_csv(tmp / name, PENALTY_COLUMNS_WITH_ID, rows)
    return ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")


def licence(c: Container, tmp: Path, code: str, name: str = "榆阳区评价商贸有限公司") -> None:
    """A 食品经营许可 in force until 2029 (licences_in_force: +5)."""
    auth = uscc("11", "610800", "MA0CAMR1")
    row = {
        "XK_XDR_MC": name,
        "XK_XDR_LB": "法人及非法人组织",
        "XK_XDR_SHXYM": code,
        "XK_XKWS": "食品经营许可决定书",
        "XK_WSH": f"榆市监许〔2026〕{code[-4:]}号",
        "XK_XKLB": "普通",
        "XK_NR": "食品销售",
        "XK_JDRQ": "2026-10-20",
        "XK_YXQZ": "2026-10-20",
        "XK_YXQZI": "2029-12-31",
        "XK_XKJG": SAMR,
        "XK_XKJGDM": auth,
        "XK_ZT": "有效",
        "XK_LYDW": SAMR,
        "XK_LYDWDM": auth,
    }
    path = write_csv(tmp / f"l{code}.csv", list(row), [list(row.values())])
    receipt = ingest_submission(c, department_principal(c, SAMR), path=path, item_code="licence")
    assert receipt.as_dict()["new"] == 1, receipt.as_dict()


def deliver(c: Container, *names: str) -> dict[str, int]:
    """Feed the named consumers (default: lists, then evaluation) everything pending."""
    return {
        n: outbox.deliver(c.uow, n, c.consumers[n], at=c.clock.now())
        for n in (names or ("lists", "evaluation"))
    }


def subject_id(c: Container, code: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == code))
    assert sid is not None, code
    return sid


def record_of(c: Container, sid: str) -> str:
    with c.uow() as uow:
        rid = uow.session.scalar(select(RecordRow.id).where(RecordRow.subject_id == sid))
    assert rid is not None
    return rid


def model_dir(tmp: Path, *, b_min: int) -> Path:
    """A copy of the packaged models plus a version 2026.2 of `enterprise` with another B line."""
    out = tmp / "models"
    shutil.copytree(DEFAULT_DIRECTORY, out)
    text = (out / "enterprise.2026.1.yaml").read_text(encoding="utf-8")
    assert 'version: "2026.1"' in text and "{grade: B, label: 良, min: 600}" in text
    text = text.replace('version: "2026.1"', 'version: "2026.2"').replace(
        "{grade: B, label: 良, min: 600}", f"{{grade: B, label: 良, min: {b_min}}}"
    )
    (out / "enterprise.2026.2.yaml").write_text(text, encoding="utf-8")
    return out


def engines_agree(
    c: Container, tmp: Path, ids: dict[str, str], day: date, models: Any = None
) -> dict[str, Any]:
    """Every engine's results on `day` (the database, DuckDB over a fresh Parquet export, the
    reference scorer), asserted equal; the database's, by the caller's key."""
    from citycredit.analytics.export import export_parquet
    from citycredit.evaluation import evaluate_db, evaluate_duckdb, load_models
    from citycredit.evaluation.reference import evaluate_reference, read_parquet_facts

    models = models if models is not None else load_models()
    with c.uow() as uow:
        db = {r.subject_id: r for r in evaluate_db(uow.session, models, list(ids.values()), day)}
    out = tmp / f"parquet-{len(list(tmp.glob('parquet-*')))}"
    export_parquet(c, out)
    duck = {r.subject_id: r for r in evaluate_duckdb(out, models, day)}
    ref = {r.subject_id: r for r in evaluate_reference(models, *read_parquet_facts(out), day)}
    for sid in ids.values():
        assert db[sid] == duck[sid] == ref[sid], (day, sid)
    return {code: db[sid] for code, sid in ids.items()}
