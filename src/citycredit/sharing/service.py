"""共享调度 use cases: subscribe, list, pull a feed, change status, who received a record."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from citycredit.accounts.db import DepartmentRow
from citycredit.accounts.model import (
    Permission,
    Principal,
    hidden_as,
    require,
    require_identified,
)
from citycredit.accounts.service import acting_department
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.kernel import outbox
from citycredit.kernel.disclosure import record_disclosure
from citycredit.privacy.access import Purpose, open_personal
from citycredit.privacy.records import version_aad
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.sharing.db import (
    DeliveryRow,
    FeedEntryRow,
    RecordBlockRow,
    SubscriptionRow,
    SubscriptionSubjectRow,
)
from citycredit.sharing.fanout import Builder, load_versions, lock_state
from citycredit.sharing.model import (
    CLEAR_PERSONAL_ROLES,
    DEFAULT_PULL,
    MAX_PULL,
    MAX_SUBJECTS,
    REDACTION_MESSAGES,
    Access,
    Channel,
    FileFormat,
    Kind,
    PersonalMode,
    Status,
    access_for,
    check_fields,
    check_item_access,
    check_transition,
)
from citycredit.subjects.db import SubjectRow

INITIAL_CHUNK = 500


@dataclass(frozen=True)
class NewSubscription:
    """What a department asks for (the typed command of `subscribe`)."""

    name: str
    items: Sequence[str] = ()
    subjects: Sequence[str] = ()
    fields: dict[str, list[str]] = field(default_factory=dict)
    channel: str = Channel.pull.value
    file_format: str = FileFormat.jsonl.value
    purpose: str | None = None
    legal_basis: str | None = None
    personal: str = PersonalMode.none.value
    initial_load: bool = True
    department: str | None = None  # the credit office subscribes on a department's behalf


def _enum(enum: type[Any], name: str, value: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = "、".join(m.value for m in enum)
        raise FieldError(name, value, "invalid", f"{name} 只能是 {allowed}") from None


def _validate(c: Container, actor: Principal, cmd: NewSubscription) -> dict[str, Any]:
    name = (cmd.name or "").strip()
    if not name or len(name) > 100:
        raise FieldError("name", cmd.name, "required", "订阅名称必填，最长100字")
    channel = _enum(Channel, "channel", cmd.channel)
    fmt = _enum(FileFormat, "file_format", cmd.file_format)
    mode = _enum(PersonalMode, "personal", cmd.personal)
    access = access_for(actor, cmd.purpose, cmd.legal_basis)
    items = list(dict.fromkeys(x.strip() for x in cmd.items if x.strip()))
    subjects = list(dict.fromkeys(x.strip() for x in cmd.subjects if x.strip()))
    if not items and not subjects:
        raise FieldError(
            "items", "", "required", "至少订阅一个信息项（items）或一个主体（subjects）"
        )
    if len(subjects) > MAX_SUBJECTS:
        raise FieldError(
            "subjects", str(len(subjects)), "too_many", f"一个订阅最多 {MAX_SUBJECTS} 个主体"
        )
    for code in items:
        _catalog_item(c, "items", code)
    fields: dict[str, list[str]] = {}
    for code, wanted in (cmd.fields or {}).items():
        if items and code not in items:
            raise FieldError(
                "fields", code, "not_subscribed", f"未订阅信息项 {code}，不能指定其字段"
            )
        fields[code] = list(check_fields(_catalog_item(c, "fields", code), wanted, access))
    if mode is not PersonalMode.none and access is not Access.authorised:
        raise FieldError(
            "personal", mode.value, "not_allowed", "个人信息字段只能通过写明用途和依据的订阅共享"
        )
    if mode is PersonalMode.clear and channel is Channel.file:
        raise FieldError(
            "personal",
            mode.value,
            "not_with_files",
            "明文个人信息只能通过拉取接口（pull）共享：文件会留在交换目录，不写入明文",
        )
    if mode is PersonalMode.clear and actor.role not in CLEAR_PERSONAL_ROLES:
        raise PermissionDenied(
            "明文个人信息只能由市信用办为部门设置的订阅共享", code="forbidden_clear_personal"
        )
    return {
        "name": name,
        "channel": channel,
        "fmt": fmt,
        "mode": mode,
        "access": access,
        "items": items,
        "subjects": subjects,
        "fields": fields,
    }


def _catalog_item(c: Container, name: str, code: str) -> CatalogItem:
    try:
        return c.catalog.item(code)
    except NotFound:
        valid = "、".join(c.catalog.items)
        raise FieldError(
            name, code, "unknown_item", f"目录中没有信息项「{code}」；可用的信息项：{valid}"
        ) from None


def subscribe(c: Container, actor: Principal, cmd: NewSubscription) -> dict[str, Any]:
    """A department subscribes (the office may for a department); initial load included."""
    require(actor, Permission.read_public)
    _require_token(actor)
    v = _validate(c, actor, cmd)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        dept = acting_department(s, actor, cmd.department)
        for code in v["items"]:
            check_item_access(c.catalog.item(code), v["access"], dept.name, dept.kind)
        missing = _missing_subjects(s, v["subjects"])
        if missing:
            raise FieldError("subjects", missing[0], "unknown_subject", f"主体 {missing[0]} 不存在")
        # The fan-out's lock: no batch runs between the initial load and this commit, so a
        # change committed after the load's reads is fanned out after the subscription exists.
        lock_state(s, now)
        sub = SubscriptionRow(
            id=new_id("sub"),
            department_id=dept.id,
            name=v["name"],
            items=v["items"],
            fields=v["fields"],
            by_subject=bool(v["subjects"]),
            channel=v["channel"].value,
            file_format=v["fmt"].value,
            access=v["access"].value,
            personal=v["mode"].value,
            purpose=(cmd.purpose or "").strip() or None,
            legal_basis=(cmd.legal_basis or "").strip() or None,
            status=Status.active.value,
            last_seq=0,
            file_after=0,
            created_by=actor.label,
            created_by_user_id=actor.user_id,
            created_by_role=actor.role.value,
            created_at=now,
            updated_at=now,
        )
        s.add(sub)
        s.flush()
        s.add_all(
            SubscriptionSubjectRow(subscription_id=sub.id, subject_id=x) for x in v["subjects"]
        )
        s.flush()
        if cmd.initial_load:
            initial_load(c, s, sub, v["subjects"], now)
        outbox.emit(
            s,
            event_type="subscription.created",
            aggregate_type="subscription",
            aggregate_id=sub.id,
            at=now,
            payload={"department_id": dept.id, "items": v["items"], "access": sub.access},
        )
        uow.commit()
        return _summary(sub, dept.name)


def _missing_subjects(s: Session, subjects: list[str]) -> list[str]:
    found: set[str] = set()
    for i in range(0, len(subjects), INITIAL_CHUNK):
        part = subjects[i : i + INITIAL_CHUNK]
        found.update(
            s.scalars(select(SubjectRow.subject_id).where(SubjectRow.subject_id.in_(part)))
        )
    return [x for x in subjects if x not in found]


def initial_load(
    c: Container, s: Session, sub: SubscriptionRow, subjects: list[str], now: datetime
) -> int:
    """The current version of every matching active record, oldest first, as the first entries."""
    stmt = select(RecordRow).where(RecordRow.status == "active")
    if sub.items:
        stmt = stmt.where(RecordRow.item_code.in_(sub.items))
    blocked = select(RecordBlockRow.record_id)
    stmt = stmt.where(RecordRow.id.not_in(blocked))
    repaired_at = getattr(RecordRow, "repaired_at", None)  # the rights area's read-time rule
    if repaired_at is not None:
        stmt = stmt.where(repaired_at.is_(None))
    stmt = stmt.order_by(RecordRow.first_submitted_at, RecordRow.id)
    builder = Builder(c, s, now)
    batches = (
        [
            stmt.where(RecordRow.subject_id.in_(subjects[i : i + INITIAL_CHUNK]))
            for i in range(0, len(subjects), INITIAL_CHUNK)
        ]
        if subjects
        else [stmt]
    )
    added = 0
    for q in batches:
        for part in s.scalars(q.execution_options(yield_per=INITIAL_CHUNK)).partitions():
            added += _load_part(c, s, builder, sub, list(part))
    return added


def _load_part(
    c: Container, s: Session, builder: Builder, sub: SubscriptionRow, records: list[RecordRow]
) -> int:
    versions = load_versions(s, [(r.id, r.current_version) for r in records])
    subjects = {
        x.subject_id: x
        for x in s.scalars(
            select(SubjectRow).where(SubjectRow.subject_id.in_({r.subject_id for r in records}))
        )
    }
    added = 0
    for r in records:
        v = versions.get((r.id, r.current_version))
        if v is None or v.kind not in (Kind.original.value, Kind.correction.value):
            continue
        built = builder.content(sub, c.catalog.item(r.item_code), r, v, subjects.get(r.subject_id))
        if built is None:
            continue
        payload, public, clear = built
        builder.entry(
            sub,
            r,
            version=v.version,
            kind=Kind.original,  # new to this consumer, whatever the version's own history
            changed_at=v.created_at,
            event_id=None,
            payload=payload,
            public=public,
            clear=clear,
        )
        added += 1
    builder.flush()
    s.flush()
    return added


# -- reading subscriptions -----------------------------------------------------------------


def _summary(sub: SubscriptionRow, department: str | None) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "department_id": sub.department_id,
        "department": department,
        "items": list(sub.items or []),
        "by_subject": sub.by_subject,
        "fields": dict(sub.fields or {}),
        "channel": sub.channel,
        "file_format": sub.file_format,
        "access": sub.access,
        "personal": sub.personal,
        "purpose": sub.purpose,
        "legal_basis": sub.legal_basis,
        "status": sub.status,
        "status_reason": sub.status_reason,
        "last_seq": sub.last_seq,
        "file_after": sub.file_after,
        "created_by": sub.created_by,
        "created_at": sub.created_at.isoformat(),
        "updated_at": sub.updated_at.isoformat(),
    }


def _require_token(actor: Principal) -> None:
    require_identified(actor, "共享调度接口需要部门或市信用办的令牌（Authorization: Bearer …）")


def visible_subscription(
    s: Session, actor: Principal, subscription_id: str, *, subscriber_only: bool = False
) -> SubscriptionRow:
    """The subscription if the actor's department owns it (or the actor is the office).

    Another department's subscription answers exactly like a missing one (no IDOR oracle, G8);
    the refusal is recorded in the audit trail. ``subscriber_only`` (pulling the feed): the
    subscribing department itself only — the credit office, which inspects every
    subscription, pulls none and gets the same answer as for a missing one.
    """
    _require_token(actor)
    missing = NotFound(f"订阅 {subscription_id} 不存在", code="subscription_not_found")
    sub = s.get(SubscriptionRow, subscription_id)
    if sub is None:
        raise missing
    own = actor.department_id is not None and actor.department_id == sub.department_id
    with hidden_as(missing):
        if not (own or actor.can(Permission.read_all_submissions)):
            raise PermissionDenied("部门用户只能操作本部门的数据", code="other_department")
        if subscriber_only and not own:
            raise PermissionDenied("只有订阅部门本身可以拉取数据", code="not_subscriber")
    return sub


def list_subscriptions(
    c: Container, actor: Principal, *, department: str | None = None
) -> list[dict[str, Any]]:
    """A department's own subscriptions; the credit office sees all (or one department's)."""
    require(actor, Permission.read_public)
    _require_token(actor)
    with c.uow() as uow:
        s = uow.session
        stmt = select(SubscriptionRow, DepartmentRow.name).join(
            DepartmentRow, DepartmentRow.id == SubscriptionRow.department_id
        )
        if actor.can(Permission.read_all_submissions):
            if department:
                stmt = stmt.where(
                    (DepartmentRow.name == department) | (DepartmentRow.code == department.upper())
                )
        elif actor.department_id is not None:
            stmt = stmt.where(SubscriptionRow.department_id == actor.department_id)
        else:
            raise PermissionDenied("只有部门或市信用办可以查看订阅", code="forbidden")
        rows = s.execute(stmt.order_by(SubscriptionRow.created_at, SubscriptionRow.id))
        return [_summary(sub, name) for sub, name in rows]


def get_subscription(c: Container, actor: Principal, subscription_id: str) -> dict[str, Any]:
    """One subscription with its delivery progress."""
    with c.uow() as uow:
        s = uow.session
        sub = visible_subscription(s, actor, subscription_id)
        dept = s.get(DepartmentRow, sub.department_id)
        out = _summary(sub, dept.name if dept else None)
        out["delivered_max_seq"] = int(
            s.scalar(select(func.max(DeliveryRow.seq)).where(DeliveryRow.subscription_id == sub.id))
            or 0
        )
        out["subjects"] = list(
            s.scalars(
                select(SubscriptionSubjectRow.subject_id)
                .where(SubscriptionSubjectRow.subscription_id == sub.id)
                .order_by(SubscriptionSubjectRow.subject_id)
            )
        )
        return out


def change_status(
    c: Container, actor: Principal, subscription_id: str, status: str, reason: str = ""
) -> dict[str, Any]:
    """Cancel (the department or the office), suspend or resume (the office only)."""
    new = _enum(Status, "status", status)
    with c.uow() as uow:
        s = uow.session
        sub = visible_subscription(s, actor, subscription_id)
        if new is not Status.cancelled:
            require(actor, Permission.read_all_submissions)
        if new is Status.suspended and len(reason.strip()) < 2:
            raise FieldError("reason", reason, "required", "暂停订阅必须说明理由（reason）")
        check_transition(Status(sub.status), new)
        sub.status = new.value
        sub.status_reason = reason.strip() or None
        sub.updated_at = c.clock.now()
        outbox.emit(
            s,
            event_type=f"subscription.{new.value}",
            aggregate_type="subscription",
            aggregate_id=sub.id,
            at=sub.updated_at,
            payload={"reason": sub.status_reason},
        )
        uow.commit()
        dept = s.get(DepartmentRow, sub.department_id)
        return _summary(sub, dept.name if dept else None)


# -- delivering ------------------------------------------------------------------------------


def render_entry(e: FeedEntryRow) -> dict[str, Any]:
    """A feed entry as the department receives it."""
    out: dict[str, Any] = {
        "seq": e.seq,
        "kind": e.kind,
        "kind_label": Kind(e.kind).label,
        "record_id": e.record_id,
        "version": e.version,
        "item": e.item_code,
        "subject_id": e.subject_id,
        "changed_at": e.changed_at.isoformat(),
        "data": e.payload,
        "note": e.note,
        "redacted": None,
    }
    if e.redacted_at is not None:
        out["redacted"] = {
            "reason": e.redacted_reason,
            "at": e.redacted_at.isoformat(),
            "message": REDACTION_MESSAGES.get(e.redacted_reason or "", "该记录此前的内容不再共享"),
        }
    return out


def _fill_clear(
    c: Container, actor: Principal, s: Session, rows: list[FeedEntryRow]
) -> dict[tuple[str, int], dict[str, Any]]:
    """Clear personal values for entries that carry them (opened through privacy.access)."""
    wanted = {(e.record_id, e.version) for e in rows if e.clear_personal and e.payload}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for rid, ver in sorted(wanted):
        v = s.scalar(
            select(RecordVersionRow).where(
                RecordVersionRow.record_id == rid, RecordVersionRow.version == ver
            )
        )
        if v is not None:
            out[(rid, ver)] = open_personal(
                c, actor, v.personal, aad=version_aad(rid, ver), purpose=Purpose.disclose
            )
    return out


def render_entries(
    c: Container, actor: Principal, s: Session, rows: list[FeedEntryRow], *, fill_clear: bool
) -> list[dict[str, Any]]:
    """Entries as the department receives them (clear personal values filled if asked)."""
    clear = _fill_clear(c, actor, s, rows) if fill_clear else {}
    rendered = []
    for e in rows:
        out = render_entry(e)
        if e.payload and e.clear_personal and fill_clear:
            values = clear.get((e.record_id, e.version), {})
            out["data"] = {
                **e.payload,
                "fields": {
                    **e.payload.get("fields", {}),
                    **{k: values[k] for k in e.clear_personal if k in values},
                },
            }
        rendered.append(out)
    return rendered


def deliver(
    c: Container,
    actor: Principal,
    s: Session,
    sub: SubscriptionRow,
    rows: list[FeedEntryRow],
    *,
    channel: Channel,
    cursor: str,
) -> list[dict[str, Any]]:
    """Render entries, record one delivery per entry and log the non-public ones.

    Clear personal values are filled only on the pull channel (an authenticated request);
    files keep the masked form, since they stay in the exchange folder.
    """
    now = c.clock.now()
    rendered = render_entries(c, actor, s, rows, fill_clear=channel is Channel.pull)
    disclosed: dict[str, list[FeedEntryRow]] = defaultdict(list)
    for e in rows:
        if e.redacted_at is not None:
            continue  # nothing of the record left in it: not a delivery of that version
        s.add(
            DeliveryRow(
                subscription_id=sub.id,
                department_id=sub.department_id,
                seq=e.seq,
                record_id=e.record_id,
                version=e.version,
                kind=e.kind,
                channel=channel.value,
                cursor=cursor,
                delivered_at=now,
                delivered_to=actor.label[:100],
                user_id=actor.user_id,
            )
        )
        if e.payload is not None and not e.public:
            disclosed[e.subject_id].append(e)
    for subject_id, entries in sorted(disclosed.items()):
        record_disclosure(
            s,
            actor=actor,
            subject_id=subject_id,
            items=[e.item_code for e in entries],
            purpose=sub.purpose or "",
            channel=f"sharing_{channel.value}",
            at=now,
            detail={
                "subscription": sub.id,
                "legal_basis": sub.legal_basis,
                "records": [[e.record_id, e.version] for e in entries],
                "seq": [entries[0].seq, entries[-1].seq],
                "cursor": cursor,
            },
        )
    return rendered


def pull_feed(
    c: Container,
    actor: Principal,
    subscription_id: str,
    *,
    after: int = 0,
    limit: int = DEFAULT_PULL,
) -> dict[str, Any]:
    """Entries with seq > after, in seq order: {entries, next_after, has_more}.

    Only the subscribing department pulls; every returned entry is recorded as delivered, and
    entries with non-public content are written to the disclosure log.
    """
    if not isinstance(after, int) or after < 0:
        raise FieldError(
            "after", str(after), "invalid", "after 必须是不小于 0 的整数（上次的 next_after）"
        )
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PULL:
        raise FieldError("limit", str(limit), "invalid", f"limit 必须在 1 到 {MAX_PULL} 之间")
    with c.uow() as uow:
        s = uow.session
        sub = visible_subscription(s, actor, subscription_id, subscriber_only=True)
        if sub.status == Status.suspended.value:
            raise Conflict(
                f"订阅 {sub.id} 已被市信用办暂停：{sub.status_reason or ''}",
                code="subscription_suspended",
            )
        if sub.access == Access.authorised.value:
            require(actor, Permission.read_authorised)
        if after > sub.last_seq:
            raise FieldError(
                "after",
                str(after),
                "beyond_feed",
                f"after 超过了订阅当前的最大序号 {sub.last_seq}；请用上次返回的 next_after",
            )
        rows = list(
            s.scalars(
                select(FeedEntryRow)
                .where(FeedEntryRow.subscription_id == sub.id, FeedEntryRow.seq > after)
                .order_by(FeedEntryRow.seq)
                .limit(limit + 1)
            )
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        entries = deliver(c, actor, s, sub, rows, channel=Channel.pull, cursor=f"after={after}")
        uow.commit()
        return {
            "subscription": sub.id,
            "status": sub.status,
            "entries": entries,
            "next_after": rows[-1].seq if rows else after,
            "has_more": has_more,
        }


# -- consumers of a record (for repair notices) ------------------------------------------


@dataclass(frozen=True)
class Consumer:
    """One delivery of one record: who received which version when."""

    subscription_id: str
    department_id: int
    department: str | None
    version: int
    kind: str
    seq: int
    channel: str
    cursor: str
    delivered_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "department_id": self.department_id,
            "department": self.department,
            "version": self.version,
            "kind": self.kind,
            "seq": self.seq,
            "channel": self.channel,
            "cursor": self.cursor,
            "delivered_at": self.delivered_at.isoformat(),
        }


def consumers_of_record(session: Session, record_id: str) -> list[Consumer]:
    """Every recorded delivery of a record, oldest first (the rights area's repair notices)."""
    rows = session.execute(
        select(DeliveryRow, DepartmentRow.name)
        .join(DepartmentRow, DepartmentRow.id == DeliveryRow.department_id)
        .where(DeliveryRow.record_id == record_id)
        .order_by(DeliveryRow.delivered_at, DeliveryRow.id)
    )
    return [
        Consumer(
            subscription_id=d.subscription_id,
            department_id=d.department_id,
            department=name,
            version=d.version,
            kind=d.kind,
            seq=d.seq,
            channel=d.channel,
            cursor=d.cursor,
            delivered_at=d.delivered_at,
        )
        for d, name in rows
    ]


def record_consumers(c: Container, actor: Principal, record_id: str) -> dict[str, Any]:
    """Who received a record (credit office, or the record's source department).

    A role that reads no record is refused before the lookup; another department's record
    answers like a missing one (G8)."""
    if not actor.can(Permission.read_all_submissions):
        require(actor, Permission.read_own_submissions)
    with c.uow() as uow:
        s = uow.session
        missing = NotFound(f"记录 {record_id} 不存在", code="record_not_found")
        record = s.get(RecordRow, record_id)
        if record is None:
            raise missing
        if not actor.can(Permission.read_all_submissions):
            with hidden_as(missing):
                require(actor, Permission.read_own_submissions, department_id=record.department_id)
        return {
            "record_id": record_id,
            "consumers": [x.as_dict() for x in consumers_of_record(s, record_id)],
        }
