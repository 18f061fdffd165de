"""Tables: departments, users, API tokens, web sessions, subject bindings, the audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from citycredit.db.base import Base, JsonType, UtcDateTime


class DepartmentRow(Base):
    """信源单位: a source department that submits records."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(18), unique=True, comment="统一社会信用代码")
    # catalog.model.DEPARTMENT_KINDS (checked by accounts.service.add_department)
    kind: Mapped[str] = mapped_column(String(40), default="government")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserRow(Base):
    """A staff or credit-office account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2id")
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Authentication state (0009). The TOTP secret is sealed with a key derived from the
    # deployment secret (accounts.totp); the last accepted time step stops code replay.
    totp_secret: Mapped[str | None] = mapped_column(String(200), comment="sealed TOTP secret")
    totp_last_step: Mapped[int | None] = mapped_column(comment="last accepted TOTP time step")
    failed_logins: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    failed_since: Mapped[datetime | None] = mapped_column(
        UtcDateTime(), comment="start of the current failure window"
    )
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    must_change_password: Mapped[bool] = mapped_column(
        default=False, server_default=false(), comment="initial or reset password"
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiTokenRow(Base):
    """A bearer token; only its keyed hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(40))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebSessionRow(Base):
    """A server-side web session; the cookie holds its id and a secret stored only as a hash."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(
        String(20), comment="second_factor | password_change | active"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), comment="absolute end")
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_reason: Mapped[str | None] = mapped_column(
        String(20), comment="logout | idle | absolute | replaced | disabled"
    )
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class SubjectBindingRow(Base):
    """An account may act for a subject: by an approved 授权委托书 or an identity provider."""

    __tablename__ = "subject_bindings"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.subject_id"), index=True)
    role: Mapped[str] = mapped_column(String(40), comment="the account's role for the subject")
    method: Mapped[str] = mapped_column(String(10), comment="letter | idp")
    status: Mapped[str] = mapped_column(
        String(12), index=True, comment="pending | approved | rejected | revoked"
    )
    evidence_sha256: Mapped[str | None] = mapped_column(
        String(64), comment="SHA-256 of the uploaded letter (file kept under data_dir)"
    )
    evidence_name: Mapped[str | None] = mapped_column(String(200))
    evidence_type: Mapped[str | None] = mapped_column(String(40))
    idp: Mapped[str | None] = mapped_column(String(40), comment="identity provider name")
    assurance: Mapped[int | None] = mapped_column(comment="identity provider assurance level")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_by_user_id: Mapped[int | None] = mapped_column(Integer)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    note: Mapped[str | None] = mapped_column(String(500), comment="reason of a decision")


class AuditEventRow(Base):
    """操作审计: append-only (no UPDATE or DELETE by the application; triggers refuse both,
    except the retention purge of rows older than 180 days)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(120))
    result: Mapped[str] = mapped_column(
        String(12), comment="started | success | failure | denied | error"
    )
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_label: Mapped[str] = mapped_column(String(100))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer)
    credential: Mapped[str | None] = mapped_column(
        String(40), comment="session:<id> | token:<id> | console"
    )
    method: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(300))
    object_id: Mapped[str | None] = mapped_column(String(100))
    status_code: Mapped[int | None] = mapped_column(Integer)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, object]] = mapped_column(JsonType, default=dict)


Index("ix_audit_events_actor_at", AuditEventRow.actor_user_id, AuditEventRow.at)
Index("ix_subject_bindings_user_status", SubjectBindingRow.user_id, SubjectBindingRow.status)


class AuditSealRow(Base):
    """A sealing batch of audit events (accounts.audit_seal): the hash over its items, chained to
    the previous seal and committed as an ``audit.seal`` ledger leaf. Append-only (0024)."""

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    suite: Mapped[str] = mapped_column(String(20), comment="hash of the ledger suite")
    first_event_id: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, comment="events sealed")
    items_digest: Mapped[str] = mapped_column(
        String(64), comment="hash over the (event id, time, row hash) list"
    )
    prev_digest: Mapped[str | None] = mapped_column(
        String(64), comment="the previous seal's digest (hash chain)"
    )
    digest: Mapped[str] = mapped_column(String(64), comment="committed to ledger")


class AuditSealItemRow(Base):
    """One sealed audit event: the hash of all its columns. Kept when the event is purged."""

    __tablename__ = "audit_seal_items"

    event_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seal_id: Mapped[int] = mapped_column(ForeignKey("audit_seals.id"), index=True)
    event_at: Mapped[datetime] = mapped_column(UtcDateTime())
    row_hash: Mapped[str] = mapped_column(
        String(64), comment="hash of all columns of the audit event"
    )


class AuditPurgeRow(Base):
    """A retention purge of audit events: the cutoff and the exact ids deleted. Append-only."""

    __tablename__ = "audit_purges"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    cutoff: Mapped[datetime] = mapped_column(UtcDateTime())
    retention_days: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[int] = mapped_column(Integer)
    ranges: Mapped[list[list[int]]] = mapped_column(
        JsonType, comment="ids deleted, as [first, last] ranges"
    )


class SecurityPolicyChangeRow(Base):
    """A run-time change of the security policy by the security administrator (G3;
    accounts.policy_store): what changed (old and new effective values), every override in
    force after it, who and why. The effective policy is the environment's updated by the
    overrides of the newest row. Append-only (0031); each change is also a
    ``config.security_policy`` audit event committed in the same transaction."""

    __tablename__ = "security_policy_changes"

    id: Mapped[int] = mapped_column(
        primary_key=True, autoincrement=False, comment="previous + 1: concurrent changes conflict"
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500))
    changes: Mapped[dict[str, object]] = mapped_column(
        JsonType, comment="field → {old, new} effective values"
    )
    overrides: Mapped[dict[str, object]] = mapped_column(
        JsonType, comment="every stored override in force after this change"
    )
