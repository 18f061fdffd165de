"""Identifiers: USCC (GB 32100-2015), organisation code (GB 11714), resident ID (GB 11643-1999),
business registration number, plus masking (ID mask style) and scrubbing of free text: ID, phone
and bank account numbers, and street-level addresses of natural persons (security goal G30).

Every parser normalises first (full-width forms, spaces, hyphens, case) and raises
`FieldError(field, raw, code, message)` with code "length", "charset", "format", "checksum",
"placeholder" or "birth_date". Soft findings go into ``warnings`` instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from citycredit.shared.errors import FieldError
from citycredit.shared.text import normalise_code, to_halfwidth
from citycredit.subjects.model import SubjectType

__all__ = [
    "BANK_ACCOUNT_PATTERN",
    "BANK_CARD_PATTERN",
    "ID_NUMBER_PATTERN",
    "PHONE_PATTERN",
    "USCC_ALPHABET",
    "IdMaskStyle",
    "IdNumber",
    "Uscc",
    "address_spans",
    "allowed_subject_types",
    "bank_account_spans",
    "id_check_char",
    "id_mask_style",
    "is_valid_id_number",
    "is_valid_uscc",
    "mask_id_number",
    "mask_id_number_at_rest",
    "mask_phone",
    "org_code_check_char",
    "parse_id_number",
    "parse_org_code",
    "parse_registration_no",
    "parse_uscc",
    "restyle_stored_id_mask",
    "scrub_address",
    "scrub_personal",
    "subject_type_for_uscc",
    "uscc_check_char",
]

# --- Unified Social Credit Code (统一社会信用代码, GB 32100-2015) --------------------------------

# GB 32100-2015: 31 symbols, digits then capitals without I, O, S, V, Z; value = index.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
# GB 32100-2015 weights for positions 1..17: W_i = 3^(i-1) mod 31 (1 3 9 27 19 26 16 17 20 …).
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))

# GB 32100-2015 / 国发〔2015〕33号: registration authority (pos. 1) → known entity types (pos. 2).
# "Y" (其他) has no defined sub-types, so any pos. 2 is accepted there.
_USCC_TYPES: dict[str, str] = {
    "1": "1239",  # 机构编制: 机关, 事业单位, 编办直管群团, 其他
    "2": "19",  # 外交
    "3": "123459",  # 司法行政: 律所, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "4": "19",  # 文化
    "5": "1239",  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": "129",  # 旅游
    "7": "129",  # 宗教
    "8": "19",  # 工会
    "9": "123",  # 工商/市场监管: 企业, 个体工商户, 农民专业合作社
    "A": "19",  # 中央军委改革和编制办公室
    "N": "1239",  # 农业: 组级, 村级, 乡镇级集体经济组织, 其他
    "Y": "",  # 其他
}

# GB 11714 organisation code: weights over the 8 body characters; check = 11 − (Σ mod 11).
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")

_ST = SubjectType
_TYPE_BY_PREFIX: dict[str, SubjectType] = {
    "11": _ST.government_body,
    "12": _ST.public_institution,
    "A1": _ST.public_institution,
    "51": _ST.social_group,
    "52": _ST.private_non_enterprise,
    "91": _ST.enterprise,
    "92": _ST.individual_business,
    "93": _ST.farmer_cooperative,
}
# Declared subject types that are acceptable for a USCC prefix. Exact prefixes first: the
# specific types above are strict (91 may only be an enterprise); 群团 (13) and 基金会 (53) may
# be filed as 社会团体 or 其他组织. Otherwise the authority decides: "其他" and unknown sub-types
# may be any type that authority registers, plus other_organisation. Remaining authorities
# (外交, 文化, 旅游, 宗教, 农业, Y …) only register other_organisation; 司法行政 also registers
# 公证处/仲裁委员会 that are 事业单位, and 工会 are often filed as 社会团体.
_ALLOWED_BY_PREFIX: dict[str, frozenset[SubjectType]] = {
    p: frozenset({t}) for p, t in _TYPE_BY_PREFIX.items()
} | {
    "13": frozenset({_ST.social_group, _ST.other_organisation}),
    "31": frozenset({_ST.other_organisation}),
    "53": frozenset({_ST.social_group, _ST.other_organisation}),
}
_ALLOWED_BY_AUTHORITY: dict[str, frozenset[SubjectType]] = {
    "1": frozenset({_ST.government_body, _ST.public_institution, _ST.other_organisation}),
    "3": frozenset({_ST.public_institution, _ST.other_organisation}),
    "5": frozenset({_ST.social_group, _ST.private_non_enterprise, _ST.other_organisation}),
    "8": frozenset({_ST.social_group, _ST.other_organisation}),
    "9": frozenset(
        {_ST.enterprise, _ST.individual_business, _ST.farmer_cooperative, _ST.other_organisation}
    ),
    "A": frozenset({_ST.public_institution, _ST.other_organisation}),
}


@dataclass(frozen=True)
class Uscc:
    """A parsed USCC; ``authority`` is position 1, ``org_type`` position 2 (see `prefix`)."""

    value: str
    authority: str
    org_type: str
    division_code: str
    org_code: str
    warnings: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        """Positions 1–2 (authority + type), e.g. "91" for an enterprise."""
        return self.value[:2]


def uscc_check_char(first17: str) -> str:
    """GB 32100-2015 check character for 17 alphabet characters (ValueError if not)."""
    if len(first17) != 17 or any(c not in _USCC_VALUE for c in first17):
        raise ValueError(f"need 17 USCC alphabet characters, got {first17!r}")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    """GB 11714 check character ("0"–"9" or "X") for an 8-character body (ValueError if bad)."""
    if len(body8) != 8 or any(c not in _ORG_BODY_CHARS for c in body8):
        raise ValueError(f"need 8 characters 0-9/A-Z, got {body8!r}")
    # Digits count as their value, letters as ord(c) − 55 (A = 10 … Z = 35).
    values = (int(c) if c.isdigit() else ord(c) - 55 for c in body8)
    total = sum(v * w for v, w in zip(values, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def parse_uscc(raw: str, field: str = "uscc") -> Uscc:
    """Validate and split a USCC; raises FieldError (length/charset/format/placeholder/checksum)."""
    raw = _as_text(raw)
    value = normalise_code(raw)
    name = "统一社会信用代码"
    if len(value) != 18:
        raise FieldError(field, raw, "length", f"{name}应为 18 位，实际 {len(value)} 位")
    bad = sorted({c for c in value if c not in _USCC_VALUE})
    if bad:
        raise FieldError(
            field, raw, "charset", f"{name}含非法字符 {''.join(bad)}（不使用 I、O、S、V、Z）"
        )
    if not value[2:8].isdigit():
        raise FieldError(field, raw, "format", f"{name}第 3–8 位（登记管理机关行政区划码）应为数字")
    if len(set(value[8:17])) == 1:
        raise FieldError(field, raw, "placeholder", f"{name}是占位码（第 9–17 位字符全部相同）")
    if uscc_check_char(value[:17]) != value[17]:
        raise FieldError(field, raw, "checksum", f"{name}校验码错误（GB 32100-2015）")
    return Uscc(
        value=value,
        authority=value[0],
        org_type=value[1],
        division_code=value[2:8],
        org_code=value[8:17],
        warnings=_uscc_warnings(value),
    )


def _uscc_warnings(value: str) -> tuple[str, ...]:
    """Soft findings for a checksum-valid USCC: unknown authority/type/division, GB 11714 check."""
    from citycredit.shared.divisions import is_known_code

    warnings: list[str] = []
    types = _USCC_TYPES.get(value[0])
    if types is None:
        warnings.append(f"登记管理部门代码 {value[0]} 未知")
    elif types and value[1] not in types:
        warnings.append(f"机构类别代码 {value[:2]} 未知")
    if not is_known_code(value[2:8]):
        warnings.append(f"登记管理机关行政区划码 {value[2:8]} 未知")
    # Positions 9–17 are the GB 11714 organisation code. Codes issued directly as USCCs since
    # 2015 were not confirmed to satisfy its check (rules.md §1.1), so a mismatch only warns.
    if org_code_check_char(value[8:16]) != value[16]:
        warnings.append("主体标识码（组织机构代码）校验位不符 GB 11714")
    return tuple(warnings)


def is_valid_uscc(raw: str) -> bool:
    """True if `parse_uscc` accepts the value (warnings allowed)."""
    return _is_valid(parse_uscc, raw)


def _uscc_prefix(uscc: Uscc | str) -> str:
    return uscc.prefix if isinstance(uscc, Uscc) else parse_uscc(uscc).prefix


def subject_type_for_uscc(uscc: Uscc | str) -> SubjectType:
    """Subject type implied by a USCC prefix (a str is parsed first and may raise FieldError)."""
    return _TYPE_BY_PREFIX.get(_uscc_prefix(uscc), SubjectType.other_organisation)


def allowed_subject_types(uscc: Uscc | str) -> frozenset[SubjectType]:
    """Declared subject types consistent with a USCC prefix (see the table above the function)."""
    prefix = _uscc_prefix(uscc)
    if prefix in _ALLOWED_BY_PREFIX:
        return _ALLOWED_BY_PREFIX[prefix]
    return _ALLOWED_BY_AUTHORITY.get(prefix[0], frozenset({SubjectType.other_organisation}))


# --- Organisation code (组织机构代码, GB 11714) and registration number (注册号) ---------------


def parse_org_code(raw: str, field: str = "org_code") -> str:
    """Validate a GB 11714 organisation code ("XXXXXXXX-X" accepted); returns 9 chars, no hyphen."""
    raw = _as_text(raw)
    value = normalise_code(raw)
    name = "组织机构代码"
    if len(value) != 9:
        raise FieldError(field, raw, "length", f"{name}应为 9 位（8 位本体 + 1 位校验码）")
    if any(c not in _ORG_BODY_CHARS for c in value[:8]) or value[8] not in "0123456789X":
        raise FieldError(field, raw, "charset", f"{name}含非法字符")
    if len(set(value[:8])) == 1:
        raise FieldError(field, raw, "placeholder", f"{name}是占位码（本体字符全部相同）")
    if org_code_check_char(value[:8]) != value[8]:
        raise FieldError(field, raw, "checksum", f"{name}校验码错误（GB 11714）")
    return value


def parse_registration_no(raw: str, field: str = "registration_no") -> str:
    """Validate a 工商注册号: 15 digits with ISO 7064 MOD 11,10 check, or an older 13-digit one."""
    from stdnum.iso7064 import mod_11_10

    raw = _as_text(raw)
    value = normalise_code(raw)
    name = "工商注册号"
    if not value.isascii() or not value.isdigit():
        raise FieldError(field, raw, "charset", f"{name}应全部为数字")
    if len(set(value)) == 1:
        raise FieldError(field, raw, "placeholder", f"{name}是占位码（数字全部相同）")
    # 13-digit numbers were issued before the 15-digit scheme with a check digit (工商总局
    # 《工商行政管理市场主体注册号编制规则》, 2006; date from recollection). They carry no check
    # digit, but still appear on old licences and in historical records, so they are accepted.
    if len(value) == 13:
        return value
    if len(value) != 15:
        msg = f"{name}应为 15 位（旧号 13 位），实际 {len(value)} 位"
        raise FieldError(field, raw, "length", msg)
    if not mod_11_10.is_valid(value):
        raise FieldError(field, raw, "checksum", f"{name}校验位错误（ISO 7064 MOD 11,10）")
    return value


# --- Resident ID number (公民身份号码, GB 11643-1999) -----------------------------------------

# GB 11643-1999 / ISO 7064 MOD 11-2: weights 2^(17-i) mod 11; check = "10X98765432"[Σ mod 11].
# Positions 1..17 from the left: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK_MAP = "10X98765432"
_EARLIEST_BIRTH_YEAR = 1880  # older dates are data-entry errors
_CHINA_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class IdNumber:
    """A parsed 18-digit resident ID number (15-digit input is upgraded)."""

    value: str
    birth_date: date
    sex: str  # "M" (odd 17th digit) or "F"
    division_code: str  # positions 1–6 as issued (may be a retired code)
    warnings: tuple[str, ...] = ()


def id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits (ValueError if not 17 digits)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need 17 digits, got {first17!r}")
    return _ID_CHECK_MAP[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def parse_id_number(raw: str, field: str = "id_number", *, today: date | None = None) -> IdNumber:
    """Validate a resident ID (18 digits, or 15 upgraded); raises FieldError, region only warns."""
    raw = _as_text(raw)
    value = normalise_code(raw)
    name = "公民身份号码"
    warnings: list[str] = []
    if len(value) == 15:
        if not value.isascii() or not value.isdigit():
            raise FieldError(field, raw, "charset", f"{name}（15 位一代证）应全部为数字")
        # First-generation numbers: 6-digit address, YYMMDD, 3-digit sequence, no check digit.
        first17 = value[:6] + "19" + value[6:]
        _check_birth_date(first17[6:14], field, raw, today)
        value = first17 + id_check_char(first17)
        warnings.append("一代身份证号已升位")
    elif len(value) == 18:
        if any(c not in "0123456789X" for c in value):
            raise FieldError(field, raw, "charset", f"{name}只能由数字和末位 X 组成")
        if "X" in value[:17]:
            raise FieldError(field, raw, "format", f"{name}中 X 只能出现在末位")
        if id_check_char(value[:17]) != value[17]:
            raise FieldError(field, raw, "checksum", f"{name}校验码错误（GB 11643-1999）")
    else:
        msg = f"{name}应为 18 位（或 15 位一代证），实际 {len(value)} 位"
        raise FieldError(field, raw, "length", msg)
    birth = _check_birth_date(value[6:14], field, raw, today)
    region_warning = _region_warning(value)
    if region_warning:
        warnings.append(region_warning)
    return IdNumber(
        value=value,
        birth_date=birth,
        sex="M" if int(value[16]) % 2 else "F",
        division_code=value[:6],
        warnings=tuple(warnings),
    )


def _check_birth_date(yyyymmdd: str, field: str, raw: str, today: date | None) -> date:
    """Birth date must exist, not lie in the future (China time) and not before 1880."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise FieldError(field, raw, "birth_date", f"出生日期 {yyyymmdd} 不存在") from None
    today = today or datetime.now(_CHINA_TZ).date()
    if born > today:
        raise FieldError(field, raw, "birth_date", f"出生日期 {yyyymmdd} 晚于当前日期")
    if born.year < _EARLIEST_BIRTH_YEAR:
        msg = f"出生日期 {yyyymmdd} 早于 {_EARLIEST_BIRTH_YEAR} 年"
        raise FieldError(field, raw, "birth_date", msg)
    return born


def _region_warning(value: str) -> str | None:
    """Check the address code with python-stdnum's cn.ric table; problems only warn."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    from citycredit.shared.divisions import is_known_code

    try:
        ric.get_birth_place(value)
    except KeyError:
        # python-stdnum 2.2 raises KeyError('county') for codes it knows only above county
        # level, e.g. 620201 (嘉峪关市市辖区).
        return "地区码未知"
    except ValidationError:
        # stdnum also rejects codes not in force in the birth year, but the address code is the
        # one at first registration (GB 11643), often years after birth (e.g. 610823 横山县 for
        # someone born in 1960). Only a code unknown in every year is worth a warning.
        if value[:6] == "100000" or not is_known_code(value[:6]):
            return "地区码未知"
    return None


def is_valid_id_number(raw: str) -> bool:
    """True if `parse_id_number` accepts the value (warnings allowed)."""
    return _is_valid(parse_id_number, raw)


# --- Masking and scrubbing -------------------------------------------------------------------

_DATE_MMDD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
# 18-digit (YYYY from 18xx–20xx) or 15-digit (YY) ID numbers, not inside a longer digit run.
# Province codes start with 1–8, which keeps USCCs of companies ("91…") out. Checksums are
# deliberately not verified: a mistyped ID number is still personal data. The groups may be
# written apart — address code, birth date, sequence and check character, as in
# "110105 19491231 002X" or "110105-19491231-002X" — by one space or one hyphen, the same one
# between both pairs of groups (a full-width space or hyphen counts once made half-width).
ID_NUMBER_PATTERN = re.compile(
    r"(?<![0-9])[1-8][0-9]{5}(?P<sep>[ -]?)"
    rf"(?:(?:18|19|20)[0-9]{{2}}{_DATE_MMDD}(?P=sep)[0-9]{{3}}[0-9Xx]"
    rf"|[0-9]{{2}}{_DATE_MMDD}(?P=sep)[0-9]{{3}})"
    r"(?![0-9])"
)
# Mainland mobile numbers (optional +86, separators allowed) and landlines with area code.
PHONE_PATTERN = re.compile(
    r"(?<![0-9])(?:(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}"
    r"|(?:\(0[0-9]{2,3}\)|0[0-9]{2,3}[- ]?)[0-9]{7,8})(?![0-9])"
)
_SCRUBBED = "[已隐去]"

# --- Bank cards and accounts (rules.md §13.4: a person's and an organisation's bank account) ---
#
# Two rules, both on the half-width text:
# 1. A payment-card number anywhere: 16–19 digits, together or in groups of four split by one
#    space or one hyphen (the same one throughout), that passes the Luhn check (ISO/IEC 7812)
#    and starts like a card (2221–2720, 3–6, 8, 9). Dates (19xx/20xx…), a digit-only USCC and
#    ordinary long numbers are left alone.
# 2. After 账号/帐号/卡号/账户/帐户/银行 (at most 20 characters apart, no digit and no sentence end
#    in between): 12–30 digits, together or in groups split by single spaces or hyphens,
#    whatever the checksum (account numbers have no common check digit). Not an amount (…元,
#    万元, a decimal point follows) and not a valid USCC.
# Decision numbers (〔2026〕123号), dates and amounts are shorter or not introduced by those
# words; a 15-digit 注册号 right after 银行 would be hidden too (over-hiding, on purpose).
BANK_CARD_PATTERN = re.compile(
    r"(?<![0-9A-Za-z.])[0-9]{4}(?P<sep>[ -]?)[0-9]{4}(?P=sep)[0-9]{4}(?P=sep)[0-9]{4}"
    r"(?:(?P=sep)[0-9]{1,3})?(?![0-9A-Za-z]|\.[0-9])"
)
BANK_ACCOUNT_PATTERN = re.compile(
    r"(?:账号|帐号|卡号|账户|帐户|银行)[^0-9。；;！!？?\n]{0,20}?(?<![A-Za-z.])"
    r"(?P<number>[0-9]{12,30}|[0-9]{2,6}(?:[ -][0-9]{1,6}){1,9})"
    r"(?![0-9A-Za-z]|\.[0-9]|\s*[万亿]?元)"
)


def _card_like(digits: str) -> bool:
    from stdnum import luhn

    if not 16 <= len(digits) <= 19:
        return False
    if digits[0] not in "345689" and not 2221 <= int(digits[:4]) <= 2720:
        return False
    return luhn.is_valid(digits) and not (len(digits) == 18 and is_valid_uscc(digits))


def bank_account_spans(text: str) -> list[tuple[int, int]]:
    """Spans of bank card and account numbers in half-width text (rules above)."""
    spans = [
        m.span() for m in BANK_CARD_PATTERN.finditer(text) if _card_like(_digits_of(m.group()))
    ]
    for m in BANK_ACCOUNT_PATTERN.finditer(text):
        digits = _digits_of(m.group("number"))
        if 12 <= len(digits) <= 30 and not (len(digits) == 18 and is_valid_uscc(digits)):
            spans.append(m.span("number"))
    return spans


def _digits_of(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


# --- Home addresses in free text (a natural person's record on a public view) ----------------
#
# Street-level detail goes, the county, district and town stay: "榆阳区长城路12号3单元501室" →
# "榆阳区[已隐去]", "鱼河镇王庄村3组15号" → "鱼河镇[已隐去]". A house number chain (12号, 3组15号,
# 3单元501室, 2号楼, 12-3-501室 …) is hidden with the street, lane, village, 社区 or 小区 name
# written right before it (at most 8 characters back, stopping at 省/市/区/县/旗/镇/乡/街道, a
# punctuation mark or a word like 在/于/住/为); a chain with 号楼/栋/幢/单元/室 is hidden even
# without a street. A bare "123号" (decision numbers: 榆市监罚〔2026〕123号), "第3组", dates and
# amounts are not addresses. Not recognised: addresses without a number (某某小区), numbers
# written apart from the street by a space, and places that are not a person's home (the
# address of an offence is hidden as well when it has this shape).
_CN_DIGITS = "0-9一二三四五六七八九十百千零〇两"
_HOUSE_UNIT = "号楼|号院|号|组|栋|幢|单元|层|楼|室|户|排"
_HOUSE_NUMBER = re.compile(
    rf"(?<![{_CN_DIGITS}])"
    rf"(?:[{_CN_DIGITS}]+(?:-[0-9]+)*(?:号楼|号院|号|组|栋|幢|单元|排)"
    r"|[0-9]+(?:-[0-9]+)+(?![0-9])[室号]?|[0-9]{3,4}室)"
    rf"(?:-?附?[{_CN_DIGITS}]+(?:-[0-9]+)*(?:{_HOUSE_UNIT}))*"
    r"(?:(?<=单元)[0-9]{3,4}(?![0-9年月日时分元万亿个次人名件户平米吨%.])"
    r"|(?:[0-9]+-)+[0-9]+(?![0-9]))?"
)
_STRONG_HOUSE_NUMBER = re.compile(r"号楼|栋|幢|单元|[0-9]{3,}室")
_STREET_END = re.compile(
    r"(?:街道|胡同|社区|小区|花园|家园|大厦|广场|公寓|新村|路|街|巷|道|弄|里|村|苑|庄|院|组"
    r"|峁|沟|坪|湾|塬|滩|寨)(?:[东南西北中]段|[东南西北]侧)?$"
)
# Characters a street name does not run across: administrative levels that may stay, and words
# that introduce a place (住所、地址、位于、在、于 …).
_NAME_STOP = frozenset("省市区县旗盟州镇乡处在于为至住是的和与及从到向往址所营售租")
# Words of street names that begin with a stop character ("市场路" is not "市" + "场路").
_NAME_WORDS_FROM_STOP = frozenset({"市场", "市政", "市府", "区府", "州府"})
_STREET_NAME_MAX = 8


def address_spans(text: str) -> list[tuple[int, int]]:
    """Spans of street-level address detail in half-width text (rules above)."""
    spans = []
    for m in _HOUSE_NUMBER.finditer(text):
        start = m.start()
        street = _STREET_END.search(text, max(0, start - 12), start)
        if street is None:
            if _STRONG_HOUSE_NUMBER.search(m.group()):
                spans.append(m.span())
            continue
        if street.group().startswith("街道"):  # the town level (街道办事处) may stay
            spans.append(m.span())
            continue
        i = street.start()
        floor = max(0, i - _STREET_NAME_MAX)
        while i > floor and text[i - 2 : i] != "街道":
            if not (_is_name_char(text[i - 1]) or text[i - 1 : i + 1] in _NAME_WORDS_FROM_STOP):
                break
            i -= 1
        spans.append((i, m.end()))
    return spans


def _is_name_char(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" and ch not in _NAME_STOP


# --- ID mask style (settings id_mask_keep_first / id_mask_keep_last, G30) ---------------------


@dataclass(frozen=True)
class IdMaskStyle:
    """How many leading and trailing characters a shown ID mask keeps (4 + 4 by default)."""

    keep_first: int = 4
    keep_last: int = 4

    def __post_init__(self) -> None:
        if not 0 <= self.keep_first <= 6:
            raise FieldError(
                "id_mask_keep_first",
                str(self.keep_first),
                "out_of_range",
                "身份证号脱敏显示的前几位应为 0–6 位",
            )
        if not 0 <= self.keep_last <= 4:
            raise FieldError(
                "id_mask_keep_last",
                str(self.keep_last),
                "out_of_range",
                "身份证号脱敏显示的后几位应为 0–4 位",
            )


DEFAULT_ID_MASK_STYLE = IdMaskStyle()  # frozen: a safe ContextVar default
_ID_MASK_STYLE: ContextVar[IdMaskStyle] = ContextVar("id_mask_style", default=DEFAULT_ID_MASK_STYLE)


@contextmanager
def id_mask_style(keep_first: int = 4, keep_last: int = 4) -> Iterator[IdMaskStyle]:
    """Inside the block, `mask_id_number(value)` (and `restyle_stored_id_mask`) follow this
    style: the views that show a masked ID number set it from the settings
    (``with id_mask_style(s.id_mask_keep_first, s.id_mask_keep_last)``), so the functions
    below them (privacy.records.mask_personal) need no settings of their own."""
    style = IdMaskStyle(keep_first, keep_last)
    token = _ID_MASK_STYLE.set(style)
    try:
        yield style
    finally:
        _ID_MASK_STYLE.reset(token)


def mask_id_number(
    value: str, *, keep_first: int | None = None, keep_last: int | None = None
) -> str:
    """Mask an ID number for the subject's own view and authorised views: the first and last
    characters of the style in force (`id_mask_style`; 4 + 4 outside one), or those given.

    Only for what is shown, never for what is stored: with the birth date and the county kept in
    clear on `subjects`, the last 4 give the number back (docs/adr/0014). Stored masked forms use
    `mask_id_number_at_rest`. Up to 8 characters, or no more than kept, are all masked.
    """
    style = _ID_MASK_STYLE.get()
    if keep_first is not None or keep_last is not None:
        style = IdMaskStyle(
            style.keep_first if keep_first is None else keep_first,
            style.keep_last if keep_last is None else keep_last,
        )
    v = value.strip()
    first, last = style.keep_first, style.keep_last
    if len(v) <= 8 or len(v) <= first + last:
        return "*" * len(v)
    return v[:first] + "*" * (len(v) - first - last) + v[len(v) - last :]


def restyle_stored_id_mask(masked: str | None) -> str | None:
    """A stored mask (`mask_id_number_at_rest`, first 4 only) as a view shows it under the style
    in force: never more leading characters than the style keeps (nor than were stored); the
    stored value itself is not changed."""
    if masked is None:
        return None
    shown = len(masked) - len(masked.lstrip("0123456789Xx"))
    keep = min(_ID_MASK_STYLE.get().keep_first, shown)
    return masked[:keep] + "*" * (len(masked) - keep)


def mask_id_number_at_rest(value: str) -> str:
    """The masked ID number that may be stored: the first 4 characters only.

    No sequence digit and no check character: the database already holds the birth date
    (positions 7–14) and the county (usually 1–6), so each of the last 4 shown would cut the
    candidates tenfold and all of them give the number back (docs/adr/0014). Not affected by
    the configured display style.
    """
    v = value.strip()
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 4)


def mask_phone(value: str) -> str:
    """Mask a phone number: "15212349276" → "152****9276"; landlines keep the area code."""
    v = value.strip()
    if "-" in v:
        area, _, local = v.partition("-")
        return f"{area}-{'*' * max(len(local) - 4, 0)}{local[-4:]}"
    if len(v) < 8:
        return "*" * max(len(v) - 2, 0) + v[-2:]
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def scrub_personal(text: str, *, addresses: bool = False) -> str:
    """Replace ID numbers, phone numbers and bank card/account numbers in free text by
    "[已隐去]" (full-width digits too); with ``addresses``, street-level address detail as well
    (for the text of a natural person's record on a public view: `scrub_address`)."""
    # to_halfwidth maps code points 1:1, so spans found in the half-width copy fit the original.
    probe = to_halfwidth(text)
    spans = [m.span() for m in ID_NUMBER_PATTERN.finditer(probe)]
    spans += [m.span() for m in PHONE_PATTERN.finditer(probe)]
    spans += bank_account_spans(probe)
    if addresses:
        spans += address_spans(probe)
    return _replace_spans(text, spans)


def scrub_address(text: str) -> str:
    """Replace street-level address detail by "[已隐去]"; the county, district and town stay."""
    return _replace_spans(text, address_spans(to_halfwidth(text)))


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """One "[已隐去]" per run of overlapping spans."""
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:  # overlaps the span just replaced
            if end > pos:
                pos = end
            continue
        out.append(text[pos:start])
        out.append(_SCRUBBED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _as_text(raw: object) -> str:
    return "" if raw is None else str(raw)


def _is_valid(parser: Callable[[str], object], raw: str) -> bool:
    try:
        parser(raw)
    except FieldError:
        return False
    return True
