"""行业信用评价 of the synthetic city: sector authorities grade the subjects they regulate.

About a third of the subjects each department regulates get a grade per evaluation year (the
previous one has expired, the latest is in force for a year), written in the department's own
wording (优秀/良好、AAA、A级 …) that the catalog item normalises to A/B/C/D. `register()` adds
the item's columns and roles to the generator's schema; `assemble` calls `evaluations(book)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import add_years
from citycredit.synth.records import Book, alive, dept
from citycredit.synth.schema import ENUMS, ITEM_FIELDS, ROLES, Roles

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

ITEM = "industry_evaluation"
FIELDS: tuple[str, ...] = (
    "HY_MC",
    "HY_LB",
    "HY_SHXYM",
    "HY_ZJHM",
    "HY_GSZC",
    "HY_ZZJG",
    "HY_HY",
    "HY_DJ",
    "HY_YSDJ",
    "HY_PJBM",
    "HY_WH",
    "HY_PDRQ",
    "HY_YXQZ",
)
ITEM_ROLES = Roles(
    "HY_MC",
    "HY_SHXYM",
    "HY_ZJHM",
    "HY_GSZC",
    "HY_ZZJG",
    key=("HY_HY", "HY_PDRQ"),
    decision_date="HY_PDRQ",
    required=("HY_HY", "HY_DJ", "HY_PJBM", "HY_PDRQ"),
    enum="HY_DJ",
    bad_enum="E",
)
ST = SubjectType
# Department's own wording of each unified grade (the catalog item's aliases normalise them).
_WORDING: dict[str, tuple[tuple[str, str], ...]] = {
    "letters": (("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")),
    "words": (("优秀", "优秀"), ("良好", "良好"), ("一般", "一般"), ("较差", "较差")),
    "triple": (("A级", "AAA"), ("B级", "AA"), ("C级", "A"), ("D级", "B")),
}


def _key(s: Subject) -> str:
    return s.industry.key if s.industry is not None else ""


def _label(s: Subject, *words: str) -> bool:
    return any(w in s.industry_label or w in s.name for w in words)


# Department slug → (industry, wording, who it regulates).
SENDERS: tuple[tuple[str, str, str, Callable[[Subject], bool]], ...] = (
    (
        "jt",
        "交通运输",
        "triple",
        lambda s: s.type in (ST.enterprise, ST.individual_business) and _key(s) == "transport",
    ),
    (
        "yj",
        "安全生产",
        "letters",
        lambda s: s.type is ST.enterprise and _key(s) in ("coal", "chemical", "semicoke", "gas"),
    ),
    (
        "sthj",
        "生态环境",
        "words",
        lambda s: s.type is ST.enterprise and _key(s) in ("chemical", "semicoke", "energy"),
    ),
    (
        "scjg",
        "食品药品",
        "letters",
        lambda s: s.type is ST.individual_business and _key(s) in ("catering", "grain"),
    ),
    ("wl", "文化旅游", "words", lambda s: _key(s) == "tourism"),
    (
        "wjw",
        "医疗卫生",
        "letters",
        lambda s: (
            s.type in (ST.public_institution, ST.private_non_enterprise)
            and _label(s, "卫生", "医院")
        ),
    ),
    (
        "jy",
        "教育培训",
        "words",
        lambda s: (
            s.type in (ST.public_institution, ST.private_non_enterprise)
            and _label(s, "教育", "学", "幼儿园")
        ),
    ),
    (
        "mz",
        "社会组织",
        "triple",
        lambda s: s.type in (ST.social_group, ST.private_non_enterprise),
    ),
    (
        "nync",
        "农业农村",
        "letters",
        lambda s: s.type in (ST.farmer_cooperative, ST.farm_household),
    ),
)
SHARE = 0.35


def register() -> None:
    """Add the item's columns, roles and grade values to the generator's schema (idempotent)."""
    ITEM_FIELDS.setdefault(ITEM, FIELDS)
    ROLES.setdefault(ITEM, ITEM_ROLES)
    ENUMS.setdefault("HY_DJ", ("A", "B", "C", "D"))


def _category(s: Subject) -> str:
    if s.is_person:
        return "自然人"
    return "个体工商户" if s.type is ST.individual_business else "法人及非法人组织"


def _regulated_alive(regulated: Callable[[Subject], bool]) -> Callable[[Subject], bool]:
    return lambda s: alive(s) and regulated(s)


def evaluations(book: Book) -> None:
    """Grades of about a third of each department's regulated subjects, one or two years."""
    rng = book.rng
    for slug, industry, wording, regulated in SENDERS:
        d = dept(slug)
        for s in book.sample(tuple(ST), SHARE, _regulated_alive(regulated)):
            years = (1, 0) if rng.random() < 0.5 else (0,)
            for back in years:
                day = book.as_of - timedelta(days=365 * back + rng.randint(20, 300))
                if day <= s.active_since:
                    continue
                grade = book.pick("A:20 B:50 C:20 D:10")
                unified, own = dict(enumerate(_WORDING[wording]))["ABCD".index(grade)]
                book.emit(
                    d.slug,
                    ITEM,
                    s,
                    {
                        "HY_MC": s.name,
                        "HY_LB": _category(s),
                        "HY_SHXYM": s.uscc,
                        "HY_ZJHM": s.id_number,
                        "HY_GSZC": s.reg_no,
                        "HY_ZZJG": s.org_code,
                        "HY_HY": industry,
                        "HY_DJ": unified if rng.random() < 0.7 else grade,
                        "HY_YSDJ": own,
                        "HY_PJBM": d.name,
                        "HY_WH": book.docno(d.abbr, "信评", day.year),
                        "HY_PDRQ": day,
                        "HY_YXQZ": add_years(day, 1) - timedelta(days=1),
                    },
                )


def evaluation_date_floor(as_of: date) -> date:
    """The earliest evaluation date the generator writes (for tests)."""
    return as_of - timedelta(days=365 + 300)
