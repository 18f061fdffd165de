"""Password login, the TOTP second factor, server-side web sessions, logout, password change.

A web session is a row in ``web_sessions``; the browser holds a signed cookie
``<session id>.<256-bit secret>.<signature>`` and the server keeps only a keyed hash of the secret,
so a stolen database does not yield usable cookies and logout ends the session everywhere. A login
walks through states, and every step replaces the session (new id and secret, no fixation):

    password ok ─► second_factor (TOTP enrolled: every administrator) ─► active
                └► password_change (initial, reset or expired password) ─► active

Failures of the password or the code count towards the lockout (``lockout_threshold`` failures
within ``lockout_window_minutes`` lock the account for ``lockout_minutes``); the count is cleared
only when a login completes (password and code both right, an active session, or a changed
password), never by the password step alone, so a known password does not allow unlimited TOTP
guesses. Every outcome is in the audit trail, in the same transaction as its effect; the caller
only sees one generic message, so a failure does not tell whether the account exists, is locked
or is disabled.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from citycredit.accounts import totp
from citycredit.accounts.audit import RequestInfo, add_event
from citycredit.accounts.db import UserRow, WebSessionRow
from citycredit.accounts.model import Principal, Role
from citycredit.accounts.passwords import (
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.principals import principal_for_user, user_label
from citycredit.bootstrap import Container
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.shared.idgen import new_id
from citycredit.shared.ids import scrub_personal

SESSION_COOKIE = "cc_session"
CSRF_COOKIE = "cc_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_SECONDS = 30  # last_seen_at is written at most this often

ACTIVE = "active"
SECOND_FACTOR = "second_factor"
PASSWORD_CHANGE = "password_change"

GENERIC_FAILURE = "用户名或口令错误，或账号已被锁定、停用"


class Unauthenticated(PermissionDenied):
    """No valid login: answered with HTTP 401."""

    default_code = "unauthenticated"


@dataclass(frozen=True)
class SessionIssued:
    """A session handed to the browser: the cookie value is shown to nobody else."""

    status: str  # active | second_factor_required | password_change_required
    cookie: str
    csrf_token: str
    session_id: str
    expires_at: datetime
    idle_minutes: int
    username: str
    display_name: str
    role: Role

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer (the cookie travels only in Set-Cookie)."""
        return {
            "status": self.status,
            "csrf_token": self.csrf_token,
            "expires_at": self.expires_at.isoformat(),
            "idle_timeout_minutes": self.idle_minutes,
            "user": {
                "username": self.username,
                "display_name": self.display_name,
                "role": self.role.value,
                "role_label": self.role.label,
            },
        }


def totp_key(c: Container) -> bytes:
    """The deployment secret that seals TOTP secrets (accounts.totp)."""
    return c.settings.secret_key.get_secret_value().encode()


# -- cookies ------------------------------------------------------------------------------------


def _secret_hash(c: Container, secret: str) -> str:
    return c.digester.digest("web-session", secret)


def _signature(c: Container, sid: str, secret: str) -> str:
    return c.digester.digest("web-session-cookie", f"{sid}.{secret}")[:32]


def csrf_token_for(c: Container, secret: str) -> str:
    """The anti-CSRF token of a session (derived; sent back in the X-CSRF-Token header)."""
    return c.digester.digest("web-session-csrf", secret)[:32]


def _parse_cookie(c: Container, cookie: str | None) -> tuple[str, str] | None:
    parts = (cookie or "").split(".")
    if len(parts) != 3:
        return None
    sid, secret, sig = parts
    if not hmac.compare_digest(sig, _signature(c, sid, secret)):
        return None
    return sid, secret


def _load(c: Container, s: Session, cookie: str | None) -> tuple[WebSessionRow, str] | None:
    parsed = _parse_cookie(c, cookie)
    if parsed is None:
        return None
    sid, secret = parsed
    row = s.get(WebSessionRow, sid, with_for_update=True)
    if row is None or not hmac.compare_digest(row.secret_hash, _secret_hash(c, secret)):
        return None
    return row, secret


def _issue(
    c: Container,
    s: Session,
    user: UserRow,
    state: str,
    request: RequestInfo,
    user_agent: str | None,
) -> SessionIssued:
    policy: SecurityPolicy = c.settings.security
    now = c.clock.now()
    minutes = policy.session_absolute_minutes if state == ACTIVE else policy.second_factor_minutes
    sid, secret = new_id("ws"), secrets.token_urlsafe(32)
    row = WebSessionRow(
        id=sid,
        secret_hash=_secret_hash(c, secret),
        user_id=user.id,
        state=state,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(minutes=minutes),
        source_ip=request.source_ip,
        user_agent=(user_agent or "")[:200] or None,
    )
    s.add(row)
    status = {
        ACTIVE: "active",
        SECOND_FACTOR: "second_factor_required",
        PASSWORD_CHANGE: "password_change_required",
    }[state]
    return SessionIssued(
        status=status,
        cookie=f"{sid}.{secret}.{_signature(c, sid, secret)}",
        csrf_token=csrf_token_for(c, secret),
        session_id=sid,
        expires_at=row.expires_at,
        idle_minutes=policy.session_idle_minutes,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
    )


def _end(row: WebSessionRow, now: datetime, reason: str) -> None:
    row.ended_at, row.end_reason = now, reason


def end_user_sessions(s: Session, user_id: int, now: datetime, reason: str) -> int:
    """End every open session of a user (disabled account, password changed)."""
    result = s.execute(
        update(WebSessionRow)
        .where(WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    )
    return int(cast("CursorResult[Any]", result).rowcount or 0)


# -- lockout ------------------------------------------------------------------------------------


def _user_event(
    s: Session,
    user: UserRow,
    now: datetime,
    action: str,
    result: str,
    request: RequestInfo,
    detail: dict[str, Any],
) -> None:
    """An audit event of an authentication step of a known account, in the step's transaction."""
    add_event(
        s,
        at=now,
        action=action,
        result=result,
        actor_label=user_label(user),
        actor_user_id=user.id,
        actor_role=user.role,
        request=request,
        object_id=user.username,
        detail=detail,
    )


def _locked(user: UserRow, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


def _count_failure(
    c: Container, s: Session, user: UserRow, now: datetime, request: RequestInfo
) -> None:
    """One more failure in the window; reaching the threshold locks the account (audited)."""
    policy: SecurityPolicy = c.settings.security
    window = timedelta(minutes=policy.lockout_window_minutes)
    if user.failed_since is None or now - user.failed_since > window:
        user.failed_since, user.failed_logins = now, 1
    else:
        user.failed_logins += 1
    if user.failed_logins >= policy.lockout_threshold:
        user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
        user.failed_logins, user.failed_since = 0, None
        end_user_sessions(s, user.id, now, "locked")
        _user_event(
            s,
            user,
            now,
            "auth.lockout",
            "success",
            request,
            {
                "locked_until": user.locked_until.isoformat(),
                "threshold": policy.lockout_threshold,
                "window_minutes": policy.lockout_window_minutes,
            },
        )


def _clear_failures(user: UserRow) -> None:
    user.failed_logins, user.failed_since, user.locked_until = 0, None, None


def _password_expired(policy: SecurityPolicy, user: UserRow, now: datetime) -> bool:
    if policy.password_max_age_days <= 0:
        return False
    changed = user.password_changed_at or user.created_at
    return changed + timedelta(days=policy.password_max_age_days) <= now


def _initial_password_expired(policy: SecurityPolicy, user: UserRow, now: datetime) -> bool:
    if not user.must_change_password:
        return False
    issued = user.password_changed_at or user.created_at
    return issued + timedelta(hours=policy.initial_password_hours) <= now


def _shown_username(username: str) -> str:
    """The attempted username as recorded: trimmed, no ID or phone numbers."""
    return scrub_personal(username.strip())[:64]


# -- login ----------------------------------------------------------------------------------------


def login(
    c: Container,
    *,
    username: str,
    password: str,
    request: RequestInfo | None = None,
    user_agent: str | None = None,
) -> SessionIssued:
    """Check username and password; the answer is a session in its next state."""
    request = request or RequestInfo()
    username = (username or "").strip()
    if not username:
        raise FieldError("username", username, "required", "请输入用户名（username）")
    if not password:
        raise FieldError("password", "", "required", "请输入口令（password）")
    policy: SecurityPolicy = c.settings.security
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = s.scalar(select(UserRow).where(UserRow.username == username).with_for_update())
        ok = verify_password(user.password_hash if user else None, password, policy)
        reason = None
        if user is None:
            reason = "unknown_user"
        elif user.disabled:
            reason = "disabled"
        elif _locked(user, now):
            reason = "locked"
        elif not ok:
            reason = "bad_password"
            _count_failure(c, s, user, now, request)
        elif _initial_password_expired(policy, user, now):
            reason = "initial_password_expired"
        elif Role(user.role).is_admin and not user.totp_secret:
            reason = "second_factor_not_enrolled"
        if reason is not None or user is None:
            add_event(
                s,
                at=now,
                action="auth.login",
                result="failure",
                actor_label=f"login:{_shown_username(username)}",
                actor_user_id=user.id if user else None,
                actor_role=user.role if user else None,
                request=request,
                object_id=_shown_username(username),
                detail={"reason": reason},
            )
            uow.commit()
            raise Unauthenticated(GENERIC_FAILURE, code="login_failed")
        if user.password_hash and needs_rehash(user.password_hash, policy):
            user.password_hash = hash_password(password, policy)
        # The failure count is cleared only when the login completes: a correct password
        # followed by wrong TOTP codes (or a wrong current password at the forced change) keeps
        # counting towards the lockout, so knowing the password does not buy unlimited guesses.
        if user.totp_secret:
            state = SECOND_FACTOR
        elif user.must_change_password or _password_expired(policy, user, now):
            state = PASSWORD_CHANGE
        else:
            state = ACTIVE
            user.last_login_at = now
            _clear_failures(user)
        issued = _issue(c, s, user, state, request, user_agent)
        _user_event(
            s,
            user,
            now,
            "auth.login",
            "success",
            request,
            {"next": issued.status, "session": issued.session_id},
        )
        uow.commit()
        return issued


def _next_after_second_factor(policy: SecurityPolicy, user: UserRow, now: datetime) -> str:
    if user.must_change_password or _password_expired(policy, user, now):
        return PASSWORD_CHANGE
    return ACTIVE


def verify_second_factor(
    c: Container,
    *,
    cookie: str | None,
    code: str,
    request: RequestInfo | None = None,
    user_agent: str | None = None,
) -> SessionIssued:
    """The TOTP step after the password: a valid, unused code replaces the pending session."""
    request = request or RequestInfo()
    code = totp.check_code_format(code)
    policy: SecurityPolicy = c.settings.security
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        loaded = _load(c, s, cookie)
        if loaded is None or loaded[0].ended_at is not None or loaded[0].state != SECOND_FACTOR:
            raise Unauthenticated("请先用用户名和口令登录", code="second_factor_without_login")
        row = loaded[0]
        user = s.get(UserRow, row.user_id, with_for_update=True)
        assert user is not None
        reason = None
        step = None
        if now >= row.expires_at:
            reason = "expired"
            _end(row, now, "absolute")
        elif user.disabled or _locked(user, now) or not user.totp_secret:
            reason = "disabled" if user.disabled else "locked"
            _end(row, now, "locked")
        else:
            secret = totp.unseal(totp_key(c), user.id, user.totp_secret)
            step = totp.accept(secret, code, now=now, last_step=user.totp_last_step)
            if step is None:
                reason = "bad_code"
                _count_failure(c, s, user, now, request)
        if reason is not None or step is None:
            _user_event(
                s,
                user,
                now,
                "auth.second_factor",
                "failure",
                request,
                {"reason": reason, "session": row.id},
            )
            uow.commit()
            if reason == "expired":
                raise Unauthenticated(
                    "动态口令验证已超时，请重新登录", code="second_factor_expired"
                )
            raise Unauthenticated(
                "动态口令错误或已使用，或账号已被锁定", code="second_factor_failed"
            )
        user.totp_last_step = step
        _clear_failures(user)  # both factors proven: the authentication is complete
        _end(row, now, "replaced")
        state = _next_after_second_factor(policy, user, now)
        if state == ACTIVE:
            user.last_login_at = now
        issued = _issue(c, s, user, state, request, user_agent)
        _user_event(
            s,
            user,
            now,
            "auth.second_factor",
            "success",
            request,
            {"next": issued.status, "session": issued.session_id, "replaced": row.id},
        )
        uow.commit()
        return issued


def change_password(
    c: Container,
    *,
    current_password: str,
    new_password: str,
    cookie: str | None = None,
    actor: Principal | None = None,
    request: RequestInfo | None = None,
    user_agent: str | None = None,
) -> SessionIssued | None:
    """Change one's own password (from a session, or a token's account); other sessions end.

    From a session, the answer is a new active session (the old one is replaced).
    """
    request = request or RequestInfo()
    policy: SecurityPolicy = c.settings.security
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        row = None
        if cookie:
            loaded = _load(c, s, cookie)
            if (
                loaded is None
                or loaded[0].ended_at is not None
                or loaded[0].state not in (ACTIVE, PASSWORD_CHANGE)
                or now >= loaded[0].expires_at
            ):
                raise Unauthenticated("会话无效或已过期，请重新登录", code="session_invalid")
            row = loaded[0]
            user_id: int | None = row.user_id
        else:
            user_id = actor.user_id if actor else None
        if user_id is None:
            raise Unauthenticated("请先登录", code="login_required")
        user = s.get(UserRow, user_id, with_for_update=True)
        if user is None or user.disabled or _locked(user, now):
            raise Unauthenticated(GENERIC_FAILURE, code="login_failed")
        if not verify_password(user.password_hash, current_password or "", policy):
            _count_failure(c, s, user, now, request)
            _user_event(
                s, user, now, "auth.password_change", "failure", request, {"reason": "bad_password"}
            )
            uow.commit()
            raise Unauthenticated("当前口令错误", code="login_failed")
        new = check_password(new_password, policy=policy, username=user.username)
        if verify_password(user.password_hash, new, policy):
            raise FieldError("new_password", "***", "unchanged", "新口令不能与当前口令相同")
        user.password_hash = hash_password(new, policy)
        user.password_changed_at = now
        user.must_change_password = False
        _clear_failures(user)  # the password is proven and replaced: the login is complete
        ended = end_user_sessions(s, user.id, now, "password_changed")
        issued = None
        if row is not None:
            user.last_login_at = now
            issued = _issue(c, s, user, ACTIVE, request, user_agent)
        _user_event(
            s,
            user,
            now,
            "auth.password_change",
            "success",
            request,
            {"sessions_ended": ended, "session": issued.session_id if issued else None},
        )
        uow.commit()
        return issued


def logout(
    c: Container, *, cookie: str | None, csrf: str | None, request: RequestInfo | None = None
) -> bool:
    """End the session of the cookie (idempotent); True when a session was ended.

    Ending a session changes state like any other request made with it: the session's anti-CSRF
    token must come with it, or another site could log the user out (403 ``csrf_failed``)."""
    request = request or RequestInfo()
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        loaded = _load(c, s, cookie)
        if loaded is None or loaded[0].ended_at is not None:
            return False
        row, secret = loaded
        if not hmac.compare_digest(csrf or "", csrf_token_for(c, secret)):
            raise PermissionDenied(
                f"缺少或错误的防跨站请求令牌（请求头 {CSRF_HEADER}）", code="csrf_failed"
            )
        _end(row, now, "logout")
        user = s.get(UserRow, row.user_id)
        add_event(
            s,
            at=now,
            action="auth.logout",
            result="success",
            actor_label=user_label(user) if user else None,
            actor_user_id=row.user_id,
            actor_role=user.role if user else None,
            request=request,
            object_id=user.username if user else None,
            detail={"session": row.id},
        )
        uow.commit()
        return True


def authenticate_session(
    c: Container,
    cookie: str,
    *,
    csrf: str | None = None,
    unsafe: bool = False,
    request: RequestInfo | None = None,
) -> Principal:
    """The principal of an active session cookie; idle or expired sessions end here (audited).

    State-changing requests (``unsafe``) must echo the session's anti-CSRF token.
    """
    policy: SecurityPolicy = c.settings.security
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        loaded = _load(c, s, cookie)
        if loaded is None:
            raise Unauthenticated("会话无效，请重新登录", code="session_invalid")
        row, secret = loaded
        if row.ended_at is not None:
            raise Unauthenticated("会话已结束，请重新登录", code="session_ended")
        if row.state != ACTIVE:
            raise Unauthenticated("登录尚未完成（需要动态口令或修改口令）", code="login_incomplete")
        user = s.get(UserRow, row.user_id)
        reason = None
        if now - row.last_seen_at >= timedelta(minutes=policy.session_idle_minutes):
            reason = "idle"
        elif now >= row.expires_at:
            reason = "absolute"
        elif user is None or user.disabled:
            reason = "disabled"
        if reason is not None:
            _end(row, now, reason)
            add_event(
                s,
                at=now,
                action="auth.session_end",
                result="success",
                actor_label=user_label(user) if user else None,
                actor_user_id=row.user_id,
                actor_role=user.role if user else None,
                request=request,
                object_id=user.username if user else None,
                detail={"reason": reason, "session": row.id},
            )
            uow.commit()
            raise Unauthenticated("会话已超时，请重新登录", code="session_expired")
        assert user is not None
        if unsafe and not hmac.compare_digest(csrf or "", csrf_token_for(c, secret)):
            raise PermissionDenied(
                f"缺少或错误的防跨站请求令牌（请求头 {CSRF_HEADER}）", code="csrf_failed"
            )
        if now - row.last_seen_at >= timedelta(seconds=TOUCH_SECONDS):
            row.last_seen_at = now
        principal = principal_for_user(s, user, session_id=row.id)
        uow.commit()
        return principal


def cookie_secure(c: Container) -> bool:
    """Whether session cookies carry the Secure flag (production by default)."""
    flag = c.settings.security.session_cookie_secure
    return c.settings.environment == "production" if flag is None else flag
