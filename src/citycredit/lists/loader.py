"""Load list types, measures and matters (lists/data/*.yaml), cross-checked with the catalog."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, replace
from dataclasses import fields as dc_fields
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.model import Catalog, DisplayNameRule
from citycredit.catalog.yaml_node import CatalogError, Node, read_yaml
from citycredit.lists.matching import describe_rule
from citycredit.lists.model import (
    BasisKind,
    CatalogLink,
    Conduct,
    EligibilityRule,
    ExitCode,
    ExitRule,
    Grade,
    LegalBasis,
    ListCatalog,
    ListKind,
    ListLevel,
    ListType,
    Matter,
    MatterScope,
    Measure,
    MeasureGroup,
    MeasureKind,
    NoticeRule,
    Origin,
    Period,
    Trigger,
)

__all__ = ["DEFAULT_DIRECTORY", "CatalogError", "default_lists", "load_lists"]

DEFAULT_DIRECTORY = Path(__file__).with_name("data")
LIST_TYPES_FILE, MEASURES_FILE, MATTERS_FILE = "list_types.yaml", "measures.yaml", "matters.yaml"
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# 国办发〔2020〕49号（六）（七）: a list needs a law, an administrative regulation or a central
# policy document; a departmental rule only as a stop-gap for nationwide lists; a local-only
# list needs a local regulation. Judicial interpretations and normative documents never suffice.
_ABOVE_RULES = frozenset({BasisKind.law, BasisKind.regulation, BasisKind.central_policy})
_SETS_UP_LIST = {
    ListLevel.national: _ABOVE_RULES | {BasisKind.department_rule},
    ListLevel.local: _ABOVE_RULES | {BasisKind.local_regulation},
}
# 49号: measures restricting rights must directly cite law, regulation or central policy
# (court measures rest on the Civil Procedure Law and the Supreme Court's interpretations).
_RESTRICTS_RIGHTS = _ABOVE_RULES | {BasisKind.local_regulation, BasisKind.judicial_interpretation}
_STRICTNESS = {rule: rank for rank, rule in enumerate(DisplayNameRule)}  # full < masked < hidden
_INCENTIVE_GRADES = frozenset({Grade.A, Grade.B})
_PUNISHMENT_GRADES = frozenset({Grade.C, Grade.D})
_WITHOUT_GRADE = {"eligible": True, "not_eligible": False}
# YAML keys follow the model's field names (derived or loader-filled fields excluded).
_LIST_TYPE_KEYS = tuple(f.name for f in dc_fields(ListType) if f.name != "uncertain")
_MEASURE_KEYS = tuple(
    f.name for f in dc_fields(Measure) if f.name not in ("matter_scope", "list_basis", "uncertain")
)
# matters.yaml `checked_by: any_department` (also the name of the Matter field it sets).
ANY_DEPARTMENT = "any_department"
_MATTER_KEYS = tuple(
    f.name for f in dc_fields(Matter) if f.name not in ("uncertain", ANY_DEPARTMENT)
)
_RULE_KEYS = tuple(  # excluded_list_types → list_types, excluded_list_kinds → list_kinds
    f.name.removeprefix("excluded_")
    for f in dc_fields(EligibilityRule)
    if f.name not in ("excluded_list_names", "text", "uncertain")
)
E = TypeVar("E", bound=StrEnum)


def _code(node: Node, seen: Container[str]) -> str:
    """A unique lower-case code."""
    code: str = node.text("code")
    if not _CODE_RE.match(code):
        node.fail("code", f"编码 {code!r} 应为小写字母、数字和下划线")
    if code in seen:
        node.fail("code", f"编码 {code} 重复")
    return code


def _bases(node: Node) -> tuple[LegalBasis, ...]:
    """`legal_basis`: list of {title, kind, article?, uncertain?}."""
    out = []
    for item in node.nodes("legal_basis"):
        item.only("title", "kind", "article")
        kind = item.choice("kind", BasisKind)
        out.append(LegalBasis(item.text("title"), kind, item.text("article", None), item.uncertain))
    if not out:
        node.fail("legal_basis", "至少需要一项法律或政策依据（title, kind）")
    return tuple(out)


def _department(node: Node, key: str, value: str, departments: frozenset[str]) -> str:
    if value not in departments:
        node.fail(key, f"{value} 不在目录的信源单位列表中（catalog.yaml departments）")
    return value


def _count(node: Node, key: str) -> int:
    """A required positive integer (months, working days)."""
    value: int = node.get(key, int)
    if value <= 0:
        node.fail(key, "应为正整数")
    return value


def _months(node: Node, key: str) -> int | None:
    """An optional positive number of months."""
    return _count(node, key) if node.has(key) else None


def _period(node: Node) -> Period | None:
    """`period`: {default_months, max_months, min_months?, basis} or absent (no fixed period)."""
    if not node.has("period"):
        return None
    p = node.node("period")
    p.only("default_months", "max_months", "min_months", "basis")
    default, high = _count(p, "default_months"), _count(p, "max_months")
    low = _months(p, "min_months")
    if not (low or 1) <= default <= high:
        p.fail("default_months", "应满足 min_months ≤ default_months ≤ max_months")
    return Period(default, high, low, p.text("basis"), p.uncertain)


def _notice(node: Node, origin: Origin) -> NoticeRule | None:
    """Local decisions need prior notice (49号（八））; external lists must not define one."""
    if origin is Origin.external:
        if node.has("notice"):
            node.fail("notice", "外部认定的名单不在本平台告知，不应定义 notice")
        return None
    if not node.has("notice"):
        node.fail("notice", "本地认定的名单须定义告知程序（列入前告知事由、依据和权利）")
    n = node.node("notice")
    n.only("objection_working_days", "basis")
    return NoticeRule(_count(n, "objection_working_days"), n.text("basis"), n.uncertain)


def _exits(node: Node, period: Period | None) -> tuple[ExitRule, ...]:
    """Exits: unique codes; `period_end` exactly when the list has a period."""
    out: list[ExitRule] = []
    for e in node.nodes("exits"):
        e.only("code", "min_months", "basis")
        code = e.choice("code", ExitCode)
        if any(x.code is code for x in out):
            e.fail("code", f"移出方式 {code} 重复")
        low = _months(e, "min_months")
        if low is not None and period is not None and low > period.max_months:
            e.fail("min_months", "最短期限不能超过列入期限上限")
        out.append(ExitRule(code, e.text("basis"), low, e.uncertain))
    has_end = any(x.code is ExitCode.period_end for x in out)
    if has_end != (period is not None):
        node.fail("exits", "设有期限的名单须（且只有它须）包含 period_end（期满自动移出）")
    return tuple(out)


def _link(node: Node, kind: ListKind, rule: DisplayNameRule, catalog: Catalog) -> CatalogLink:
    """The catalog item of external memberships; 名单类型 values must be its enum values."""
    link = node.node("catalog_item")
    link.only("item", "values")
    code = link.text("item")
    if code not in catalog.items:
        link.fail("item", f"目录中没有信息项 {code}")
    item = catalog.items[code]
    if item.positive != (kind is ListKind.red_list):
        link.fail("item", f"信息项 {code} 的守信/失信属性与名单种类 {kind} 不符")
    if _STRICTNESS[rule] < _STRICTNESS[item.display_name_rule]:
        node.fail("display_name_rule", f"不得比信息项 {code} 的 {item.display_name_rule} 更宽松")
    values = link.texts("values")
    field = item.field_by_role("list_type")
    if field is None and values:
        link.fail("values", f"信息项 {code} 没有名单类型字段，不应列出取值")
    if field is not None and not values:
        link.fail("values", f"须列出 {field.code} 中对应本名单的取值")
    for value in values:
        if field is not None and value not in field.enum:
            link.fail(
                "values", f"{value} 不是 {field.code} 的取值（可用：{'、'.join(field.enum)}）"
            )
    return CatalogLink(code, values)


def _list_type(node: Node, departments: frozenset[str], catalog: Catalog, code: str) -> ListType:
    """One list type; the legal basis must be able to set up a list at its level."""
    node.only(*_LIST_TYPE_KEYS)
    kind, level = node.choice("kind", ListKind), node.choice("level", ListLevel)
    origin = node.choice("origin", Origin)
    bases = _bases(node)
    if not any(b.kind in _SETS_UP_LIST[level] for b in bases):
        allowed = "、".join(sorted(_SETS_UP_LIST[level]))
        node.fail(
            "legal_basis", f"无设列依据：{level} 名单须有 {allowed} 类依据（国办发〔2020〕49号）"
        )
    conduct = _enums(node, "conduct", Conduct)
    if kind is ListKind.serious_dishonesty and not conduct:
        node.fail("conduct", "严重失信主体名单须注明所属严重失信行为范围（49号（六））")
    depts = tuple(
        _department(node, "departments", d, departments) for d in node.texts("departments")
    )
    period = _period(node)
    rule = node.choice("display_name_rule", DisplayNameRule)
    exits = _exits(node, period)
    return ListType(
        code=code,
        name=node.text("name"),
        kind=kind,
        origin=origin,
        level=level,
        legal_basis=bases,
        authority=node.text("authority"),
        departments=depts,
        criteria=node.text("criteria"),
        conduct=conduct,
        period=period,
        notice=_notice(node, origin),
        exits=exits,
        catalog_item=_link(node, kind, rule, catalog),
        display_name_rule=rule,
        source_removal_exit=_source_removal_exit(node, origin, exits),
        uncertain=tuple(node.marks),
    )


def _source_removal_exit(
    node: Node, origin: Origin, exits: tuple[ExitRule, ...]
) -> ExitCode | None:
    """`source_removal_exit`: how a removal date sent by the source is recorded (one of the
    list's exits; external lists only). Absent: period_end."""
    if not node.has("source_removal_exit"):
        return None
    code = node.choice("source_removal_exit", ExitCode)
    if origin is Origin.local:
        node.fail("source_removal_exit", "本地认定的名单没有来源机关的移出日期")
    if not any(e.code is code for e in exits):
        node.fail("source_removal_exit", f"{code} 不是本名单的移出方式（exits）")
    return code


def _complete(root: Node, list_types: dict[str, ListType], catalog: Catalog) -> None:
    """Every 名单类型 value of a linked item maps to exactly one list type."""
    claimed: dict[tuple[str, str | None], str] = {}
    for lt in list_types.values():
        for value in lt.catalog_item.values or (None,):
            key = (lt.catalog_item.item, value)
            if key in claimed:
                root.fail(f"list_types[{lt.code}].catalog_item", f"{key} 已由 {claimed[key]} 认领")
            claimed[key] = lt.code
    for item_code in {k[0] for k in claimed}:
        field = catalog.items[item_code].field_by_role("list_type")
        for value in field.enum if field is not None else ():
            if (item_code, value) not in claimed:
                root.fail("list_types", f"{item_code} 的名单类型 {value} 未对应任何名单类型")


def _list_refs(
    node: Node, list_types: dict[str, ListType]
) -> tuple[tuple[str, ...], tuple[ListKind, ...]]:
    """`list_types` and `list_kinds` of a trigger or rule; kinds expand to list-type codes."""
    codes = node.texts("list_types")
    for code in codes:
        if code not in list_types:
            node.fail("list_types", f"未知名单类型 {code}（可用：{', '.join(list_types)}）")
    kinds = _enums(node, "list_kinds", ListKind)
    expanded = [c for c in list_types if c in codes or list_types[c].kind in kinds]
    return tuple(expanded), kinds


def _enums(node: Node, key: str, cls: type[E]) -> tuple[E, ...]:
    """A list of enum values (by value), each checked."""
    out: list[E] = []
    for raw in node.texts(key):
        found = next((m for m in cls if m.value == raw), None)
        if found is None:
            node.fail(key, f"无效取值 {raw!r}（可用：{', '.join(m.value for m in cls)}）")
        out.append(found)
    return tuple(out)


@dataclass(frozen=True)
class _Exclusions:
    """What keeps every incentive from applying (measures.yaml `incentive_exclusions`)."""

    list_types: tuple[str, ...]
    grades: tuple[Grade, ...]


def _exclusions(root: Node, lts: dict[str, ListType]) -> _Exclusions:
    """`incentive_exclusions: {list_kinds, list_types, grades, basis}`; absent: every punitive
    list (all kinds but red lists) and the punishment grades C/D (国发〔2016〕33号)."""
    if not root.has("incentive_exclusions"):
        punitive = tuple(c for c, lt in lts.items() if lt.kind is not ListKind.red_list)
        return _Exclusions(punitive, tuple(sorted(_PUNISHMENT_GRADES)))
    node = root.node("incentive_exclusions")
    node.only("list_types", "list_kinds", "grades", "basis")
    codes, _ = _list_refs(node, lts)
    for code in codes:
        if lts[code].kind is ListKind.red_list:
            node.fail("list_types", f"守信激励名单 {code} 不能排除激励措施")
    grades = _enums(node, "grades", Grade)
    if not set(grades) <= _PUNISHMENT_GRADES:
        node.fail("grades", "只有 C/D 级可以排除激励措施")
    return _Exclusions(codes, grades)


def _trigger(
    node: Node,
    kind: MeasureKind,
    group: MeasureGroup,
    lts: dict[str, ListType],
    exclusions: _Exclusions,
) -> Trigger:
    """What triggers a measure; incentives only red lists and A/B, punishments the others."""
    t = node.node("trigger")
    t.only("list_types", "list_kinds", "grades")
    codes, kinds = _list_refs(t, lts)
    grades = _enums(t, "grades", Grade)
    if not codes and not grades:
        t.fail("list_types", "须至少由一个名单或一个信用等级触发")
    incentive = kind is MeasureKind.incentive
    for code in codes:
        if (lts[code].kind is ListKind.red_list) != incentive:
            t.fail("list_types", f"{kind} 措施不能由名单 {code}（{lts[code].kind}）触发")
    if not set(grades) <= (_INCENTIVE_GRADES if incentive else _PUNISHMENT_GRADES):
        t.fail("grades", "激励措施只能由 A/B 级触发，惩戒措施只能由 C/D 级触发")
    if group is MeasureGroup.rights_restriction and not codes:
        # 49号: rights are restricted for specific dishonest conduct (a list), never for a grade.
        t.fail("list_types", "依法限制权利的措施须以具体名单（失信行为）为前提")
    # 国发〔2016〕33号 / rules.md §10: no incentive while a punishment applies (a punitive
    # list or grade), so a check never returns both (incentive_exclusions).
    if not incentive:
        return Trigger(codes, kinds, grades)
    return Trigger(codes, kinds, grades, exclusions.list_types, exclusions.grades)


def _scope(node: Node, matters: dict[str, Matter]) -> tuple[MatterScope, tuple[str, ...]]:
    """`matters`: `all`, `none` or a non-empty list of matter codes."""
    raw = node.data.get("matters")
    if raw in ("all", "none"):
        return MatterScope(raw), ()
    codes = node.texts("matters", required=True)
    for code in codes:
        if code not in matters:
            node.fail("matters", f"未知事项 {code}（可用：all、none、{'、'.join(matters)}）")
    return MatterScope.listed, codes


def _measure(
    node: Node,
    lts: dict[str, ListType],
    matters: dict[str, Matter],
    depts: frozenset[str],
    code: str,
    exclusions: _Exclusions,
) -> Measure:
    """One measure; punishments link to the legal basis of the lists that trigger them."""
    node.only(*_MEASURE_KEYS)
    kind, group = node.choice("kind", MeasureKind), node.choice("group", MeasureGroup)
    if group is MeasureGroup.rights_restriction and kind is MeasureKind.incentive:
        node.fail("group", "激励措施不能属于依法限制权利的措施组")
    bases = _bases(node)
    if group is MeasureGroup.rights_restriction and not any(
        b.kind in _RESTRICTS_RIGHTS for b in bases
    ):
        node.fail(
            "legal_basis", "限制权利的措施须直接援引法律、法规、司法解释或中央政策文件（49号）"
        )
    trigger = _trigger(node, kind, group, lts, exclusions)
    scope, codes = _scope(node, matters)
    link = tuple((c, b) for c in trigger.list_types for b in lts[c].legal_basis)
    return Measure(
        code=code,
        name=node.text("name"),
        kind=kind,
        group=group,
        legal_basis=bases,
        department=_department(node, "department", node.text("department"), depts),
        trigger=trigger,
        matter_scope=scope,
        matters=codes,
        implementer=node.get("implementer", str, ""),
        list_basis=link if kind is MeasureKind.punishment else (),
        uncertain=tuple(node.marks),
    )


def _rule(node: Node, lts: dict[str, ListType]) -> EligibilityRule:
    """`fast_approval`: grades, explicit outcome without a grade, excluded lists, pending items."""
    r = node.node("fast_approval")
    r.only(*_RULE_KEYS)
    grades = _enums(r, "grades", Grade)
    if not grades:
        r.fail("grades", "须列出符合条件的信用等级")
    outcome = r.text("without_grade")
    if outcome not in _WITHOUT_GRADE:
        r.fail("without_grade", "须明确写 eligible 或 not_eligible（尚无评价结果时的处理）")
    codes, kinds = _list_refs(r, lts)
    rule = EligibilityRule(
        grades=grades,
        without_grade=_WITHOUT_GRADE[outcome],
        excluded_list_types=codes,
        excluded_list_names=tuple(lts[c].name for c in codes),
        excluded_list_kinds=kinds,
        no_pending_objection=r.get("no_pending_objection", bool, True),
        no_pending_repair=r.get("no_pending_repair", bool, False),
        breach_exclusion_months=_months(r, "breach_exclusion_months"),
        basis=r.text("basis"),
        uncertain=r.uncertain,
    )
    return replace(rule, text=describe_rule(rule))


def _checked_by(node: Node, department: str, depts: frozenset[str]) -> tuple[tuple[str, ...], bool]:
    """`checked_by`: absent (the matter's own department only), `any_department`, or a list of
    source departments that includes the matter's own department."""
    raw = node.data.get("checked_by")
    if raw is None:
        return (department,), False
    if raw == ANY_DEPARTMENT:
        return (), True
    if not isinstance(raw, list) or not raw:
        node.fail(
            "checked_by",
            f"无效取值 {raw!r}（应为 {ANY_DEPARTMENT}，或信源单位名称的非空列表；"
            "省略则只有本事项的部门可以核查）",
        )
    names: list[str] = []
    for i, value in enumerate(raw):
        key = f"checked_by[{i}]"
        if not isinstance(value, str) or not value.strip():
            node.fail(key, f"应为信源单位名称，实际为 {value!r}")
        if value in names:
            node.fail(key, f"部门 {value} 重复")
        names.append(_department(node, key, value, depts))
    if department not in names:
        node.fail(
            "checked_by",
            f"应包含本事项的部门 {department}"
            "（本事项的部门总可以核查；只有本部门时省略 checked_by）",
        )
    return tuple(names), False


def _matter(node: Node, lts: dict[str, ListType], depts: frozenset[str], code: str) -> Matter:
    """One matter of the 事项清单."""
    node.only(*_MATTER_KEYS)
    department = _department(node, "department", node.text("department"), depts)
    checked_by, any_department = _checked_by(node, department, depts)
    return Matter(
        code=code,
        name=node.text("name"),
        department=department,
        checked_by=checked_by,
        any_department=any_department,
        notify_commit=node.get("notify_commit", bool),
        tolerant_acceptance=node.get("tolerant_acceptance", bool),
        fast_approval=_rule(node, lts),
        basis=node.get("basis", str, ""),
        uncertain=tuple(node.marks),
    )


def _root(
    folder: Path, file: str, key: str, version: str | None, *extra: str
) -> tuple[Node, str, list[Node]]:
    """A data file {version, <key>: [...], *extra}; all files carry the same version."""
    root = Node(read_yaml(folder / file), file, "", [])
    root.only("version", key, *extra)
    found: str = root.text("version")
    if version is not None and found != version:
        root.fail("version", f"应与 {LIST_TYPES_FILE} 的版本 {version} 一致")
    # Each entry collects its own `uncertain: true` paths.
    return root, found, [Node(n.data, n.file, n.path, []) for n in root.nodes(key)]


def load_lists(directory: Path | None = None, catalog: Catalog | None = None) -> ListCatalog:
    """Load and cross-check list types, matters and measures (default: the package's data/)."""
    folder = Path(directory) if directory is not None else DEFAULT_DIRECTORY
    catalog = catalog if catalog is not None else default_catalog()
    depts = frozenset(d.name for d in catalog.departments)
    root, version, nodes = _root(folder, LIST_TYPES_FILE, "list_types", None)
    list_types: dict[str, ListType] = {}
    for node in nodes:
        code = _code(node, list_types)
        list_types[code] = _list_type(node, depts, catalog, code)
    _complete(root, list_types, catalog)
    matters: dict[str, Matter] = {}
    for node in _root(folder, MATTERS_FILE, "matters", version)[2]:
        code = _code(node, matters)
        matters[code] = _matter(node, list_types, depts, code)
    measures: dict[str, Measure] = {}
    m_root, _, m_nodes = _root(folder, MEASURES_FILE, "measures", version, "incentive_exclusions")
    exclusions = _exclusions(m_root, list_types)
    for node in m_nodes:
        code = _code(node, measures)
        measures[code] = _measure(node, list_types, matters, depts, code, exclusions)
    return ListCatalog(version, list_types, tuple(measures.values()), matters)


@lru_cache(maxsize=1)
def default_lists() -> ListCatalog:
    """The package's lists, measures and matters, loaded once per process."""
    return load_lists()
