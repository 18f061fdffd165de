"""The fact view's reading of records, through the real intake, on every engine (both databases).

- A newer industry evaluation of the same industry, and a newer tax credit grade, replace the
  older one from the day after they were decided (有效至下一次评价); evaluations of the same day
  stay in force together, and withdrawing the newer one brings the older one back.
- A commitment's breach counts in the 3-year window from the day it was found (CN_LYRQ), not from
  the day the commitment was made (CN_RQ).

Each is checked on the platform database (evaluate_db), on DuckDB over the Parquet export and on
the reference scorer reading the same export: the same results on every day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.accounts.model import Principal
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.commitments.service import create_commitment, record_outcome
from citycredit.evaluation import load_models
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from evaluation_support import TODAY, engines_agree, licence, subject_id
from support import department, uscc, write_csv

pytestmark = pytest.mark.db

SAFE = uscc("91", "610802", "MA6EB001")  # 安全生产 D (2024) then A (2026): override
ROAD = uscc("91", "610802", "MA6EB002")  # 交通运输 D then A; tax D (12 months) then A
TIED = uscc("91", "610802", "MA6EB003")  # two tax grades decided on the same day
LATE = uscc("91", "610802", "MA6EB004")  # a commitment of 2023 found breached in 2026
INDUSTRY = ["HY_MC", "HY_SHXYM", "HY_HY", "HY_DJ", "HY_PJBM", "HY_PDRQ", "HY_YXQZ"]
TAX = ["NS_MC", "NS_SHXYM", "NS_ND", "NS_DJ", "NS_PDRQ"]


def _ingest(
    c: Container, dept: Principal, tmp: Path, item: str, header: Sequence[str], rows: list[Any]
) -> None:
    path = write_csv(tmp / f"{item}-{len(list(tmp.iterdir()))}.csv", header, rows)
    receipt = ingest_submission(c, dept, path=path, item_code=item)
    assert receipt.counts.rejected == 0, receipt.as_dict()


def _city(c: Container, tmp: Path) -> dict[str, str]:
    samr = department(c)
    safety = department(c, "榆林市应急管理局", "MA0CAYJ1")
    transport = department(c, "榆林市交通运输局", "MA0CAJT1")
    tax = department(c, "榆林市税务局", "MA0CATX1")
    names = {SAFE: "榆阳区安全煤化有限公司", ROAD: "榆阳区道路运输有限公司"}
    names |= {TIED: "榆阳区同日商贸有限公司", LATE: "榆阳区承诺科技有限公司"}
    for code, name in names.items():
        licence(c, tmp, code, name)
    _ingest(
        c,
        safety,
        tmp,
        "industry_evaluation",
        INDUSTRY,
        [
            [names[SAFE], SAFE, "安全生产", "D", "榆林市应急管理局", "2024-03-01", ""],
            [names[SAFE], SAFE, "安全生产", "A", "榆林市应急管理局", "2026-06-01", ""],
        ],
    )
    _ingest(
        c,
        transport,
        tmp,
        "industry_evaluation",
        INDUSTRY,
        [
            [names[ROAD], ROAD, "交通运输", "D", "榆林市交通运输局", "2023-05-01", "2099-12-31"],
            [names[ROAD], ROAD, "交通运输", "A", "榆林市交通运输局", "2026-05-01", "2099-12-31"],
        ],
    )
    _ingest(
        c,
        tax,
        tmp,
        "tax_credit_grade",
        TAX,
        [
            [names[ROAD], ROAD, "2024", "D", "2025-04-20"],  # in force to 2026-04-20 …
            [names[ROAD], ROAD, "2025", "A", "2026-04-15"],  # … but replaced from 04-16
            [names[TIED], TIED, "2024", "D", "2026-03-01"],
            [names[TIED], TIED, "2025", "B", "2026-03-01"],
        ],
    )
    ids = {code: subject_id(c, code) for code in names}
    made = create_commitment(
        c,
        samr,
        subject_id=ids[LATE],
        kind="voluntary",
        matter=None,
        text="依法诚信经营，按期履行合同",
        made_on=date(2023, 6, 1),
    )
    record_outcome(
        c, samr, made["commitment_id"], result="breached", checked_on=date(2026, 11, 20), note="x"
    )
    return ids


def test_newer_industry_evaluation_replaces_the_older(container: Container, tmp_path: Path) -> None:
    c = container
    ids = _city(c, tmp_path)
    # 安全生产 (直接使用): D until the A of 2026-06-01 is known, A from the next day.
    on_day = engines_agree(c, tmp_path, ids, date(2026, 6, 1))[SAFE]
    assert on_day.grade == "D" and on_day.industry is not None
    assert on_day.industry["override"] == {"industry": "安全生产", "grade": "D"}
    after = engines_agree(c, tmp_path, ids, date(2026, 6, 2))[SAFE]
    assert after.grade == "A" and after.industry is not None
    assert after.industry["override"] == {"industry": "安全生产", "grade": "A"}
    now = engines_agree(c, tmp_path, ids, TODAY)
    assert now[SAFE].grade == "A"
    # 交通运输 (引入指标变量): the A of 2026 counts (+30), not the D of 2023 (−60).
    assert (
        now[ROAD].value("industry_transport") == 1 and now[ROAD].points("industry_transport") == 30
    )
    # Withdrawing the newer evaluation brings the older one back.
    with c.uow() as uow:
        newer = uow.session.scalar(
            select(RecordRow.id).where(
                RecordRow.subject_id == ids[SAFE],
                RecordRow.item_code == "industry_evaluation",
                RecordRow.decision_date == date(2026, 6, 1),
            )
        )
    assert newer is not None
    withdraw_record(c, department_principal(c, "榆林市应急管理局"), newer, "评价结果已撤销")
    assert engines_agree(c, tmp_path, ids, TODAY)[SAFE].grade == "D"


def test_newer_tax_grade_replaces_the_previous_years(container: Container, tmp_path: Path) -> None:
    c = container
    ids = _city(c, tmp_path)
    known = date(2026, 4, 15)
    assert engines_agree(c, tmp_path, ids, known)[ROAD].value("tax_grade") == 5  # D, A not known
    overlap = engines_agree(c, tmp_path, ids, known + timedelta(days=3))
    assert overlap[ROAD].value("tax_grade") == 1 and overlap[ROAD].points("tax_grade") == 40
    # Two grades decided the same day: neither replaces the other, the worse counts.
    assert engines_agree(c, tmp_path, ids, TODAY)[TIED].value("tax_grade") == 5


def test_commitment_breach_counts_from_the_day_it_was_found(
    container: Container, tmp_path: Path
) -> None:
    c = container
    ids = _city(c, tmp_path)
    found = date(2026, 11, 20)  # made 2023-06-01: more than three years before
    assert engines_agree(c, tmp_path, ids, found)[LATE].value("commitments_broken_3y") == 0
    late = engines_agree(c, tmp_path, ids, found + timedelta(days=1))[LATE]
    assert late.value("commitments_broken_3y") == 1 and late.points("commitments_broken_3y") == -40
    assert "近三年有 1 项信用承诺未履行（-40分）" in [r.text for r in late.reasons]


def test_the_public_view_keeps_the_limit_lines_so_its_lines_add_up(
    container: Container,
) -> None:
    """G33 on the public view: non-public indicators become one line, the limit lines stay, and
    base + every line shown is still the score (tax arrears are not public; the compliance
    dimension's lower limit binds)."""
    from citycredit.evaluation import views
    from citycredit.evaluation.scoring import build_result

    model = load_models().get("enterprise", "2026.1")
    values = {i.code: 0 for i in model.indicators}
    values.update(penalty_serious_in_force=3, serious_listing=2, judgment_defaulter=1, tax_grade=5)
    r = build_result(model, "s1", "enterprise", date(2026, 11, 25), values)
    assert any(x.adjustment for x in r.reasons)
    shown = views.public_result(container, r.to_json())
    codes = [x["code"] for x in shown["reasons"]]
    assert any(code.startswith("dimension_limit:") for code in codes)
    assert "tax_grade" not in codes
    assert model.base + sum(int(x["points"]) for x in shown["reasons"]) == r.score
