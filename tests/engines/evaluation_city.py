"""A small generated city plus hand-made edge cases, loaded through the real intake.

The edge-case enterprises (EDGE) sit exactly on the boundaries every engine must agree on:
no records, decisions on the first and last day of a window and on as_of itself, publications
ending on as_of, corrected (superseded) versions, withdrawn records and listings, a repaired
record, list memberships ending on as_of, hard-rule caps and industry fusion. `EXPECTED` holds
the values the reference semantics give at AS_OF, so the parity test also checks meaning.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission, withdraw_record
from citycredit.kernel.outbox import deliver
from citycredit.shared.calendar import SHANGHAI, add_months
from citycredit.shared.clock import FixedClock
from citycredit.synth.city import DEFAULT_AS_OF, generate_city
from citycredit.synth.load import load_city
from support import uscc, write_csv

AS_OF = date(2026, 10, 1)
SAMR = "榆林市市场监督管理局"
TAX = "榆林市税务局"
COURT = "榆林市中级人民法院"
NDRC = "榆林市发展和改革委员会"
SAFETY = "榆林市应急管理局"
TRANSPORT = "榆林市交通运输局"
_AUTH = "116108000161100016"  # 榆林市市场监督管理局 in the synthetic city


def _code(n: int) -> str:
    return uscc("91", "610802", f"MAE{n:05d}")


# name → USCC of the edge-case enterprises.
EDGE = {
    "no_records": ("榆林边界零号能源有限公司", _code(1)),
    "windows": ("榆林边界窗口商贸有限公司", _code(2)),
    "ending": ("榆林边界期满化工有限公司", _code(3)),
    "superseded": ("榆林边界更正物流有限公司", _code(4)),
    "withdrawn": ("榆林边界撤回建筑有限公司", _code(5)),
    "capped": ("榆林边界封顶科技有限公司", _code(6)),
    "defaulter": ("榆林边界失信煤业有限公司", _code(7)),
    "override": ("榆林边界安全煤化有限公司", _code(8)),
    "repaired": ("榆林边界修复餐饮有限公司", _code(9)),
    "orphan": ("榆林边界孤儿贸易有限公司", _code(10)),
    "renewed": ("榆林边界换评运输有限公司", _code(11)),
    "late_breach": ("榆林边界迟违承诺有限公司", _code(12)),
}

# Indicator values (and grades) the reference semantics give at AS_OF.
EXPECTED: dict[str, dict[str, int | str]] = {
    "no_records": {"registered_years": 5, "penalties_3y": 0, "tax_grade": 0, "grade": "B"},
    "windows": {
        "penalties_3y": 2,  # AS_OF−1095 and AS_OF−1 count; AS_OF−1096 and AS_OF do not
        "penalty_general_in_force": 1,
        "commitments_broken_3y": 1,
        "registered_years": 4,  # registered one day after the 5th anniversary
    },
    "ending": {
        "abnormal_operation": 0,  # removed on AS_OF
        "tax_grade": 2,  # D ended on AS_OF; B (one day younger) is in force
        "industry_environment": 0,  # 有效期至 AS_OF−1
        "industry_transport": 2,  # 有效期至 AS_OF
        "judgment_defaulter": 0,  # 移出 on AS_OF
    },
    "superseded": {
        "penalty_serious_in_force": 0,  # corrected from 严重 to 一般
        "penalty_general_in_force": 1,
        "tax_grade": 1,  # D corrected to A
    },
    "withdrawn": {"penalty_serious_in_force": 0, "serious_listing": 0, "penalties_3y": 0},
    "capped": {"penalty_serious_in_force": 1, "honours_high_5y": 2, "grade": "C"},
    "defaulter": {"judgment_defaulter": 1, "grade": "D"},
    "override": {"grade": "D"},
    "repaired": {"penalty_serious_in_force": 0, "penalties_3y": 0},
    "orphan": {"registered_years": 0, "penalties_3y": 0},
    # A newer evaluation replaces the older one of the same industry (有效至下一次评价), a newer
    # tax grade the previous year's: 安全生产 D → A (直接使用), 交通运输 D → A, 纳税 D → A.
    "renewed": {"tax_grade": 1, "industry_transport": 1, "grade": "A"},
    # Commitments made over three years ago, found breached / fulfilled within them (CN_LYRQ).
    "late_breach": {"commitments_broken_3y": 1, "commitments_kept_3y": 1},
}


def _d(day: date) -> str:
    return day.isoformat()


def _ingest(
    c: Container, tmp: Path, dept: str, item: str, header: Sequence[str], rows: list
) -> None:
    path = write_csv(tmp / f"{item}-{len(list(tmp.iterdir()))}.csv", header, rows)
    receipt = ingest_submission(c, department_principal(c, dept), path=path, item_code=item)
    assert receipt.counts.rejected == 0, (item, receipt.as_dict())


def _registration(c: Container, tmp: Path) -> None:
    header = ["DJ_MC", "DJ_ZTLX", "DJ_SHXYM", "DJ_CLRQ", "DJ_XZQH", "DJ_DJJG", "DJ_ZT", "DJ_FRDB"]
    born = {
        "no_records": add_months(AS_OF, -60),  # exactly 5 years before AS_OF
        "windows": add_months(AS_OF, -60) + timedelta(days=1),
    }
    rows = [
        [name, "企业", code, _d(born.get(k, date(2012, 3, 8))), "610802", SAMR, "存续", "王建国"]
        for k, (name, code) in EDGE.items()
        if k != "orphan"
    ]
    _ingest(c, tmp, SAMR, "registration", header, rows)


_PENALTY = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
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
    "CF_SXYZCD",
]


def _penalty(key: str, wsh: str, day: date, severity: str) -> list[str]:
    name, code = EDGE[key]
    return [
        name,
        "法人及非法人组织",
        code,
        wsh,
        "未按规定履行义务",
        "未按规定履行义务",
        "《中华人民共和国行政处罚法》",
        "罚款",
        "罚款2万元",
        "2",
        _d(day),
        SAMR,
        _AUTH,
        SAMR,
        _AUTH,
        severity,
    ]


def _penalties(c: Container, tmp: Path) -> None:
    rows = [
        _penalty("windows", "榆边罚〔2023〕1号", AS_OF - timedelta(days=1095), "一般"),
        _penalty("windows", "榆边罚〔2023〕2号", AS_OF - timedelta(days=1096), "一般"),
        _penalty("windows", "榆边罚〔2026〕3号", AS_OF, "一般"),
        _penalty("windows", "榆边罚〔2026〕4号", AS_OF - timedelta(days=1), "一般"),
        _penalty("superseded", "榆边罚〔2026〕5号", AS_OF - timedelta(days=100), "严重"),
        _penalty("withdrawn", "榆边罚〔2026〕6号", AS_OF - timedelta(days=100), "严重"),
        _penalty("capped", "榆边罚〔2026〕7号", AS_OF - timedelta(days=100), "严重"),
        _penalty("repaired", "榆边罚〔2025〕8号", AS_OF - timedelta(days=400), "严重"),
        _penalty("orphan", "榆边罚〔2026〕9号", AS_OF - timedelta(days=10), "一般"),
    ]
    _ingest(c, tmp, SAMR, "penalty", _PENALTY, rows)
    # A correction: the same decision resent with a lower class supersedes version 1.
    fix = [_penalty("superseded", "榆边罚〔2026〕5号", AS_OF - timedelta(days=100), "一般")]
    _ingest(c, tmp, SAMR, "penalty", _PENALTY, fix)


def _others(c: Container, tmp: Path) -> None:
    n = EDGE
    _ingest(
        c,
        tmp,
        SAMR,
        "abnormal_operation",
        ["YC_MC", "YC_SHXYM", "YC_LRYY", "YC_LRRQ", "YC_LRJG", "YC_YCRQ"],
        [[*n["ending"], "未按规定报送年度报告", _d(AS_OF - timedelta(days=200)), SAMR, _d(AS_OF)]],
    )
    tax = ["NS_MC", "NS_SHXYM", "NS_ND", "NS_DJ", "NS_PDRQ"]
    year_ago = add_months(AS_OF, -12)
    _ingest(
        c,
        tmp,
        TAX,
        "tax_credit_grade",
        tax,
        [
            [*n["ending"], "2023", "D", _d(year_ago)],  # fixed 12 months: ends on AS_OF
            [*n["ending"], "2024", "B", _d(year_ago + timedelta(days=1))],
            [*n["superseded"], "2025", "D", _d(AS_OF - timedelta(days=150))],
        ],
    )
    _ingest(
        c,
        tmp,
        TAX,
        "tax_credit_grade",
        tax,
        [[*n["superseded"], "2025", "A", _d(AS_OF - timedelta(days=150))]],
    )
    industry = ["HY_MC", "HY_SHXYM", "HY_HY", "HY_DJ", "HY_PJBM", "HY_PDRQ", "HY_YXQZ"]
    evaluated = AS_OF - timedelta(days=300)
    _ingest(
        c,
        tmp,
        SAFETY,
        "industry_evaluation",
        industry,
        [
            [
                *n["ending"],
                "生态环境",
                "C",
                "榆林市生态环境局",
                _d(evaluated),
                _d(AS_OF - timedelta(days=1)),
            ],
            [*n["ending"], "交通运输", "良好", TRANSPORT, _d(evaluated), _d(AS_OF)],
            [*n["override"], "安全生产", "D级", SAFETY, _d(evaluated), ""],
            [*n["override"], "工程建设", "A", "榆林市公共资源交易中心", _d(evaluated), ""],
            [*n["capped"], "安全生产", "A", SAFETY, _d(evaluated), _d(AS_OF + timedelta(days=30))],
        ],
    )
    _ingest(
        c,
        tmp,
        NDRC,
        "commitment",
        ["CN_MC", "CN_SHXYM", "CN_LX", "CN_SY", "CN_BH", "CN_RQ", "CN_SLDW", "CN_LYZT"],
        [
            [
                *n["windows"],
                "主动公示型",
                "依法诚信经营",
                "CN-EDGE-1",
                _d(AS_OF - timedelta(days=1095)),
                NDRC,
                "未履约",
            ],
            [
                *n["windows"],
                "主动公示型",
                "依法诚信经营",
                "CN-EDGE-2",
                _d(AS_OF - timedelta(days=1096)),
                NDRC,
                "未履约",
            ],
        ],
    )
    _ingest(
        c,
        tmp,
        TAX,
        "tax_credit_grade",
        tax,
        [
            [*n["renewed"], "2024", "D", _d(AS_OF - timedelta(days=300))],  # 12 months: in force
            [*n["renewed"], "2025", "A", _d(AS_OF - timedelta(days=5))],  # … until this one
        ],
    )
    _ingest(
        c,
        tmp,
        SAFETY,
        "industry_evaluation",
        industry,
        [
            [*n["renewed"], "安全生产", "D", SAFETY, _d(AS_OF - timedelta(days=700)), ""],
            [*n["renewed"], "安全生产", "A", SAFETY, _d(AS_OF - timedelta(days=10)), ""],
            [*n["renewed"], "交通运输", "D", TRANSPORT, _d(AS_OF - timedelta(days=900)), ""],
            [*n["renewed"], "交通运输", "A", TRANSPORT, _d(AS_OF - timedelta(days=1)), ""],
        ],
    )
    _ingest(
        c,
        tmp,
        NDRC,
        "commitment",
        ["CN_MC", "CN_SHXYM", "CN_LX", "CN_SY", "CN_BH", "CN_RQ", "CN_SLDW", "CN_LYZT", "CN_LYRQ"],
        [
            [
                *n["late_breach"],
                "主动公示型",
                "依法诚信经营",
                "CN-EDGE-3",
                _d(AS_OF - timedelta(days=1500)),
                NDRC,
                "未履约",
                _d(AS_OF - timedelta(days=30)),
            ],
            [
                *n["late_breach"],
                "审批替代型",
                "按期补交材料",
                "CN-EDGE-4",
                _d(AS_OF - timedelta(days=1200)),
                NDRC,
                "已履约",
                _d(AS_OF - timedelta(days=100)),
            ],
        ],
    )
    _ingest(
        c,
        tmp,
        NDRC,
        "honour",
        ["RY_MC", "RY_SHXYM", "RY_RYMC", "RY_WH", "RY_RQ", "RY_JG", "RY_JB"],
        [
            [
                *n["capped"],
                "诚信示范企业",
                "陕政发〔2025〕1号",
                _d(AS_OF - timedelta(days=300)),
                "陕西省人民政府",
                "省级",
            ],
            [
                *n["capped"],
                "守合同重信用企业",
                "国市监〔2024〕2号",
                _d(AS_OF - timedelta(days=600)),
                "国家市场监督管理总局",
                "国家级",
            ],
        ],
    )
    _ingest(
        c,
        tmp,
        COURT,
        "judgment_defaulter",
        ["SX_MC", "SX_SHXYM", "SX_AH", "SX_ZXFY", "SX_FBRQ", "SX_YCRQ"],
        [
            [
                *n["ending"],
                "（2025）陕08执900号",
                "榆林市中级人民法院",
                _d(AS_OF - timedelta(days=90)),
                _d(AS_OF),
            ],
            [
                *n["defaulter"],
                "（2025）陕08执901号",
                "榆林市中级人民法院",
                _d(AS_OF - timedelta(days=90)),
                "",
            ],
        ],
    )
    _ingest(
        c,
        tmp,
        SAMR,
        "serious_dishonesty",
        ["YZ_MC", "YZ_SHXYM", "YZ_MDLX", "YZ_LRYY", "YZ_RDWH", "YZ_LRRQ", "YZ_RDJG"],
        [
            [
                *n["withdrawn"],
                "市场监管领域严重违法失信名单",
                "一年内三次较重处罚",
                "榆市监严〔2026〕1号",
                _d(AS_OF - timedelta(days=60)),
                SAMR,
            ]
        ],
    )


def _withdraw_and_repair(c: Container) -> None:
    actor = department_principal(c, SAMR)
    with c.uow() as uow:
        s = uow.session
        codes = {EDGE["withdrawn"][1], EDGE["orphan"][1]}
        from citycredit.subjects.db import SubjectRow

        ids = {
            code: s.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == code))
            for code in codes
        }
        targets = list(
            s.scalars(
                select(RecordRow.id).where(
                    RecordRow.subject_id.in_(list(ids.values())),
                    RecordRow.item_code.in_(["penalty", "serious_dishonesty"]),
                )
            )
        )
        repaired_id = s.scalar(
            select(RecordRow.id)
            .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
            .where(SubjectRow.uscc == EDGE["repaired"][1], RecordRow.item_code == "penalty")
        )
    for rid in targets:
        withdraw_record(c, actor, rid, "行政复议决定撤销原决定")
    # 信用修复 granted on AS_OF (00:30 local): from AS_OF on the record is not used.
    with c.uow() as uow:
        row = uow.session.get(RecordRow, repaired_id)
        assert row is not None
        row.repaired_at = datetime.combine(AS_OF, time(0, 30), SHANGHAI).astimezone(UTC)
        uow.commit()


def build_city(c: Container, clock: FixedClock, tmp: Path, subjects: int = 240) -> None:
    """A generated city of `subjects` plus EDGE, with list memberships delivered."""
    clock.current = datetime.combine(DEFAULT_AS_OF, time(10), SHANGHAI).astimezone(UTC)
    generate_city(tmp / "city", subjects=subjects, seed=7)
    load_city(c, tmp / "city")
    files = tmp / "edge"
    files.mkdir()
    _registration(c, files)
    _penalties(c, files)
    _others(c, files)
    _withdraw_and_repair(c)
    deliver(c.uow, "lists", c.consumers["lists"], at=c.clock.now())


def edge_ids(c: Container) -> dict[str, str]:
    """Edge-case key → subject_id."""
    from citycredit.subjects.db import SubjectRow

    with c.uow() as uow:
        rows = uow.session.execute(
            select(SubjectRow.uscc, SubjectRow.subject_id).where(
                SubjectRow.uscc.in_([code for _, code in EDGE.values()])
            )
        ).all()
    by_code = dict(rows)
    return {k: by_code[code] for k, (_, code) in EDGE.items()}
