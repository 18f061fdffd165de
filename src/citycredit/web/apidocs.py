"""What /openapi.json and /docs tell an integration engineer about each operation: a group
(tag) per area of the platform, in Chinese, and a one-line summary taken from the handler's
docstring instead of FastAPI's title-cased function name ("Get Feed")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

# The module of a route's handler → its group in the API documentation.
TAGS: dict[str, str] = {
    "citycredit.web.api": "归集与公共查询",
    "citycredit.web.sharing_api": "共享调度（订阅与数据推送）",
    "citycredit.web.exports_api": "双公示上报",
    "citycredit.web.checks_api": "信用核查与信用承诺",
    "citycredit.web.lists_api": "信用名单与联合奖惩",
    "citycredit.web.evaluation_api": "公共信用综合评价",
    "citycredit.web.rights_api": "权益保护（异议、修复、查询授权）",
    "citycredit.web.withhold_api": "不予公示",
    "citycredit.web.reports_api": "信用报告",
    "citycredit.web.ledger_api": "信用数据链",
    "citycredit.web.privacy_api": "个人信息",
    "citycredit.web.selfservice_api": "自助注册与自主公示",
    "citycredit.web.auth_api": "登录、账号与身份绑定",
    "citycredit.web.audit": "审计",
    "citycredit.web.alarms_api": "系统告警",
    "citycredit.web.security_policy_api": "安全策略",
    "citycredit.web.app": "运行状态",
}
OTHER = "其他"


def summary_of(route: APIRoute) -> str | None:
    """The first sentence of the handler's docstring (its first paragraph, lines joined), or
    None if it has none; a long sentence is cut at `SUMMARY_MAX` characters."""
    paragraph = (route.description or "").strip().split("\n\n", 1)[0]
    text = " ".join(line.strip() for line in paragraph.splitlines()).strip()
    if not text:
        return None
    end = _SENTENCE_END.search(text)
    if end is not None:
        text = text[: end.start() + 1]
    if len(text) > SUMMARY_MAX:
        text = text[: SUMMARY_MAX - 1].rstrip() + "…"
    return text.rstrip(":：")


SUMMARY_MAX = 100
# "。" ends a sentence; so does ". " — except after "e.g" / "i.e".
_SENTENCE_END = re.compile(r"。|(?<!e\.g)(?<!i\.e)\.(?=\s|$)")


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI ≥ 0.16x includes a router as
    one entry that keeps the router: ``original_router``)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def describe_routes(app: FastAPI) -> None:
    """Give every documented route a tag and a summary where its router set none."""
    for route in api_routes(app.routes):
        if not route.include_in_schema:
            continue
        if not route.tags:
            route.tags = [TAGS.get(route.endpoint.__module__, OTHER)]
        if not route.summary:
            route.summary = summary_of(route)
