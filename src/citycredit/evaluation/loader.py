"""Read and validate evaluation model files against the catalog and the lists data.

Every mistake names the file and the key (评价模型文件 enterprise.2026.1.yaml 的键 …), and the
loader refuses what would otherwise be silently wrong: unknown keys, unknown catalog items,
values outside an item's enumeration, overlapping subject types, an indicator without a legal
or policy basis, points that are not integers.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from citycredit.catalog.loader import default_catalog
from citycredit.catalog.model import Catalog, Severity
from citycredit.catalog.yaml_node import CatalogError, Node, read_yaml
from citycredit.evaluation.facts import CATEGORY_FIELDS, VALUE_FIELDS, list_kinds
from citycredit.evaluation.model import (
    GRADE_LABELS,
    GRADES,
    Band,
    Dimension,
    EvaluationModel,
    FusionMode,
    GradeBand,
    HardRule,
    Indicator,
    IndustryFusion,
    IndustryRule,
    Measure,
    ModelError,
    ModelSet,
    Points,
    Source,
)
from citycredit.subjects.model import SubjectType

__all__ = ["DEFAULT_DIRECTORY", "read_model", "read_models"]

DEFAULT_DIRECTORY = Path(__file__).with_name("models")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_VERSION = re.compile(r"^\d{4}\.\d+$")
_MEASURES_BY_SOURCE = {
    Source.records: (Measure.count, Measure.exists, Measure.worst),
    Source.memberships: (Measure.count, Measure.exists),
    Source.subject: (Measure.years,),
}
_INDICATOR_KEYS = (
    *("code", "name", "dimension", "source", "measure", "points", "basis", "reason", "items"),
    *("severities", "values", "categories", "window_days", "in_force", "published_only"),
    *("list_kinds", "list_types", "scale", "cap"),
)
_MODEL_KEYS = (
    *("code", "version", "name", "subject_types", "effective", "status", "basis", "score"),
    *("grades", "dimensions", "indicators", "hard_rules", "industry_fusion"),
)


def read_models(directory: Path | None = None, catalog: Catalog | None = None) -> ModelSet:
    """Every `*.yaml` model of the directory; subject types may not overlap between codes."""
    folder = Path(directory) if directory is not None else DEFAULT_DIRECTORY
    catalog = catalog if catalog is not None else default_catalog()
    kinds = list_kinds()
    models = tuple(read_model(path, catalog, kinds) for path in sorted(folder.glob("*.yaml")))
    seen: dict[str, str] = {}
    for m in models:
        if m.key in seen:
            raise ModelError(m.file, "version", f"与 {seen[m.key]} 重复（{m.key}）")
        seen[m.key] = m.file
    # On every day a version takes effect (a back-dated run evaluates with the versions in force
    # then), and for the newest versions, each subject type has at most one model.
    known = ModelSet(models)
    for day in [None, *sorted({m.effective for m in models})]:
        owner: dict[str, str] = {}
        for m in known.current(day):
            for t in m.subject_types:
                if t in owner and owner[t] != m.code:
                    raise ModelError(m.file, "subject_types", f"{t} 已由模型 {owner[t]} 评价")
                owner[t] = m.code
    return ModelSet(models, folder)


def read_model(path: Path, catalog: Catalog, kinds: dict[str, str]) -> EvaluationModel:
    """One model file, validated; errors are ModelError naming file and key."""
    try:
        return _model(Node(read_yaml(path), path.name, "", []), path, catalog, kinds)
    except CatalogError as exc:
        raise ModelError(exc.file, exc.key, exc.problem) from None


def _int(node: Node, name: str, default: Any = ...) -> int:
    value = node.get(name, int) if default is ... else node.get(name, int, default)
    return int(value)


def _model(root: Node, path: Path, catalog: Catalog, kinds: dict[str, str]) -> EvaluationModel:
    root.only(*_MODEL_KEYS)
    code = root.text("code")
    version = str(root.text("version"))
    if not _CODE.match(code):
        root.fail("code", f"应为小写英文标识（a-z、0-9、_），实际为 {code!r}")
    if not _VERSION.match(version):
        root.fail("version", f'应为“年.序号”（如 "2026.1"，请加引号），实际为 {version!r}')
    if path.name != f"{code}.{version}.yaml":
        root.fail("code", f"文件名应为 {code}.{version}.yaml")
    types = root.texts("subject_types", required=True)
    valid_types = {t.value for t in SubjectType}
    for t in types:
        if t not in valid_types:
            root.fail(
                "subject_types", f"未知主体类型 {t!r}（可用：{', '.join(sorted(valid_types))}）"
            )
    effective = root.get("effective", date)
    status = root.get("status", str, "active")
    if status not in ("active", "retired"):
        root.fail("status", f"应为 active 或 retired，实际为 {status!r}")
    score = root.node("score")
    score.only("base", "min", "max")
    base, low, high = _int(score, "base"), _int(score, "min"), _int(score, "max")
    if not low <= base <= high:
        score.fail("base", f"应满足 min ≤ base ≤ max（{low} ≤ {base} ≤ {high}）")
    dims = _dimensions(root)
    indicators = [_indicator(n, dims, catalog, kinds) for n in root.nodes("indicators")]
    fusion = (
        _fusion(root.node("industry_fusion"), dims, catalog)
        if root.has("industry_fusion")
        else None
    )
    if fusion is not None:
        indicators += _fusion_indicators(fusion)
    codes = [i.code for i in indicators]
    for c in codes:
        if codes.count(c) > 1:
            root.fail("indicators", f"指标代码 {c} 重复")
    return EvaluationModel(
        code=code,
        version=version,
        name=root.text("name"),
        subject_types=types,
        effective=effective,
        retired=status == "retired",
        basis=root.texts("basis", required=True),
        base=base,
        min_score=low,
        max_score=high,
        dimensions=tuple(dims.values()),
        indicators=tuple(indicators),
        grades=_grades(root, low),
        hard_rules=tuple(_hard_rule(n, set(codes)) for n in root.nodes("hard_rules")),
        fusion=fusion,
        file=path.name,
    )


def _dimensions(root: Node) -> dict[str, Dimension]:
    dims: dict[str, Dimension] = {}
    for n in root.nodes("dimensions"):
        n.only("code", "name", "min", "max")
        code = n.text("code")
        if not _CODE.match(code) or code in dims:
            n.fail("code", f"维度代码 {code!r} 无效或重复")
        d = Dimension(code, n.text("name"), _int(n, "min"), _int(n, "max"))
        if d.min > d.max:
            n.fail("min", f"应不大于 max（{d.min} > {d.max}）")
        dims[code] = d
    if not dims:
        root.fail("dimensions", "至少需要一个维度")
    return dims


def _grades(root: Node, low: int) -> tuple[GradeBand, ...]:
    bands = []
    for n in root.nodes("grades"):
        n.only("grade", "label", "min")
        bands.append(GradeBand(n.text("grade"), n.text("label"), _int(n, "min")))
    if [b.grade for b in bands] != list(GRADES):
        root.fail("grades", f"应依次为 {'、'.join(GRADES)} 四级")
    for b in bands:
        if b.label != GRADE_LABELS[b.grade]:
            root.fail("grades", f"{b.grade} 的名称应为 {GRADE_LABELS[b.grade]}")
    mins = [b.min for b in bands]
    if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
        root.fail("grades", "各级最低分应严格递减")
    if mins[-1] > low:
        root.fail("grades", f"D 级最低分应不高于评分下限 {low}（每个分数都要有等级）")
    return tuple(bands)


def _points(node: Node, measure: Measure, scale: tuple[str, ...]) -> Points:
    p = node.node("points")
    p.only("per", "max_count", "bands", "by_value")
    given = [k for k in ("per", "bands", "by_value") if p.has(k)]
    if len(given) != 1:
        p.fail("per", "per、bands、by_value 三者必须且只能给出一个")
    if p.has("by_value"):
        if measure is not Measure.worst:
            p.fail("by_value", "仅用于 measure: worst")
        raw = p.get("by_value", dict)
        for k, v in raw.items():
            if str(k) not in scale:
                p.fail(f"by_value.{k}", f"不在 scale 中（{'、'.join(scale)}）")
            if not isinstance(v, int) or isinstance(v, bool):
                p.fail(f"by_value.{k}", "分值应为整数")
        return Points(by_value={str(k): int(v) for k, v in raw.items()})
    if measure is Measure.worst:
        p.fail("by_value", "measure: worst 须用 by_value 按等级给分")
    if p.has("per"):
        max_count = _int(p, "max_count", None) if p.has("max_count") else None
        if max_count is not None and max_count < 1:
            p.fail("max_count", "应为正整数")
        return Points(per=_int(p, "per"), max_count=max_count)
    bands = []
    for b in p.nodes("bands"):
        b.only("min", "points")
        bands.append(Band(_int(b, "min"), _int(b, "points")))
    if [b.min for b in bands] != sorted({b.min for b in bands}):
        p.fail("bands", "各档 min 应严格递增")
    return Points(bands=tuple(bands))


def _enum_of(catalog: Catalog, item: str, fields: dict[str, str] | Any) -> tuple[str, ...] | None:
    code = fields.get(item)
    if code is None:
        return None
    return catalog.item(item).field(code).enum or None


def _check_values(
    node: Node,
    key: str,
    given: tuple[str, ...],
    items: tuple[str, ...],
    catalog: Catalog,
    fields: Any,
) -> None:
    for item in items:
        if item not in fields:
            node.fail(key, f"信息项 {item} 没有可筛选的字段（见 evaluation/facts.py）")
        enum = _enum_of(catalog, item, fields)
        for v in given:
            if enum is not None and v not in enum:
                node.fail(key, f"{v!r} 不是信息项 {item} 的取值（可用：{'、'.join(enum)}）")


def _indicator(
    n: Node, dims: dict[str, Dimension], catalog: Catalog, kinds: dict[str, str]
) -> Indicator:
    n.only(*_INDICATOR_KEYS)
    code = n.text("code")
    if not _CODE.match(code):
        n.fail("code", f"应为小写英文标识，实际为 {code!r}")
    dimension = n.text("dimension")
    if dimension not in dims:
        n.fail("dimension", f"未知维度 {dimension!r}（可用：{', '.join(dims)}）")
    source = n.choice("source", Source)
    measure = n.choice("measure", Measure)
    if measure not in _MEASURES_BY_SOURCE[source]:
        allowed = ", ".join(m.value for m in _MEASURES_BY_SOURCE[source])
        n.fail("measure", f"来源 {source.value} 只能用 {allowed}")
    items = n.texts("items", required=source is Source.records)
    for item in items:
        if item not in catalog.items:
            n.fail("items", f"目录中没有信息项 {item!r}")
    severities = n.texts("severities")
    for s in severities:
        if s not in {v.value for v in Severity}:
            n.fail("severities", f"应为 minor/general/serious，实际为 {s!r}")
    values, categories = n.texts("values"), n.texts("categories")
    scale = n.texts("scale", required=measure is Measure.worst)
    if values:
        _check_values(n, "values", values, items, catalog, VALUE_FIELDS)
    if scale:
        _check_values(n, "scale", scale, items, catalog, VALUE_FIELDS)
    if categories:
        _check_values(n, "categories", categories, items, catalog, CATEGORY_FIELDS)
    window = _int(n, "window_days", None) if n.has("window_days") else None
    if window is not None and window < 1:
        n.fail("window_days", "应为正整数（天）")
    lk, lt = n.texts("list_kinds"), n.texts("list_types")
    for k in lk:
        if k not in set(kinds.values()):
            n.fail("list_kinds", f"未知名单种类 {k!r}")
    for t in lt:
        if t not in kinds:
            n.fail("list_types", f"未知名单类型 {t!r}（见 lists/data/list_types.yaml）")
    if source is Source.memberships and not (lk or lt):
        n.fail("list_kinds", "名单指标须给出 list_kinds 或 list_types")
    cap = _int(n, "cap", None) if n.has("cap") else None
    if measure is Measure.years and (cap is None or not 1 <= cap <= 100):
        n.fail("cap", "measure: years 须给出 1–100 的 cap（年）")
    reason = n.text("reason")
    try:
        reason.format(value="1", points="1")
    except (KeyError, IndexError, ValueError):
        n.fail("reason", "模板只能使用 {value} 和 {points}")
    return Indicator(
        code=code,
        name=n.text("name"),
        dimension=dimension,
        source=source,
        measure=measure,
        points=_points(n, measure, scale),
        basis=n.text("basis"),
        reason=reason,
        items=items,
        severities=severities,
        values=values,
        categories=categories,
        window_days=window,
        in_force=bool(n.get("in_force", bool, False)),
        published_only=bool(n.get("published_only", bool, False)),
        list_kinds=lk,
        list_types=lt,
        scale=scale,
        cap=cap,
        uncertain=n.uncertain,
    )


def _hard_rule(n: Node, codes: set[str]) -> HardRule:
    n.only("code", "indicator", "gte", "grade", "text", "lift", "basis")
    indicator = n.text("indicator")
    if indicator not in codes:
        n.fail("indicator", f"未知指标 {indicator!r}")
    grade = n.text("grade")
    if grade not in GRADES:
        n.fail("grade", f"应为 {'/'.join(GRADES)}")
    gte = _int(n, "gte")
    if gte < 1:
        n.fail("gte", "应为正整数")
    return HardRule(
        code=n.text("code"),
        indicator=indicator,
        gte=gte,
        grade=grade,
        text=n.text("text"),
        lift=n.text("lift"),
        basis=n.text("basis"),
        uncertain=n.uncertain,
    )


def _fusion(n: Node, dims: dict[str, Dimension], catalog: Catalog) -> IndustryFusion:
    n.only("item", "default", "basis", "industries")
    item_code = n.get("item", str, "industry_evaluation")
    if item_code not in catalog.items:
        n.fail("item", f"目录中没有信息项 {item_code!r}")
    item = catalog.item(item_code)
    industry_field = item.field_by_role("industry")
    if industry_field is None or not industry_field.enum:
        n.fail("item", f"信息项 {item_code} 没有枚举的行业字段（role: industry）")
    scale = _enum_of(catalog, item_code, VALUE_FIELDS) or ()
    default = FusionMode(n.get("default", str, FusionMode.reference.value))
    listed: dict[str, IndustryRule] = {}
    for r in n.nodes("industries"):
        r.only("industry", "mode", "code", "dimension", "points")
        industry = r.text("industry")
        if industry not in industry_field.enum or industry in listed:
            n.fail("industries", f"行业 {industry!r} 重复或不在 {item_code} 的行业取值中")
        mode = r.choice("mode", FusionMode)
        if mode is FusionMode.indicator:
            code, dim = r.text("code"), r.text("dimension")
            if not _CODE.match(code) or dim not in dims:
                r.fail("code", "引入指标变量须给出英文 code 和已有的 dimension")
            raw = r.get("points", dict)
            if set(map(str, raw)) - set(scale) or any(
                not isinstance(v, int) or isinstance(v, bool) for v in raw.values()
            ):
                r.fail("points", f"应为等级（{'、'.join(scale)}）到整数分值的映射")
            listed[industry] = IndustryRule(
                industry, mode, code, dim, {str(k): int(v) for k, v in raw.items()}
            )
        else:
            listed[industry] = IndustryRule(industry, mode)
    if default is FusionMode.indicator:
        n.fail("default", "默认方式只能是 reference 或 override")
    rules = tuple(listed.get(i) or IndustryRule(i, default) for i in industry_field.enum)
    return IndustryFusion(item_code, tuple(scale), rules, n.text("basis"))


def _fusion_indicators(fusion: IndustryFusion) -> list[Indicator]:
    """One `worst` indicator per industry fused as an indicator (引入指标变量)."""
    out = []
    for r in fusion.rules:
        if r.mode is not FusionMode.indicator:
            continue
        out.append(
            Indicator(
                code=r.code,
                name=f"行业信用评价（{r.industry}）",
                dimension=r.dimension,
                source=Source.records,
                measure=Measure.worst,
                points=Points(by_value=dict(r.points)),
                basis=fusion.basis,
                reason=f"{r.industry}行业信用评价等级为 {{value}}",
                items=(fusion.item,),
                categories=(r.industry,),
                in_force=True,
                scale=fusion.scale,
            )
        )
    return out
