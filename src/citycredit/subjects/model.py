"""Subjects (信用主体): types, profession tags and the pure rules about them."""

from __future__ import annotations

from enum import StrEnum


class SubjectType(StrEnum):
    """The subject types of the plan, plus natural persons and other USCC holders."""

    government_body = "government_body"  # 政府机关
    public_institution = "public_institution"  # 事业单位
    enterprise = "enterprise"  # 企业
    individual_business = "individual_business"  # 个体工商户
    social_group = "social_group"  # 社会团体
    private_non_enterprise = "private_non_enterprise"  # 民办非企业单位
    farmer_cooperative = "farmer_cooperative"  # 农民专业合作社
    farm_household = "farm_household"  # 农户
    natural_person = "natural_person"  # 自然人
    other_organisation = "other_organisation"  # 其他组织 (remaining USCC authorities)

    @property
    def label(self) -> str:
        return SUBJECT_TYPE_LABELS[self]

    @property
    def is_person(self) -> bool:
        """True for subjects identified by a resident ID number rather than a USCC."""
        return self in (SubjectType.natural_person, SubjectType.farm_household)


SUBJECT_TYPE_LABELS: dict[SubjectType, str] = {
    SubjectType.government_body: "政府机关",
    SubjectType.public_institution: "事业单位",
    SubjectType.enterprise: "企业",
    SubjectType.individual_business: "个体工商户",
    SubjectType.social_group: "社会团体",
    SubjectType.private_non_enterprise: "民办非企业单位",
    SubjectType.farmer_cooperative: "农民专业合作社",
    SubjectType.farm_household: "农户",
    SubjectType.natural_person: "自然人",
    SubjectType.other_organisation: "其他组织",
}

SUBJECT_TYPE_BY_LABEL: dict[str, SubjectType] = {v: k for k, v in SUBJECT_TYPE_LABELS.items()}

# 重点职业人群: profession tags carried by natural persons.
PROFESSIONS: tuple[str, ...] = (
    "法定代表人",
    "律师",
    "教师",
    "注册会计师",
    "导游",
    "医师",
    "公职人员",
    "执业药师",
    "建造师",
    "评估师",
)
