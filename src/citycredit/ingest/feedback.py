"""数据质量反馈: tell the source department about a record that breaks the source's own rules.

Some records the platform stores but must not publish are not only unpublishable: they should
not exist at the source. A court may not list a minor as a 失信被执行人 (法释〔2017〕7号); when a
court file carries one, the platform keeps it off every public surface (intake marks it
``unpublished_reason = "minor"``; lists' ``public_view_filter``) — and the court should hear of
it, so that it corrects or withdraws the listing. The rules are data (`RULES`): item, the
reason the intake recorded, and the text of the notice.

The job sends one in-app notice (rights.notices, 站内通知) per record to its source department
and never again for that record (the notice itself is the mark: topic + record id). The
notice names the record, its decision date and the rule — never the person's name or number
(the department has them; the inbox is not the place to copy them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, exists, select

from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.kernel.jobs import BATCH, Job
from citycredit.rights.db import NoticeRow
from citycredit.rights.notices import DEFAULT_NOTIFIER, Notice, Notifier

__all__ = ["JOBS", "RULES", "FeedbackRule", "send_source_feedback"]


@dataclass(frozen=True)
class FeedbackRule:
    item: str
    unpublished_reason: str
    topic: str
    title: str
    body: str  # {record_id} and {decided} are filled in
    basis: str


RULES: tuple[FeedbackRule, ...] = (
    FeedbackRule(
        item="judgment_defaulter",
        unpublished_reason="minor",
        topic="quality.minor_listed",
        title="疑似未成年人被纳入失信被执行人名单，请核查",
        body=(
            "记录 {record_id}（发布日期 {decided}）的被执行人在发布日未满十八周岁。"
            "未成年被执行人不得纳入失信被执行人名单，本平台未公示该记录；"
            "请核查后更正或撤回该名单信息。依据：{basis}"
        ),
        basis="《最高人民法院关于公布失信被执行人名单信息的若干规定》（法释〔2017〕7号）",
    ),
)


def send_source_feedback(c: Container, notifier: Notifier = DEFAULT_NOTIFIER) -> dict[str, Any]:
    """Notify each source department once per record that one of `RULES` finds."""
    now = c.clock.now()
    sent: dict[str, int] = {}
    with c.uow() as uow:
        s = uow.session
        for rule in RULES:
            already = exists().where(
                and_(
                    NoticeRow.topic == rule.topic,
                    NoticeRow.ref_type == "record",
                    NoticeRow.ref_id == RecordRow.id,
                )
            )
            rows = s.execute(
                select(RecordRow.id, RecordRow.department_id, RecordRow.decision_date)
                .where(
                    RecordRow.item_code == rule.item,
                    RecordRow.unpublished_reason == rule.unpublished_reason,
                    RecordRow.status == "active",
                    ~already,
                )
                .order_by(RecordRow.id)
            ).all()
            for record_id, department_id, decided in rows:
                body = rule.body.format(
                    record_id=record_id,
                    decided=decided.isoformat() if decided else "未填写",
                    basis=rule.basis,
                )
                notifier.send(
                    s,
                    Notice(
                        "department",
                        str(department_id),
                        rule.topic,
                        rule.title,
                        body,
                        "record",
                        record_id,
                    ),
                    at=now,
                )
            sent[rule.topic] = len(rows)
        uow.commit()
    return {"sent": sent}


JOBS = [
    Job(
        "source_feedback",
        timedelta(hours=1),
        send_source_feedback,
        "数据质量反馈：来源数据违反来源单位自身规则的记录（如未成年人被纳入失信被执行人名单），通知来源单位核查",
        lane=BATCH,
    ),
]
