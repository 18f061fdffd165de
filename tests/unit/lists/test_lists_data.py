"""The shipped list types, measures and matters load, and the loader rejects broken data."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from citycredit.catalog.loader import default_catalog
from citycredit.lists import (
    DEFAULT_DIRECTORY,
    BasisKind,
    ListCatalog,
    ListKind,
    MatterScope,
    MeasureGroup,
    MeasureKind,
    Origin,
    default_lists,
    load_lists,
)
from citycredit.lists.loader import CatalogError
from citycredit.shared.errors import NotFound

Data = dict[str, Any]


@pytest.fixture(scope="module")
def lists() -> ListCatalog:
    return default_lists()


def test_required_list_types(lists: ListCatalog) -> None:
    expected = {
        "judgment_defaulter": (ListKind.serious_dishonesty, Origin.external),
        "market_supervision_serious": (ListKind.serious_dishonesty, Origin.both),
        "major_tax_violation": (ListKind.serious_dishonesty, Origin.external),
        "wage_arrears": (ListKind.serious_dishonesty, Origin.both),
        "work_safety_serious": (ListKind.serious_dishonesty, Origin.both),
        "government_procurement": (ListKind.serious_dishonesty, Origin.external),
        "red_list": (ListKind.red_list, Origin.both),
    }
    for code, (kind, origin) in expected.items():
        lt = lists.list_type(code)
        assert (lt.kind, lt.origin) == (kind, origin), code
    assert "人社部令第45号" in str(lists.list_type("wage_arrears").legal_basis[0]).replace(
        "人力资源社会保障部令", "人社部令"
    )
    assert "总局令第44号" in lists.list_type("market_supervision_serious").legal_basis[0].title


def test_every_list_has_a_basis_that_can_set_it_up(lists: ListCatalog) -> None:
    strong = {BasisKind.law, BasisKind.regulation, BasisKind.central_policy}
    for lt in lists.list_types.values():
        kinds = {b.kind for b in lt.legal_basis}
        assert kinds & (strong | {BasisKind.department_rule}), lt.code
        if lt.kind is ListKind.serious_dishonesty:
            assert lt.conduct, lt.code


def test_notice_only_for_lists_decided_here(lists: ListCatalog) -> None:
    for lt in lists.list_types.values():
        if lt.origin is Origin.external:
            assert lt.notice is None, lt.code
        else:
            assert lt.notice is not None and lt.notice.uncertain, lt.code


def test_uncertain_facts_are_flagged(lists: ListCatalog) -> None:
    for code in ("judgment_defaulter", "market_supervision_serious", "wage_arrears"):
        lt = lists.list_type(code)
        assert lt.period is not None and lt.period.uncertain
        assert f"list_types[{code}].period" in lt.uncertain
    assert lists.list_type("judgment_defaulter").period.max_months == 60  # type: ignore[union-attr]
    assert lists.matter("coal_mine_safety_licence").uncertain


def test_external_memberships_map_to_list_types(lists: ListCatalog) -> None:
    catalog = default_catalog()
    for item_code in ("serious_dishonesty", "red_list"):
        field = catalog.item(item_code).field_by_role("list_type")
        assert field is not None
        for value in field.enum:
            lt = lists.for_external(item_code, value)
            assert lt.catalog_item.item == item_code and value in lt.catalog_item.values
    assert lists.for_external("serious_dishonesty", "重大税收违法失信主体").code == (
        "major_tax_violation"
    )
    assert lists.for_external("judgment_defaulter").code == "judgment_defaulter"
    assert lists.for_external("red_list", "A级纳税人").code == "red_list"
    with pytest.raises(NotFound):
        lists.for_external("serious_dishonesty", "不存在的名单")
    with pytest.raises(NotFound):
        lists.list_type("nope")
    with pytest.raises(NotFound):
        lists.matter("nope")
    with pytest.raises(NotFound):
        lists.measure("nope")


def test_departments_come_from_the_catalog(lists: ListCatalog) -> None:
    names = {d.name for d in default_catalog().departments}
    for lt in lists.list_types.values():
        assert set(lt.departments) <= names
    assert {m.department for m in lists.measures} <= names
    assert {m.department for m in lists.matters.values()} <= names


def test_measures_cover_both_kinds_and_groups(lists: ListCatalog) -> None:
    assert len(lists.measures) >= 12
    assert {m.kind for m in lists.measures} == set(MeasureKind)
    assert {m.group for m in lists.measures} == set(MeasureGroup)
    high = lists.measure("restrict_high_consumption")
    assert high.trigger.list_types == ("judgment_defaulter",)
    assert high.matter_scope is MatterScope.none
    assert "限制被执行人高消费" in high.legal_basis[0].title


def test_punishments_link_to_the_list_basis(lists: ListCatalog) -> None:
    for measure in lists.measures:
        expected = tuple(
            (code, basis)
            for code in measure.trigger.list_types
            for basis in lists.list_type(code).legal_basis
        )
        if measure.kind is MeasureKind.punishment:
            assert measure.list_basis == expected, measure.code
        else:
            assert measure.list_basis == ()
    ban = lists.measure("procurement_ban")
    assert [code for code, _ in ban.list_basis] == ["government_procurement"] * 2


def test_list_kinds_expand_and_incentives_stop_on_punitive_lists(lists: ListCatalog) -> None:
    serious = {c for c, lt in lists.list_types.items() if lt.kind is ListKind.serious_dishonesty}
    punitive = {c for c, lt in lists.list_types.items() if lt.kind is not ListKind.red_list}
    assert "abnormal_operation" in punitive - serious
    assert set(lists.measure("no_notify_commit").trigger.list_types) == serious
    assert set(lists.measure("green_channel").trigger.unless_list_types) == punitive
    assert set(lists.measure("green_channel").trigger.unless_grades) == {"C", "D"}
    assert lists.measure("key_supervision").trigger.unless_list_types == ()
    assert lists.measure("key_supervision").trigger.unless_grades == ()


def test_matters_and_rules(lists: ListCatalog) -> None:
    assert len(lists.matters) >= 10
    food = lists.matter("food_business_licence")
    assert food.department == "榆林市市场监督管理局"
    assert food.notify_commit and food.tolerant_acceptance
    assert food.fast_approval.without_grade is True
    assert "失信被执行人" in food.fast_approval.text
    coal = lists.matter("coal_mine_safety_licence")
    assert coal.fast_approval.without_grade is False and coal.fast_approval.no_pending_repair


# ---- loader rejections -----------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    return folder


def _entry(data: Data, key: str, code: str) -> Data:
    entry: Data = next(e for e in data[key] if e["code"] == code)
    return entry


def _lt(code: str, change: Callable[[Data], None]) -> tuple[str, Callable[[Data], None]]:
    return "list_types.yaml", lambda d: change(_entry(d, "list_types", code))


def _ms(code: str, change: Callable[[Data], None]) -> tuple[str, Callable[[Data], None]]:
    return "measures.yaml", lambda d: change(_entry(d, "measures", code))


def _mt(code: str, change: Callable[[Data], None]) -> tuple[str, Callable[[Data], None]]:
    return "matters.yaml", lambda d: change(_entry(d, "matters", code))


def _set(key: str, value: object) -> Callable[[Data], None]:
    return lambda e: e.__setitem__(key, value)


def _trigger(**values: object) -> Callable[[Data], None]:
    return lambda e: e.__setitem__("trigger", values)


def _rule(key: str, value: object) -> Callable[[Data], None]:
    return lambda e: e["fast_approval"].__setitem__(key, value)


def _drop_rule(key: str) -> Callable[[Data], None]:
    return lambda e: e["fast_approval"].pop(key)


NORMATIVE = [{"title": "某部门通知", "kind": "normative"}]
DEPT_RULE = [{"title": "某部门规章", "kind": "department_rule"}]
LOCAL_REG = [{"title": "陕西省某条例", "kind": "local_regulation"}]

REJECTIONS: dict[str, tuple[str, Callable[[Data], None], str]] = {
    "no legal basis": (*_lt("wage_arrears", _set("legal_basis", [])), "legal_basis"),
    "only a normative document": (
        *_lt("wage_arrears", _set("legal_basis", NORMATIVE)),
        "无设列依据",
    ),
    "department rule for a local list": (
        *_lt("wage_arrears", lambda e: e.update(level="local", legal_basis=DEPT_RULE)),
        "无设列依据",
    ),
    "local regulation for a national list": (
        *_lt("wage_arrears", _set("legal_basis", LOCAL_REG)),
        "无设列依据",
    ),
    "serious list without conduct scope": (*_lt("wage_arrears", _set("conduct", [])), "conduct"),
    "local list without notice": (*_lt("wage_arrears", lambda e: e.pop("notice")), "notice"),
    "external list with notice": (
        *_lt("judgment_defaulter", _set("notice", {"objection_working_days": 5, "basis": "x"})),
        "notice",
    ),
    "list department not in catalog": (
        *_lt("wage_arrears", _set("departments", ["榆林市不存在局"])),
        "信源单位",
    ),
    "catalog value not in enum": (
        *_lt("wage_arrears", _set("catalog_item", {"item": "serious_dishonesty", "values": ["X"]})),
        "不是 YZ_MDLX 的取值",
    ),
    "unclaimed YZ_MDLX value": (
        "list_types.yaml",
        lambda d: d.update(
            list_types=[e for e in d["list_types"] if e["code"] != "overload_transport"]
        ),
        "未对应任何名单类型",
    ),
    "value claimed twice": (
        *_lt(
            "major_tax_violation",
            _set(
                "catalog_item",
                {"item": "serious_dishonesty", "values": ["拖欠农民工工资失信联合惩戒对象"]},
            ),
        ),
        "已由",
    ),
    "unknown catalog item": (
        *_lt("wage_arrears", _set("catalog_item", {"item": "nope"})),
        "没有信息项",
    ),
    "red list on an adverse item": (*_lt("wage_arrears", _set("kind", "red_list")), "守信/失信"),
    "other list on a positive item": (*_lt("red_list", _set("kind", "other")), "守信/失信"),
    "display looser than catalog": (
        *_lt("abnormal_operation", _set("display_name_rule", "full")),
        "更宽松",
    ),
    "period without period_end exit": (
        *_lt(
            "wage_arrears",
            lambda e: e.update(exits=[x for x in e["exits"] if x["code"] != "period_end"]),
        ),
        "period_end",
    ),
    "default beyond maximum": (
        *_lt(
            "wage_arrears", _set("period", {"default_months": 48, "max_months": 36, "basis": "x"})
        ),
        "default_months",
    ),
    "duplicate list code": (
        "list_types.yaml",
        lambda d: d["list_types"].append(dict(d["list_types"][0])),
        "重复",
    ),
    "unknown key": (*_lt("wage_arrears", _set("periode", 3)), "未知的键"),
    "unknown list in a measure trigger": (
        *_ms("procurement_ban", _trigger(list_types=["nope"])),
        "未知名单类型",
    ),
    "unknown matter in a measure": (*_ms("procurement_ban", _set("matters", ["nope"])), "未知事项"),
    "measure department not in catalog": (
        *_ms("procurement_ban", _set("department", "某局")),
        "信源单位",
    ),
    "incentive triggered by a serious list": (
        *_ms("green_channel", _trigger(list_types=["judgment_defaulter"])),
        "触发",
    ),
    "punishment triggered by grade A": (*_ms("key_supervision", _trigger(grades=["A"])), "C/D"),
    "rights restriction by grade only": (
        *_ms("procurement_ban", _trigger(grades=["D"])),
        "具体名单",
    ),
    "rights restriction on a normative document": (
        *_ms("procurement_ban", _set("legal_basis", NORMATIVE)),
        "直接援引",
    ),
    "measure without trigger": (*_ms("procurement_ban", _trigger()), "至少由一个"),
    "unknown grade": (*_ms("key_supervision", _trigger(grades=["E"])), "无效取值"),
    "unknown list kind": (*_ms("no_honours", _trigger(list_kinds=["black"])), "无效取值"),
    "matter department not in catalog": (
        *_mt("food_business_licence", _set("department", "榆林市住房和城乡建设局")),
        "信源单位",
    ),
    "rule without without_grade": (
        *_mt("food_business_licence", _drop_rule("without_grade")),
        "without_grade",
    ),
    "rule with a vague without_grade": (
        *_mt("food_business_licence", _rule("without_grade", "maybe")),
        "eligible",
    ),
    "rule without grades": (*_mt("food_business_licence", _rule("grades", [])), "grades"),
    "rule with unknown list": (
        *_mt("food_business_licence", _rule("list_types", ["nope"])),
        "未知名单类型",
    ),
    "version mismatch": ("matters.yaml", lambda d: d.update(version="2099.1"), "版本"),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_loader_rejects(data_dir: Path, case: str) -> None:
    file, change, expected = REJECTIONS[case]
    path = data_dir / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_lists(data_dir)
    assert err.value.file == file
    assert expected in err.value.key + err.value.problem


def test_copied_data_loads(data_dir: Path) -> None:
    copy = load_lists(data_dir)
    assert copy.list_types.keys() == default_lists().list_types.keys()
    assert [m.code for m in copy.measures] == [m.code for m in default_lists().measures]


def test_error_names_the_entry(data_dir: Path) -> None:
    path = data_dir / "list_types.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    _entry(data, "list_types", "wage_arrears")["exits"][1]["min_months"] = 0
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CatalogError) as err:
        load_lists(data_dir)
    assert err.value.key == "list_types[wage_arrears].exits[repair].min_months"
