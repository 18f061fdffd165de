"""Lists and grades of the synthetic city: tax grades, red and black lists, arrears, contracts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import add_years, fmt_amount, nice_amount
from citycredit.synth.names import COUNTY_NAMES
from citycredit.synth.records import Book, alive, dept

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

ST = SubjectType
_ORGS = (
    ST.enterprise,
    ST.individual_business,
    ST.farmer_cooperative,
    ST.private_non_enterprise,
    ST.social_group,
    ST.other_organisation,
)


def tax_grades(book: Book) -> None:
    """Tax credit grades (A/B/M/C/D) of every enterprise for the last two assessed years."""
    rng = book.rng
    as_of = book.as_of
    last = as_of.year - 1 if as_of >= date(as_of.year, 5, 1) else as_of.year - 2
    d = dept("sw")
    for s in book.by_type[ST.enterprise]:
        grade = ""
        for year in (last - 1, last):
            if s.established is None or s.established > date(year, 12, 31) or s.status == "注销":
                continue
            if s.established.year == year:
                grade = "M"
            elif not grade or rng.random() < 0.3:
                grade = book.pick("A:15 B:55 M:15 C:8 D:7")
            pdrq = date(year + 1, 4, rng.randint(10, 28))
            book.emit(
                d.slug,
                "tax_credit_grade",
                s,
                {
                    "NS_MC": s.name,
                    "NS_SHXYM": s.uscc,
                    "NS_ND": str(year),
                    "NS_DJ": grade,
                    "NS_PDRQ": pdrq,
                },
            )
            if grade == "A" and year == last and rng.random() < 0.35:
                book.emit(
                    d.slug,
                    "red_list",
                    s,
                    {
                        "HM_MC": s.name,
                        "HM_SHXYM": s.uscc,
                        "HM_MDLX": "A级纳税人",
                        "HM_WJYJ": f"国家税务总局榆林市税务局关于公布{year}年度"
                        "纳税信用A级纳税人名单的公告",
                        "HM_RDRQ": pdrq,
                        "HM_YXQZ": date(year + 2, 4, 30),
                        "HM_RDJG": d.name,
                    },
                )


def red_list(book: Book) -> None:
    """守信典型企业 and 海关高级认证企业 published by the development and reform commission."""
    rng = book.rng
    d = dept("fgw")
    for s in book.sample((ST.enterprise,), 0.03, alive):
        kind = "海关高级认证企业" if rng.random() < 0.15 else "守信典型企业"
        rdrq = book.when(s, years=3)
        basis = (
            f"海关总署公告{rdrq.year}年第{rng.randint(10, 150)}号"
            if kind.startswith("海关")
            else f"关于公布{rdrq.year}年度守信典型企业名单的通知（"
            f"{book.docno('榆发改', '信用', rdrq.year)}）"
        )
        book.emit(
            d.slug,
            "red_list",
            s,
            {
                "HM_MC": s.name,
                "HM_SHXYM": s.uscc,
                "HM_MDLX": kind,
                "HM_WJYJ": basis,
                "HM_RDRQ": rdrq,
                "HM_YXQZ": add_years(rdrq, 3 if kind.startswith("海关") else 1),
                "HM_RDJG": d.name,
            },
        )


def _court(s: Subject, rng_value: float) -> tuple[str, str]:
    if rng_value < 0.1:
        return "榆林市中级人民法院", "陕08"
    return f"{COUNTY_NAMES[s.county]}人民法院", "陕" + s.county[2:]


def judgment_defaulters(book: Book) -> None:
    """失信被执行人 (about 2%), some already removed."""
    rng = book.rng
    d = dept("fy")
    kinds = (ST.enterprise, ST.individual_business, ST.natural_person, ST.farm_household)
    for s in book.sample(kinds, 0.02):
        court, code = _court(s, rng.random())
        larq = book.when(s, start=book.as_of - timedelta(days=4 * 365))
        fbrq = book.after(larq, 30, 150)
        ycrq = book.later(fbrq, 60, 700) if rng.random() < 0.3 else None
        debt = rng.choice(("货款", "工程款", "借款", "劳务费", "租金", "运输费"))
        book.emit(
            d.slug,
            "judgment_defaulter",
            s,
            {
                "SX_MC": s.name,
                "SX_SHXYM": s.uscc,
                "SX_ZJHM": s.id_number,
                "SX_AH": f"（{larq.year}）{code}执{book.counter(code + str(larq.year)) + 100}号",
                "SX_ZXFY": court,
                "SX_ZXYJWH": f"（{larq.year - 1}）{code}民初{rng.randint(100, 9999)}号",
                "SX_YW": f"支付{debt}人民币{fmt_amount(nice_amount(rng, 3000, 5000000))}元及利息",
                "SX_LXQK": book.pick("全部未履行:8 部分未履行:2"),
                "SX_SXQX": book.pick(
                    "有履行能力而拒不履行生效法律文书确定义务:6 违反财产报告制度:2 "
                    "违反限制消费令:1 以伪造证据、暴力、威胁等方法妨碍、抗拒执行:1 "
                    "无正当理由拒不履行执行和解协议:1",
                ),
                "SX_LARQ": larq,
                "SX_FBRQ": fbrq,
                "SX_YCRQ": ycrq or "",
            },
        )


_SERIOUS = {
    "scjg": ("市场监管领域严重违法失信名单", "因同一违法行为一年内受到三次以上较重行政处罚"),
    "sw": ("重大税收违法失信主体", "虚开增值税专用发票"),
    "rs": (
        "拖欠农民工工资失信联合惩戒对象",
        "克扣、无故拖欠农民工工资达到认定拒不支付劳动报酬罪数额标准",
    ),
    "yj": ("安全生产严重失信主体", "发生较大生产安全责任事故"),
    "ggzy": ("政府采购严重违法失信行为记录", "提供虚假材料谋取中标、成交"),
}


def serious(book: Book) -> None:
    """Serious dishonesty lists (about 1%), by the department responsible for each list."""
    rng = book.rng
    for s in book.sample((ST.enterprise, ST.individual_business), 0.016):
        key = s.industry.key if s.industry else ""
        if key == "construction":
            slug = rng.choice(("rs", "rs", "ggzy"))
        elif key in ("coal", "chemical", "semicoke"):
            slug = rng.choice(("yj", "sw", "scjg"))
        else:
            slug = rng.choice(("scjg", "sw", "ggzy") if s.type is ST.enterprise else ("scjg",))
        d = dept(slug)
        kind, reason = _SERIOUS[slug]
        lrrq = book.when(s)
        book.emit(
            slug,
            "serious_dishonesty",
            s,
            {
                "YZ_MC": s.name,
                "YZ_SHXYM": s.uscc,
                "YZ_ZJHM": "",
                "YZ_MDLX": kind,
                "YZ_LRYY": reason,
                "YZ_RDWH": book.docno(d.abbr, "严失", lrrq.year),
                "YZ_LRRQ": lrrq,
                "YZ_YCRQ": (book.later(lrrq, 365, 1100) or "") if rng.random() < 0.2 else "",
                "YZ_RDJG": d.name,
                "YZ_RDJGDM": d.code,
            },
        )


def commitments(book: Book) -> None:
    """Credit commitments (about 10%) received by approval services and the DRC."""
    rng = book.rng
    d = dept("fgw")
    for s in book.sample((*_ORGS, ST.natural_person), 0.1, alive):
        kind = book.pick("审批替代型:5 主动公示型:3 行业自律型:1 信用修复型:1")
        reason = {
            "审批替代型": "申请行政许可（告知承诺制）",
            "主动公示型": "主动公示信用承诺",
            "行业自律型": "行业协会会员自律承诺",
            "信用修复型": "申请行政处罚信息信用修复",
        }[kind]
        rq = book.when(s)
        state = book.pick("履约中:4 已履约:5 未履约:1")
        done = book.later(rq, 30, 365) if state != "履约中" else None
        if done is None:
            state = "履约中"
        cname = COUNTY_NAMES[s.county]
        book.emit(
            d.slug,
            "commitment",
            s,
            {
                "CN_MC": s.name,
                "CN_SHXYM": s.uscc,
                "CN_ZJHM": s.id_number,
                "CN_LX": kind,
                "CN_SY": reason,
                "CN_BH": f"CN{s.county}{rq:%Y%m%d}{book.counter('CN'):05d}",
                "CN_RQ": rq,
                "CN_SLDW": rng.choice(("榆林市行政审批服务局", f"{cname}行政审批服务局", d.name)),
                "CN_LYZT": state,
                "CN_LYRQ": done or "",
            },
        )


# (honour, level, issuer, document prefix); "" issuer: the county government.
_Honours = tuple[tuple[str, str, str, str], ...]
_HONOURS_ENTERPRISE: _Honours = (
    ("陕西省守合同重信用企业", "省级", "陕西省市场监督管理局", "陕市监"),
    ("榆林市文明单位", "市级", "中共榆林市委 榆林市人民政府", "榆发"),
    ("全国五一劳动奖状", "国家级", "中华全国总工会", "总工发"),
    ("榆林市诚信示范企业", "市级", "榆林市发展和改革委员会", "榆发改"),
)
_HONOURS_SHOP: _Honours = (
    ("县级食品安全示范店", "县级", "", "政发"),
    ("县级诚信经营示范户", "县级", "", "政发"),
    ("榆林市放心消费示范店", "市级", "榆林市市场监督管理局", "榆市监"),
)
_HONOURS_OTHER: _Honours = (
    ("榆林市文明单位", "市级", "中共榆林市委 榆林市人民政府", "榆发"),
    ("陕西省农民合作社省级示范社", "省级", "陕西省农业农村厅", "陕农发"),
    ("榆林市先进社会组织", "市级", "榆林市民政局", "榆民发"),
)
_HONOURS_PERSON: _Honours = (
    ("榆林市劳动模范", "市级", "中共榆林市委 榆林市人民政府", "榆发"),
    ("全国优秀教师", "国家级", "中华人民共和国教育部", "教师"),
    ("陕西省三八红旗手", "省级", "陕西省妇女联合会", "陕妇发"),
    ("县级优秀共产党员", "县级", "", "政发"),
)


def honours(book: Book) -> None:
    """Honours (about 2%) of organisations and persons."""
    rng = book.rng
    d = dept("fgw")
    for s in book.sample((*_ORGS, ST.natural_person, ST.public_institution), 0.02, alive):
        pool: _Honours
        if s.is_person:
            pool = _HONOURS_PERSON
        elif s.type is ST.enterprise:
            pool = _HONOURS_ENTERPRISE
        elif s.type is ST.individual_business:
            pool = _HONOURS_SHOP
        elif s.type is ST.farmer_cooperative:
            pool = _HONOURS_OTHER[:2]
        else:
            pool = _HONOURS_OTHER[::2]
        name, level, issuer, abbr = rng.choice(pool)
        county = COUNTY_NAMES[s.county]
        if not issuer:
            issuer, abbr = f"{county}人民政府", county[: -1 if len(county) > 2 else 1] + abbr
        rq = book.when(s)
        book.emit(
            d.slug,
            "honour",
            s,
            {
                "RY_MC": s.name,
                "RY_SHXYM": s.uscc,
                "RY_ZJHM": s.id_number,
                "RY_RYMC": name.replace("县级", county),
                "RY_WH": book.docno(abbr, "", rq.year),
                "RY_RQ": rq,
                "RY_JG": issuer,
                "RY_JB": level,
            },
        )


def abnormal(book: Book) -> None:
    """经营异常名录 entries (about 3%), some removed after the subject made good."""
    rng = book.rng
    d = dept("scjg")
    kinds = (ST.enterprise, ST.individual_business, ST.farmer_cooperative)
    for s in book.sample(kinds, 0.05, lambda s: s.status != "注销"):
        reason = book.pick(
            "未按规定报送年度报告:6 通过登记的住所或者经营场所无法联系:3 "
            "公示信息隐瞒真实情况、弄虚作假:1",
        )
        lrrq = book.when(s)
        ycrq = book.later(lrrq, 20, 500) if rng.random() < 0.4 else None
        cause = {"未按规定报送年度报告": "已补报年度报告"}.get(reason, "依法办理住所变更登记")
        book.emit(
            d.slug,
            "abnormal_operation",
            s,
            {
                "YC_MC": s.name,
                "YC_SHXYM": s.uscc,
                "YC_GSZC": s.reg_no,
                "YC_LRYY": reason,
                "YC_LRRQ": lrrq,
                "YC_LRJG": s.authority,
                "YC_YCYY": cause if ycrq else "",
                "YC_YCRQ": ycrq or "",
                "YC_YCJG": s.authority if ycrq else "",
            },
        )
