"""Catalog model (公共信用信息目录): items, fields, openness, periods, departments — pure data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from citycredit.shared.errors import FieldError, NotFound
from citycredit.shared.text import to_halfwidth

# Canonical separator between the values of a multi-valued enum (e.g. 处罚类别 "警告；罚款").
MULTI_SEPARATOR = "；"

# Roles a field may play; the intake finds subject identifiers and decision data by these names.
SUBJECT_ROLES = ("subject_name", "subject_category", "uscc", "id_number", "id_type", "legal_rep")
MATCHING_ROLES = ("registration_no", "org_code", "address", "division_code")
DECISION_ROLES = ("decision_date", "decision_no", "authority", "authority_code", "status")
RECORD_ROLES = ("source_department", "source_department_code", "list_type", "removal_date")
DETAIL_ROLES = ("valid_from", "valid_until", "amount", "remark", "industry", "professions")
# The department's own publication end (CF_GSJZQ): shown for reference only; the platform
# computes the publication period by severity (Order No. 36) and shows that as 公示截止.
DECLARED_ROLES = ("declared_publication_end",)
KNOWN_ROLES: frozenset[str] = frozenset(
    SUBJECT_ROLES + MATCHING_ROLES + DECISION_ROLES + RECORD_ROLES + DETAIL_ROLES + DECLARED_ROLES
)


def header_key(text: str) -> str:
    """Comparison key for headers and enum values: half-width, no spaces or '*', case-folded."""
    folded = to_halfwidth(text).translate({0x2A: None, 0x3A: None})
    return "".join(folded.split()).casefold()


class FieldType(StrEnum):
    """How a raw value is parsed (see catalog.values)."""

    text = "text"
    integer = "integer"
    decimal = "decimal"
    date = "date"
    datetime = "datetime"
    enum = "enum"
    uscc = "uscc"
    id_number = "id_number"
    registration_no = "registration_no"
    org_code = "org_code"
    year_month = "year_month"
    tags = "tags"


class Openness(StrEnum):
    """Who may see an item (公开 / 授权查询 / 仅政务共享)."""

    public = "public"
    authorised = "authorised"
    government_only = "government_only"

    @property
    def label(self) -> str:
        return _OPENNESS_LABELS[self]


_OPENNESS_LABELS = {
    Openness.public: "公开",
    Openness.authorised: "授权查询",
    Openness.government_only: "仅政务共享",
}


class Severity(StrEnum):
    """Dishonesty class under NDRC Order No. 36 (轻微 / 一般 / 严重)."""

    minor = "minor"
    general = "general"
    serious = "serious"

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[self]


_SEVERITY_LABELS = {Severity.minor: "轻微", Severity.general: "一般", Severity.serious: "严重"}


class DisplayNameRule(StrEnum):
    """How a natural person's name appears on public views (rules.md §13.4)."""

    full = "full"
    surname_masked = "surname_masked"  # 张* / 张**
    hidden = "hidden"


class PublicationKind(StrEnum):
    """How the publication end of a record is computed."""

    severity = "severity"  # decision date + Order No. 36 period of the severity class
    until_field = "until_field"  # until a date field (移出日期, 有效期至); open while absent
    always = "always"  # open-ended (retention still applies)
    fixed = "fixed"  # decision date + fixed_months


class ConditionOp(StrEnum):
    """Operators of the declarative conditions used by required_if, openness and classifiers."""

    in_ = "in"  # value (or any value of a multi-valued enum / tags) is one of `values`
    not_in = "not_in"  # value present and none of its values is in `values`
    present = "present"
    absent = "absent"
    contains_any = "contains_any"  # text contains any of `values` as a substring
    subset_of = "subset_of"  # every value of a multi-valued enum is in `values`
    gte = "gte"  # number/amount >= `amount` (money in 元)
    lte = "lte"  # number/amount <= `amount`


@dataclass(frozen=True)
class Condition:
    """One test on one or more fields; with several fields, any field matching suffices."""

    fields: tuple[str, ...]
    op: ConditionOp
    values: tuple[str, ...] = ()
    amount: Decimal | None = None


def is_blank(value: object) -> bool:
    """True for None, empty strings and empty tuples (a field with no value)."""
    return value is None or (isinstance(value, str | tuple) and len(value) == 0)


def _tokens(value: object) -> tuple[str, ...]:
    """The single values of a cell: tags tuples and multi-valued enums split, others as str."""
    if isinstance(value, tuple):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        return tuple(v for v in value.split(MULTI_SEPARATOR) if v)
    return (str(value),)


def _holds_one(cond: Condition, value: object) -> bool:
    """Evaluate a condition against one field's parsed value."""
    op = cond.op
    if op is ConditionOp.absent:
        return is_blank(value)
    if is_blank(value):
        return False
    if op is ConditionOp.present:
        return True
    if op in (ConditionOp.gte, ConditionOp.lte):
        if not isinstance(value, int | Decimal) or isinstance(value, bool) or cond.amount is None:
            return False
        return value >= cond.amount if op is ConditionOp.gte else value <= cond.amount
    if op is ConditionOp.contains_any:
        text = MULTI_SEPARATOR.join(_tokens(value))
        return any(needle in text for needle in cond.values)
    tokens = _tokens(value)
    if op is ConditionOp.in_:
        return any(t in cond.values for t in tokens)
    if op is ConditionOp.not_in:
        return not any(t in cond.values for t in tokens)
    return all(t in cond.values for t in tokens)  # subset_of


def holds(cond: Condition, values: Mapping[str, object]) -> bool:
    """True if the condition holds for any of its fields (``absent``: for all of them)."""
    if cond.op is ConditionOp.absent:
        return all(_holds_one(cond, values.get(code)) for code in cond.fields)
    return any(_holds_one(cond, values.get(code)) for code in cond.fields)


@dataclass(frozen=True)
class FieldSpec:
    """One column of an item: national code, label, type and how it may be shown."""

    code: str
    label: str
    type: FieldType
    required: bool = False
    unit: str | None = None  # unit of the incoming value; money is always parsed to 元
    aliases: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    enum_aliases: tuple[tuple[str, str], ...] = ()  # (alias, canonical value)
    multiple: bool = False  # enum/tags: several values in one cell
    max_length: int | None = None
    personal: bool = False  # never in any public response
    public: bool = True  # shown on the public view
    public_if: Condition | None = None  # shown publicly only when this holds
    role: str | None = None
    required_if: Condition | None = None
    not_future: bool = False
    allow_masked: bool = False  # id_number: keep publisher-masked values (3423011964****3224)
    # date fields this one may not precede (有效期至 not before 有效期自 and the decision date);
    # checked by catalog.values.check_order when both have a value
    not_before: tuple[str, ...] = ()
    description: str | None = None

    def is_public(self, values: Mapping[str, object]) -> bool:
        """True if this field may appear on the public view of a record with these values."""
        if self.personal or not self.public:
            return False
        return self.public_if is None or holds(self.public_if, values)

    def canonical_enum(self, raw: str) -> str | None:
        """Return the canonical enum value for a raw token (exact, normalised or alias)."""
        key = header_key(raw)
        for value in self.enum:
            if header_key(value) == key:
                return value
        for alias, value in self.enum_aliases:
            if header_key(alias) == key:
                return value
        return None


@dataclass(frozen=True)
class LegalBasis:
    """A legal or policy document an item rests on."""

    title: str
    article: str | None = None
    uncertain: bool = False

    def __str__(self) -> str:
        return f"{self.title}{self.article or ''}"


@dataclass(frozen=True)
class Obligation:
    """What a source department must submit, and by when."""

    department: str
    frequency: str  # "event" | "monthly" | "quarterly" | "yearly"
    due_working_days: int | None  # event: working days after the decision date
    due_day: int | None  # periodic: n-th day (1-based) of the following period
    basis: str
    uncertain: bool = False


@dataclass(frozen=True)
class PublicationRule:
    """How long a record is published."""

    kind: PublicationKind
    end_field: str | None = None
    end_inclusive: bool = False  # end_field is a last valid day (有效期至): end = day + 1
    fixed_months: int | None = None
    basis: str = ""
    uncertain: bool = False


@dataclass(frozen=True)
class PeriodRange:
    """Minimum (repair possible) and maximum (publication stops) months."""

    min_months: int
    max_months: int


@dataclass(frozen=True)
class SeverityPeriods:
    """Publication periods per severity class (NDRC Order No. 36 / 国办发〔2025〕22号)."""

    minor: PeriodRange
    general: PeriodRange
    serious: PeriodRange
    minor_published: bool
    basis: str
    uncertain: bool = False

    @property
    def minor_max_months(self) -> int:
        return self.minor.max_months

    def for_severity(self, severity: Severity) -> PeriodRange:
        """Return the period range of one class."""
        return {
            Severity.minor: self.minor,
            Severity.general: self.general,
            Severity.serious: self.serious,
        }[severity]


@dataclass(frozen=True)
class ClassifierRule:
    """All conditions hold → this severity."""

    id: str
    when: tuple[Condition, ...]
    severity: Severity
    basis: str = ""
    uncertain: bool = False


@dataclass(frozen=True)
class Classifier:
    """Versioned severity classifier: first matching rule wins, else the default."""

    version: str
    rules: tuple[ClassifierRule, ...]
    default: Severity


@dataclass(frozen=True)
class OpennessOverride:
    """A different openness for records matching a condition (e.g. 纳税信用 A 级 → 公开)."""

    when: Condition
    openness: Openness


@dataclass(frozen=True)
class CatalogItem:
    """One information item of the catalog."""

    code: str
    name: str
    category: str
    version: str
    legal_basis: tuple[LegalBasis, ...]
    fields: tuple[FieldSpec, ...]
    key_fields: tuple[str, ...]
    decision_date_field: str | None
    openness: Openness
    display_name_rule: DisplayNameRule
    retention_years: int
    adverse: bool
    positive: bool
    publication: PublicationRule
    severity_periods: SeverityPeriods | None = None
    classifier: Classifier | None = None
    severity_field: str | None = None
    obligations: tuple[Obligation, ...] = ()
    key_fallbacks: tuple[tuple[str, str], ...] = ()  # (key field, field used when it is empty)
    openness_overrides: tuple[OpennessOverride, ...] = ()
    adverse_when: Condition | None = None  # record-level adverse flag for neutral items
    positive_when: Condition | None = None  # record-level positive flag (e.g. 纳税信用 A 级)
    uncertain: tuple[str, ...] = ()  # YAML key paths marked `uncertain: true`
    description: str = ""
    _headers: Mapping[str, str] = dc_field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # by code, and the first field of each role: looked up per field of every record shown
    _by_code: Mapping[str, FieldSpec] = dc_field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _by_role: Mapping[str, FieldSpec] = dc_field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_code: dict[str, FieldSpec] = {}
        by_role: dict[str, FieldSpec] = {}
        for spec in self.fields:
            by_code.setdefault(spec.code, spec)
            if spec.role is not None:
                by_role.setdefault(spec.role, spec)
        object.__setattr__(self, "_by_code", by_code)
        object.__setattr__(self, "_by_role", by_role)
        headers: dict[str, str] = {}
        for spec in self.fields:
            for name in (spec.code, spec.label, *spec.aliases):
                headers.setdefault(header_key(name), spec.code)
        object.__setattr__(self, "_headers", headers)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(spec.code for spec in self.fields)

    def field(self, code: str) -> FieldSpec:
        """Return the field with this national code (KeyError if unknown)."""
        spec = self._by_code.get(code)
        if spec is None:
            raise KeyError(f"{self.code}: 没有字段 {code}")
        return spec

    def field_by_role(self, role: str) -> FieldSpec | None:
        """Return the (first) field playing this role, if any."""
        return self._by_role.get(role)

    def resolve_header(self, header: str) -> str | None:
        """Map a column header (code, label or alias; any case/width/spacing) to a field code."""
        return self._headers.get(header_key(header))

    def openness_for(self, values: Mapping[str, object]) -> Openness:
        """Openness of one record: the first matching override, else the item's openness."""
        for override in self.openness_overrides:
            if holds(override.when, values):
                return override.openness
        return self.openness

    def is_adverse(self, values: Mapping[str, object]) -> bool:
        """True if this record is dishonesty information (item-level or by `adverse_when`)."""
        if self.adverse:
            return True
        return self.adverse_when is not None and holds(self.adverse_when, values)

    def is_positive(self, values: Mapping[str, object]) -> bool:
        """True if this record is positive information (item-level or by `positive_when`)."""
        if self.positive:
            return True
        return self.positive_when is not None and holds(self.positive_when, values)

    def is_public_field(self, code: str, values: Mapping[str, object]) -> bool:
        """True if the field may appear on the public view of this record."""
        return self.field(code).is_public(values)

    def supplied_by(self, department: str) -> bool:
        """True if the department has an obligation for this item."""
        return any(o.department == department for o in self.obligations)

    def key_of(self, values: Mapping[str, object]) -> tuple[object, ...]:
        """Key values (the resolved subject comes on top), applying the key fallbacks."""
        fallbacks = dict(self.key_fallbacks)
        out: list[object] = []
        for code in self.key_fields:
            value = values.get(code)
            if value is None and code in fallbacks:
                value = values.get(fallbacks[code])
            out.append(value)
        return tuple(out)


# Kinds of source department (catalog.yaml `departments`, table `departments.kind`).
DEPARTMENT_KINDS = ("government", "court", "public_institution", "utility", "credit_office")
# The kinds that are part of government (政务部门): only they receive 仅政务共享 records.
GOVERNMENT_DEPARTMENT_KINDS = frozenset(
    {"government", "court", "public_institution", "credit_office"}
)
# Values written before the kinds were checked (the CLI's old default, subject types).
_DEPARTMENT_KIND_ALIASES = {
    "department": "government",
    "government_body": "government",
    "enterprise": "utility",
}


def department_kind(value: str) -> str:
    """The canonical department kind of a value; FieldError naming `kind` otherwise."""
    v = (value or "").strip().lower()
    v = _DEPARTMENT_KIND_ALIASES.get(v, v)
    if v not in DEPARTMENT_KINDS:
        raise FieldError("kind", value, "invalid", f"部门类别只能是 {'、'.join(DEPARTMENT_KINDS)}")
    return v


@dataclass(frozen=True)
class Department:
    """A source department (信源单位) and the items it supplies."""

    name: str
    kind: str
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """The whole catalog at one version."""

    version: str
    edition: str
    effective: date
    items: Mapping[str, CatalogItem]
    departments: tuple[Department, ...]

    def __hash__(self) -> int:
        return hash(self.version)

    def item(self, code: str) -> CatalogItem:
        """Return an item by code; NotFound lists the valid codes."""
        try:
            return self.items[code]
        except KeyError:
            valid = "、".join(self.items)
            raise NotFound(f"目录中没有信息项 '{code}'，可用的信息项：{valid}") from None

    def department(self, name: str) -> Department:
        """Return a department by its exact name."""
        for dept in self.departments:
            if dept.name == name:
                return dept
        raise NotFound(f"目录中没有信源单位 '{name}'")
