"""The eight models load, cover the plan's subject types, and broken model files are refused."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from citycredit.evaluation.loader import DEFAULT_DIRECTORY
from citycredit.evaluation.model import (
    GRADES,
    FusionMode,
    Measure,
    ModelError,
    ModelSet,
    Source,
    load_models,
    version_key,
)
from citycredit.shared.errors import NotFound

PLAN_TYPES = {
    "government_body": "政府机关",
    "public_institution": "事业单位",
    "enterprise": "企业",
    "individual_business": "个体工商户",
    "social_group": "社会团体",
    "private_non_enterprise": "民办非企业单位",
    "farmer_cooperative": "农民专业合作社",
    "farm_household": "农户",
}


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return load_models()


def test_one_current_model_per_plan_subject_type(models: ModelSet) -> None:
    # 2026.2 (from 2026-12-01) of the models with licences_in_force counts only 有效 licences.
    licences = {
        m.code for m in models if m.version == "2026.2" and m.effective == date(2026, 12, 1)
    }
    assert licences == {
        "enterprise",
        "individual_business",
        "public_institution",
        "private_non_enterprise",
        "farmer_cooperative",
    }
    # Then (from 2027-01-01) every model's commitments_kept_3y leaves out 信用修复型 commitments:
    # 2026.3 after the licence version, 2026.2 where there was none.
    assert {code: models.versions(code) for code in PLAN_TYPES} == {
        code: ["2026.1", "2026.2", "2026.3"] if code in licences else ["2026.1", "2026.2"]
        for code in PLAN_TYPES
    }
    for subject_type in PLAN_TYPES:
        model = models.current_for(subject_type, date(2026, 11, 30))
        assert model is not None, subject_type
        assert model.code == subject_type and model.version == "2026.1"
        new = models.current_for(subject_type, date(2026, 12, 1))
        assert new is not None
        assert new.version == ("2026.2" if subject_type in licences else "2026.1")
        if subject_type in licences:  # the only change: 有效 licences
            old = models.get(subject_type, "2026.1")
            assert new.effective == date(2026, 12, 1) and old.effective == date(2026, 4, 1)
            assert new.indicator("licences_in_force").values == ("有效",)
            assert old.indicator("licences_in_force").values == ()
            assert (
                dataclasses.replace(
                    new,
                    version=old.version,
                    effective=old.effective,
                    file=old.file,
                    indicators=tuple(
                        dataclasses.replace(i, values=()) if i.code == "licences_in_force" else i
                        for i in new.indicators
                    ),
                )
                == old
            )
        before = models.current_for(subject_type, date(2026, 12, 31))
        repair = models.current_for(subject_type, date(2027, 1, 1))
        assert before == new and repair is not None
        assert repair.version == ("2026.3" if subject_type in licences else "2026.2")
        # The only change: kept commitments of every type but 信用修复型 (breaches still count).
        assert repair.effective == date(2027, 1, 1)
        kept = repair.indicator("commitments_kept_3y")
        assert kept.categories == ("审批替代型", "主动公示型", "行业自律型")
        assert "信用修复型" not in kept.categories and "不含信用修复承诺" in kept.reason
        assert before.indicator("commitments_kept_3y").categories == ()
        assert repair.indicator("commitments_broken_3y").categories == ()
        was = before.indicator("commitments_kept_3y")
        assert (
            dataclasses.replace(
                repair,
                version=before.version,
                effective=before.effective,
                file=before.file,
                indicators=tuple(
                    dataclasses.replace(i, categories=(), reason=was.reason, basis=was.basis)
                    if i.code == "commitments_kept_3y"
                    else i
                    for i in repair.indicators
                ),
            )
            == before
        )
    assert models.current_for("natural_person") is None  # later, with the citizen score
    assert models.current_for("other_organisation") is None
    assert set(models.subject_types()) == set(PLAN_TYPES)


def test_every_indicator_is_complete(models: ModelSet) -> None:
    for model in models.current():
        assert [g.grade for g in model.grades] == list(GRADES)
        assert model.min_score <= model.base <= model.max_score
        dims = {d.code for d in model.dimensions}
        for ind in model.indicators:
            assert ind.dimension in dims and ind.basis and ind.reason and ind.name, ind.code
            if ind.source is Source.records:
                assert ind.items
            if ind.measure is Measure.worst:
                assert ind.scale and ind.points.by_value
        codes = [i.code for i in model.indicators]
        assert len(codes) == len(set(codes))
        # The two hard rules are in every model.
        rules = {(r.indicator, r.grade) for r in model.hard_rules}
        assert ("serious_listing", "D") in rules and ("penalty_serious_in_force", "C") in rules


def test_industry_fusion_modes(models: ModelSet) -> None:
    enterprise = models.current_for("enterprise")
    assert enterprise.fusion is not None
    modes = {r.industry: r.mode for r in enterprise.fusion.rules}
    assert modes["安全生产"] is FusionMode.override
    assert modes["交通运输"] is FusionMode.indicator
    assert modes["工程建设"] is FusionMode.reference  # the default for unlisted industries
    generated = enterprise.indicator("industry_transport")
    assert generated.categories == ("交通运输",) and generated.in_force
    assert generated.scale == ("A", "B", "C", "D")
    # every industry of the catalog item has exactly one rule
    from citycredit.catalog.loader import default_catalog

    enum = default_catalog().item("industry_evaluation").field("HY_HY").enum
    assert tuple(r.industry for r in enterprise.fusion.rules) == enum


def test_versions_get_and_current(models: ModelSet, tmp_path: Path) -> None:
    assert version_key("2026.10") > version_key("2026.9")
    folder = tmp_path / "models"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    text = (folder / "enterprise.2026.1.yaml").read_text(encoding="utf-8")
    new = text.replace('version: "2026.1"', 'version: "2026.2"').replace(
        "points: {per: -80, max_count: 3}", "points: {per: -90, max_count: 3}"
    )
    (folder / "enterprise.2026.2.yaml").write_text(new, encoding="utf-8")
    retired = text.replace('version: "2026.1"', 'version: "2026.3"').replace(
        "effective: 2026-04-01", "effective: 2026-04-01\nstatus: retired"
    )
    (folder / "enterprise.2026.3.yaml").write_text(retired, encoding="utf-8")
    ms = load_models(folder)
    assert ms.versions("enterprise") == ["2026.1", "2026.2", "2026.3"]
    current = ms.current_for("enterprise")
    assert current is not None and current.version == "2026.2"  # 2026.3 is retired
    assert current.indicator("penalty_serious_in_force").points.per == -90
    assert ms.get("enterprise", "2026.1").indicator("penalty_serious_in_force").points.per == -80
    with pytest.raises(NotFound, match=re.escape("2026.1、2026.2、2026.3")):
        ms.get("enterprise", "2027.1")


def _broken(tmp_path: Path, old: str, new: str, file: str = "enterprise.2026.1.yaml") -> Path:
    folder = tmp_path / "models"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("    window_days: 1095\n", "    window_day: 1095\n", "window_day", "未知的键"),
        ("items: [penalty]", "items: [penalties]", "items", "目录中没有信息项"),
        ("values: [未履约]", "values: [违约了]", "values", "不是信息项 commitment 的取值"),
        ("severities: [serious]", "severities: [严重]", "severities", "minor/general/serious"),
        ("dimension: compliance", "dimension: legality", "dimension", "未知维度"),
        ("points: {per: -80, max_count: 3}", "points: {per: -8.5}", "per", "类型应为 int"),
        ("reason: 成立已满 {value} 年", "reason: 成立已满 {years} 年", "reason", "{value}"),
        ("{grade: B, label: 良, min: 600}", "{grade: B, label: 良, min: 750}", "grades", "递减"),
        ("    indicator: serious_listing\n", "    indicator: blacklist\n", "indicator", "未知指标"),
        ("list_types: [judgment_defaulter]", "list_types: [court_list]", "list_types", "未知名单"),
        ("      mode: override", "      mode: replace", "mode", "无效取值"),
        ('version: "2026.1"', 'version: "2026.2"', "code", "文件名应为 enterprise.2026.2.yaml"),
    ],
)
def test_broken_models_are_refused_naming_file_and_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    with pytest.raises(ModelError) as info:
        load_models(_broken(tmp_path, old, new))
    err = info.value
    assert err.file == "enterprise.2026.1.yaml"
    assert key in err.key and problem in err.problem, str(err)
    assert str(err).startswith("评价模型文件 enterprise.2026.1.yaml 的键 ")


# The newest version, and an older one (back-dated runs still evaluate with it).
@pytest.mark.parametrize("file", ["social_group.2026.2.yaml", "social_group.2026.1.yaml"])
def test_overlapping_subject_types_are_refused(tmp_path: Path, file: str) -> None:
    folder = _broken(tmp_path, "subject_types: [social_group]", "subject_types: [enterprise]", file)
    with pytest.raises(ModelError, match="enterprise 已由模型"):
        load_models(folder)


def test_models_are_frozen(models: ModelSet) -> None:
    model = models.current_for("enterprise")
    assert model is not None
    with pytest.raises(AttributeError):
        model.base = 900  # type: ignore[misc]
