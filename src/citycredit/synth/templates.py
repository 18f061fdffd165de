"""Licences (行政许可) and penalties (行政处罚) of the synthetic city, from templates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import add_years, digits
from citycredit.synth.records import Book, dept, party

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

ST = SubjectType
_ORG = (ST.enterprise, ST.individual_business, ST.farmer_cooperative)
_HEAVY = ("coal", "chemical", "semicoke", "energy", "gas")


@dataclass(frozen=True)
class Fit:
    """Which subjects a template applies to: types, industries, professions, name words."""

    types: tuple[SubjectType, ...] = ()
    industries: tuple[str, ...] = ()
    professions: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    def __call__(self, s: Subject) -> bool:
        if self.types and s.type not in self.types:
            return False
        if self.industries and (s.industry is None or s.industry.key not in self.industries):
            return False
        if self.professions and not set(self.professions) & set(s.professions):
            return False
        return not self.words or any(w in s.name for w in self.words)


@dataclass(frozen=True)
class Licence:
    """A kind of licence: department, documents, category, content, validity, number pattern."""

    dept: str
    ws: str
    zs: str
    lb: str
    nr: tuple[str, ...]
    years: int  # 0: long-term (有效期至 2099/12/31)
    bh: str  # pattern: {c} county code, {y} year, {n} 8 random digits, {u} USCC
    fit: Fit


def _t(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


LICENCES: tuple[Licence, ...] = (
    Licence(
        "scjg",
        "食品经营许可决定书",
        "食品经营许可证",
        "普通",
        _t("预包装食品销售（含冷藏冷冻食品）|热食类食品制售|预包装食品销售；散装食品销售"),
        5,
        "JY1{c}{n}",
        Fit(_ORG[:2], ("catering", "trade", "grain", "sheep", "tourism")),
    ),
    Licence(
        "scjg",
        "食品生产许可决定书",
        "食品生产许可证",
        "普通",
        _t("粮食加工品|淀粉及淀粉制品|肉制品|水果制品"),
        5,
        "SC10{c}{n}",
        Fit(_ORG, ("potato", "grain", "sheep", "apple")),
    ),
    Licence(
        "scjg",
        "特种设备使用登记决定书",
        "特种设备使用登记证",
        "登记",
        _t("锅炉使用登记|压力容器使用登记|电梯使用登记|场（厂）内专用机动车辆使用登记"),
        0,
        "容3LF陕K{n}",
        Fit((ST.enterprise,)),
    ),
    Licence(
        "scjg",
        "工业产品生产许可决定书",
        "全国工业产品生产许可证",
        "核准",
        _t("危险化学品（甲醇）|危险化学品（煤焦油）|化肥"),
        5,
        "（陕）XK13-014-{n}",
        Fit((ST.enterprise,), ("chemical", "semicoke")),
    ),
    Licence(
        "nync",
        "农药经营许可决定书",
        "农药经营许可证",
        "普通",
        _t("农药（不含限制使用农药）零售"),
        5,
        "农药经许（陕）{c}{n}",
        Fit(_ORG, ("trade", "apple", "potato", "grain")),
    ),
    Licence(
        "nync",
        "兽药经营许可决定书",
        "兽药经营许可证",
        "普通",
        _t("兽用化学药品、中药制剂经营"),
        5,
        "（{y}）兽药经营证字{c}{n}号",
        Fit(_ORG, ("sheep",)),
    ),
    Licence(
        "nync",
        "种子生产经营许可决定书",
        "农作物种子生产经营许可证",
        "普通",
        _t("马铃薯种薯生产经营|玉米种子生产经营"),
        5,
        "D{c}{y}{n}",
        Fit((ST.enterprise, ST.farmer_cooperative), ("potato", "grain")),
    ),
    Licence(
        "nync",
        "动物防疫条件审查决定书",
        "动物防疫条件合格证",
        "核准",
        _t("羊养殖场动物防疫条件|生猪养殖场动物防疫条件"),
        0,
        "（{y}）动防合字第{c}{n}号",
        Fit((*_ORG, ST.farm_household), ("sheep",)),
    ),
    Licence(
        "sthj",
        "排污许可决定书",
        "排污许可证",
        "普通",
        _t("大气污染物排放|大气污染物、水污染物排放"),
        5,
        "{u}001P",
        Fit((ST.enterprise,), _HEAVY),
    ),
    Licence(
        "sthj",
        "危险废物经营许可决定书",
        "危险废物经营许可证",
        "核准",
        _t("收集、贮存、利用废矿物油|收集、贮存废催化剂"),
        5,
        "陕危废经第{n}号",
        Fit((ST.enterprise,), ("chemical",)),
    ),
    Licence(
        "jt",
        "道路运输经营许可决定书",
        "道路运输经营许可证",
        "普通",
        _t("道路普通货物运输|道路危险货物运输|道路旅客运输"),
        4,
        "陕交运管许可榆字{c}{n}号",
        Fit(_ORG[:2], ("transport", "coal")),
    ),
    Licence(
        "jt",
        "出租汽车经营许可决定书",
        "出租汽车经营许可证",
        "特许",
        _t("巡游出租汽车客运"),
        6,
        "陕榆出租{n}",
        Fit((ST.enterprise,), ("transport",)),
    ),
    Licence(
        "jy",
        "民办学校办学许可决定书",
        "民办学校办学许可证",
        "普通",
        _t("文化艺术类培训|学前教育|职业技能培训"),
        5,
        "教民1{c}{n}号",
        Fit((ST.private_non_enterprise,), words=("学校", "幼儿园")),
    ),
    Licence(
        "jy",
        "教师资格认定决定书",
        "教师资格证书",
        "认可",
        _t("高级中学教师资格|初级中学教师资格|小学教师资格|幼儿园教师资格"),
        0,
        "{y}61{n}",
        Fit(professions=("教师",)),
    ),
    Licence(
        "sf",
        "律师执业许可决定书",
        "律师执业证",
        "认可",
        _t("专职律师执业|兼职律师执业"),
        0,
        "16108{y}1{n}",
        Fit(professions=("律师",)),
    ),
    Licence(
        "sf",
        "律师事务所执业许可决定书",
        "律师事务所执业许可证",
        "认可",
        _t("律师事务所执业"),
        0,
        "{u}",
        Fit(words=("律师事务所",)),
    ),
    Licence(
        "wjw",
        "医师执业注册决定书",
        "医师执业证书",
        "认可",
        _t(
            "执业类别：临床；执业范围：内科专业|执业类别：中医；执业范围：中医专业|"
            "执业类别：口腔；执业范围：口腔专业"
        ),
        0,
        "1106108{n}",
        Fit(professions=("医师",)),
    ),
    Licence(
        "wjw",
        "医疗机构执业许可决定书",
        "医疗机构执业许可证",
        "普通",
        _t("预防保健科；内科；外科|全科医疗科；中医科|康复医学科"),
        5,
        "PDY{n}6108{c}",
        Fit((ST.public_institution, ST.private_non_enterprise), words=("医院", "卫生院", "康复")),
    ),
    Licence(
        "wjw",
        "公共场所卫生许可决定书",
        "公共场所卫生许可证",
        "普通",
        _t("住宿|美容美发|沐浴"),
        4,
        "榆卫公字〔{y}〕第{n}号",
        Fit(_ORG[:2], ("services", "tourism")),
    ),
    Licence(
        "wl",
        "导游资格认定决定书",
        "导游证",
        "认可",
        _t("导游执业"),
        3,
        "D-6108-{n}",
        Fit(professions=("导游",)),
    ),
    Licence(
        "wl",
        "旅行社业务经营许可决定书",
        "旅行社业务经营许可证",
        "普通",
        _t("国内旅游业务、入境旅游业务|国内旅游业务"),
        0,
        "L-SNX-{n}",
        Fit((ST.enterprise,), ("tourism",)),
    ),
    Licence(
        "cz",
        "注册会计师注册决定书",
        "注册会计师执业证书",
        "认可",
        _t("注册会计师执业"),
        0,
        "61080{n}",
        Fit(professions=("注册会计师",)),
    ),
    Licence(
        "cz",
        "代理记账许可决定书",
        "代理记账许可证书",
        "普通",
        _t("代理记账业务"),
        0,
        "DLJZ6108{y}{n}",
        Fit((ST.enterprise,), ("services",)),
    ),
)


def _licence(book: Book, s: Subject, lic: Licence) -> None:
    """One licence row."""
    rng = book.rng
    d = dept(lic.dept)
    jdrq = book.when(s)
    xkjg, xkjgdm = book.authority(d, s)
    end: date | str = "2099/12/31" if lic.years == 0 else add_years(jdrq, lic.years) - timedelta(1)
    valid = isinstance(end, str) or end >= book.as_of
    bh = lic.bh.format(c=s.county, y=jdrq.year, n=digits(rng, 8), u=s.uscc)
    values = party("licence", s) | {
        "XK_XKWS": lic.ws,
        "XK_WSH": book.docno(d.abbr, "许", jdrq.year),
        "XK_XKLB": lic.lb,
        "XK_XKZS": lic.zs,
        "XK_XKBH": bh,
        "XK_NR": rng.choice(lic.nr),
        "XK_JDRQ": jdrq,
        "XK_YXQZ": jdrq,
        "XK_YXQZI": end,
        "XK_XKJG": xkjg,
        "XK_XKJGDM": xkjgdm,
        "XK_ZT": "有效" if valid else "无效",
        "XK_LYDW": d.name,
        "XK_LYDWDM": d.code,
        "BZ": "",
    }
    book.emit(d.slug, "licence", s, values)


def licences(book: Book) -> None:
    """1–3 licences for about 40% of organisations; professionals' practising certificates."""
    rng = book.rng
    orgs = book.sample(
        (
            ST.enterprise,
            ST.individual_business,
            ST.farmer_cooperative,
            ST.public_institution,
            ST.private_non_enterprise,
            ST.other_organisation,
        ),
        0.4,
        lambda s: s.status == "存续",
    )
    for s in orgs:
        fitting = [lic for lic in LICENCES if lic.fit(s) and not lic.fit.professions]
        if not fitting:
            continue
        for lic in rng.sample(fitting, min(len(fitting), rng.choice((1, 1, 2, 3)))):
            _licence(book, s, lic)
    for s in book.sample((ST.natural_person,), 0.6, lambda s: bool(s.professions)):
        for lic in LICENCES:
            if lic.fit.professions and lic.fit(s):
                _licence(book, s, lic)
                break
    epidemic = next(lic for lic in LICENCES if lic.zs == "动物防疫条件合格证")
    for s in book.sample((ST.farm_household,), 0.05):
        _licence(book, s, epidemic)
