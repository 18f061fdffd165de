"""Natural persons' names inside free text (违法事实, 处罚内容, 列入事由, 承诺内容 …), found and
shown masked on public views like a name field (刘芳芳 → 刘**, 欧阳娜娜 → 欧阳**; G30,
rules.md §13.4: the names of persons other than the penalised party are hidden).

How a name is found (measured in tests/unit/test_person_names.py and docs/personal-data.md):

- the text is cut into words by jieba (its dictionary and HMM, offline; `jieba.cut`, not the
  slower part-of-speech tagger). A word the dictionary does not know (the HMM made it) of 2–4
  characters, a surname (`data/person_names/surnames.txt`, compound:
  `shared.masking.COMPOUND_SURNAMES`) followed by 1–2 given-name characters
  (`data/person_names/given_chars.txt`), is a name: 刘芳芳, 陈晨, 任晓东;
- a name the cutter split is joined again: a bare surname and a given name (马 + 文明,
  呼延 + 红霞), or a name and one more given-name character (白雪 + 梅 → 白雪梅);
- a dictionary word (李娜, 高峰, 向阳 — names that are also words) is a name only where the
  text marks a person: after 员工, 当事人, 驾驶员, 举报人 … or in a list with another name
  (、 和 与 及);
- never a name: Yulin's town and village names (`shared.divisions`; added to the dictionary as
  places), a word followed by a place word (村 镇 沟 …) or ending an organisation's name
  (… 煤业有限公司, … 羊肉馆), 王某 / 李某某, dictionary place and organisation words.

Results are cached per text (record texts do not change within a version). The cutter is set
up once per process, on first use, without writing a cache file anywhere (a read-only
deployment works): 1–2 s on a 2-vCPU host.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from citycredit.shared.masking import COMPOUND_SURNAMES, display_person_name

__all__ = [
    "find_person_names",
    "mask_person_names",
    "masks_free_text",
    "warm_up",
]

_DATA = Path(__file__).parent / "data" / "person_names"
PUBLIC_NAME_RULE = "surname_masked"
CACHE_SIZE = 50_000  # texts; a 200-character text and its spans are well under 1 KB

# Catalog fields of type text whose role is one of these hold free text that may name people;
# other roles hold a name already shown by a rule (subject_name, legal_rep), an organisation
# (authority, source_department), a number or a code.
FREE_TEXT_ROLES = frozenset({None, "remark"})

# Words right before a name that say a person follows.
_CUE_BEFORE = frozenset(
    [
        "员工",
        "职工",
        "雇员",
        "店员",
        "店长",
        "厨师",
        "司机",
        "驾驶员",
        "驾驶人",
        "乘客",
        "工作人员",
        "管理人员",
        "从业人员",
        "技术人员",
        "安全员",
        "保安",
        "收银员",
        "营业员",
        "销售员",
        "业务员",
        "会计",
        "出纳",
        "股东",
        "实际控制人",
        "负责人",
        "法定代表人",
        "经营者",
        "经营户",
        "当事人",
        "申请人",
        "被申请人",
        "举报人",
        "投诉人",
        "消费者",
        "受害人",
        "被害人",
        "证人",
        "购买人",
        "承租人",
        "出租人",
        "代理人",
        "委托人",
        "受托人",
        "监护人",
        "村民",
        "居民",
        "患者",
        "学生",
        "教师",
        "医生",
        "护士",
        "其子",
        "其女",
        "其妻",
        "其夫",
        "之子",
        "之女",
        "妻子",
        "丈夫",
        "儿子",
        "女儿",
        "父亲",
        "母亲",
        "雇佣",
        "聘用",
        "指使",
        "委托",
        "授意",
        "安排",
        "介绍",
        "案外人",
        "第三人",
        "债权人",
        "债务人",
        "合伙人",
        "联系人",
        "经办人",
        "操作工",
        "电工",
        "焊工",
        "矿工",
        "人员",
        "先生",
        "女士",
    ]
)
# Words right after a name that say it was a person.
_CUE_AFTER = frozenset(
    [
        "等",
        "等人",
        "二人",
        "三人",
        "两人",
        "夫妇",
        "驾驶",
        "系",
        "本人",
        "名下",
        "签字",
        "签名",
        "持有",
    ]
)
_JOINERS = frozenset(["、", "和", "与", "及", "同", "，"])
# A name is never directly followed by these (they make it a place).
_PLACE_AFTER = frozenset(
    [
        "村",
        "镇",
        "乡",
        "沟",
        "湾",
        "峁",
        "畔",
        "坪",
        "庄",
        "塔",
        "梁",
        "岔",
        "洼",
        "渠",
        "堡",
        "寨",
        "街",
        "路",
        "巷",
        "县",
        "区",
        "市",
        "省",
        "河",
        "桥",
        "营",
        "湖",
        "滩",
        "川",
        "坡",
        "峪",
        "社区",
        "村委会",
        "居委会",
        "街道",
        "大道",
        "小区",
        "煤矿",
        "矿区",
    ]
)
# … nor part of an organisation's name (the word is a trade name: 康顺煤业有限公司).
_ORG_ENDINGS = (
    "公司",
    "合作社",
    "厂",
    "店",
    "部",
    "馆",
    "中心",
    "局",
    "院",
    "所",
    "站",
    "队",
    "会",
    "学校",
    "超市",
    "商行",
    "门市",
    "酒店",
    "宾馆",
    "餐厅",
    "诊所",
    "药房",
    "银行",
    "煤矿",
    "煤业",
    "集团",
    "矿",
    "养殖场",
    "屠宰场",
    "农场",
    "牧场",
    "砖场",
    "煤场",
    "石场",
    "社",
    "园",
    "坊",
    "行",
    "城",
)
_ORG_STARTS = ("公司", "有限", "合作社", "集团", "股份")
_BRACKETS = frozenset(["（", "）", "(", ")"])
# Words that end the look-ahead (a name is followed by what the person did; an organisation's
# trade name by its industry words and its form).
_BREAKS = frozenset(
    [
        "的",
        "在",
        "于",
        "向",
        "对",
        "和",
        "与",
        "及",
        "将",
        "被",
        "把",
        "从",
        "为",
        "由",
        "等",
        "是",
        "系",
        "未",
        "已",
        "并",
        "均",
        "也",
        "又",
        "因",
        "到",
        "去",
        "给",
        "让",
        "用",
        "以",
        "用于",
        "经营",
        "销售",
        "出售",
        "驾驶",
        "签订",
        "签字",
        "承包",
        "租赁",
        "转租",
        "购买",
        "就餐",
        "从事",
        "开设",
        "负责",
        "担任",
        "作为",
        "擅自",
        "非法",
        "无证",
        "伪造",
        "篡改",
        "组织",
        "指使",
        "雇佣",
        "使用",
        "提供",
        "收取",
        "占用",
        "进入",
        "前往",
        "进行",
    ]
)
# A bare surname that is far more often a word (于 2023年, 向 社会, 和 …) never starts a split name.
_AMBIGUOUS_BARE = frozenset(
    [
        "于",
        "向",
        "和",
        "时",
        "从",
        "但",
        "都",
        "那",
        "来",
        "应",
        "由",
        "相",
        "全",
        "原",
        "平",
        "国",
        "公",
        "信",
        "区",
        "利",
        "展",
        "但",
        "初",
    ]
)
# Dictionary tags of words that are not given names.
_NOT_GIVEN_TAGS = frozenset(
    [
        "v",
        "vn",
        "vd",
        "vi",
        "d",
        "p",
        "c",
        "r",
        "m",
        "q",
        "t",
        "f",
        "ad",
        "an",
        "u",
        "ul",
        "uj",
        "uz",
        "ud",
        "ug",
        "uv",
        "y",
        "e",
        "o",
        "x",
        "nt",
    ]
)
# One character the cutter may glue to the end of a name (白丽华于 2022年).
_GLUED_AFTER = frozenset(
    [
        "于",
        "在",
        "将",
        "向",
        "等",
        "系",
        "的",
        "和",
        "与",
        "及",
        "未",
        "已",
        "因",
        "对",
        "被",
        "为",
        "从",
        "以",
        "自",
        "经",
        "曾",
        "均",
        "也",
        "又",
        "并",
        "所",
    ]
)
# … or to its start (由惠治涛 签字).
_GLUED_BEFORE = frozenset(
    ["由", "给", "向", "与", "和", "对", "被", "让", "将", "把", "及", "经", "同", "据", "系", "是"]
)
_NAME_TAGS = frozenset({"nr", "nrfg", "nrt"})
_NEVER_TAGS = frozenset({"ns", "nt"})
_HAN = re.compile(r"[\u4e00-\u9fff]+")
_PLACE_TAG = "ns"
_PLACE_FREQ = 2000


@dataclass(frozen=True)
class _Words:
    """The cutter and what the recogniser reads from its dictionary."""

    tokenizer: Any  # jieba.Tokenizer
    freq: dict[str, int]
    tags: dict[str, str]
    surnames: frozenset[str]
    given: frozenset[str]


_LOCK = threading.Lock()
_WORDS: _Words | None = None


def _words() -> _Words:
    global _WORDS
    if _WORDS is None:
        with _LOCK:
            if _WORDS is None:
                _WORDS = _load()
    return _WORDS


def warm_up() -> None:
    """Set the cutter up now (a server may call it at start instead of on the first read)."""
    _words()


def _chars(name: str) -> frozenset[str]:
    text = (_DATA / name).read_text(encoding="utf-8")
    lines = (line for line in text.splitlines() if not line.startswith("#"))
    return frozenset(ch for line in lines for ch in line if _HAN.fullmatch(ch))


def _load() -> _Words:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict" lines in our logs
    tk = jieba.Tokenizer()
    freq: dict[str, int] = {}
    tags: dict[str, str] = {}
    total = 0
    # The dictionary is read once, here, into the cutter's prefix table and our tag table;
    # jieba's own initialise() would write a cache file (to /tmp by default).
    with tk.get_dict_file() as f:
        for raw in f:
            parts = raw.decode("utf-8").strip().split(" ")
            if len(parts) < 2:
                continue
            word, count = parts[0], int(parts[1])
            freq[word] = count
            total += count
            if len(parts) > 2:
                tags[word] = parts[2]
            for i in range(1, len(word)):
                freq.setdefault(word[:i], 0)
    surnames, given = _chars("surnames.txt"), _chars("given_chars.txt")
    shaped = _Words(tk, {}, {}, surnames, given)
    for place in _place_words():
        if freq.get(place, 0) > 0 or (len(place) == 2 and _shape(place, shaped)):
            continue  # a word already (高峰, 向阳): its tag stays; 向阳 村 is a place by 村
        total += _PLACE_FREQ
        freq[place] = _PLACE_FREQ
        tags[place] = _PLACE_TAG
        for i in range(1, len(place)):
            freq.setdefault(place[:i], 0)
    tk.FREQ, tk.total, tk.initialized = freq, total, True
    return _Words(tk, freq, tags, surnames, given)


@cache
def _place_words() -> frozenset[str]:
    """Yulin's county, town and village names and their stems (张家畔, 高家堡, 刘家沟)."""
    from citycredit.shared.divisions import YULIN_COUNTIES, towns, villages

    out: set[str] = set()
    for county in YULIN_COUNTIES:
        out.add(county.name)
        for town in towns(county.code):
            out.add(town.name)
            out.add(re.sub(r"(街道办事处|街道|镇|乡)$", "", town.name))
            for village in villages(town.code):
                stem = re.sub(
                    r"(社区居民委员会|社区居委会|村民委员会|村委会|居民委员会|居委会)$",
                    "",
                    village.name,
                )
                out.add(stem)
                out.add(re.sub(r"(社区|村)$", "", stem))
    return frozenset(w for w in out if len(w) >= 2)


def _surname(word: str, w: _Words) -> str | None:
    if word[:2] in COMPOUND_SURNAMES:
        return word[:2]
    if word[:1] in w.surnames:
        return word[:1]
    return None


def _shape(word: str, w: _Words) -> bool:
    """Surname + 1–2 given-name characters (not 某)."""
    if not _HAN.fullmatch(word):
        return False
    surname = _surname(word, w)
    if surname is None:
        return False
    given = word[len(surname) :]
    return 1 <= len(given) <= 2 and all(ch in w.given for ch in given)


def _known(word: str, w: _Words) -> bool:
    return w.freq.get(word, 0) > 0


def _org_or_place_follows(tokens: list[str], j: int, w: _Words) -> bool:
    """The word ending at token j-1 is a place (刘家 沟) or starts an organisation's name
    (康顺 煤业 有限公司, 石润 物资 （榆林） 有限责任公司)."""
    if j < len(tokens) and tokens[j] in _PLACE_AFTER:
        return True
    for k in range(j, min(j + 5, len(tokens))):
        t = tokens[k]
        if t in _BRACKETS:
            continue
        if t in _BREAKS or not _HAN.fullmatch(t):
            return False
        if t.endswith(_ORG_ENDINGS) or t.startswith(_ORG_STARTS):
            return True
    return False


def _cued(tokens: list[str], i: int, j: int, names_end: set[int]) -> bool:
    """Tokens i..j-1 stand where the text marks a person."""
    before = tokens[i - 1] if i > 0 else ""
    if before in _CUE_BEFORE or before.endswith(("人员", "员工", "职工")):
        return True
    if before in _JOINERS and (i - 1) in names_end:
        return True
    return j < len(tokens) and tokens[j] in _CUE_AFTER


@lru_cache(maxsize=CACHE_SIZE)
def find_person_names(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) character spans of natural persons' names in ``text``, in order."""
    if not text or not _HAN.search(text):
        return ()
    w = _words()
    # Every name found below is a surname and a given-name character (`_shape`): a text with no
    # such pair anywhere has none, and is not cut (most texts: amounts, law titles, a company's
    # facts — the cutter is ~90 % of the cost of a public read's masking).
    if not _candidates(w).search(text):
        return ()
    return _find(text, w)


def _candidates(w: _Words) -> re.Pattern[str]:
    """A surname (compound first) followed by a given-name character."""
    global _CANDIDATES
    if _CANDIDATES is None:
        compound = "|".join(sorted(COMPOUND_SURNAMES, key=len, reverse=True))
        single = re.escape("".join(sorted(w.surnames)))
        given = re.escape("".join(sorted(w.given)))
        _CANDIDATES = re.compile(f"(?:{compound}|[{single}])[{given}]")
    return _CANDIDATES


_CANDIDATES: re.Pattern[str] | None = None


def _find(text: str, w: _Words) -> tuple[tuple[int, int], ...]:
    """`find_person_names` without the candidate test (the cutter and the rules)."""
    tokens = _unglue(w.tokenizer.cut(text, HMM=True), w)
    starts = [0]
    for t in tokens:
        starts.append(starts[-1] + len(t))
    found: dict[int, int] = {}  # first token of a name → token after it
    names_end: set[int] = set()  # token index right after a name (for 、 lists)
    i = 0
    while i < len(tokens):
        end = _match(tokens, i, w, names_end)
        if end:
            found[i] = end
            names_end.add(end)
            i = end
        else:
            i += 1
    # A name that is also a word, first in a list of names: 李强、崔伟忠.
    for i, tok in enumerate(tokens[:-2]):
        if (
            i not in found
            and tokens[i + 1] in _JOINERS
            and (i + 2) in found
            and _shape(tok, w)
            and w.tags.get(tok) in _NAME_TAGS
            and not any(k < i < v for k, v in found.items())
        ):
            found[i] = i + 1
    spans = [(starts[k], starts[v]) for k, v in found.items()]
    return _merge(spans + _after_cues(text, w))


def _unglue(cut: Iterable[str], w: _Words) -> list[str]:
    """Words only the HMM made that glued a function character to a name are split again:
    白丽华于 → 白丽华 于, 平以 → 平 以, 由钟 → 由 钟, 部未 → 部 未."""
    out: list[str] = []
    for tok in cut:
        if len(tok) >= 2 and not _known(tok, w) and _HAN.fullmatch(tok):
            head, tail = "", ""
            if tok[0] in _GLUED_BEFORE:
                head, tok = tok[0], tok[1:]
            if len(tok) >= 2 and tok[-1] in _GLUED_AFTER:
                tok, tail = tok[:-1], tok[-1]
            out.extend(t for t in (head, tok, tail) if t)
        else:
            out.append(tok)
    return out


def _after_cues(text: str, w: _Words) -> list[tuple[int, int]]:
    """Names right after a word that says a person follows (股东梁俊峰, 投诉人康丽): found on
    the characters, as the cutter may have glued the cue's last character to the name."""
    out = []
    for m in _cue_re().finditer(text):
        at = m.end()
        surname = text[at : at + 2] if text[at : at + 2] in COMPOUND_SURNAMES else text[at : at + 1]
        if not surname or (len(surname) == 1 and surname not in w.surnames):
            continue
        end = at + len(surname)
        while end < len(text) and end - at - len(surname) < 2 and text[end] in w.given:
            end += 1
        name = text[at:end]
        if end == at + len(surname) or w.tags.get(name) in _NOT_GIVEN_TAGS | _NEVER_TAGS:
            continue
        if w.tags.get(name[:2]) in _NOT_GIVEN_TAGS:
            continue  # 当事人成立于 …: a word, not a name
        if text[end : end + 1] in _PLACE_AFTER or text[end : end + 2] in _PLACE_AFTER:
            continue  # 当事人高家堡 …: a place
        out.append((at, end))
    return out


@cache
def _cue_re() -> re.Pattern[str]:
    return re.compile("|".join(sorted(map(re.escape, _CUE_BEFORE), key=len, reverse=True)))


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return tuple(out)


def _match(tokens: list[str], i: int, w: _Words, names_end: set[int]) -> int:
    """The token index after a name starting at token i, or 0."""
    tok = tokens[i]
    if _surname(tok, w) is None or not _HAN.fullmatch(tok):
        return 0
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    # A name the cutter split: 马 + 文明, 呼延 + 红霞, 白雪 + 梅, 司马光 + 明.
    if nxt and _HAN.fullmatch(nxt) and len(nxt) <= 2:
        joined = tok + nxt
        surname = _surname(joined, w) or ""
        bare = tok == surname
        fits = len(joined) <= len(surname) + 2 and (bare or len(nxt) == 1)
        if (
            fits
            and _shape(joined, w)
            and not _known(joined, w)
            and not (bare and tok in _AMBIGUOUS_BARE)
            and not (bare and len(nxt) == 2 and w.tags.get(nxt) in _NOT_GIVEN_TAGS)
            and (bare or w.tags.get(tok) not in _NOT_GIVEN_TAGS)
            and not _org_or_place_follows(tokens, i + 2, w)
        ):
            return i + 2
    if len(tok) < 2 or not _shape(tok, w) or _org_or_place_follows(tokens, i + 1, w):
        return 0
    if not _known(tok, w):
        return i + 1  # a word only the HMM made: 刘芳芳, 陈晨
    if w.tags.get(tok) in _NEVER_TAGS:
        return 0
    if len(tok) >= 3 and w.tags.get(tok) in _NAME_TAGS:
        return i + 1  # a person's name in the dictionary: 李丽静, 王洪波
    return i + 1 if _cued(tokens, i, i + 1, names_end) else 0  # 员工李娜, 、高明


def names_shown_anyway(is_person: bool, *names: Any) -> tuple[str, ...]:
    """Names a public view of an organisation's or 个体工商户's record shows in its own fields
    (its name, its 法定代表人/经营者): kept in clear inside its free text (``keep``). None for
    a natural person or 农户, whose own name follows the item's display rule instead."""
    if is_person:
        return ()
    return tuple(text for n in names if n and (text := str(n).strip()))


def mask_person_names(value: Any, *, keep: Iterable[str] = ()) -> Any:
    """Every person's name inside the strings of ``value`` shown as a masked name field is
    (刘芳芳 → 刘**), except the names in ``keep`` (shown publicly elsewhere on the record)."""
    kept = frozenset(k.strip() for k in keep if k and k.strip())
    return _mask(value, kept)


def _mask(value: Any, kept: frozenset[str]) -> Any:
    if isinstance(value, str):
        if kept and not _candidates(_words()).search(_blank(value, kept)):
            return value  # the only surname + given-name pairs are inside names shown anyway
        spans = find_person_names(value)
        if not spans:
            return value
        out, at = [], 0
        for start, end in spans:
            name = value[start:end]
            if name in kept or any(name in k for k in kept):
                continue
            out.append(value[at:start])
            out.append(display_person_name(name, PUBLIC_NAME_RULE))
            at = end
        out.append(value[at:])
        return "".join(out)
    if isinstance(value, list):
        return [_mask(v, kept) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v, kept) for k, v in value.items()}
    return value


def _blank(text: str, kept: frozenset[str]) -> str:
    """``text`` with every kept name (the record's organisation, its 法定代表人) blanked out, for
    the candidate test only: a company's facts mostly name the company itself."""
    for name in sorted(kept, key=len, reverse=True):
        if name in text:
            text = text.replace(name, "\u3000" * len(name))
    return text


def masks_free_text(field_type: str, role: str | None) -> bool:
    """True for a catalog field whose text may name third parties (see FREE_TEXT_ROLES)."""
    return field_type == "text" and role in FREE_TEXT_ROLES
