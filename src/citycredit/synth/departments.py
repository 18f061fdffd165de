"""The departments (数据提供单位) of the synthetic city: names, codes and what each one sends."""

from __future__ import annotations

from dataclasses import dataclass

from citycredit.shared.ids import org_code_check_char, uscc_check_char
from citycredit.subjects.model import SubjectType


@dataclass(frozen=True)
class Department:
    """A data-providing department with its USCC, ASCII slug, document prefix and items."""

    name: str
    slug: str
    kind: SubjectType
    code: str
    abbr: str  # prefix of its document numbers, e.g. "榆市监"
    items: tuple[str, ...]

    @property
    def department_kind(self) -> str:
        """Its kind as a department (catalog.model.DEPARTMENT_KINDS), as catalog.yaml lists it."""
        return _DEPARTMENT_KIND.get(self.slug) or _KIND_BY_TYPE[self.kind]


_PREFIX = {
    SubjectType.government_body: "11",
    SubjectType.public_institution: "12",
    SubjectType.enterprise: "91",
}


def _code(kind: SubjectType, index: int) -> str:
    """A fixed valid USCC for the index-th department (same for every seed)."""
    body = ("7271" if kind is SubjectType.enterprise else "0161") + f"{index * 37 + 1000:04d}"
    first17 = _PREFIX[kind] + "610800" + body + org_code_check_char(body)
    return first17 + uscc_check_char(first17)


_G = SubjectType.government_body
_P = SubjectType.public_institution
_E = SubjectType.enterprise
_REG_LP = ("registration", "licence", "penalty")

_TABLE: tuple[tuple[str, str, SubjectType, str, tuple[str, ...]], ...] = (
    (
        "榆林市市场监督管理局",
        "scjg",
        _G,
        "榆市监",
        ("registration", "licence", "penalty", "abnormal_operation", "serious_dishonesty"),
    ),
    ("榆林市委机构编制委员会办公室", "bb", _G, "榆编", ("registration",)),
    ("榆林市民政局", "mz", _G, "榆民", ("registration",)),
    ("榆林市农业农村局", "nync", _G, "榆农", _REG_LP),
    ("榆林市教育局", "jy", _G, "榆教", _REG_LP),
    ("榆林市司法局", "sf", _G, "榆司", _REG_LP),
    ("榆林市卫生健康委员会", "wjw", _G, "榆卫", _REG_LP),
    ("榆林市文化和旅游局", "wl", _G, "榆文旅", _REG_LP),
    ("榆林市财政局", "cz", _G, "榆财", _REG_LP),
    (
        "榆林市税务局",
        "sw",
        _G,
        "榆税",
        ("tax_credit_grade", "red_list", "serious_dishonesty", "penalty"),
    ),
    ("榆林市中级人民法院", "fy", _G, "榆中法", ("judgment_defaulter",)),
    (
        "榆林市人力资源和社会保障局",
        "rs",
        _G,
        "榆人社",
        ("social_insurance_arrears", "serious_dishonesty"),
    ),
    ("榆林市住房公积金管理中心", "gjj", _P, "榆公积金", ("social_insurance_arrears",)),
    ("榆林市应急管理局", "yj", _G, "榆应急", ("penalty", "serious_dishonesty")),
    ("榆林市生态环境局", "sthj", _G, "榆环", ("penalty", "licence")),
    ("榆林市交通运输局", "jt", _G, "榆交", ("licence", "penalty")),
    (
        "榆林市公共资源交易中心",
        "ggzy",
        _P,
        "榆公资",
        ("contract_performance", "serious_dishonesty"),
    ),
    ("榆林市城市管理执法局", "cg", _G, "榆城管", ("utility_arrears",)),
    ("国网榆林供电公司", "gd", _E, "榆供电", ("utility_arrears",)),
    ("榆林市发展和改革委员会", "fgw", _G, "榆发改", ("honour", "commitment", "red_list")),
)

# The court and the credit office (the 发改委 hosts 信用办) are kinds of their own.
_DEPARTMENT_KIND = {"fy": "court", "fgw": "credit_office"}
_KIND_BY_TYPE = {_G: "government", _P: "public_institution", _E: "utility"}

DEPARTMENTS: tuple[Department, ...] = tuple(
    Department(name, slug, kind, _code(kind, i), abbr, items)
    for i, (name, slug, kind, abbr, items) in enumerate(_TABLE)
)
BY_SLUG: dict[str, Department] = {d.slug: d for d in DEPARTMENTS}

# Which department registers natural persons of each profession (DJ_ZYBQ's first tag).
PROFESSION_DEPARTMENT: dict[str, str] = {
    "教师": "jy",
    "律师": "sf",
    "医师": "wjw",
    "导游": "wl",
    "注册会计师": "cz",
}

# Department slug → suffix of the county bureau that also decides its penalties.
COUNTY_BUREAU: dict[str, str] = {
    "scjg": "市场监督管理局",
    "nync": "农业农村局",
    "jt": "交通运输局",
    "yj": "应急管理局",
    "wl": "文化和旅游局",
    "cz": "财政局",
    "sf": "司法局",
}
