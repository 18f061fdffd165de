"""信用账户 on the portal: log in, see one's own archive with what one may do about it (异议,
信用修复), the notices and who queried it, and file an objection from the page.

The pages call the same services as the JSON API (accounts.auth, rights.account,
rights.objections); nothing here decides who may do what. Forms carry the session's anti-CSRF
token as a field (web.templating.csrf_input, web.deps.get_form_principal)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from citycredit.accounts import auth
from citycredit.accounts.auth import SESSION_COOKIE, SessionIssued
from citycredit.accounts.model import ANONYMOUS
from citycredit.bootstrap import Container
from citycredit.rights import account, objections
from citycredit.rights.model import Ground
from citycredit.rights.notices import SUBJECT
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.web.auth_api import clear_session, set_session
from citycredit.web.deps import ContainerDep, FormPrincipalDep, PrincipalDep, request_info
from citycredit.web.templating import CSRF_FORM_FIELD, templates

router = APIRouter(include_in_schema=False)

ACCOUNT = "/account"
NOTICES_SHOWN = 20


def _login_page(
    request: Request, step: str = "password", message: str | None = None, status: int = 200
) -> HTMLResponse:
    page = templates().TemplateResponse(
        request, "login.html", {"step": step, "message": message}, status_code=status
    )
    page.headers["Cache-Control"] = "no-store"
    return page


def _after(request: Request, c: Container, issued: SessionIssued) -> Response:
    """The next step of a login: the account page, the second factor or a new password."""
    response: Response
    if issued.status == "active":
        response = RedirectResponse(ACCOUNT, status_code=303)
    elif issued.status == "second_factor_required":
        response = _login_page(request, "totp")
    else:
        response = _login_page(request, "password_change", "首次登录或口令已过期，请设置新口令")
    set_session(response, c, issued)
    return response


async def _form(request: Request, *names: str) -> dict[str, str]:
    form = await request.form()
    return {n: str(form.get(n) or "") for n in names}


def _refused(request: Request, step: str, exc: PermissionDenied | FieldError) -> HTMLResponse:
    status = 422 if isinstance(exc, FieldError) else 401
    page = _login_page(request, step, exc.message, status)
    if status == 401:
        page.headers["WWW-Authenticate"] = 'Bearer realm="citycredit"'
    return page


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, actor: PrincipalDep) -> Response:
    """登录: a logged-in subject-side account goes straight to its account page."""
    if actor is not ANONYMOUS and actor.role.is_subject_side:
        return RedirectResponse(ACCOUNT, status_code=303)
    return _login_page(request)


async def _step(request: Request, c: Container, step: str, fn: Any, **kwargs: Any) -> Response:
    """One login step through its service (accounts.auth); a refusal is the login page again,
    at the same step, with the reason."""
    try:
        issued = await run_in_threadpool(
            fn,
            c,
            request=request_info(request),
            user_agent=request.headers.get("user-agent"),
            **kwargs,
        )
    except (PermissionDenied, FieldError) as exc:
        return _refused(request, step, exc)
    if issued is None:  # only a bearer token's password change answers without a session
        return RedirectResponse(ACCOUNT, status_code=303)
    return _after(request, c, issued)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, c: ContainerDep) -> Response:
    """用户名 + 口令 from the form."""
    got = await _form(request, "username", "password")
    return await _step(request, c, "password", auth.login, **got)


@router.post("/login/totp", response_class=HTMLResponse)
async def login_totp(request: Request, c: ContainerDep) -> Response:
    """动态口令 after the password (administrators)."""
    got = await _form(request, "code")
    cookie = request.cookies.get(SESSION_COOKIE)
    return await _step(request, c, "totp", auth.verify_second_factor, cookie=cookie, **got)


@router.post("/login/password", response_class=HTMLResponse)
async def login_password(request: Request, c: ContainerDep) -> Response:
    """A new password at the first login (or after it expired)."""
    got = await _form(request, "current_password", "new_password")
    cookie = request.cookies.get(SESSION_COOKIE)
    return await _step(request, c, "password_change", auth.change_password, cookie=cookie, **got)


@router.post("/logout")
async def logout_submit(request: Request, c: ContainerDep) -> Response:
    """退出: ends the session on the server (its anti-CSRF token comes with the form)."""
    got = await _form(request, CSRF_FORM_FIELD)
    await run_in_threadpool(
        auth.logout,
        c,
        cookie=request.cookies.get(SESSION_COOKIE),
        csrf=request.headers.get(auth.CSRF_HEADER) or got[CSRF_FORM_FIELD],
        request=request_info(request),
    )
    response = RedirectResponse("/", status_code=303)
    clear_session(response, c)
    return response


@router.get(ACCOUNT, response_class=HTMLResponse)
def account_page(request: Request, c: ContainerDep, actor: PrincipalDep) -> Response:
    """我的信用账户: each bound subject's own archive, its cases, notices and queries."""
    account.require_account_holder(actor)
    subjects: list[dict[str, Any]] = []
    for sid in sorted(actor.subject_ids):
        view = account.my_archive(c, actor, sid)
        notices = account.read_inbox(c, (SUBJECT, sid), limit=NOTICES_SHOWN)
        queries = account.my_queries(c, actor, sid)
        subjects.append({"view": view, "notices": notices, "queries": queries})
    page = templates().TemplateResponse(
        request,
        "account.html",
        {
            "actor": actor,
            "subjects": subjects,
            "grounds": [(g.value, g.label) for g in Ground if g is not Ground.automated_decision],
            "filed": request.query_params.get("filed"),
        },
    )
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post(f"{ACCOUNT}/objections")
async def file_objection_page(
    request: Request, c: ContainerDep, actor: FormPrincipalDep
) -> Response:
    """提出异议 from the account page: the same service as POST /api/v1/objections."""
    account.require_account_holder(actor)
    got = await _form(request, "target_type", "target_id", "ground", "reasons")
    filed = await run_in_threadpool(
        objections.file_objection,
        c,
        actor,
        target_type=got["target_type"] or "record",
        target_id=got["target_id"],
        ground=got["ground"],
        reasons=got["reasons"],
        channel="online",
    )
    return RedirectResponse(f"{ACCOUNT}?filed={filed['id']}#objections", status_code=303)
