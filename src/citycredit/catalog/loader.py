"""Load the catalog from YAML (items/*.yaml) into the model; errors name the file and the key."""

from __future__ import annotations

import re
from dataclasses import fields as dc_fields
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from citycredit.catalog.model import (
    DEPARTMENT_KINDS,
    KNOWN_ROLES,
    Catalog,
    CatalogItem,
    Classifier,
    ClassifierRule,
    Condition,
    ConditionOp,
    Department,
    DisplayNameRule,
    FieldSpec,
    FieldType,
    LegalBasis,
    Obligation,
    Openness,
    OpennessOverride,
    PeriodRange,
    PublicationKind,
    PublicationRule,
    Severity,
    SeverityPeriods,
    header_key,
)
from citycredit.catalog.yaml_node import CatalogError, Node, read_yaml

__all__ = ["DEFAULT_DIRECTORY", "CatalogError", "default_catalog", "load_catalog"]

DEFAULT_DIRECTORY = Path(__file__).with_name("items")
HEADER_FILE = "catalog.yaml"
FREQUENCIES = ("event", "monthly", "quarterly", "yearly")
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ITEM_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_OPS = {op.value: op for op in ConditionOp}
# Allowed YAML keys follow the model (plus `vocabulary`, and `retention` for retention_years).
_FIELD_KEYS = (*(f.name for f in dc_fields(FieldSpec)), "vocabulary")
_ITEM_KEYS = (*(f.name for f in dc_fields(CatalogItem) if f.init), "retention")
_ITEM_KEYS = tuple(k for k in _ITEM_KEYS if k not in ("retention_years", "uncertain"))
_SEVERITY_BY_NAME = {s.label: s for s in Severity} | {s.value: s for s in Severity}
_OPENNESS_BY_LABEL = {o.label: o for o in Openness} | {"政务共享": Openness.government_only}
_HEADER_KEYS: tuple[str, ...] = ("catalog_version", "edition", "effective", "basis", "items")
_HEADER_KEYS += ("departments", "vocabularies")
_NUMERIC = (FieldType.integer, FieldType.decimal)
Specs = dict[str, FieldSpec]


def _condition(node: Node, specs: Specs) -> Condition:
    """`{field: X, <op>: …}`; fields must exist, enum values must be canonical."""
    node.only("field", *_OPS)
    codes = node.texts("field", required=True)
    ops = [name for name in node.data if name in _OPS]
    if len(ops) != 1:
        node.fail("field", f"条件须且只能有一个运算符（{', '.join(_OPS)}）")
    op = _OPS[ops[0]]
    values: tuple[str, ...] = ()
    amount: Decimal | None = None
    for code in codes:
        if code not in specs:
            node.fail("field", f"未知字段 {code}")
    if op in (ConditionOp.present, ConditionOp.absent) and node.data[op.value] is not True:
        node.fail(op.value, "应为 true")
    elif op in (ConditionOp.gte, ConditionOp.lte):
        try:
            amount = Decimal(str(node.get(op.value, (int, float, str))))
        except InvalidOperation:
            node.fail(op.value, "应为数字（金额以元计）")
        if any(specs[c].type not in _NUMERIC for c in codes):
            node.fail(op.value, "只能用于整数或数值字段")
    elif op not in (ConditionOp.present, ConditionOp.absent):
        values = node.texts(op.value, required=True)
        for code in codes if op is not ConditionOp.contains_any else ():
            bad = [v for v in values if specs[code].enum and v not in specs[code].enum]
            if bad:
                node.fail(op.value, f"{bad[0]!r} 不是字段 {code} 的枚举值")
    return Condition(fields=codes, op=op, values=values, amount=amount)


def _enum(node: Node, ftype: FieldType, vocabularies: dict[str, Node]) -> tuple[Any, Any]:
    """The field's enum values and (alias, value) pairs, from `enum` and/or `vocabulary`."""
    enum, aliases = node.texts("enum"), node.pairs("enum_aliases")
    if node.has("vocabulary"):
        name = node.text("vocabulary")
        if name not in vocabularies:
            node.fail("vocabulary", f"未定义的值列表 {name!r}（见 {HEADER_FILE} vocabularies）")
        enum += vocabularies[name].texts("values", required=True)
        aliases += vocabularies[name].pairs("aliases")
    if len(set(enum)) != len(enum):
        node.fail("enum", "枚举值重复")
    if ftype is FieldType.enum and not enum:
        node.fail("enum", "枚举字段须列出取值（enum 或 vocabulary）")
    if enum and ftype not in (FieldType.enum, FieldType.tags):
        node.fail("enum", "只有 enum 或 tags 字段可以列出取值")
    for alias, target in aliases:
        if target not in enum:
            node.fail(f"enum_aliases.{alias}", f"目标 {target!r} 不在枚举值中")
    return enum, aliases


def _field(node: Node, vocabularies: dict[str, Node]) -> FieldSpec:
    """One field spec (conditions are attached later, once every field is known)."""
    node.only(*_FIELD_KEYS)
    code = node.text("code")
    if not _CODE_RE.match(code):
        node.fail("code", f"字段代码 {code!r} 应为大写字母、数字和下划线")
    ftype = node.choice("type", FieldType)
    enum, enum_aliases = _enum(node, ftype, vocabularies)
    personal = node.get("personal", bool, False)
    public = node.get("public", bool, not personal)
    if personal and public:
        node.fail("public", "个人敏感字段（personal）不能公开")
    role = node.get("role", str, None)
    if role is not None and role not in KNOWN_ROLES:
        node.fail("role", f"未知角色 {role!r}（可用：{', '.join(sorted(KNOWN_ROLES))}）")
    flags = {k: node.get(k, bool, False) for k in ("required", "multiple", "not_future")}
    spec = FieldSpec(
        code=code,
        label=node.text("label"),
        type=ftype,
        unit=node.get("unit", str, None),
        aliases=node.texts("aliases"),
        enum=enum,
        enum_aliases=enum_aliases,
        max_length=node.get("max_length", int, None),
        personal=personal,
        public=public,
        role=role,
        allow_masked=node.get("allow_masked", bool, False),
        not_before=node.texts("not_before"),
        description=node.get("description", str, None),
        **flags,
    )
    for key, used, types in (
        ("unit", spec.unit is not None, _NUMERIC),
        ("multiple", spec.multiple, (FieldType.enum,)),
        ("not_future", spec.not_future, (FieldType.date, FieldType.datetime)),
        ("not_before", bool(spec.not_before), (FieldType.date,)),
        ("allow_masked", spec.allow_masked, (FieldType.id_number,)),
    ):
        if used and ftype not in types:
            node.fail(key, f"不适用于 {ftype.value} 类型的字段")
    if spec.max_length is not None and spec.max_length <= 0:
        node.fail("max_length", "应为正整数")
    return spec


def _fields(item: Node, vocabularies: dict[str, Node]) -> tuple[FieldSpec, ...]:
    """All fields; codes, headers (code/label/alias after normalising) and roles are unique."""
    nodes = item.nodes("fields")
    if not nodes:
        item.fail("fields", "至少需要一个字段")
    specs: Specs = {}
    owners: dict[str, str] = {}
    roles: dict[str, str] = {}
    for node in nodes:
        spec = _field(node, vocabularies)
        if spec.code in specs:
            node.fail("code", f"字段代码 {spec.code} 重复")
        for name in (spec.code, spec.label, *spec.aliases):
            other = owners.setdefault(header_key(name), spec.code)
            if other != spec.code:
                node.fail("aliases", f"表头 {name!r} 同时指向 {other} 和 {spec.code}")
        if spec.role and roles.setdefault(spec.role, spec.code) != spec.code:
            node.fail("role", f"角色 {spec.role} 已由 {roles[spec.role]} 承担")
        specs[spec.code] = spec
    for node in nodes:
        spec = specs[node.data["code"]]
        required_if = (
            _condition(node.node("required_if"), specs) if node.has("required_if") else None
        )
        public_if = _condition(node.node("public_if"), specs) if node.has("public_if") else None
        specs[spec.code] = replace(spec, required_if=required_if, public_if=public_if)
        for other in spec.not_before:
            if other not in specs or other == spec.code or specs[other].type is not FieldType.date:
                node.fail("not_before", f"{other} 应为本信息项中另一个日期（date）字段")
    return tuple(specs.values())


def _field_ref(node: Node, name: str, specs: Specs, *types: FieldType) -> Any:
    """An optional reference to a field of one of ``types``."""
    code = node.get(name, str, None)
    if code is not None and code not in specs:
        node.fail(name, f"未知字段 {code}")
    if code is not None and types and specs[code].type not in types:
        node.fail(name, f"字段 {code} 的类型应为 {'/'.join(t.value for t in types)}")
    return code


def _obligations(item: Node, departments: set[str]) -> tuple[Obligation, ...]:
    """Obligations; one entry may list several departments with the same terms."""
    out: list[Obligation] = []
    for node in item.nodes("obligations"):
        node.only("department", "departments", "frequency", "due_working_days", "due_day", "basis")
        names = node.texts("departments") + node.texts("department")
        if not names:
            node.fail("departments", "缺少信源单位")
        frequency = node.text("frequency")
        if frequency not in FREQUENCIES:
            node.fail("frequency", f"无效取值 {frequency!r}（可用：{', '.join(FREQUENCIES)}）")
        days, day = node.get("due_working_days", int, None), node.get("due_day", int, None)
        if frequency == "event" and (days is None or days <= 0 or day is not None):
            node.fail("due_working_days", "事件类报送须填正整数 due_working_days，且不填 due_day")
        if frequency != "event" and (day is None or not 1 <= day <= 366 or days is not None):
            node.fail("due_day", "周期报送须填 due_day（下一周期的第几日，1–366）")
        for name in names:
            if name not in departments:
                node.fail("departments", f"信源单位 {name!r} 未在 {HEADER_FILE} 中登记")
            basis = node.text("basis")
            out.append(Obligation(name, frequency, days, day, basis, node.uncertain))
    return tuple(out)


def _periods(node: Node) -> SeverityPeriods:
    """Order No. 36 periods: min/max months per class, whether 轻微 is published."""
    node.only("basis", "minor", "general", "serious")
    ranges: dict[str, PeriodRange] = {}
    for name in ("minor", "general", "serious"):
        sub = node.node(name)
        sub.only("min_months", "max_months", *(["published"] if name == "minor" else []))
        low, high = sub.get("min_months", int), sub.get("max_months", int)
        if not 0 <= low <= high:
            sub.fail("max_months", "应满足 0 ≤ min_months ≤ max_months")
        ranges[name] = PeriodRange(low, high)
    published = node.node("minor").get("published", bool)
    basis = node.text("basis")
    return SeverityPeriods(
        **ranges, minor_published=published, basis=basis, uncertain=node.uncertain
    )


def _classifier(node: Node, specs: Specs) -> Classifier:
    """Versioned rules: `when` is one condition or a list (all must hold)."""
    node.only("version", "default", "rules")
    rules: list[ClassifierRule] = []
    for rule in node.nodes("rules"):
        rule.only("id", "severity", "when", "basis")
        raw = rule.data.get("when")
        key = rule.key("when")
        raws = raw if isinstance(raw, list) else [raw]
        whens = [Node(w, rule.file, f"{key}[{i}]", rule.marks) for i, w in enumerate(raws)]
        rule_id = rule.text("id")
        if any(r.id == rule_id for r in rules):
            rule.fail("id", f"规则编号 {rule_id} 重复")
        severity = rule.choice("severity", Severity, _SEVERITY_BY_NAME)
        conds = tuple(_condition(w, specs) for w in whens)
        basis = rule.get("basis", str, "")
        rules.append(ClassifierRule(rule_id, conds, severity, basis, rule.uncertain))
    default = node.choice("default", Severity, _SEVERITY_BY_NAME)
    return Classifier(version=node.text("version"), rules=tuple(rules), default=default)


def _publication(node: Node, specs: Specs) -> PublicationRule:
    """The publication rule; until_field needs a date end_field, fixed needs fixed_months."""
    node.only("kind", "end_field", "end_inclusive", "fixed_months", "basis")
    kind = node.choice("kind", PublicationKind)
    end_field = _field_ref(node, "end_field", specs, FieldType.date)
    months = node.get("fixed_months", int, None)
    if (kind is PublicationKind.until_field) != (end_field is not None):
        node.fail("end_field", "until_field 规则须且只有它须指定 end_field")
    if (kind is PublicationKind.fixed) != (months is not None) or (
        months is not None and months <= 0
    ):
        node.fail("fixed_months", "fixed 规则须且只有它须指定正整数 fixed_months")
    inclusive, basis = node.get("end_inclusive", bool, False), node.text("basis")
    return PublicationRule(kind, end_field, inclusive, months, basis, node.uncertain)


def _legal_basis(item: Node) -> tuple[LegalBasis, ...]:
    """Plain titles or {title, article, uncertain}."""
    out = []
    for node in item.nodes("legal_basis"):
        node.only("title", "article")
        out.append(LegalBasis(node.text("title"), node.get("article", str, None), node.uncertain))
    if not out:
        item.fail("legal_basis", "至少需要一项法律或政策依据（title, article）")
    return tuple(out)


def _keys(item: Node, specs: Specs) -> dict[str, Any]:
    """key_fields and key_fallbacks, referring to existing fields."""
    key_fields = item.texts("key_fields")
    for code in key_fields:
        if code not in specs:
            item.fail("key_fields", f"未知字段 {code}")
    fallbacks = item.pairs("key_fallbacks")
    for key, fallback in fallbacks:
        if key not in key_fields or fallback not in specs:
            item.fail(f"key_fallbacks.{key}", "键须在 key_fields 中，备用字段须存在")
    return {"key_fields": key_fields, "key_fallbacks": fallbacks}


def _rules(item: Node, specs: Specs) -> dict[str, Any]:
    """Decision date, severity field, publication, periods and classifier, checked together."""
    decision = _field_ref(item, "decision_date_field", specs, FieldType.date, FieldType.datetime)
    role_field = next((s.code for s in specs.values() if s.role == "decision_date"), None)
    if role_field is not None and role_field != decision:
        item.fail("decision_date_field", f"应与承担 decision_date 角色的字段 {role_field} 一致")
    severity_field = _field_ref(item, "severity_field", specs, FieldType.enum)
    if severity_field and any(v not in _SEVERITY_BY_NAME for v in specs[severity_field].enum):
        item.fail("severity_field", "该字段的枚举值须为 轻微/一般/严重")
    publication = _publication(item.node("publication"), specs)
    periods = _periods(item.node("severity_periods")) if item.has("severity_periods") else None
    classifier = _classifier(item.node("classifier"), specs) if item.has("classifier") else None
    if publication.kind is PublicationKind.severity and (periods is None or classifier is None):
        item.fail("publication", "severity 规则须同时定义 severity_periods 和 classifier")
    if publication.kind in (PublicationKind.severity, PublicationKind.fixed) and not decision:
        item.fail("decision_date_field", "按决定日期计算公示期的信息项须指定决定日期字段")
    return {
        "decision_date_field": decision,
        "severity_field": severity_field,
        "publication": publication,
        "severity_periods": periods,
        "classifier": classifier,
    }


def _flags(item: Node, specs: Specs) -> dict[str, Any]:
    """Adverse/positive flags, openness (with per-value overrides), retention, display rule."""
    adverse, positive = item.get("adverse", bool), item.get("positive", bool)
    if adverse and positive:
        item.fail("positive", "信息项不能同时为失信（adverse）和守信（positive）信息")
    retention = item.node("retention")
    retention.only("years", "basis")
    if retention.get("years", int) <= 0:
        retention.fail("years", "应为正整数")
    overrides = []
    for node in item.nodes("openness_overrides"):
        node.only("when", "openness")
        openness = node.choice("openness", Openness, _OPENNESS_BY_LABEL)
        overrides.append(OpennessOverride(_condition(node.node("when"), specs), openness))
    conditions = ("adverse_when", "positive_when")
    return {
        "adverse": adverse,
        "positive": positive,
        "retention_years": retention.get("years", int),
        "openness": item.choice("openness", Openness, _OPENNESS_BY_LABEL),
        "openness_overrides": tuple(overrides),
        "display_name_rule": item.choice("display_name_rule", DisplayNameRule),
        **{k: _condition(item.node(k), specs) for k in conditions if item.has(k)},
    }


def _item(item: Node, vocabularies: dict[str, Node], departments: set[str]) -> CatalogItem:
    """One items/<code>.yaml file."""
    item.only(*_ITEM_KEYS)
    fields = _fields(item, vocabularies)
    specs = {f.code: f for f in fields}
    return CatalogItem(
        **{k: item.text(k) for k in ("code", "name", "category", "version")},
        description=item.get("description", str, ""),
        legal_basis=_legal_basis(item),
        fields=fields,
        obligations=_obligations(item, departments),
        **_keys(item, specs),
        **_rules(item, specs),
        **_flags(item, specs),
        uncertain=tuple(item.marks),
    )


def _vocabularies(header: Node) -> dict[str, Node]:
    """Shared value lists of catalog.yaml (`vocabulary: <name>` in a field)."""
    if not header.has("vocabularies"):
        return {}
    root = header.node("vocabularies")
    out = {str(name): root.node(str(name)) for name in root.data}
    for vocab in out.values():
        vocab.only("description", "values", "aliases")
        vocab.texts("values", required=True)
    return out


def _departments(header: Node) -> list[tuple[str, str]]:
    """(name, kind) of every source department, unique by name."""
    out: list[tuple[str, str]] = []
    for node in header.nodes("departments"):
        node.only("name", "kind")
        name, kind = node.text("name"), node.text("kind")
        if kind not in DEPARTMENT_KINDS:
            node.fail("kind", f"无效取值 {kind!r}（可用：{', '.join(DEPARTMENT_KINDS)}）")
        if any(name == known for known, _ in out):
            node.fail("name", f"信源单位 {name} 重复")
        out.append((name, kind))
    return out


def _effective(header: Node) -> date:
    value = header.get("effective", (date, str))
    try:
        return value if isinstance(value, date) else date.fromisoformat(value)
    except ValueError:
        header.fail("effective", "应为 YYYY-MM-DD 日期")


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate the catalog in ``directory`` (default: the package's items/)."""
    folder = Path(directory) if directory is not None else DEFAULT_DIRECTORY
    header = Node(read_yaml(folder / HEADER_FILE), HEADER_FILE, "", [])
    header.only(*_HEADER_KEYS)
    vocabularies, departments = _vocabularies(header), _departments(header)
    codes = header.texts("items", required=True)
    present = {p.stem for p in folder.glob("*.yaml") if p.name != HEADER_FILE}
    for extra in sorted(present - set(codes)):
        header.fail("items", f"文件 {extra}.yaml 未列入 items")
    items: dict[str, CatalogItem] = {}
    for i, code in enumerate(codes):
        if not _ITEM_CODE_RE.match(code) or code in items or code not in present:
            header.fail(f"items[{i}]", f"信息项 {code!r} 无效、重复或缺少文件 {code}.yaml")
        file = f"{code}.yaml"
        node = Node(read_yaml(folder / file), file, "", [])
        items[code] = _item(node, vocabularies, {name for name, _ in departments})
        if items[code].code != code:
            raise CatalogError(file, "code", f"应与文件名一致（{code}），实际为 {items[code].code}")
    return Catalog(
        version=header.text("catalog_version"),
        edition=header.text("edition"),
        effective=_effective(header),
        items=items,
        departments=tuple(
            Department(name, kind, tuple(c for c, it in items.items() if it.supplied_by(name)))
            for name, kind in departments
        ),
    )


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The package's catalog, loaded once per process."""
    return load_catalog()
