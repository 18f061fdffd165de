"""The batch checks equal the row path's, row for row: `Validator` against `Intake.parse`,
`publication_for`, `openness_for`, `is_adverse` and `is_public_field` on generated rows."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citycredit.catalog.loader import load_catalog
from citycredit.catalog.model import CatalogItem, Condition, ConditionOp
from citycredit.catalog.publication import publication_for
from citycredit.ingest.fast.reader import header_column
from citycredit.ingest.fast.rules import Rules
from citycredit.ingest.fast.validate import Validator
from citycredit.ingest.intake import Intake, roles_of
from citycredit.ingest.model import Reason
from citycredit.shared.errors import FieldError
from support import id_number, uscc

TODAY = date(2026, 11, 25)
CATALOG = load_catalog(None)
CO = uscc("91", "610802", "MA6CW2B2")
SHOP = uscc("92", "610802", "MA6CW3B3")

POOLS: dict[str, dict[str, list[str | None]]] = {
    "penalty": {
        "CF_XDR_MC": ["榆阳区某商贸有限公司", "王某", None, "长" * 201],
        "CF_XDR_LB": ["法人及非法人组织", "自然人", "个体工商户", "火星人", None],
        "CF_XDR_SHXYM": [CO, SHOP, None, CO[:-1] + "0", "00000000000000000X"],
        "CF_XDR_ZJHM": [
            None,
            id_number("610802", "19800101", "011"),
            "360426199101010072",
            id_number("610802", "20120101", "012"),
        ],
        "CF_XDR_DZ": [None, "榆林市榆阳区长城路8号"],
        "CF_WSH": ["榆市监罚〔2026〕1号", "榆市监罚〔2026〕2号", None],
        "CF_WFXW": ["x"],
        "CF_SY": ["经查", "适用简易程序", None],
        "CF_YJ": ["x"],
        "CF_CFLB": ["罚款", "警告", "警告;通报批评", "吊销许可证", "罚款、没收违法所得", "打板子"],
        "CF_NR": ["罚款2万元", "吊销营业执照", "按简易程序警告"],
        "CF_NR_FK": ["2", "0.02", "0.3", "100", "500", None, "两万", "-1"],
        "CF_JDRQ": ["2026-10-10", "2026/1/2", "2023-02-30", "2027-01-04", None, "长期"],
        "CF_CFJG": ["榆林市市场监督管理局", "榆林市生态环境局", "榆林市教育局"],
        "CF_CFJGDM": [uscc("11", "610800", "MA0CAMR1")],
        "CF_SJLY": ["榆林市市场监督管理局"],
        "CF_SJLYDM": [uscc("11", "610800", "MA0CAMR1")],
        "CF_SXYZCD": [None, "轻微", "严重", "一般", "很严重"],
        "CF_GSJZQ": [None, "2026-10-09", "2026-10-10", "2027-10-10", "2026-02-30"],
        "BZ": [None, "简易程序"],
    },
    "tax_credit_grade": {
        "NS_MC": ["甲公司", None],
        "NS_SHXYM": [CO, None],
        "NS_ND": ["2025", "二〇二五"],
        "NS_DJ": ["A", "B", "D", "Z", None],
        "NS_PDRQ": ["2026-04-01", None, "2026-13-01"],
    },
    "licence": {
        "XK_XDR_MC": ["甲公司"],
        "XK_XDR_LB": ["法人及非法人组织", "自然人"],
        "XK_XDR_SHXYM": [CO, None],
        "XK_XDR_ZJHM": [None, id_number("610802", "19800101")],
        "XK_XKWS": ["决定书"],
        "XK_WSH": ["榆许〔2026〕1号", None],
        "XK_XKBH": ["B1", None],
        "XK_XKLB": ["普通", "特许", "其他-临时"],
        "XK_NR": ["x"],
        "XK_JDRQ": ["2026-01-01", "2026-06-01", None],
        "XK_YXQZ": ["2026-01-01", "2027-06-01", "2026-13-01", None],
        "XK_YXQZI": ["2027-01-01", "长期", "2099/12/31", None, "2026-03-01", "2025-12-31"],
        "XK_XKJG": ["x"],
        "XK_XKJGDM": [uscc("11", "610800", "MA0CAMR1")],
        "XK_ZT": ["有效"],
        "XK_LYDW": ["x"],
        "XK_LYDWDM": [uscc("11", "610800", "MA0CAMR1")],
        "XK_XDR_DZ": [None, "榆林市榆阳区长城路8号"],
    },
    "commitment": {
        "CN_MC": ["甲公司"],
        "CN_SHXYM": [CO],
        "CN_LX": ["主动公示型"],
        "CN_SY": ["x"],
        "CN_BH": ["C1", "C2"],
        "CN_RQ": ["2026-01-01", None],
        "CN_SLDW": ["x"],
        "CN_LYZT": ["履约中", "未履约", None],
    },
}


def scalar(item: CatalogItem, mapped: dict[str, str | None]) -> tuple[str, Any]:
    intake = Intake.__new__(Intake)
    intake.item, intake.today, intake.roles = item, TODAY, roles_of(item)
    values, reasons = intake.parse(mapped)
    if reasons:
        return "rejected", [r.as_dict() for r in reasons]
    decision = intake._decision_date(values)
    try:
        pub = publication_for(item, values, decision)
    except FieldError as e:
        return "rejected", [Reason(e.field, e.value, e.code, e.message).as_dict()]
    return "ok", {
        "decision_date": decision,
        "severity": pub.severity.value if pub.severity else None,
        "severity_inferred": pub.severity_inferred,
        "severity_rule": pub.rule_id,
        "published": pub.published,
        "publication_end": pub.publication_end,
        "repair_from": pub.repair_from,
        "openness": item.openness_for(values).value,
        "adverse": item.is_adverse(values),
        "public": {s.code: item.is_public_field(s.code, values) for s in item.fields},
    }


def vectorised(
    item: CatalogItem, headers: tuple[str, ...], rows: list[dict[str, str | None]]
) -> list[tuple[str, Any]]:
    batch = pl.DataFrame(
        {
            "rn": list(range(1, len(rows) + 1)),
            **{header_column(i): [r[h] for r in rows] for i, h in enumerate(headers)},
        },
        schema_overrides={header_column(i): pl.String for i in range(len(headers))},
    )
    validator = Validator(item, {h: h for h in headers}, headers, TODAY)
    out = validator.run(batch)
    public = {
        s.code: out.with_columns(validator.rules.public_field(s.code).alias("_p"))["_p"]
        for s in item.fields
    }
    result = []
    for i, r in enumerate(out.iter_rows(named=True)):
        if r["reasons"] is not None:
            result.append(("rejected", json.loads(r["reasons"])))
            continue
        got = {
            k: r[k]
            for k in (
                "decision_date",
                "severity",
                "severity_inferred",
                "severity_rule",
                "published",
                "publication_end",
                "repair_from",
                "openness",
                "adverse",
            )
        }
        got["public"] = {code: bool(s[i]) for code, s in public.items()}
        result.append(("ok", got))
    return result


@pytest.mark.parametrize("code", sorted(POOLS))
def test_batch_checks_equal_the_row_path(code: str) -> None:
    item = CATALOG.item(code)
    pools = POOLS[code]
    row = st.fixed_dictionaries({h: st.sampled_from(v) for h, v in pools.items()})

    @settings(max_examples=50, deadline=None)
    @given(st.lists(row, min_size=1, max_size=25))
    def check(rows: list[dict[str, str | None]]) -> None:
        headers = tuple(pools)  # one column order for the whole file, as in a real file
        expected = [scalar(item, {h: r[h] for h in headers}) for r in rows]
        assert vectorised(item, headers, rows) == expected

    check()


def test_conditions_column_wise_or_by_memo_equal_holds() -> None:
    """Every operator, including the ones evaluated per distinct raw tuple (datetime tokens)."""
    from citycredit.catalog.model import holds
    from citycredit.catalog.values import parse_field

    item = CATALOG.item("penalty")
    conds = [
        Condition(("CF_CFLB",), ConditionOp.subset_of, ("警告", "通报批评")),
        Condition(("CF_CFLB", "CF_NR"), ConditionOp.contains_any, ("吊销", "限制")),
        Condition(("CF_NR_FK",), ConditionOp.gte, (), __import__("decimal").Decimal("10000")),
        Condition(("CF_NR_FK",), ConditionOp.lte, (), __import__("decimal").Decimal("0.005")),
        Condition(("CF_XDR_LB",), ConditionOp.not_in, ("自然人",)),
        Condition(("BZ", "CF_SY"), ConditionOp.absent),
        Condition(("BZ",), ConditionOp.present),
        Condition(("CF_JDRQ",), ConditionOp.in_, ("2026-10-10",)),
    ]
    raws = {
        "CF_CFLB": ["罚款", "警告;通报批评", "警告", None, "打板子"],
        "CF_NR": ["吊销营业执照", "罚款", None],
        "CF_NR_FK": ["2", "0.3", None, "x", "0.0000004"],
        "CF_XDR_LB": ["自然人", "个体工商户", None],
        "BZ": [None, "备注"],
        "CF_SY": [None, "事实"],
        "CF_JDRQ": ["2026-10-10", "2026/10/10", None],
    }
    n = 40
    frame = {}
    values_rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for code, pool in raws.items():
        col = [pool[(i * 7 + len(code)) % len(pool)] for i in range(n)]
        spec = item.field(code)
        rendered = []
        for i, raw in enumerate(col):
            try:
                v = parse_field(spec, raw, today=TODAY)
            except FieldError:
                v = None
            values_rows[i][code] = v
            from citycredit.ingest.fast.cells import render

            rendered.append(render(spec, v))
        frame[f"r:{code}"] = col
        frame[f"v:{code}"] = rendered
    for spec in item.fields:
        frame.setdefault(f"r:{spec.code}", [None] * n)
        frame.setdefault(f"v:{spec.code}", [None] * n)
    df = pl.DataFrame(frame, schema=dict.fromkeys(frame, pl.String))
    rules = Rules(item, today=TODAY)
    for cond in conds:
        assert rules.holds(df, cond).to_list() == [holds(cond, v) for v in values_rows], cond
