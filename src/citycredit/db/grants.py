"""The application's own PostgreSQL role: what it may do, and no more (security goal G11).

`citycredit db grant-app-role ROLE` is run by the schema owner after every `db upgrade`
(migrations create tables as the owner; the application connects as ROLE). It creates the role
(LOGIN, no superuser, no CREATEDB/CREATEROLE/REPLICATION/BYPASSRLS) or updates it, revokes
everything it held on the schema's tables and sequences, and grants exactly what the
application uses at run time:

- CONNECT and TEMPORARY on the database (the fast intake stages updates in TEMP tables, which
  are dropped at commit), USAGE on the schema — no CREATE: no DDL on the schema's objects;
- SELECT, INSERT, UPDATE, DELETE on the business tables (COPY … FROM STDIN, used by the fast
  intake and the ledger sequencer, needs INSERT only);
- SELECT and INSERT only on the audit trail, its seals and the security policy changes
  (`AUDIT_TABLES`): no UPDATE, DELETE or TRUNCATE; the retention purge goes through the
  owner's SECURITY DEFINER function `citycredit_audit_purge` (migration 0024), on which the role
  gets EXECUTE;
- SELECT, INSERT and UPDATE only on the system alarms (`KEPT_TABLES`, G25): raised, resolved
  and acknowledged, never deleted — the history of incidents stays;
- SELECT only on alembic_version (the application checks the schema version, never migrates);
- USAGE on the sequences (nextval of serial ids);
- TRUNCATE, REFERENCES and TRIGGER nowhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Engine, text

from citycredit.shared.errors import CityCreditError, FieldError

AUDIT_TABLES = (
    "audit_events",
    "audit_seals",
    "audit_seal_items",
    "audit_purges",
    "security_policy_changes",  # append-only too (migration 0031)
)
READ_ONLY_TABLES = ("alembic_version",)
KEPT_TABLES = ("system_alarms",)  # rows updated, never deleted (migration 0033)
KEPT_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")
BUSINESS_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
AUDIT_PRIVILEGES = ("SELECT", "INSERT")
PURGE_FUNCTION = "citycredit_audit_purge(timestamptz, integer, timestamptz)"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = ("pg_", "postgres", "public")


class GrantError(CityCreditError):
    """The role cannot be set up as the application's role."""

    default_code = "grant_refused"


@dataclass
class GrantResult:
    """What `grant_app_role` did."""

    role: str
    created: bool
    schema: str
    business_tables: list[str] = field(default_factory=list)
    audit_tables: list[str] = field(default_factory=list)
    read_only_tables: list[str] = field(default_factory=list)
    sequences: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "created": self.created,
            "schema": self.schema,
            "business_tables": len(self.business_tables),
            "audit_tables": self.audit_tables,
            "read_only_tables": self.read_only_tables,
            "sequences": self.sequences,
        }


def check_role_name(role: str) -> str:
    """A plain lower-case identifier (no quoting games), not a reserved name."""
    if not _ROLE_NAME.match(role) or role.startswith(_RESERVED):
        raise FieldError(
            "role",
            role,
            "invalid",
            "角色名只能由小写字母、数字和下划线组成，以字母或下划线开头，最长 63 个字符，"
            "且不能以 pg_、postgres、public 开头",
        )
    return role


def _run(conn: Connection, statement: sql.Composable) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(statement)


def grant_app_role(engine: Engine, role: str, *, password: str | None = None) -> GrantResult:
    """Create or update the application's login role with exactly the run-time privileges.

    Run as the owner of the schema's tables (the role that ran `db upgrade`); idempotent."""
    check_role_name(role)
    if engine.dialect.name != "postgresql":
        raise GrantError("应用角色只用于 PostgreSQL；SQLite 没有角色和权限", code="not_postgresql")
    if password is not None and not password:
        raise FieldError("password", "", "empty", "口令不能为空")
    role_id = sql.Identifier(role)
    with engine.begin() as conn:
        owner, schema, database = conn.execute(
            text("SELECT current_user, current_schema(), current_database()")
        ).one()
        if role == owner:
            raise FieldError("role", role, "is_owner", "应用角色不能是数据库属主本身")
        found = conn.execute(
            text(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
                " FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).first()
        if found is not None:
            powers = [
                name
                for name, on in zip(
                    ("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS"),
                    found,
                    strict=True,
                )
                if on
            ]
            if "SUPERUSER" in powers:
                raise FieldError("role", role, "superuser", "该角色是超级用户，不能作为应用角色")
            if conn.execute(
                text("SELECT pg_has_role(:r, :o, 'MEMBER')"), {"r": role, "o": owner}
            ).scalar():
                raise FieldError(
                    "role",
                    role,
                    "owner_member",
                    f"该角色是属主 {owner} 的成员，会继承属主的全部权限",
                )
        tables = sorted(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalars()
        )
        missing = [t for t in AUDIT_TABLES if t not in tables]
        if missing:
            raise GrantError(
                f"数据库缺少审计表 {'、'.join(missing)}："
                "请先以属主身份运行 `citycredit db upgrade`",
                code="not_migrated",
            )
        sch = sql.Identifier(schema)
        attrs = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS")
        if found is None:
            _run(conn, sql.SQL("CREATE ROLE {} ").format(role_id) + attrs)
        else:
            _run(conn, sql.SQL("ALTER ROLE {} ").format(role_id) + attrs)
        if password is not None:
            _run(
                conn,
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(role_id, sql.Literal(password)),
            )
        # start from nothing on this schema's tables and sequences, then grant exactly
        _run(conn, sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(sch, role_id))
        _run(conn, sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(sch, role_id))
        _run(conn, sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(sch, role_id))
        # before PostgreSQL 15 every role may create in the public schema through PUBLIC
        _run(conn, sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(sch))
        db = sql.Identifier(database)
        _run(conn, sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(db, role_id))
        _run(conn, sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, role_id))
        result = GrantResult(role=role, created=found is None, schema=schema)
        for table in tables:
            privileges: tuple[str, ...]
            if table in AUDIT_TABLES:
                privileges, kind = AUDIT_PRIVILEGES, result.audit_tables
                # nothing through PUBLIC either
                _run(
                    conn,
                    sql.SQL("REVOKE ALL ON TABLE {} FROM PUBLIC").format(
                        sql.Identifier(schema, table)
                    ),
                )
            elif table in READ_ONLY_TABLES:
                privileges, kind = ("SELECT",), result.read_only_tables
            elif table in KEPT_TABLES:
                privileges, kind = KEPT_PRIVILEGES, result.business_tables
            else:
                privileges, kind = BUSINESS_PRIVILEGES, result.business_tables
            _run(
                conn,
                sql.SQL("GRANT {} ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in privileges),
                    sql.Identifier(schema, table),
                    role_id,
                ),
            )
            kind.append(table)
        _run(conn, sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(sch, role_id))
        result.sequences = int(
            conn.execute(
                text("SELECT count(*) FROM pg_sequences WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
        )
        _run(
            conn,
            sql.SQL("GRANT EXECUTE ON FUNCTION {}.").format(sch)
            + sql.SQL(PURGE_FUNCTION)
            + sql.SQL(" TO {}").format(role_id),
        )
    return result
