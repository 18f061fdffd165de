"""Request dependencies: the container and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from citycredit.accounts.audit import RequestInfo
from citycredit.accounts.auth import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, authenticate_session
from citycredit.accounts.model import ANONYMOUS, Principal
from citycredit.accounts.service import authenticate
from citycredit.bootstrap import Container
from citycredit.shared.errors import PermissionDenied
from citycredit.web.ratelimit import CREDENTIAL_FAILURES, STATE_KEY, client_of


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


def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Bearer token, else the web-session cookie, → principal; neither → the anonymous public.

    Resolved once per request (the audit middleware reads it from request.state).
    """
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    c = get_container(request)
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else authorization.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    try:
        if token:
            principal = authenticate(c, token)
        elif cookie:
            principal = authenticate_session(
                c,
                cookie,
                csrf=request.headers.get(CSRF_HEADER),
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


ContainerDep = Annotated[Container, Depends(_container_dependency)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
