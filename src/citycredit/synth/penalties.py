"""Administrative penalties (行政处罚) of the synthetic city, from the penalty rules."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from citycredit.subjects.model import SubjectType
from citycredit.synth.codes import add_years, fmt_amount, nice_amount
from citycredit.synth.penalty_rules import PENALTIES, RELIC, REVOKED, Penalty
from citycredit.synth.records import Book, dept, party

if TYPE_CHECKING:
    from citycredit.synth.city import Subject

ST = SubjectType
_CONFISCATE = "没收违法所得、没收非法财物"
_REVOKE = "暂扣或者吊销许可证、暂扣或者吊销执照"


def _outcome(book: Book, p: Penalty) -> str:
    pairs = [k.split(":") for k in p.kinds.split()]
    return book.rng.choices([k for k, _ in pairs], weights=[int(w) for _, w in pairs])[0]


def _yuan(wan: float) -> str:
    return fmt_amount(round(wan * 10000, 2))


def _penalty(book: Book, s: Subject, p: Penalty, minor: bool = False) -> None:
    """One penalty row."""
    rng = book.rng
    d = dept(p.dept)
    jdrq = book.when(s, years=1 if minor else 4)
    outcome = _outcome(book, p)
    fine = nice_amount(rng, *p.fine) if outcome in ("fine", "confiscate", "stop") else 0.0
    if outcome == "stop" and rng.random() < 0.3:
        fine = 0.0
    gains = nice_amount(rng, 0.01, max(p.fine[1] / 2, 0.02)) if outcome == "confiscate" else 0.0
    parts = {
        "warn": ["警告"],
        "stop": ["责令停产停业整顿"],
        "other": [p.what],
        "revoke": [f"吊销{p.what}"],
    }.get(outcome, [])
    if fine:
        parts.append(f"罚款人民币{_yuan(fine)}元")
    if gains:
        parts.append(f"没收违法所得人民币{_yuan(gains)}元")
    cflb = {"warn": "警告", "stop": "责令停产停业", "other": "其他", "revoke": _REVOKE}.get(
        outcome, _CONFISCATE if gains and rng.random() < 0.3 else "罚款"
    )
    simple = (outcome == "warn" or 0 < fine <= (0.02 if s.is_person else 0.3)) and (
        rng.random() < 0.6
    )
    serious = outcome in ("stop", "revoke") or fine >= 50
    period = 1 if simple or outcome == "warn" else 3
    cfjg, cfjgdm = book.authority(d, s)
    end = add_years(jdrq, period) - timedelta(days=1)
    values = party("penalty", s) | {
        "CF_WSH": book.docno(d.abbr, "简罚" if simple else "罚", jdrq.year),
        "CF_WFXW": p.wfxw,
        "CF_SY": f"经查，当事人{s.name}存在{p.wfxw}的行为，"
        f"于{jdrq - timedelta(days=rng.randint(20, 90)):%Y年%m月%d日}被立案调查。",
        "CF_YJ": p.yj,
        "CF_CFLB": cflb,
        "CF_NR": "，".join(parts),
        "CF_NR_FK": fmt_amount(fine) if fine else "",
        "CF_NR_WFFF": fmt_amount(gains) if gains else "",
        "CF_NR_ZKDX": f"{p.what}（{s.uscc or s.reg_no}）" if outcome == "revoke" else "",
        "CF_JDRQ": jdrq,
        "CF_YXQ": end,
        "CF_GSJZQ": end,
        "CF_CFJG": cfjg,
        "CF_CFJGDM": cfjgdm,
        "CF_SJLY": d.name,
        "CF_SJLYDM": d.code,
        "CF_SXYZCD": "",
        "BZ": "简易程序" if simple else "",
    }
    if rng.random() < 0.1:
        values["CF_SXYZCD"] = "严重" if serious else "轻微" if simple else "一般"
    book.emit(d.slug, "penalty", s, values, minor=minor)


def penalties(book: Book) -> None:
    """Penalties for about 10% of subjects, 吊销 for revoked enterprises, and minors' penalties."""
    rng = book.rng
    kinds = (
        ST.enterprise,
        ST.individual_business,
        ST.farmer_cooperative,
        ST.private_non_enterprise,
        ST.public_institution,
        ST.other_organisation,
        ST.natural_person,
        ST.farm_household,
    )
    for s in book.sample(kinds, 0.1):
        fitting = [p for p in PENALTIES if p.fit(s)]
        if fitting:
            for p in rng.sample(fitting, min(len(fitting), 2 if rng.random() < 0.15 else 1)):
                _penalty(book, s, p)
    for s in book.subjects:
        if s.status == "吊销":
            _penalty(book, s, REVOKED)
        elif s.minor:
            _penalty(book, s, RELIC, minor=True)
