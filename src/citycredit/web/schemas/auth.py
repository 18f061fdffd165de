"""Accounts answers (web/auth_api.py): login and its steps, the caller's identity, bindings,
account and system administration.

Built from accounts/auth.py (`SessionIssued.as_dict`), accounts/bindings.py (`_view`,
`idp_nonce`), accounts/manage.py (`create_account`, `set_role`, `set_disabled`, `unlock`,
`reset_password`, `list_accounts`) and accounts/system.py (`settings_view`, `run_job_now`).
Secrets shown once (an initial password, the CSRF token) are placeholders in the examples.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.json_schema import JsonDict

from citycredit.accounts.model import Role
from citycredit.web.schemas.common import Answer, Instant

AT = "2026-11-25T02:00:00+00:00"
EXPIRES = "2026-11-25T10:00:00+00:00"
SUBJECT_ID = "sbtmq3yvdxk2rhy7uv4nc"
BINDING_ID = "bdk2v7q3pwhtd6yxamz4l"
CSRF = "EXAMPLE-csrf-token-not-real"
INITIAL_PASSWORD = "EXAMPLE-initial-password"

SessionStatus = Literal["active", "second_factor_required", "password_change_required"]


# -- login --------------------------------------------------------------------------------------


class SessionUser(Answer):
    """The account a session belongs to."""

    username: str = Field(description="Login name.")
    display_name: str = Field(description="Name shown on screen.")
    role: Role = Field(description="The account's role.")
    role_label: str = Field(description="The role in Chinese (企业经办人, 安全管理员 …).")


_SESSION: JsonDict = {
    "status": "active",
    "csrf_token": CSRF,
    "expires_at": EXPIRES,
    "idle_timeout_minutes": 30,
    "user": {
        "username": "agent_a",
        "display_name": "张经办",
        "role": "enterprise_agent",
        "role_label": "企业经办人",
    },
}


class AuthSession(Answer):
    """A web session handed to the browser. The session itself travels only in the
    ``cc_session`` cookie (HttpOnly); the CSRF token is sent back in ``X-CSRF-Token``."""

    status: SessionStatus = Field(
        description="`active`; or the step still due: `second_factor_required` (POST "
        "/auth/totp), `password_change_required` (POST /auth/password)."
    )
    csrf_token: str = Field(description="The value of the `X-CSRF-Token` header (also cc_csrf).")
    expires_at: Instant = Field(description="Absolute end of the session.")
    idle_timeout_minutes: int = Field(description="The session ends after this long unused.")
    user: SessionUser = Field(description="Whose session it is.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _SESSION,
                {
                    **_SESSION,
                    "status": "second_factor_required",
                    "user": {
                        "username": "sec",
                        "display_name": "安全管理员",
                        "role": "security_admin",
                        "role_label": "安全管理员",
                    },
                },
            ]
        }
    )


class PasswordChange(Answer):
    """A changed password: with a web session, the new session that replaces it (the keys of
    AuthSession); with a bearer token, only ``status: password_changed``."""

    status: SessionStatus | Literal["password_changed"] = Field(
        description="`password_changed` (bearer token), else the new session's status."
    )
    csrf_token: str | None = Field(default=None, description="Web session: the CSRF token.")
    expires_at: Instant | None = Field(default=None, description="Web session: its end.")
    idle_timeout_minutes: int | None = Field(
        default=None, description="Web session: its idle timeout."
    )
    user: SessionUser | None = Field(default=None, description="Web session: whose it is.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [_SESSION, {"status": "password_changed"}]}
    )


class LoggedOut(Answer):
    """Logout: the cookies are cleared whether or not a session was found."""

    status: Literal["logged_out"] = Field(description="Always `logged_out`.")
    ended: bool = Field(description="True: a live session was ended on the server.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "logged_out", "ended": True}]}
    )


class CurrentIdentity(Answer):
    """Who the request acts as (the anonymous public too: role `public`)."""

    role: Role = Field(description="The role.")
    role_label: str = Field(description="The role in Chinese.")
    label: str = Field(description="The account's or token's label (`anonymous` for the public).")
    department: str | None = Field(description="Department staff: the department's name.")
    subject_ids: list[str] = Field(description="Subjects the account acts for (approved bindings).")
    permissions: list[str] = Field(description="The role's permissions, sorted.")
    via: Literal["session", "token"] | None = Field(
        description="The credential: web session, bearer token, or null (anonymous)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "role": "enterprise_agent",
                    "role_label": "企业经办人",
                    "label": "张经办（agent_a）",
                    "department": None,
                    "subject_ids": [SUBJECT_ID],
                    "permissions": [
                        "act_for_subject",
                        "read_public",
                        "read_quality",
                        "request_binding",
                    ],
                    "via": "session",
                }
            ]
        }
    )


# -- bindings -----------------------------------------------------------------------------------


_BINDING: JsonDict = {
    "id": BINDING_ID,
    "username": "agent_a",
    "subject_id": SUBJECT_ID,
    "subject_name": "榆林某某商贸有限公司",
    "role": "enterprise_agent",
    "method": "letter",
    "status": "approved",
    "evidence_sha256": "3f7a1c9e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a",
    "evidence_name": "授权委托书.pdf",
    "idp": None,
    "assurance": None,
    "requested_at": AT,
    "decided_by": "信用办",
    "decided_at": "2026-11-25T03:00:00+00:00",
    "note": None,
}


class SubjectBinding(Answer):
    """An account's binding to a subject it acts for (身份绑定)."""

    id: str = Field(description="Binding id.")
    username: str | None = Field(description="The account that asked.")
    subject_id: str = Field(description="The subject.")
    subject_name: str | None = Field(
        description="The organisation's name; null for a natural person (not repeated)."
    )
    role: str = Field(description="The account's role when it asked.")
    method: str = Field(description="`letter` (授权委托书, reviewed) or `idp` (identity provider).")
    status: str = Field(description="`pending`, `approved`, `rejected` or `revoked`.")
    evidence_sha256: str | None = Field(description="Letter: SHA-256 of the uploaded file.")
    evidence_name: str | None = Field(description="Letter: the file's name.")
    idp: str | None = Field(description="Identity provider: its name.")
    assurance: int | None = Field(
        description="Identity provider: the assurance level it vouched (its `acr`, e.g. 3)."
    )
    requested_at: Instant = Field(description="When asked.")
    decided_by: str | None = Field(description="Who approved, rejected or revoked it.")
    decided_at: Instant | None = Field(description="When.")
    note: str | None = Field(description="The decision's note or reason.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _BINDING,
                {
                    **_BINDING,
                    "method": "idp",
                    "evidence_sha256": None,
                    "evidence_name": None,
                    "idp": "e_license",
                    "assurance": 3,
                    "decided_by": "张经办（agent_a）",
                },
            ]
        }
    )


class SubjectBindingList(Answer):
    """Own bindings, or the credit office's review queue; newest first."""

    count: int = Field(description="Number of bindings.")
    bindings: list[SubjectBinding] = Field(description="Newest request first.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "bindings": [_BINDING]}]}
    )


class BindingNonce(Answer):
    """A nonce for the identity provider's sign-in, bound to the account."""

    nonce: str = Field(description="Pass as the OIDC `nonce`; the assertion must carry it.")
    expires_at: Instant = Field(description="The nonce is refused after this.")
    providers: list[str] = Field(description="The configured identity providers.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "nonce": "1795917600.EXAMPLEnonce",
                    "expires_at": "2026-11-25T02:10:00+00:00",
                    "providers": ["e_license", "shaanxi_gov"],
                }
            ]
        }
    )


# -- accounts -----------------------------------------------------------------------------------


_ACCOUNT: JsonDict = {
    "username": "agent_a",
    "display_name": "张经办",
    "role": "enterprise_agent",
    "department": None,
    "disabled": False,
    "locked": False,
    "totp_enrolled": False,
    "must_change_password": False,
    "last_login_at": AT,
}


class AccountSummary(Answer):
    """An account and its authentication state (no secrets)."""

    username: str = Field(description="Login name.")
    display_name: str = Field(description="Name shown on screen.")
    role: Role = Field(description="The role.")
    department: str | None = Field(description="Department staff: the department.")
    disabled: bool = Field(description="停用.")
    locked: bool = Field(description="Locked after failed logins, for now.")
    totp_enrolled: bool = Field(description="A TOTP secret is enrolled (administrators).")
    must_change_password: bool = Field(description="An initial password still to be changed.")
    last_login_at: Instant | None = Field(description="Last successful login.")


class AccountList(Answer):
    """Every account (security administrator)."""

    count: int = Field(description="Number of accounts.")
    accounts: list[AccountSummary] = Field(description="In creation order.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 1, "accounts": [_ACCOUNT]}]}
    )


class AccountCreated(Answer):
    """A new account and its initial password, shown this once (answered with no-store)."""

    username: str = Field(description="Login name.")
    role: Role = Field(description="The role.")
    department: str | None = Field(description="Department staff: the department.")
    initial_password: str = Field(description="To be changed at the first login.")
    initial_password_hours: int = Field(description="The initial password expires after this.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "samr_clerk",
                    "role": "department_staff",
                    "department": "榆林市市场监督管理局",
                    "initial_password": INITIAL_PASSWORD,
                    "initial_password_hours": 72,
                }
            ]
        }
    )


class AccountRoleChanged(Answer):
    """A role changed: the account's tokens revoked and its sessions ended."""

    username: str = Field(description="Login name.")
    role: Role = Field(description="The new role.")
    tokens_revoked: int = Field(description="API tokens revoked.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"username": "agent_a", "role": "natural_person", "tokens_revoked": 1}]
        }
    )


class AccountDisabled(Answer):
    """停用 or 启用."""

    username: str = Field(description="Login name.")
    disabled: bool = Field(description="The account's new state.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "agent_a", "disabled": True}]}
    )


class AccountUnlocked(Answer):
    """解锁."""

    username: str = Field(description="Login name.")
    locked: bool = Field(description="Always false.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"username": "agent_a", "locked": False}]}
    )


class PasswordReset(Answer):
    """A new initial password, shown this once (answered with no-store); sessions ended."""

    username: str = Field(description="Login name.")
    initial_password: str = Field(description="To be changed at the next login.")
    initial_password_hours: int = Field(description="It expires after this.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "agent_a",
                    "initial_password": INITIAL_PASSWORD,
                    "initial_password_hours": 72,
                }
            ]
        }
    )


# -- system -------------------------------------------------------------------------------------


class JobRunState(Answer):
    """A job's newest run (from the job log, job_runs)."""

    started_at: Instant = Field(description="When it started.")
    finished_at: Instant | None = Field(description="When it ended.")
    status: Literal["ok", "failed"] = Field(description="How it ended.")
    error: str | None = Field(description="A failed run: the error (type and message).")


class SystemJob(Answer):
    """A registered job."""

    name: str = Field(description="Its name (for POST /system/jobs/{job}/run).")
    interval_seconds: int = Field(description="How often the scheduler runs it.")
    lane: Literal["sweep", "batch", "verify"] = Field(
        description="The scheduler's loop it runs in: `sweep` (prompt work bounded by what is "
        "pending), `batch` (work in proportion to the archive) or `verify` (the ledger's full "
        "verification); the loops run side by side."
    )
    description: str = Field(description="What it does.")
    last_run: JobRunState | None = Field(description="Its newest run; null: never run.")
    last_ok_at: Instant | None = Field(description="When its newest successful run started.")
    next_due_at: Instant | None = Field(
        description="When it is next due (its last success + its interval); null: due now "
        "(the scheduler runs it at its next tick)."
    )


class SystemSettings(Answer):
    """The effective settings without secrets, and the registered jobs."""

    settings: dict[str, Any] = Field(
        description="Settings as configured (keys, passwords and the database URL left out); "
        "`database`: `sqlite` or `postgresql`."
    )
    jobs: list[SystemJob] = Field(description="Every registered job.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "settings": {"environment": "production", "database": "postgresql"},
                    "jobs": [
                        {
                            "name": "audit_purge",
                            "interval_seconds": 86400,
                            "lane": "sweep",
                            "description": "删除超过保存期限的审计日志",
                            "last_run": {
                                "started_at": "2026-11-28T02:00:00+00:00",
                                "finished_at": "2026-11-28T02:00:01+00:00",
                                "status": "ok",
                                "error": None,
                            },
                            "last_ok_at": "2026-11-28T02:00:00+00:00",
                            "next_due_at": "2026-11-29T02:00:00+00:00",
                        }
                    ],
                }
            ]
        }
    )


class SystemJobRun(Answer):
    """One run of a job, done now (recorded in job_runs and the audit trail)."""

    job: str = Field(description="The job.")
    status: Literal["ok", "failed"] = Field(
        description="`ok` or `failed` (a job already running is not started again: 409)."
    )
    detail: dict[str, Any] = Field(description="What the job reports (counts, error).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"job": "audit_purge", "status": "ok", "detail": {"deleted": 0}}]
        }
    )
