"""Request dependencies: the container and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from citycredit.accounts.audit import RequestInfo
from citycredit.accounts.auth import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, authenticate_session
from citycredit.accounts.model import ANONYMOUS, Principal
from citycredit.accounts.service import authenticate
from citycredit.bootstrap import Container
from citycredit.shared.errors import PermissionDenied
from citycredit.web.ratelimit import CREDENTIAL_FAILURES, STATE_KEY, client_of
from citycredit.web.templating import CSRF_FORM_FIELD


def get_container(request: Request) -> Container:
    """The container the app was built with."""
    container: Container = request.app.state.container
    return container


async def _container_dependency(request: Request) -> Container:
    """`get_container` as a dependency. Async on purpose: FastAPI runs a plain ``def``
    dependency in the worker-thread pool — a thread hop on every request for one attribute."""
    return get_container(request)


def request_info(request: Request) -> RequestInfo:
    """Request id (set by the audit middleware), method, path and client address."""
    return RequestInfo(
        request_id=getattr(request.state, "request_id", None),
        method=request.method,
        path=request.url.path,
        source_ip=request.client.host if request.client else None,
    )


def get_principal(request: Request) -> Principal:
    """Bearer token, else the web-session cookie, → principal; neither → the anonymous public.

    Resolved once per request (the audit middleware reads it from request.state). The
    ``Authorization`` header is read here, not declared as a parameter: it is a credential, and
    the OpenAPI schema declares it as a security scheme on the routes that require one
    (`AuthenticatedDep`), not as an ordinary header of every operation.
    """
    return resolve_principal(request)


def resolve_principal(request: Request, form_csrf: str | None = None) -> Principal:
    """`get_principal`, with a session's anti-CSRF token from a page's form if it came so."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    c = get_container(request)
    authorization = request.headers.get("authorization")
    token = None
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else authorization.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if token is not None:
            # A request that presents an Authorization header is judged by it: an empty one
            # ("Bearer ") is a bad credential, not a request without one that a session
            # cookie beside it may then speak for.
            if not token:
                raise PermissionDenied("Authorization 请求头中没有令牌", code="invalid_token")
            principal = authenticate(c, token)
        elif cookie:
            principal = authenticate_session(
                c,
                cookie,
                csrf=request.headers.get(CSRF_HEADER) or form_csrf,
                unsafe=request.method not in SAFE_METHODS,
                request=request_info(request),
            )
        else:
            principal = ANONYMOUS
    except PermissionDenied as e:
        limiter = getattr(request.state, STATE_KEY, None)
        if limiter is not None and e.code in CREDENTIAL_FAILURES:
            limiter.credential_failed(client_of(request.scope))  # web.ratelimit: floods of fakes
        raise
    request.state.principal = principal
    return principal


async def get_form_principal(request: Request) -> Principal:
    """`get_principal` for a portal page's HTML form: a session's anti-CSRF token may come as the
    form field ``csrf_token`` (the page copies it from the cc_csrf cookie, which another site
    cannot read), as an API client sends it in the header."""
    form_csrf = None
    if (
        request.cookies.get(SESSION_COOKIE)
        and request.method not in SAFE_METHODS
        and CSRF_HEADER not in request.headers
    ):
        value = (await request.form()).get(CSRF_FORM_FIELD)
        form_csrf = value if isinstance(value, str) else None
    return resolve_principal(request, form_csrf)


# The two credentials, as the OpenAPI schema declares them (security.md G9: the fuzzer's
# `ignored_auth` check strips or forges them on every route that requires one). auto_error off:
# `get_principal` reads and judges them; these only document them.
BEARER = HTTPBearer(
    scheme_name="bearerToken",
    description="部门或账号令牌：Authorization: Bearer <token>",
    auto_error=False,
)
SESSION = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="sessionCookie",
    description=f"网页登录会话（修改类请求另需 {CSRF_HEADER} 请求头）",
    auto_error=False,
)


def get_authenticated(
    principal: Annotated[Principal, Depends(get_principal)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    _session: Annotated[str | None, Security(SESSION)],
) -> Principal:
    """The principal of a route that requires credentials, as its OpenAPI operation declares.

    Declaring is all this adds: the route's service refuses the anonymous public (`require`;
    web.errors answers a refusal of a request without credentials with 401 and a challenge) and
    decides which authenticated roles may call it (403 for the others). The
    schemathesis run (tests/fuzz, G9) calls every declared route without credentials and with
    forged ones, and fails if any of them answers."""
    return principal


# For a hot route that resolves its principal itself (`get_principal` inside its one
# worker-thread hop, web.checks_api): the same declaration as `get_authenticated` gives, put into
# the operation's schema only — no dependency runs per request.
SECURED_OPENAPI: dict[str, object] = {
    "security": [{BEARER.scheme_name: []}, {SESSION.scheme_name: []}]
}


ContainerDep = Annotated[Container, Depends(_container_dependency)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
FormPrincipalDep = Annotated[Principal, Depends(get_form_principal)]
AuthenticatedDep = Annotated[Principal, Depends(get_authenticated)]
