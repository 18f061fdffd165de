"""Headers and field roles of the catalog items, as the synthetic department files use them."""

from __future__ import annotations

from dataclasses import dataclass


def _f(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "registration": _f(
        "DJ_MC DJ_ZTLX DJ_SHXYM DJ_GSZC DJ_ZZJG DJ_ZJHM DJ_FRDB DJ_CLRQ DJ_ZS DJ_XZQH DJ_HY "
        "DJ_ZCZB DJ_DJJG DJ_ZT DJ_ZYBQ DJ_LXDH"
    ),
    "licence": _f(
        "XK_XDR_MC XK_XDR_LB XK_XDR_SHXYM XK_XDR_GSZC XK_XDR_ZZJG XK_FRDB XK_XDR_ZJLX "
        "XK_XDR_ZJHM XK_XKWS XK_WSH XK_XKLB XK_XKZS XK_XKBH XK_NR XK_JDRQ XK_YXQZ XK_YXQZI "
        "XK_XKJG XK_XKJGDM XK_ZT XK_LYDW XK_LYDWDM BZ"
    ),
    "penalty": _f(
        "CF_XDR_MC CF_XDR_LB CF_XDR_SHXYM CF_XDR_GSZC CF_XDR_ZZJG CF_FRDB CF_XDR_ZJLX "
        "CF_XDR_ZJHM CF_WSH CF_WFXW CF_SY CF_YJ CF_CFLB CF_NR CF_NR_FK CF_NR_WFFF CF_NR_ZKDX "
        "CF_JDRQ CF_YXQ CF_GSJZQ CF_CFJG CF_CFJGDM CF_SJLY CF_SJLYDM CF_SXYZCD BZ"
    ),
    "judgment_defaulter": _f(
        "SX_MC SX_SHXYM SX_ZJHM SX_AH SX_ZXFY SX_ZXYJWH SX_YW SX_LXQK SX_SXQX SX_LARQ SX_FBRQ "
        "SX_YCRQ"
    ),
    "serious_dishonesty": _f(
        "YZ_MC YZ_SHXYM YZ_ZJHM YZ_MDLX YZ_LRYY YZ_RDWH YZ_LRRQ YZ_YCRQ YZ_RDJG YZ_RDJGDM"
    ),
    "red_list": _f("HM_MC HM_SHXYM HM_MDLX HM_WJYJ HM_RDRQ HM_YXQZ HM_RDJG"),
    "commitment": _f("CN_MC CN_SHXYM CN_ZJHM CN_LX CN_SY CN_BH CN_RQ CN_SLDW CN_LYZT CN_LYRQ"),
    "honour": _f("RY_MC RY_SHXYM RY_ZJHM RY_RYMC RY_WH RY_RQ RY_JG RY_JB"),
    "tax_credit_grade": _f("NS_MC NS_SHXYM NS_ND NS_DJ NS_PDRQ"),
    "abnormal_operation": _f(
        "YC_MC YC_SHXYM YC_GSZC YC_LRYY YC_LRRQ YC_LRJG YC_YCYY YC_YCRQ YC_YCJG"
    ),
    "social_insurance_arrears": _f("QJ_MC QJ_SHXYM QJ_ZJHM QJ_XZ QJ_SSQ QJ_JE QJ_RDRQ"),
    "utility_arrears": _f("QF_MC QF_SHXYM QF_ZJHM QF_LX QF_HH QF_SSQ QF_JE QF_RDRQ"),
    "contract_performance": _f(
        "HT_MC HT_SHXYM HT_HTBH HT_HTMC HT_LX HT_QDRQ HT_LYZT HT_WYQK HT_RDRQ HT_RDJG"
    ),
}


@dataclass(frozen=True)
class Roles:
    """Which fields of an item carry the subject's name, codes, key, decision date and enums."""

    name: str
    uscc: str
    id_number: str = ""
    reg_no: str = ""
    org_code: str = ""
    key: tuple[str, ...] = ()  # with the subject, identifies a record
    decision_date: str = ""
    required: tuple[str, ...] = ()
    enum: str = ""  # a field with a closed value list, for "unknown enum" bad rows
    bad_enum: str = ""  # a value outside that list


# Keys follow the catalog's key_fields (unique per subject); required fields are ones the
# catalog marks required and the generator always fills.
ROLES: dict[str, Roles] = {
    "registration": Roles(
        "DJ_MC",
        "DJ_SHXYM",
        "DJ_ZJHM",
        "DJ_GSZC",
        "DJ_ZZJG",
        ("DJ_SHXYM", "DJ_ZJHM"),
        "DJ_CLRQ",
        ("DJ_MC", "DJ_ZTLX"),
        "DJ_ZTLX",
        "外资企业",
    ),
    "licence": Roles(
        "XK_XDR_MC",
        "XK_XDR_SHXYM",
        "XK_XDR_ZJHM",
        "XK_XDR_GSZC",
        "XK_XDR_ZZJG",
        ("XK_WSH",),
        "XK_JDRQ",
        ("XK_XKWS", "XK_JDRQ", "XK_XKJG", "XK_NR"),
        "XK_XKLB",
        "特殊许可",
    ),
    "penalty": Roles(
        "CF_XDR_MC",
        "CF_XDR_SHXYM",
        "CF_XDR_ZJHM",
        "CF_XDR_GSZC",
        "CF_XDR_ZZJG",
        ("CF_WSH",),
        "CF_JDRQ",
        ("CF_WSH", "CF_JDRQ", "CF_CFJG", "CF_WFXW", "CF_YJ"),
        "CF_CFLB",
        "罚没款",
    ),
    "judgment_defaulter": Roles(
        "SX_MC",
        "SX_SHXYM",
        "SX_ZJHM",
        key=("SX_AH",),
        decision_date="SX_FBRQ",
        required=("SX_AH", "SX_ZXFY", "SX_FBRQ"),
    ),
    "serious_dishonesty": Roles(
        "YZ_MC",
        "YZ_SHXYM",
        "YZ_ZJHM",
        key=("YZ_RDWH",),
        decision_date="YZ_LRRQ",
        required=("YZ_RDWH", "YZ_LRRQ", "YZ_LRYY", "YZ_RDJG"),
        enum="YZ_MDLX",
        bad_enum="其他失信名单",
    ),
    "red_list": Roles(
        "HM_MC",
        "HM_SHXYM",
        key=("HM_WJYJ",),
        decision_date="HM_RDRQ",
        required=("HM_MDLX", "HM_RDRQ", "HM_WJYJ"),
        enum="HM_MDLX",
        bad_enum="优秀企业",
    ),
    "commitment": Roles(
        "CN_MC",
        "CN_SHXYM",
        "CN_ZJHM",
        key=("CN_BH",),
        decision_date="CN_RQ",
        required=("CN_BH", "CN_RQ", "CN_SY", "CN_SLDW"),
        enum="CN_LX",
        bad_enum="其他类型",
    ),
    "honour": Roles(
        "RY_MC",
        "RY_SHXYM",
        "RY_ZJHM",
        key=("RY_WH",),
        decision_date="RY_RQ",
        required=("RY_RYMC", "RY_RQ", "RY_WH", "RY_JG"),
        enum="RY_JB",
        bad_enum="乡级",
    ),
    "tax_credit_grade": Roles(
        "NS_MC",
        "NS_SHXYM",
        key=("NS_ND",),
        decision_date="NS_PDRQ",
        required=("NS_ND", "NS_DJ", "NS_PDRQ"),
        enum="NS_DJ",
        bad_enum="E",
    ),
    "abnormal_operation": Roles(
        "YC_MC",
        "YC_SHXYM",
        reg_no="YC_GSZC",
        key=("YC_LRRQ",),
        decision_date="YC_LRRQ",
        required=("YC_LRYY", "YC_LRRQ", "YC_LRJG"),
    ),
    "social_insurance_arrears": Roles(
        "QJ_MC",
        "QJ_SHXYM",
        "QJ_ZJHM",
        key=("QJ_XZ", "QJ_SSQ"),
        decision_date="QJ_RDRQ",
        required=("QJ_XZ", "QJ_JE", "QJ_SSQ", "QJ_RDRQ"),
        enum="QJ_XZ",
        bad_enum="生育保险",
    ),
    "utility_arrears": Roles(
        "QF_MC",
        "QF_SHXYM",
        "QF_ZJHM",
        key=("QF_LX", "QF_HH", "QF_SSQ"),
        decision_date="QF_RDRQ",
        required=("QF_LX", "QF_JE", "QF_HH", "QF_RDRQ"),
        enum="QF_LX",
        bad_enum="通讯",
    ),
    "contract_performance": Roles(
        "HT_MC",
        "HT_SHXYM",
        key=("HT_HTBH",),
        decision_date="HT_RDRQ",
        required=("HT_HTBH", "HT_LYZT", "HT_HTMC", "HT_RDJG"),
        enum="HT_LYZT",
        bad_enum="部分履约",
    ),
}

# Closed value lists (for tests and for choosing values).
ENUMS: dict[str, tuple[str, ...]] = {
    "DJ_ZTLX": _f(
        "政府机关 事业单位 企业 个体工商户 社会团体 民办非企业单位 农民专业合作社 农户 "
        "自然人 其他组织"
    ),
    "XK_XKLB": _f("普通 特许 认可 核准 登记 其他"),
    "CF_CFLB": (
        "警告",
        "罚款",
        "没收违法所得、没收非法财物",
        "责令停产停业",
        "暂扣或者吊销许可证、暂扣或者吊销执照",
        "行政拘留",
        "其他",
    ),
    "YZ_MDLX": (
        "市场监管领域严重违法失信名单",
        "重大税收违法失信主体",
        "拖欠农民工工资失信联合惩戒对象",
        "安全生产严重失信主体",
        "政府采购严重违法失信行为记录",
    ),
    "HM_MDLX": _f("A级纳税人 守信典型企业 海关高级认证企业"),
    "CN_LX": _f("审批替代型 主动公示型 行业自律型 信用修复型"),
    "RY_JB": _f("国家级 省级 市级 县级"),
    "NS_DJ": _f("A B M C D"),
    "QJ_XZ": _f("养老保险 医疗保险 失业保险 工伤保险 住房公积金"),
    "QF_LX": _f("水 电 燃气 热力"),
    "HT_LYZT": _f("正常履约 违约 解除"),
}

# Fields holding dates (written in the file's date style; "" when absent).
DATE_FIELDS: frozenset[str] = frozenset(
    _f(
        "DJ_CLRQ XK_JDRQ XK_YXQZ XK_YXQZI CF_JDRQ CF_YXQ CF_GSJZQ SX_LARQ SX_FBRQ SX_YCRQ "
        "YZ_LRRQ YZ_YCRQ HM_RDRQ HM_YXQZ CN_RQ CN_LYRQ RY_RQ NS_PDRQ YC_LRRQ YC_YCRQ QJ_RDRQ "
        "QF_RDRQ HT_QDRQ HT_RDRQ"
    )
)

# Items whose rows may carry "撤销：…" in BZ (withdrawals in correction files).
WITHDRAWABLE: frozenset[str] = frozenset({"licence", "penalty"})
