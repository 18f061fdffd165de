"""The real catalog loads, carries every agreed field code, and the loader rejects broken YAML."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from citycredit.catalog.loader import DEFAULT_DIRECTORY, CatalogError, load_catalog
from citycredit.catalog.model import Catalog, Openness, PublicationKind
from citycredit.shared.errors import NotFound

EXPECTED_CODES: dict[str, list[str]] = {
    "registration": [
        "DJ_MC",
        "DJ_ZTLX",
        "DJ_SHXYM",
        "DJ_GSZC",
        "DJ_ZZJG",
        "DJ_ZJHM",
        "DJ_FRDB",
        "DJ_CLRQ",
        "DJ_ZS",
        "DJ_XZQH",
        "DJ_HY",
        "DJ_ZCZB",
        "DJ_DJJG",
        "DJ_ZT",
        "DJ_ZYBQ",
        "DJ_LXDH",
    ],
    "licence": [
        "XK_XDR_MC",
        "XK_XDR_LB",
        "XK_XDR_SHXYM",
        "XK_XDR_GSZC",
        "XK_XDR_ZZJG",
        "XK_XDR_SWDJ",
        "XK_XDR_SYDW",
        "XK_XDR_SHZZ",
        "XK_FRDB",
        "XK_FR_ZJLX",
        "XK_FR_ZJHM",
        "XK_XDR_ZJLX",
        "XK_XDR_ZJHM",
        "XK_XKWS",
        "XK_WSH",
        "XK_XKLB",
        "XK_XKZS",
        "XK_XKBH",
        "XK_NR",
        "XK_JDRQ",
        "XK_YXQZ",
        "XK_YXQZI",
        "XK_XKJG",
        "XK_XKJGDM",
        "XK_ZT",
        "XK_LYDW",
        "XK_LYDWDM",
        "BZ",
        "XK_XDR_DZ",
    ],
    "penalty": [
        "CF_XDR_MC",
        "CF_XDR_LB",
        "CF_XDR_SHXYM",
        "CF_XDR_GSZC",
        "CF_XDR_ZZJG",
        "CF_XDR_SWDJ",
        "CF_XDR_SYDW",
        "CF_XDR_SHZZ",
        "CF_FRDB",
        "CF_FR_ZJLX",
        "CF_FR_ZJHM",
        "CF_XDR_ZJLX",
        "CF_XDR_ZJHM",
        "CF_WSH",
        "CF_WFXW",
        "CF_SY",
        "CF_YJ",
        "CF_CFLB",
        "CF_NR",
        "CF_NR_FK",
        "CF_NR_WFFF",
        "CF_NR_ZKDX",
        "CF_JDRQ",
        "CF_YXQ",
        "CF_GSJZQ",
        "CF_CFJG",
        "CF_CFJGDM",
        "CF_SJLY",
        "CF_SJLYDM",
        "BZ",
        "CF_SXYZCD",
        "CF_XDR_DZ",
    ],
    "judgment_defaulter": [
        "SX_MC",
        "SX_SHXYM",
        "SX_ZJHM",
        "SX_AH",
        "SX_ZXFY",
        "SX_ZXYJWH",
        "SX_YW",
        "SX_LXQK",
        "SX_SXQX",
        "SX_LARQ",
        "SX_FBRQ",
        "SX_YCRQ",
    ],
    "serious_dishonesty": [
        "YZ_MC",
        "YZ_SHXYM",
        "YZ_ZJHM",
        "YZ_MDLX",
        "YZ_LRYY",
        "YZ_RDWH",
        "YZ_LRRQ",
        "YZ_YCRQ",
        "YZ_RDJG",
        "YZ_RDJGDM",
    ],
    "red_list": ["HM_MC", "HM_SHXYM", "HM_MDLX", "HM_WJYJ", "HM_RDRQ", "HM_YXQZ", "HM_RDJG"],
    "commitment": [
        "CN_MC",
        "CN_SHXYM",
        "CN_ZJHM",
        "CN_LX",
        "CN_SY",
        "CN_BH",
        "CN_RQ",
        "CN_SLDW",
        "CN_LYZT",
        "CN_LYRQ",
    ],
    "honour": ["RY_MC", "RY_SHXYM", "RY_ZJHM", "RY_RYMC", "RY_WH", "RY_RQ", "RY_JG", "RY_JB"],
    "tax_credit_grade": ["NS_MC", "NS_SHXYM", "NS_ND", "NS_DJ", "NS_PDRQ"],
    "industry_evaluation": ["HY_MC", "HY_SHXYM", "HY_HY", "HY_DJ", "HY_PJBM", "HY_PDRQ", "HY_YXQZ"],
    "abnormal_operation": [
        "YC_MC",
        "YC_SHXYM",
        "YC_GSZC",
        "YC_LRYY",
        "YC_LRRQ",
        "YC_LRJG",
        "YC_YCYY",
        "YC_YCRQ",
        "YC_YCJG",
    ],
    "social_insurance_arrears": [
        "QJ_MC",
        "QJ_SHXYM",
        "QJ_ZJHM",
        "QJ_XZ",
        "QJ_SSQ",
        "QJ_JE",
        "QJ_RDRQ",
    ],
    "utility_arrears": [
        "QF_MC",
        "QF_SHXYM",
        "QF_ZJHM",
        "QF_LX",
        "QF_HH",
        "QF_SSQ",
        "QF_JE",
        "QF_RDRQ",
    ],
    "contract_performance": [
        "HT_MC",
        "HT_SHXYM",
        "HT_HTBH",
        "HT_HTMC",
        "HT_LX",
        "HT_QDRQ",
        "HT_LYZT",
        "HT_WYQK",
        "HT_RDRQ",
        "HT_RDJG",
    ],
    "self_disclosure": [
        "ZZ_BH",
        "ZZ_MC",
        "ZZ_SHXYM",
        "ZZ_LX",
        "ZZ_BT",
        "ZZ_FZJG",
        "ZZ_RQ",
        "ZZ_YXQZ",
        "ZZ_NR",
        "ZZ_ZMCL",
        "ZZ_ZT",
    ],
}

# Items the subject supplies about itself through its account (自主公示): the platform knows the
# subject, so there is no file to match and no department obligation.
SUBJECT_SUPPLIED = {"self_disclosure"}

DEPARTMENTS = [
    "榆林市市场监督管理局",
    "榆林市税务局",
    "榆林市中级人民法院",
    "榆林市人力资源和社会保障局",
    "榆林市住房公积金管理中心",
    "榆林市应急管理局",
    "榆林市生态环境局",
    "榆林市交通运输局",
    "榆林市财政局",
    "榆林市公共资源交易中心",
    "榆林市城市管理执法局",
    "国网榆林供电公司",
    "榆林市委机构编制委员会办公室",
    "榆林市民政局",
    "榆林市农业农村局",
    "榆林市教育局",
    "榆林市司法局",
    "榆林市卫生健康委员会",
    "榆林市文化和旅游局",
    "榆林市发展和改革委员会",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_catalog_header(catalog: Catalog) -> None:
    assert catalog.version == "2026.1"
    assert catalog.effective.isoformat() == "2026-04-01"
    assert list(catalog.items) == list(EXPECTED_CODES)


@pytest.mark.parametrize("item_code", list(EXPECTED_CODES))
def test_every_agreed_field_code_exists(catalog: Catalog, item_code: str) -> None:
    item = catalog.item(item_code)
    missing = [code for code in EXPECTED_CODES[item_code] if code not in item.codes]
    assert missing == []
    if item_code in SUBJECT_SUPPLIED:
        assert not item.obligations, "no department owes information the subject supplies"
    else:
        assert item.obligations, "every item names its source departments"
    assert item.legal_basis


@pytest.mark.parametrize("item_code", [c for c in EXPECTED_CODES if c not in SUBJECT_SUPPLIED])
def test_subject_roles_and_key(catalog: Catalog, item_code: str) -> None:
    item = catalog.item(item_code)
    assert item.field_by_role("subject_name") is not None
    assert item.field_by_role("subject_category") is not None
    assert item.field_by_role("registration_no") is not None
    assert item.field_by_role("org_code") is not None
    assert item.field_by_role("address") is not None
    assert item.decision_date_field is not None
    assert all(code in item.codes for code in item.key_fields)


def test_departments_are_the_yulin_ones(catalog: Catalog) -> None:
    names = [d.name for d in catalog.departments]
    assert sorted(names) == sorted(DEPARTMENTS)
    court = catalog.department("榆林市中级人民法院")
    assert court.kind == "court"
    assert court.items == ("judgment_defaulter",)
    assert "penalty" in catalog.department("榆林市应急管理局").items


def test_dual_publicity_obligation_is_seven_working_days(catalog: Catalog) -> None:
    for code in ("licence", "penalty"):
        for obligation in catalog.item(code).obligations:
            assert obligation.frequency == "event"
            assert obligation.due_working_days == 7


def test_unknown_item_lists_valid_codes(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        catalog.item("nonsense")
    assert "penalty" in info.value.message
    assert "nonsense" in info.value.message


@pytest.mark.parametrize(
    ("item_code", "header", "expected"),
    [
        ("penalty", "CF_WSH", "CF_WSH"),
        ("penalty", "cf_wsh", "CF_WSH"),
        ("penalty", "ＣＦ＿ＷＳＨ", "CF_WSH"),
        ("penalty", " 行政处罚决定书文号 ", "CF_WSH"),
        ("penalty", "*行政处罚决定书文号", "CF_WSH"),
        ("penalty", "罚款金额（万元）", "CF_NR_FK"),
        ("penalty", "罚款金额(万元)", "CF_NR_FK"),
        ("penalty", "COMP_NAME", "CF_XDR_MC"),
        ("penalty", "comp_name", "CF_XDR_MC"),
        ("penalty", "CF_CFLB1", "CF_CFLB"),
        ("penalty", "CF_CFLB2", "CF_CFLB"),
        ("penalty", "CF_XZJG", "CF_CFJG"),
        ("penalty", "CF_JG", "CF_CFJG"),
        ("penalty", "CF_XDR_SFZ", "CF_XDR_ZJHM"),
        ("penalty", "CF_CFMC", "CF_AJMC"),
        ("penalty", "行政相对人代码_1（统一社会信用代码）", "CF_XDR_SHXYM"),
        ("penalty", "xy020102", "CF_WSH"),
        ("penalty", "失信严重程度", "CF_SXYZCD"),
        ("licence", "XK_FR_SFZH", "XK_FR_ZJHM"),
        ("licence", "SJLY", "XK_LYDW"),
        ("licence", "SJLYDM", "XK_LYDWDM"),
        ("licence", "xk_yxqzi", "XK_YXQZI"),
        ("licence", "有效期至", "XK_YXQZI"),
        ("judgment_defaulter", "iname", "SX_MC"),
        ("judgment_defaulter", "caseCode", "SX_AH"),
        ("judgment_defaulter", "CASECODE", "SX_AH"),
        ("judgment_defaulter", "courtName", "SX_ZXFY"),
        ("judgment_defaulter", "regDate", "SX_LARQ"),
        ("judgment_defaulter", "publishDate", "SX_FBRQ"),
        ("judgment_defaulter", "performance", "SX_LXQK"),
        ("judgment_defaulter", "disruptTypeName", "SX_SXQX"),
        ("judgment_defaulter", "cardNum", "SX_ZJHM"),
        ("registration", "注册资本", "DJ_ZCZB"),
        ("abnormal_operation", "列入经营异常名录原因类型名称", "YC_LRYY"),
        ("penalty", "no such column", None),
        ("penalty", "sexy", None),
    ],
)
def test_resolve_header(catalog: Catalog, item_code: str, header: str, expected: str) -> None:
    assert catalog.item(item_code).resolve_header(header) == expected


def test_openness_per_value(catalog: Catalog) -> None:
    tax = catalog.item("tax_credit_grade")
    assert tax.openness is Openness.authorised
    assert tax.openness_for({"NS_DJ": "A"}) is Openness.public
    assert tax.openness_for({"NS_DJ": "B"}) is Openness.authorised
    assert tax.is_positive({"NS_DJ": "A"}) and not tax.is_positive({"NS_DJ": "B"})
    assert tax.is_adverse({"NS_DJ": "D"})
    contract = catalog.item("contract_performance")
    assert contract.openness_for({"HT_LYZT": "正常履约"}) is Openness.government_only
    assert contract.openness_for({"HT_LYZT": "违约"}) is Openness.public
    assert Openness.authorised.label == "授权查询"


def test_adverse_when_for_commitments(catalog: Catalog) -> None:
    item = catalog.item("commitment")
    assert not item.adverse
    assert item.is_adverse({"CN_LYZT": "未履约"})
    assert not item.is_adverse({"CN_LYZT": "已履约"})


def test_personal_fields_never_public(catalog: Catalog) -> None:
    for item in catalog.items.values():
        for spec in item.fields:
            if spec.personal:
                assert not item.is_public_field(spec.code, {})
    penalty = catalog.item("penalty")
    assert penalty.field("CF_XDR_ZJHM").personal
    assert catalog.item("registration").field("DJ_LXDH").personal
    assert penalty.is_public_field("CF_XDR_DZ", {"CF_XDR_LB": "法人及非法人组织"})
    assert not penalty.is_public_field("CF_XDR_DZ", {"CF_XDR_LB": "自然人"})


def test_key_fallback(catalog: Catalog) -> None:
    licence = catalog.item("licence")
    assert licence.key_of({"XK_WSH": "榆市监许〔2026〕1号"}) == ("榆市监许〔2026〕1号",)
    assert licence.key_of({"XK_WSH": None, "XK_XKBH": "JY123"}) == ("JY123",)
    assert catalog.item("registration").key_fields == ()


def test_publication_rules(catalog: Catalog) -> None:
    assert catalog.item("penalty").publication.kind is PublicationKind.severity
    assert catalog.item("licence").publication.end_field == "XK_YXQZI"
    assert catalog.item("judgment_defaulter").publication.end_field == "SX_YCRQ"
    periods = catalog.item("penalty").severity_periods
    assert periods is not None
    assert not periods.minor_published
    assert periods.minor_max_months == 3
    assert "uncertain" not in catalog.item("penalty").codes
    assert "classifier.rules[serious_sector_large_fine]" in catalog.item("penalty").uncertain


# --- loader errors --------------------------------------------------------------------------


@pytest.fixture
def items_dir(tmp_path: Path) -> Path:
    target = tmp_path / "items"
    shutil.copytree(DEFAULT_DIRECTORY, target)
    return target


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"fixture text not found in {name}: {old!r}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return apply


def _add_file(folder: Path) -> None:
    (folder / "stray.yaml").write_text("code: stray\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("mutate", "file", "key"),
    [
        (_edit("penalty.yaml", "code: penalty\n", "code: [penalty\n"), "penalty.yaml", "行"),
        (
            _edit(
                "penalty.yaml",
                "    label: 违法行为类型\n    type: text",
                "    label: x\n    type: txt",
            ),
            "penalty.yaml",
            "fields[CF_WFXW].type",
        ),
        (
            _edit("licence.yaml", "key_fields: [XK_WSH]", "key_fields: [XK_NOPE]"),
            "licence.yaml",
            "key_fields",
        ),
        (
            _edit("honour.yaml", "departments: [榆林市发展和改革委员会]", "departments: [某某局]"),
            "honour.yaml",
            "obligations[0].departments",
        ),
        (
            _edit("honour.yaml", "    enum: [国家级, 省级, 市级, 县级]\n", "    enum: []\n"),
            "honour.yaml",
            "fields[RY_JB].enum",
        ),
        (
            _edit(
                "red_list.yaml", "openness: public\n", "openness: public\nopenness: authorised\n"
            ),
            "red_list.yaml",
            "行",
        ),
        (
            _edit("red_list.yaml", "openness: public\n", "openness: open\n"),
            "red_list.yaml",
            "openness",
        ),
        (
            _edit("red_list.yaml", "positive: true\n", "positive: true\ncolour: red\n"),
            "red_list.yaml",
            "colour",
        ),
        (
            _edit(
                "red_list.yaml", "aliases: [认定部门, 认定单位]", "aliases: [认定部门, 名单类型]"
            ),
            "red_list.yaml",
            "fields[HM_RDJG].aliases",
        ),
        (
            _edit("licence.yaml", '"01": 普通', "01: 普通"),
            "licence.yaml",
            "fields[XK_XKLB].enum_aliases",
        ),
        (
            _edit("penalty.yaml", "subset_of: [警告, 通报批评]", "subset_of: [警告, 批评]"),
            "penalty.yaml",
            "classifier.rules[minor_warning].when[0].subset_of",
        ),
        (
            _edit("licence.yaml", "end_field: XK_YXQZI", "end_field: XK_NR"),
            "licence.yaml",
            "publication.end_field",
        ),
        (
            _edit("licence.yaml", "not_before: [XK_YXQZ, XK_JDRQ]", "not_before: [XK_NR]"),
            "licence.yaml",
            "not_before",
        ),
        (
            _edit("licence.yaml", "not_before: [XK_YXQZ, XK_JDRQ]", "not_before: [XK_YXQZI]"),
            "licence.yaml",
            "not_before",
        ),
        (_edit("catalog.yaml", "  - honour\n", ""), "catalog.yaml", "items"),
        (_add_file, "catalog.yaml", "items"),
        (_edit("honour.yaml", "code: honour", "code: honours"), "honour.yaml", "code"),
    ],
)
def test_loader_error_names_file_and_key(
    items_dir: Path, mutate: Callable[[Path], None], file: str, key: str
) -> None:
    mutate(items_dir)
    with pytest.raises(CatalogError) as info:
        load_catalog(items_dir)
    assert info.value.file == file
    assert key in info.value.key
    assert file in str(info.value) and info.value.code == "catalog_invalid"


def test_copied_catalog_loads(items_dir: Path) -> None:
    assert list(load_catalog(items_dir).items) == list(EXPECTED_CODES)
