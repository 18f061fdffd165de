"""G30: natural persons' names found inside free text (shared.person_names) — positives with
compound surnames and names the cutter splits, negatives (role words, Yulin places, companies,
agencies, law titles, amounts, 王某), the real-format fixture set and a generated held-out set."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from citycredit.lists.matching import PERSON_REASONS, public_reasons
from citycredit.lists.model import Membership, MembershipStatus, Origin
from citycredit.shared import person_names
from citycredit.shared.person_names import (
    find_person_names,
    mask_person_names,
    masks_free_text,
)
from citycredit.synth.names import COUNTY_NAMES, INDUSTRIES, enterprise_name, person_name

FIXTURE = Path(__file__).parents[1] / "data" / "person_names_facts.tsv"


def names(text: str) -> list[str]:
    return [text[a:b] for a, b in find_person_names(text)]


def _fixture() -> list[tuple[str, list[str]]]:
    out = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        text, listed = line.split("\t")
        out.append((text, [n for n in listed.split(",") if n]))
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("经查，该公司员工刘芳芳、陈晨销售假冒伪劣产品", ["刘芳芳", "陈晨"]),
        ("当事人雇佣白雪梅、呼延红霞在店内经营", ["白雪梅", "呼延红霞"]),  # split by the cutter
        ("经查，当事人与欧阳娜娜、司马光明共同经营", ["欧阳娜娜", "司马光明"]),
        ("该店店长马文明向消费者出售过期食品", ["马文明"]),  # 马 + 文明
        ("员工王伟、张伟、李强、高明、向阳在现场", ["王伟", "张伟", "李强", "高明", "向阳"]),
        ("经查，当事人及其妻子白丽华于2022年10月起无证生产", ["白丽华"]),  # 白丽华于
        ("该公司股东梁俊峰、田雅琴抽逃出资", ["梁俊峰", "田雅琴"]),  # 股/东梁/俊峰
        ("投诉人康丽反映手机存在质量问题", ["康丽"]),  # 投诉/人康丽
        ("经营者拓小军、折秀英、党海燕未明码标价", ["拓小军", "折秀英", "党海燕"]),
    ],
)
def test_names_are_found(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "法定代表人、负责人、经营者、申请人、当事人未按规定履行职责。",  # role words
        "当事人在榆阳区鱼河镇、神木市高家堡镇、府谷县新民镇刘家沟村非法占地。",  # places
        "当事人在靖边县张家畔街道和横山区石湾镇高家沟村开设超市。",
        "经查，神木市康顺煤业有限公司在锦界镇非法开采。",  # a trade name, not a person
        "当事人榆阳区小王羊肉馆未公示许可证。",
        "榆林市市场监督管理局榆阳分局依法对当事人进行了调查。",  # agencies
        "违反了《中华人民共和国产品质量法》第四十九条的规定。",  # law titles
        "罚款人民币5000元，没收违法所得人民币1200元，共计伍仟元。",  # amounts
        "当事人于2023年3月15日至2023年4月20日期间无证经营。",  # dates
        "当事人王某、李某某合伙经营。",  # already anonymised
        "当事人高于核定价格收费，向社会公众发布虚假广告，成立于2019年。",
    ],
)
def test_words_that_are_not_names_stay(text: str) -> None:
    assert names(text) == []
    assert mask_person_names(text) == text


def test_masked_like_a_name_field_and_kept_names_stay() -> None:
    text = "法定代表人贺建军指使员工刘芳芳、欧阳娜娜销售假冒化肥"
    assert mask_person_names(text) == "法定代表人贺**指使员工刘**、欧阳**销售假冒化肥"
    assert mask_person_names(text, keep=["贺建军"]) == (
        "法定代表人贺建军指使员工刘**、欧阳**销售假冒化肥"
    )
    # any string inside lists and dicts; other values untouched
    value = {"a": [text, 5], "b": None, "c": "无"}
    masked = mask_person_names(value, keep=("贺建军",))
    assert masked == {"a": [mask_person_names(text, keep=("贺建军",)), 5], "b": None, "c": "无"}


def test_which_fields_are_free_text() -> None:
    assert masks_free_text("text", None) and masks_free_text("text", "remark")
    assert not masks_free_text("text", "subject_name")  # shown by the display rule
    assert not masks_free_text("text", "legal_rep")  # public for organisations
    assert not masks_free_text("text", "authority")
    assert not masks_free_text("date", None) and not masks_free_text("enum", None)


def test_the_real_format_fixture_set_is_recognised_fully() -> None:
    rows = _fixture()
    assert len(rows) >= 70 and sum(1 for _, n in rows if n) >= 30
    found = expected = correct = 0
    for text, listed in rows:
        got = names(text)
        found += len(got)
        expected += len(listed)
        correct += len(set(got) & set(listed))
        assert got == listed, text
    assert correct == found == expected  # precision and recall 1.0 on this set


TEMPLATES = [
    ("经查，{org}员工{a}在{county}销售未经检验的化肥。", "a"),
    ("当事人安排{a}、{b}在店内从事经营活动，未取得相关许可。", "ab"),
    ("当事人雇佣的驾驶员{a}驾驶重型半挂车超限运输。", "a"),
    ("投诉人{a}称其在当事人处购买的白酒存在质量问题。", "a"),
    ("{a}、{b}、{c}在{org}承包的工地上未佩戴安全帽作业。", "abc"),
    ("经查，当事人委托{a}伪造检验报告，并由{b}签字确认。", "ab"),
    ("当事人指使其员工{a}篡改在线监测数据。", "a"),
    ("{org}未按规定向{county}市场监督管理局报送年度报告。", ""),
    ("当事人在{county}建设项目未依法报批环境影响评价文件。", ""),
    ("{org}拖欠社会保险费人民币{amount}元，经责令限期缴纳后仍未缴纳。", ""),
]


def test_a_generated_held_out_set() -> None:
    """Templates and names not tuned on (the synthetic city's name generator, seeded)."""
    rng = random.Random(20260611)
    tp = fp = fn = 0
    for _ in range(600):
        template, slots = rng.choice(TEMPLATES)
        code = rng.choice(sorted(COUNTY_NAMES))
        people = [person_name(rng, rng.random() < 0.6) for _ in range(3)]
        org = enterprise_name(rng, rng.choice(INDUSTRIES), code, rng.random() < 0.3)
        values = dict(zip("abc", people, strict=True))
        text = template.format(
            org=org, county=COUNTY_NAMES[code], amount=rng.randint(100, 99999), **values
        )
        want = {values[s] for s in slots}
        got = set(names(text))
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    assert tp / (tp + fp) >= 0.99 and tp / (tp + fn) >= 0.98, (tp, fp, fn)


def test_the_candidate_test_skips_only_texts_without_a_name() -> None:
    """A text is cut only when it holds a surname followed by a given-name character; the
    answers are the same as cutting every text (fixture, held-out templates, negatives)."""
    rng = random.Random(7)
    texts = [text for text, _ in _fixture()]
    for _ in range(400):
        template, _slots = rng.choice(TEMPLATES)
        code = rng.choice(sorted(COUNTY_NAMES))
        people = [person_name(rng, rng.random() < 0.6) for _ in range(3)]
        org = enterprise_name(rng, rng.choice(INDUSTRIES), code, rng.random() < 0.3)
        texts.append(
            template.format(
                org=org,
                county=COUNTY_NAMES[code],
                amount=rng.randint(100, 99999),
                **dict(zip("abc", people, strict=True)),
            )
        )
    texts += ["罚款人民币11000元", "《中华人民共和国食品安全法》第一百二十四条第一款"]
    w = person_names._words()
    skipped = [t for t in texts if not person_names._candidates(w).search(t)]
    assert skipped  # the test does skip texts …
    for text in texts:
        assert find_person_names(text) == person_names._find(text, w), text  # … never a name


def test_list_reasons_of_an_organisation_mask_other_persons() -> None:
    m = Membership(
        list_type="serious_dishonesty",
        subject_id="S1",
        origin=Origin.local,
        status=MembershipStatus.published,
        reasons="该公司法定代表人贺建军、员工刘芳芳拒不履行法定义务",
    )
    assert public_reasons(m, is_person=False, keep=("贺建军",)) == (
        "该公司法定代表人贺建军、员工刘**拒不履行法定义务"
    )
    assert public_reasons(m, is_person=False, mask_names=False) == m.reasons
    assert public_reasons(m, is_person=True) == PERSON_REASONS


def test_a_text_naming_only_kept_names_is_not_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A company's facts that name only the company (whose trade name holds a surname and a
    given-name character) and its 法定代表人 are not cut; another person beside them is."""
    org, rep = "榆林高明商贸有限公司", "贺建军"
    alone = f"经查，当事人{org}存在经营超过保质期的食品的行为，法定代表人{rep}未履行职责。"
    beside = f"经查，当事人{org}员工刘芳芳销售过期食品，法定代表人{rep}未履行职责。"
    assert mask_person_names(beside, keep=(org, rep)) == beside.replace("刘芳芳", "刘**")
    assert person_names._candidates(person_names._words()).search(alone)  # 高明, 贺建军

    def no_cut(*_: object) -> None:
        raise AssertionError("cut")

    monkeypatch.setattr(person_names, "_find", no_cut)
    person_names.find_person_names.cache_clear()
    assert mask_person_names(alone, keep=(org, rep)) == alone
