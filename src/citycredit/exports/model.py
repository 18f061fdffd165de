"""双公示 outbound layout and rules — pure: national columns, cell values, what to send.

The national 双公示 field codes and their order are formats.md §1.2 (rules.md §3.2/§3.3). The
national layout has no operation or record-identity column, so the export appends clearly named
platform columns (OPERATION, RECORD_ID, RECORD_VERSION …) after the national fields and the
catalog's local extension fields; our own intake applies OPERATION=删除 rows as withdrawals
(reason: CHANGE_REASON) and notes the others as unknown columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from citycredit.catalog.model import MULTI_SEPARATOR, CatalogItem, FieldSpec, FieldType, Openness

KIND = "dual_publicity"
ITEMS = ("licence", "penalty")  # the two 双公示 items of the catalog
FORMATS = ("csv", "json")

ADD, UPDATE, DELETE = "新增", "更新", "删除"
OPERATIONS = (ADD, UPDATE, DELETE)

_TEN_THOUSAND = Decimal(10000)


@dataclass(frozen=True)
class NationalLayout:
    """One national 双公示 table: its short code (XZXK/XZCF) and its fields in national order."""

    item: str
    code: str
    name: str
    fields: tuple[str, ...]


# formats.md §1.2, in the order given there (and in the national fill-in templates).
PENALTY_LAYOUT = NationalLayout(
    item="penalty",
    code="XZCF",
    name="行政处罚",
    fields=(
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
    ),
)
LICENCE_LAYOUT = NationalLayout(
    item="licence",
    code="XZXK",
    name="行政许可",
    fields=(
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
    ),
)
LAYOUTS: dict[str, NationalLayout] = {"licence": LICENCE_LAYOUT, "penalty": PENALTY_LAYOUT}

# Platform columns after the catalog fields: (column, Chinese description for the manifest).
PLATFORM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("OPERATION", "操作类型：新增 / 更新 / 删除（国家标准无此列，本平台扩展）"),
    ("RECORD_ID", "本平台记录标识，省级平台据此去重与更新"),
    ("RECORD_VERSION", "本平台记录版本号（更正、撤销各增加一版）"),
    ("CHANGED_AT", "变更时间（ISO 8601，北京时间）"),
    ("CHANGE_REASON", "删除或更新的原因（撤销理由、公示期满、不予公示、更正）"),
    ("PUBLICATION_END", "本平台计算的公示截止日期（含当日；空表示无固定截止）"),
    (
        "DECLARED_PUBLICATION_END",
        "报送单位填写的公示截止期（行政处罚 CF_GSJZQ 原值，仅供参考；CF_GSJZQ 列为本平台实际"
        "适用的公示截止日期；行政许可无此项，为空）",
    ),
    ("USCC_FILLED", "“是”：统一社会信用代码为空，由本平台按匹配到的主体补填（报送单位未提供）"),
)
PLATFORM_CODES = tuple(code for code, _ in PLATFORM_COLUMNS)


@dataclass(frozen=True)
class Columns:
    """The columns of one item's file: national fields, local extensions, platform columns."""

    layout: NationalLayout
    national: tuple[str, ...]
    local: tuple[str, ...]
    specs: Mapping[str, FieldSpec]  # every catalog field of the item by code (fast lookups)

    @property
    def fields(self) -> tuple[str, ...]:
        return self.national + self.local

    @property
    def all(self) -> tuple[str, ...]:
        return self.fields + PLATFORM_CODES


def columns_for(item: CatalogItem) -> Columns:
    """The export columns of a 双公示 item; every national code must be in the catalog item."""
    layout = LAYOUTS[item.code]
    missing = [code for code in layout.fields if code not in item.codes]
    if missing:
        raise ValueError(f"目录信息项 {item.code} 缺少国家标准字段：{'、'.join(missing)}")
    local = tuple(code for code in item.codes if code not in layout.fields)
    return Columns(layout, layout.fields, local, {spec.code: spec for spec in item.fields})


def non_public_codes(item: CatalogItem) -> frozenset[str]:
    """Fields never shown publicly (ID numbers and ID types): exporting them is a disclosure."""
    return frozenset(spec.code for spec in item.fields if spec.personal or not spec.public)


def exported_codes(item: CatalogItem, cols: Columns, values: Mapping[str, object]) -> list[str]:
    """Fields a row carries: every national field (the province needs the ID numbers), and the
    local extensions only where they are public for this record (no home address of a person).
    """
    return [*cols.national, *(c for c in cols.local if item.is_public_field(c, values))]


# What a 删除 row carries: only what identifies the record and its subject — the province
# removes it by RECORD_ID, our own intake locates it by subject and decision number — never
# the facts of a record that is coming down.
IDENTIFYING_ROLES = frozenset(
    {
        "subject_name",
        "subject_category",
        "uscc",
        "id_type",
        "id_number",
        "registration_no",
        "org_code",
        "address",
        "division_code",
        "decision_no",
        "decision_date",
        "authority",
        "authority_code",
        "source_department",
        "source_department_code",
    }
)
# A minor's identity is not repeated, not even to take the record down (RECORD_ID and the
# decision number identify it).
PERSON_ROLES = frozenset({"subject_name", "legal_rep", "id_type", "id_number", "address"})

# Subjects that are natural persons, or whose name is a natural person's (个体工商户 and 农户
# are named after their operator): a row about one that carries its name, ID number or address
# is personal data of a natural person.
PERSON_SUBJECT_TYPES = frozenset({"natural_person", "individual_business", "farm_household"})


def carries_personal_data(entry: Mapping[str, Any]) -> bool:
    """Whether an export file (its entry in ``exports.files``) holds natural persons' data, so
    that downloading it needs an approved request (security.md G35).

    Each data file's entry records ``personal_rows``: its rows that carry a non-public field (a
    person's or a legal representative's ID number) or that are about a natural person, an
    individual business or a farm household and carry its name, ID number or address. A file
    written before that count existed is taken to hold personal data unless it is empty. The
    manifest never does (counts, columns and checksums only).
    """
    if entry.get("format") == "manifest":
        return False
    count = entry.get("personal_rows")
    if count is None:
        return bool(entry.get("rows"))
    return int(count) > 0


def delete_codes(
    item: CatalogItem, codes: list[str], hidden: frozenset[str], *, minor: bool
) -> list[str]:
    """The fields of a 删除 row: the identifying ones among ``codes`` (for a minor, without
    any personal data)."""
    keys = set(item.key_fields) | {fallback for _, fallback in item.key_fallbacks}
    roles = {spec.code: spec.role for spec in item.fields}
    out = [c for c in codes if c in keys or roles.get(c) in IDENTIFYING_ROLES]
    if minor:
        out = [c for c in out if c not in hidden and roles.get(c) not in PERSON_ROLES]
    return out


def cell_text(cols: Columns, code: str, stored: object) -> str | None:
    """A stored (JSON-safe, normalised) value as the national layout writes it.

    Money is stored in 元 and written in 万元 (the national unit: CF_NR_FK 0.2 = 2,000 元).
    """
    if stored is None or stored == "" or stored == []:
        return None
    spec = cols.specs[code]
    if spec.type is FieldType.decimal and spec.unit == "万元":
        return format((Decimal(str(stored)) / _TEN_THOUSAND).normalize(), "f")
    if isinstance(stored, list):
        return MULTI_SEPARATOR.join(str(v) for v in stored)
    return str(stored)


def json_cell(cols: Columns, code: str, stored: object) -> object:
    """The JSON value of a cell: amounts as numbers (万元), everything else as text or null."""
    text = cell_text(cols, code, stored)
    if text is not None and cols.specs[code].type is FieldType.decimal:
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(text)
    return text


def typed_values(cols: Columns, stored: Mapping[str, Any]) -> dict[str, object]:
    """Stored JSON-safe values back to the types the catalog rules test (dates, Decimals)."""
    out: dict[str, object] = {}
    for code, value in stored.items():
        spec = cols.specs.get(code)
        if spec is None or value is None:
            continue
        ftype = spec.type
        if ftype is FieldType.date:
            out[code] = date.fromisoformat(str(value)[:10])
        elif ftype is FieldType.datetime:
            out[code] = datetime.fromisoformat(str(value))
        elif ftype is FieldType.decimal:
            out[code] = Decimal(str(value))
        elif ftype is FieldType.integer:
            out[code] = int(value)
        elif ftype is FieldType.tags:
            out[code] = tuple(value) if isinstance(value, list) else (str(value),)
        else:
            out[code] = value
    return out


@dataclass(frozen=True)
class Visibility:
    """Whether a record may be on a public platform as of the export's end."""

    published: bool  # False: 轻微 (NDRC Order No. 36) or a minor's record
    unpublished_reason: str | None  # severity | minor | a withholding (ingest/withhold.py)
    openness: str
    publication_end: date | None  # exclusive
    repaired: bool = False  # 信用修复 approved by the export's end: publication stops

    def publishable(self, today: date) -> bool:
        """The public archive's rule: published, 公开, not repaired, inside its period."""
        return (
            self.published
            and not self.repaired
            and self.openness == Openness.public.value
            and (self.publication_end is None or self.publication_end > today)
        )

    def hidden_reason(self, today: date) -> str:
        """Why a record the province holds must come down (CHANGE_REASON of a 删除)."""
        if self.repaired:
            return "信用修复"
        if not self.published:
            # The same words as the authorised archive and `citycredit records` (one table,
            # ingest/withhold.py): a record unpublished without a stored reason is 轻微.
            from citycredit.ingest.withhold import unpublished_label

            return unpublished_label(self.unpublished_reason or "severity") or "不予公示"
        if self.openness != Openness.public.value:
            return "不予公开"
        return "公示期满"


@dataclass(frozen=True)
class Sent:
    """What the province last received for a record (from earlier completed exports)."""

    operation: str
    version: int

    @property
    def holds(self) -> bool:
        return self.operation != DELETE


def decide(
    *, withdrawn: bool, visible: bool, version: int, sent: Sent | None, dedupe: bool
) -> str | None:
    """The operation to send for one changed record, or None when nothing is to be sent.

    Visible → 新增 (the province does not hold it) or 更新; not visible (withdrawn, no longer
    published, publication over) → 删除 when the province holds it, else nothing. With
    ``dedupe`` (full and incremental exports: the latter re-read a late window, and explicit
    re-sends may already have sent a version) a version the province already holds is not sent
    again.
    """
    holds = sent is not None and sent.holds
    if visible and not withdrawn:
        if dedupe and holds and sent is not None and sent.version == version:
            return None
        return UPDATE if holds else ADD
    return DELETE if holds else None
