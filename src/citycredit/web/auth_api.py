"""HTTP API of accounts: login, second factor, logout, password; bindings; account and system
administration. Parse → call one service function → render; the rules live in citycredit.accounts.

Web sessions travel in the ``cc_session`` cookie (HttpOnly, SameSite=Strict, Secure in
production); state-changing requests made with it must send the ``X-CSRF-Token`` header returned
at login (also readable from the ``cc_csrf`` cookie). API clients keep using bearer tokens.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from citycredit.accounts import auth, bindings, manage, system
from citycredit.accounts.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SessionIssued,
    Unauthenticated,
)
from citycredit.accounts.model import ROLE_PERMISSIONS, Role
from citycredit.bootstrap import Container
from citycredit.shared.errors import FieldError
from citycredit.web.deps import (
    AuthenticatedDep,
    ContainerDep,
    PrincipalDep,
    get_principal,
    request_info,
)
from citycredit.web.errors import challenge, error_page, is_page
from citycredit.web.schemas import auth as out
from citycredit.web.schemas.common import binary, errors, file_response

router = APIRouter(prefix="/api/v1")

# What a binding's letter is served as: the types bindings._sniff accepts at upload.
EVIDENCE_MEDIA = ("application/pdf", "image/jpeg", "image/png")


# -- cookies --------------------------------------------------------------------------------------


def set_session(response: Response, c: Container, issued: SessionIssued) -> None:
    secure = auth.cookie_secure(c)
    response.set_cookie(
        SESSION_COOKIE,
        issued.cookie,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE, issued.csrf_token, httponly=False, secure=secure, samesite="strict", path="/"
    )


def clear_session(response: Response, c: Container) -> None:
    secure = auth.cookie_secure(c)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="strict")


def _issued(response: Response, c: Container, issued: SessionIssued) -> dict[str, Any]:
    set_session(response, c, issued)
    response.headers["Cache-Control"] = "no-store"
    return issued.as_dict()


# -- login --------------------------------------------------------------------------------------


class LoginBody(BaseModel):
    username: str
    password: str


class CodeBody(BaseModel):
    code: str


class PasswordBody(BaseModel):
    current_password: str
    new_password: str


@router.post(
    "/auth/login",
    response_model=out.AuthSession,
    responses=errors(401, 422, 429),
)
def post_login(
    body: LoginBody, request: Request, response: Response, c: ContainerDep
) -> dict[str, Any]:
    """用户名 + 口令; administrators go on to /auth/totp, initial passwords to /auth/password."""
    issued = auth.login(
        c,
        username=body.username,
        password=body.password,
        request=request_info(request),
        user_agent=request.headers.get("user-agent"),
    )
    return _issued(response, c, issued)


@router.post(
    "/auth/totp",
    response_model=out.AuthSession,
    responses=errors(401, 422, 429),
)
def post_totp(
    body: CodeBody, request: Request, response: Response, c: ContainerDep
) -> dict[str, Any]:
    """动态口令 (TOTP) after the password; the pending session is replaced."""
    issued = auth.verify_second_factor(
        c,
        cookie=request.cookies.get(SESSION_COOKIE),
        code=body.code,
        request=request_info(request),
        user_agent=request.headers.get("user-agent"),
    )
    return _issued(response, c, issued)


@router.post(
    "/auth/password",
    response_model=out.PasswordChange,
    response_model_exclude_unset=True,  # a bearer token's change answers only its status
    responses=errors(401, 403, 422, 429),
)
def post_password(
    body: PasswordBody, request: Request, response: Response, c: ContainerDep
) -> dict[str, Any]:
    """Change one's own password (web session, or a bearer token's account)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    authz = request.headers.get("authorization")
    actor = None
    if authz:
        actor = get_principal(request)
        cookie = None
    issued = auth.change_password(
        c,
        current_password=body.current_password,
        new_password=body.new_password,
        cookie=cookie,
        actor=actor,
        request=request_info(request),
        user_agent=request.headers.get("user-agent"),
    )
    if issued is None:
        return {"status": "password_changed"}
    return _issued(response, c, issued)


@router.post("/auth/logout", response_model=out.LoggedOut, responses=errors(403))
def post_logout(request: Request, response: Response, c: ContainerDep) -> dict[str, Any]:
    """End the web session (server side) and clear its cookies; with a live session the
    X-CSRF-Token header must be sent (403 without it)."""
    ended = auth.logout(
        c,
        cookie=request.cookies.get(SESSION_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
        request=request_info(request),
    )
    clear_session(response, c)
    return {"status": "logged_out", "ended": ended}


@router.get("/auth/me", response_model=out.CurrentIdentity, responses=errors(401))
def get_me(actor: PrincipalDep) -> dict[str, Any]:
    """Who the request acts as: role, department, bound subjects, permissions."""
    return {
        "role": actor.role.value,
        "role_label": actor.role.label,
        "label": actor.label,
        "department": actor.department_name,
        "subject_ids": sorted(actor.subject_ids),
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[actor.role]),
        "via": "session" if actor.session_id else "token" if actor.token_id else None,
    }


# -- bindings -----------------------------------------------------------------------------------


class BindingNoteBody(BaseModel):
    note: str | None = None


@router.get("/bindings", response_model=out.SubjectBindingList, responses=errors(401, 403, 422))
def get_bindings(
    c: ContainerDep, actor: AuthenticatedDep, status: str | None = None
) -> dict[str, Any]:
    """Own bindings (subject-side accounts) or the review queue (credit office)."""
    rows = bindings.list_bindings(c, actor, status=status)
    return {"count": len(rows), "bindings": rows}


@router.get("/bindings/nonce", response_model=out.BindingNonce, responses=errors(401, 403, 422))
def get_binding_nonce(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """A nonce to pass to the identity provider's sign-in (OIDC ``nonce``)."""
    return bindings.idp_nonce(c, actor)


@router.post(
    "/bindings",
    status_code=201,
    response_model=out.SubjectBinding,
    responses=errors(401, 403, 404, 409, 422),
)
async def post_binding(
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
    method: Annotated[str, Form(description="letter | idp")],
    subject: Annotated[str | None, Form(description="letter: subject_id or USCC")] = None,
    file: Annotated[UploadFile | None, File(description="letter: 授权委托书 PDF/JPEG/PNG")] = None,
    provider: Annotated[str | None, Form(description="idp: provider name")] = None,
    id_token: Annotated[str | None, Form(description="idp: the provider's assertion")] = None,
) -> dict[str, Any]:
    """Ask to act for a subject: by 授权委托书 (reviewed) or through an identity provider."""
    info = request_info(request)
    if method == "letter":
        limit = c.settings.security.letter_max_mb * 1024 * 1024
        content = await file.read(limit + 1) if file is not None else b""
        name = (file.filename if file is not None else None) or "letter"
        return await _in_thread(
            bindings.request_letter_binding,
            c,
            actor,
            subject=subject or "",
            content=content,
            filename=name,
            request=info,
        )
    if method == "idp":
        return await _in_thread(
            bindings.bind_by_identity_provider,
            c,
            actor,
            provider=provider or "",
            id_token=id_token or "",
            request=info,
        )
    raise FieldError("method", method, "invalid", "method 只能是 letter 或 idp")


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(fn, *args, **kwargs)


@router.get(
    "/bindings/{binding_id}",
    response_model=out.SubjectBinding,
    responses=errors(401, 403, 404, 422),
)
def get_binding(binding_id: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """One binding (its account or the credit office)."""
    return bindings.get_binding(c, actor, binding_id)


@router.get(
    "/bindings/{binding_id}/evidence",
    response_class=Response,
    responses={
        **file_response(
            "The uploaded letter, as an attachment (its type sniffed at upload).",
            {media: binary("The 授权委托书 as uploaded.") for media in EVIDENCE_MEDIA},
        ),
        **errors(401, 403, 404, 409, 422),
    },
)
def get_binding_evidence(binding_id: str, c: ContainerDep, actor: AuthenticatedDep) -> Response:
    """The uploaded 授权委托书 (its account or the credit office)."""
    data, media_type, name = bindings.evidence(c, actor, binding_id)
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _quote(name: str) -> str:
    return quote(name, safe="")


@router.post(
    "/bindings/{binding_id}/approve",
    response_model=out.SubjectBinding,
    responses=errors(401, 403, 404, 409, 422),
)
def post_binding_approve(
    binding_id: str,
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
    body: BindingNoteBody | None = None,
) -> dict[str, Any]:
    """The credit office approves a letter."""
    return bindings.decide_binding(
        c,
        actor,
        binding_id,
        approve=True,
        note=body.note if body else None,
        request=request_info(request),
    )


@router.post(
    "/bindings/{binding_id}/reject",
    response_model=out.SubjectBinding,
    responses=errors(401, 403, 404, 409, 422),
)
def post_binding_reject(
    binding_id: str,
    body: BindingNoteBody,
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
) -> dict[str, Any]:
    """The credit office rejects a letter, with its reason."""
    return bindings.decide_binding(
        c, actor, binding_id, approve=False, note=body.note, request=request_info(request)
    )


@router.post(
    "/bindings/{binding_id}/revoke",
    response_model=out.SubjectBinding,
    responses=errors(401, 403, 404, 409, 422),
)
def post_binding_revoke(
    binding_id: str,
    request: Request,
    c: ContainerDep,
    actor: AuthenticatedDep,
    body: BindingNoteBody | None = None,
) -> dict[str, Any]:
    """End a binding (its account or the credit office)."""
    return bindings.revoke_binding(
        c, actor, binding_id, note=body.note if body else None, request=request_info(request)
    )


# -- accounts (security administrator) ----------------------------------------------------------


class AccountBody(BaseModel):
    username: str
    display_name: str = ""
    role: Role
    department: str | None = None


class RoleBody(BaseModel):
    role: Role
    department: str | None = None


@router.get("/accounts", response_model=out.AccountList, responses=errors(401, 403))
def get_accounts(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Every account and its authentication state (security administrator)."""
    rows = manage.list_accounts(c, actor)
    return {"count": len(rows), "accounts": rows}


@router.post(
    "/accounts",
    status_code=201,
    response_model=out.AccountCreated,
    responses=errors(401, 403, 404, 409, 422),
)
def post_account(
    body: AccountBody, response: Response, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Create a business or subject-side account; the initial password is shown once."""
    data = manage.create_account(
        c,
        actor,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        department=body.department,
    )
    response.headers["Cache-Control"] = "no-store"
    return data


@router.post(
    "/accounts/{username}/role",
    response_model=out.AccountRoleChanged,
    responses=errors(401, 403, 404, 422),
)
def post_account_role(
    username: str, body: RoleBody, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """Change a non-administrator account's role (tokens revoked, sessions ended)."""
    return manage.set_role(
        c, actor, username, body.role, department=body.department, request=request_info(request)
    )


@router.post(
    "/accounts/{username}/disable",
    response_model=out.AccountDisabled,
    responses=errors(401, 403, 404, 422),
)
def post_account_disable(
    username: str, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """停用 an account: its sessions end and its tokens stop working at once."""
    return manage.set_disabled(c, actor, username, True, request=request_info(request))


@router.post(
    "/accounts/{username}/enable",
    response_model=out.AccountDisabled,
    responses=errors(401, 403, 404, 422),
)
def post_account_enable(
    username: str, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """启用 a disabled account."""
    return manage.set_disabled(c, actor, username, False, request=request_info(request))


@router.post(
    "/accounts/{username}/unlock",
    response_model=out.AccountUnlocked,
    responses=errors(401, 403, 404, 422),
)
def post_account_unlock(
    username: str, request: Request, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """解锁 before the lockout runs out."""
    return manage.unlock(c, actor, username, request=request_info(request))


@router.post(
    "/accounts/{username}/reset-password",
    response_model=out.PasswordReset,
    responses=errors(401, 403, 404, 422),
)
def post_account_reset_password(
    username: str, request: Request, response: Response, c: ContainerDep, actor: AuthenticatedDep
) -> dict[str, Any]:
    """A new initial password (shown once; to be changed at the next login)."""
    data = manage.reset_password(c, actor, username, request=request_info(request))
    response.headers["Cache-Control"] = "no-store"
    return data


# -- system (system administrator) --------------------------------------------------------------


@router.get("/system/settings", response_model=out.SystemSettings, responses=errors(401, 403))
def get_system_settings(c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Effective settings without secrets, and the registered jobs (system administrator)."""
    return system.settings_view(c, actor)


@router.post(
    "/system/jobs/{job}/run",
    response_model=out.SystemJobRun,
    responses=errors(401, 403, 409, 422),
)
def post_system_job(job: str, c: ContainerDep, actor: AuthenticatedDep) -> dict[str, Any]:
    """Run one registered job now (system administrator), e.g. audit_purge."""
    return system.run_job_now(c, actor, job)


# -- wiring -------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Register the routes and answer failed logins and expired sessions with 401."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Unauthenticated)
        # a login or session problem, not a bearer token's: the bare challenge
        headers = {"Cache-Control": "no-store", **challenge(exc.code)}
        response: Response
        if is_page(request):  # a portal page: the error page, with the way to log in again
            response = error_page(request, 401, exc.message, headers=headers)
        else:
            response = JSONResponse(
                {"error": exc.code, "message": exc.message}, status_code=401, headers=headers
            )
        # An ended or expired session: drop its cookie, so the next request is anonymous
        # (public pages keep working) rather than failing again. Pending logins keep theirs.
        pending = exc.code in ("second_factor_failed", "login_incomplete")
        if request.cookies.get(SESSION_COOKIE) and not pending:
            clear_session(response, request.app.state.container)
        return response

    app.include_router(router)
