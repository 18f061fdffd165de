"""Obligations of the synthetic city: social insurance and utility arrears, public contracts."""

from __future__ import annotations

from datetime import date, timedelta

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import digits, nice_amount
from citycredit.synth.names import COUNTY_NAMES
from citycredit.synth.records import Book, alive, dept

ST = SubjectType


def arrears(book: Book) -> None:
    """Social insurance and housing fund arrears (2%) and utility arrears (1.5%)."""
    rng = book.rng
    for s in book.sample(
        (ST.enterprise, ST.private_non_enterprise, ST.individual_business), 0.02, alive
    ):
        slug = "gjj" if rng.random() < 0.2 else "rs"
        kind = (
            "住房公积金"
            if slug == "gjj"
            else book.pick("养老保险:4 医疗保险:3 失业保险:1 工伤保险:1")
        )
        first = book.when(s, years=2)
        span = (200, 20000) if s.type is ST.individual_business else (1000, 500000)
        for i in range(rng.randint(1, 3)):
            month = date(first.year, first.month, 1) - timedelta(days=31 * i)
            rdrq = book.after(first, 10, 90)
            book.emit(
                slug,
                "social_insurance_arrears",
                s,
                {
                    "QJ_MC": s.name,
                    "QJ_SHXYM": s.uscc,
                    "QJ_ZJHM": "",
                    "QJ_XZ": kind,
                    "QJ_SSQ": f"{month:%Y-%m}",
                    "QJ_JE": f"{nice_amount(rng, *span):.2f}",
                    "QJ_RDRQ": rdrq,
                },
            )
    for s in book.sample(
        (ST.enterprise, ST.individual_business, ST.farm_household, ST.natural_person), 0.015
    ):
        slug = "gd" if rng.random() < 0.3 else "cg"
        kind = "电" if slug == "gd" else book.pick("水:4 燃气:2 热力:2")
        month = book.when(s, years=2)
        span = (500, 200000) if s.type is ST.enterprise else (50, 5000)
        book.emit(
            slug,
            "utility_arrears",
            s,
            {
                "QF_MC": s.name,
                "QF_SHXYM": s.uscc,
                "QF_ZJHM": s.id_number,
                "QF_LX": kind,
                "QF_HH": ("6108" if kind == "电" else "") + digits(rng, 8),
                "QF_SSQ": f"{month:%Y-%m}",
                "QF_JE": f"{nice_amount(rng, *span):.2f}",
                "QF_RDRQ": book.after(month, 30, 120),
            },
        )


# Projects by the contractor's industry: (project, contract type).
_PROJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "construction": (
        ("道路改造工程", "工程建设"),
        ("中小学校舍维修工程", "工程建设"),
        ("农村饮水安全工程", "工程建设"),
        ("城区供热管网改造工程", "工程建设"),
        ("黄河沿岸旅游公路工程", "PPP"),
        ("煤矿塌陷区治理工程", "工程建设"),
        ("苹果产业园基础设施建设项目", "工程建设"),
        ("羊子养殖示范园建设项目", "工程建设"),
    ),
    "trade": (
        ("办公设备采购项目", "政府采购"),
        ("医疗设备采购项目", "政府采购"),
        ("马铃薯良种采购项目", "政府采购"),
        ("学生营养餐食材采购项目", "政府采购"),
    ),
    "services": (
        ("物业管理服务项目", "政府采购"),
        ("信息化运维服务项目", "政府采购"),
        ("审计咨询服务项目", "其他"),
    ),
    "transport": (("公务用车租赁服务项目", "政府采购"), ("校车运营服务项目", "政府采购")),
    "energy": (("光伏发电项目", "PPP"), ("集中供热特许经营项目", "PPP")),
}


def contracts(book: Book) -> None:
    """Public procurement and construction contracts (about 5%) and how they were performed."""
    rng = book.rng
    d = dept("ggzy")
    buyers = book.by_type[ST.government_body] + book.by_type[ST.public_institution]
    for s in book.sample(
        (ST.enterprise,),
        0.3,
        lambda s: (
            s.industry is not None
            and s.industry.key in ("construction", "trade", "services", "transport", "energy")
        ),
    ):
        qdrq = book.when(s, years=4)
        project, kind = rng.choice(_PROJECTS[s.industry.key if s.industry else "trade"])
        state = book.pick("正常履约:17 违约:2 解除:1")
        rdrq = book.after(qdrq, 90, 700)
        book.emit(
            d.slug,
            "contract_performance",
            s,
            {
                "HT_MC": s.name,
                "HT_SHXYM": s.uscc,
                "HT_HTBH": f"YLGGZY-{qdrq.year}-{book.counter('HT' + str(qdrq.year)):05d}",
                "HT_HTMC": f"{COUNTY_NAMES[s.county]}{project}合同",
                "HT_LX": kind,
                "HT_QDRQ": qdrq,
                "HT_LYZT": state,
                "HT_WYQK": rng.choice(
                    ("未按合同约定工期完工", "提供货物质量不符合合同约定", "拖欠分包单位工程款")
                )
                if state == "违约"
                else "",
                "HT_RDRQ": rdrq,
                "HT_RDJG": rng.choice(buyers).name if buyers and rng.random() < 0.5 else d.name,
            },
        )
