"""Makers of each subject type for the synthetic city (called by `city.build_subjects`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

from citycredit.shared.divisions import Division, towns
from citycredit.subjects.model import PROFESSIONS, SubjectType
from citycredit.synth import names as nm
from citycredit.synth.city import CityBuilder, Subject
from citycredit.synth.codes import add_years, nice_amount, phone, random_date
from citycredit.synth.departments import BY_SLUG, PROFESSION_DEPARTMENT

ST = SubjectType
_USCC_START = date(2015, 10, 1)
_SHOP_BIAS = {"catering": 4, "trade": 3, "services": 3, "transport": 2}
_COOP_BIAS = {"apple": 4, "potato": 3, "sheep": 4, "grain": 3}
_PROFESSION_WEIGHTS = (("教师", 35), ("医师", 25), ("律师", 10), ("导游", 10), ("注册会计师", 8))
_EXTRA_TAGS = tuple(p for p in PROFESSIONS if p not in PROFESSION_DEPARTMENT and p != "公职人员")
# City bureaus that would duplicate a department under another name.
_CITY_SKIP = {"教育和体育局", "卫生健康局", "发展和改革局", "人民政府办公室"}


def _cname(code: str) -> str:
    return nm.COUNTY_NAMES[code]


def _industry(rng: random.Random, bias: dict[str, int], base: int = 1) -> nm.Industry:
    inds = nm.INDUSTRIES
    weights = [i.weight * bias.get(i.key, base) for i in inds]
    return rng.choices(inds, weights=weights)[0]


def _county_for(b: CityBuilder, industry: nm.Industry, share: float = 0.7) -> str:
    if industry.counties and b.rng.random() < share:
        return b.rng.choice(industry.counties)
    return b.county()


def _label_for(name: str) -> str:
    """GB/T 4754 category of a public institution or private non-enterprise from its name."""
    for words, label in (
        (
            ("医院", "卫生", "保健", "疾病", "康复", "养老", "老年", "社会工作", "托育"),
            "卫生和社会工作",
        ),
        (("学", "幼儿园", "培训"), "教育"),
        (
            ("图书馆", "文化", "博物馆", "档案馆", "融媒体", "广播", "体育", "艺术"),
            "文化、体育和娱乐业",
        ),
    ):
        if any(w in name for w in words):
            return label
    return "公共管理、社会保障和社会组织"


def _editorial(county: str, city: bool) -> str:
    place = "榆林市" if city else _cname(county)
    return f"中共{place}委机构编制委员会办公室"


_Pool = list[tuple[str, str, str, Division | None]]


def _from_pool(
    b: CityBuilder, k: int, kind: SubjectType, pool: _Pool, founded: Callable[[], date]
) -> None:
    """Organisations named from a fixed pool of (division, county, name, town), shuffled."""
    pool = [p for p in pool if p[2] not in b.used_names]
    b.rng.shuffle(pool)
    for division, county, name, town in pool[:k]:
        city = division == "610800"
        b.used_names.add(name)
        body = "legacy" if kind is ST.government_body else "MB"
        s = b.org(
            kind,
            name,
            county,
            city_level=city,
            founded=founded(),
            registrar="bb",
            authority=_editorial(county, city),
            body=body,
            industry_label="公共管理、社会保障和社会组织"
            if kind is ST.government_body
            else _label_for(name),
            capital=None if kind is ST.government_body else nice_amount(b.rng, 10, 3000),
        )
        if town is not None:
            s.address = b.address(county, town)


def government_bodies(b: CityBuilder, k: int) -> None:
    """Bureaus of the city and counties, town governments and street offices."""
    pool: _Pool = [
        ("610800", "610802", f"榆林市{x}", None) for x in nm.GOV_BUREAUS if x not in _CITY_SKIP
    ]
    for county, cname in nm.COUNTY_NAMES.items():
        pool += [(county, county, f"{cname}{x}", None) for x in nm.GOV_BUREAUS]
        for t in towns(county):
            suffix = "办事处" if t.name.endswith("街道") else "人民政府"
            pool.append((county, county, f"{cname}{t.name}{suffix}", t))
    _from_pool(
        b,
        k,
        ST.government_body,
        pool,
        lambda: random_date(b.rng, date(1984, 1, 1), date(2019, 12, 31)),
    )


def public_institutions(b: CityBuilder, k: int) -> None:
    """Hospitals, schools, centres of the city, the counties and the towns."""
    pool: _Pool = [("610800", "610802", x, None) for x in nm.CITY_INSTITUTIONS]
    for county, cname in nm.COUNTY_NAMES.items():
        pool += [(county, county, f"{cname}{x}", None) for x in nm.COUNTY_INSTITUTIONS]
        for t in towns(county):
            pool += [(county, county, f"{cname}{t.name}{x}", t) for x in nm.TOWN_INSTITUTIONS]
    _from_pool(
        b,
        k,
        ST.public_institution,
        pool,
        lambda: random_date(b.rng, date(1950, 1, 1), b.as_of - timedelta(days=400)),
    )


def social_groups(b: CityBuilder, k: int) -> None:
    """协会, 商会 and 学会 of the city and the counties."""
    rng = b.rng
    for _ in range(k):
        county = b.county()
        cname = _cname(county)
        town = b.town(county).name

        def make(cname: str = cname, town: str = town) -> str:
            return nm.social_group_name(rng, cname if rng.random() < 0.85 else cname + town)

        name = b.unique(make)
        city = name.startswith("榆林市")
        b.org(
            ST.social_group,
            name,
            county,
            city_level=city,
            founded=b.founded(10, 35),
            registrar="mz",
            authority="榆林市民政局" if city else f"{cname}民政局",
            body="MJ",
            industry_label="公共管理、社会保障和社会组织",
            capital=nice_amount(rng, 3, 50),
        )


def private_non_enterprises(b: CityBuilder, k: int) -> None:
    """Training schools, kindergartens, old people's homes … registered by 民政."""
    rng = b.rng
    for _ in range(k):
        county = b.county()
        cname = _cname(county)
        name = b.unique(partial(nm.private_non_enterprise_name, rng, cname))
        b.org(
            ST.private_non_enterprise,
            name,
            county,
            city_level=False,
            founded=b.founded(7, 25),
            registrar="mz",
            authority=f"{cname}民政局",
            body="MJ",
            industry_label=_label_for(name),
            capital=nice_amount(rng, 3, 500),
        )


def _village_coop(b: CityBuilder, cname: str, town: Division) -> str:
    return f"{cname}{town.name}{b.village(town)}股份经济合作社"


def other_organisations(b: CityBuilder, k: int) -> None:
    """Law firms (31…) and village joint-stock economic cooperatives (N2…)."""
    rng = b.rng
    for i in range(k):
        county = b.county()
        cname = _cname(county)
        if i % 2 == 0:
            name = b.unique(lambda: f"陕西{nm.trade_name(rng)}律师事务所")
            b.org(
                ST.other_organisation,
                name,
                county,
                city_level=True,
                prefix="31",
                founded=b.founded(8, 30),
                registrar="sf",
                authority=BY_SLUG["sf"].name,
                body="MD",
                industry_label="商务服务业",
                capital=nice_amount(rng, 10, 300),
            )
        else:
            town = b.town(county)
            name = b.unique(partial(_village_coop, b, cname, town))
            s = b.org(
                ST.other_organisation,
                name,
                county,
                city_level=False,
                prefix="N2",
                founded=random_date(rng, date(2017, 1, 1), date(2021, 12, 31)),
                registrar="nync",
                authority=f"{cname}农业农村局",
                body="MF",
                industry_label="农业",
                capital=nice_amount(rng, 10, 2000),
            )
            s.address = b.address(county, town, rural=True)


def cooperatives(b: CityBuilder, k: int) -> None:
    """农民专业合作社 of apples, potatoes, sheep, grain and more, named after their villages."""
    rng = b.rng
    for _ in range(k):
        industry = _industry(rng, _COOP_BIAS, base=0 if rng.random() < 0.8 else 1)
        county = _county_for(b, industry)
        cname = _cname(county)
        town = b.town(county)

        def make(
            industry: nm.Industry = industry, cname: str = cname, town: Division = town
        ) -> str:
            place = town.name + (b.village(town) if rng.random() < 0.6 else "")
            return nm.cooperative_name(rng, industry, cname, place)

        name = b.unique(make)
        founded = random_date(rng, date(2008, 7, 1), b.as_of - timedelta(days=60))
        s = b.org(
            ST.farmer_cooperative,
            name,
            county,
            city_level=False,
            founded=founded,
            registrar="scjg",
            authority=f"{cname}市场监督管理局",
            industry=industry,
            industry_label="畜牧业" if industry.key == "sheep" else "农业",
            capital=nice_amount(rng, 10, 1000),
        )
        s.address = b.address(county, town, rural=True)
        if founded < _USCC_START and rng.random() < 0.8:
            s.reg_no = b.codes.registration_no(rng, s.uscc[2:8], individual=False)


def _person(
    b: CityBuilder,
    kind: SubjectType,
    county: str,
    birth: date,
    male: bool,
    registrar: str,
    authority: str,
    rural: bool,
) -> Subject:
    """A person subject with a synthetic ID number (retired county codes for older people)."""
    rng = b.rng
    division = county
    if county in ("610881", "610803") and birth.year < 2000 and rng.random() < 0.6:
        division = {"610881": "610821", "610803": "610823"}[county]
    name = nm.person_name(rng, male)
    return b.add(
        Subject(
            seq=0,
            type=kind,
            name=name,
            county=county,
            address=b.address(county, rural=rural),
            registrar=registrar,
            authority=authority,
            birth=birth,
            phone=phone(rng),
            id_number=b.codes.id_number(rng, division, birth, male),
        )
    )


def farm_households(b: CityBuilder, k: int) -> None:
    """农户, identified by the head's ID number, registered by county agriculture bureaus."""
    rng = b.rng
    for _ in range(k):
        county = b.county()
        birth = random_date(rng, date(1945, 1, 1), date(1995, 12, 31))
        s = _person(
            b,
            ST.farm_household,
            county,
            birth,
            rng.random() < 0.8,
            "nync",
            f"{_cname(county)}农业农村局",
            rural=True,
        )
        s.legal_rep = s.name
        s.established = random_date(rng, date(2015, 1, 1), date(2020, 12, 31))
        s.industry_label = rng.choice(("农业", "农业", "畜牧业"))


def natural_persons(b: CityBuilder, k: int) -> None:
    """Professionals (教师, 医师, 律师, 导游, 注册会计师) plus a few minors (never published)."""
    rng = b.rng
    minors = min(max(2, k // 100), k - 1) if k > 1 else 0
    for _ in range(k - minors):
        main = nm.pick_weighted(rng, _PROFESSION_WEIGHTS)
        dept = BY_SLUG[PROFESSION_DEPARTMENT[main]]
        age = rng.randint(24, 62)
        birth = random_date(rng, add_years(b.as_of, -age - 1), add_years(b.as_of, -age))
        s = _person(
            b,
            ST.natural_person,
            b.county(),
            birth,
            rng.random() < 0.55,
            dept.slug,
            dept.name,
            rural=False,
        )
        tags = [main] + ([rng.choice(_EXTRA_TAGS)] if rng.random() < 0.12 else [])
        s.professions = tuple(tags)
    for _ in range(minors):
        birth = random_date(
            rng, add_years(b.as_of, -18) + timedelta(days=400), add_years(b.as_of, -15)
        )
        s = _person(
            b,
            ST.natural_person,
            b.county(),
            birth,
            rng.random() < 0.7,
            "",
            "",
            rural=rng.random() < 0.5,
        )
        s.minor = True


def individual_businesses(b: CityBuilder, k: int) -> None:
    """个体工商户: shops, restaurants, repair shops, named after owners or trade names."""
    rng = b.rng
    for _ in range(k):
        industry = _industry(rng, _SHOP_BIAS)
        county = _county_for(b, industry, 0.5)
        name = b.unique(partial(nm.shop_name, rng, industry, county))
        founded = b.founded(5, 25)
        s = b.org(
            ST.individual_business,
            name,
            county,
            city_level=False,
            founded=founded,
            registrar="scjg",
            authority=f"{_cname(county)}市场监督管理局",
            body="MA",
            industry=industry,
            capital=nice_amount(rng, 1, 50),
            industry_label="零售业" if industry.key == "trade" else industry.label,
        )
        if founded < _USCC_START and rng.random() < 0.85:
            s.reg_no = b.codes.registration_no(rng, s.uscc[2:8], individual=True)
        s.org_code = ""
        if founded < b.as_of - timedelta(days=365) and rng.random() < 0.1:
            s.status = "注销"


def enterprises(b: CityBuilder, k: int, progress: Callable[[int], None] | None) -> None:
    """Enterprises of Yulin's industries: coal, chemicals, energy, farming, trade and services."""
    rng = b.rng
    for i in range(k):
        industry = _industry(rng, {})
        county = _county_for(b, industry)
        city = rng.random() < 0.12
        name = b.unique(partial(nm.enterprise_name, rng, industry, county, city))
        founded = b.founded(6, 30)
        authority = "榆林市市场监督管理局" if city else f"{_cname(county)}市场监督管理局"
        s = b.org(
            ST.enterprise,
            name,
            county,
            city_level=city,
            founded=founded,
            registrar="scjg",
            authority=authority,
            body="MA",
            industry=industry,
            industry_label=industry.label,
            capital=nice_amount(rng, *industry.capital),
        )
        if founded < _USCC_START and rng.random() < 0.8:
            s.reg_no = b.codes.registration_no(rng, s.uscc[2:8], individual=False)
        if founded < b.as_of - timedelta(days=730):
            roll = rng.random()
            s.status = "注销" if roll < 0.05 else "吊销" if roll < 0.08 else "存续"
        if progress and i % 500 == 499:
            progress(len(b.subjects))
    if progress:
        progress(len(b.subjects))
