"""Request dependencies: the container and the acting principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from citycredit.accounts.model import Principal
from citycredit.accounts.service import authenticate
from citycredit.bootstrap import Container


def get_container(request: Request) -> Container:
    """The container the app was built with."""
    container: Container = request.app.state.container
    return container


def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Bearer token → principal; no header → the anonymous public."""
    token = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else authorization.strip()
    return authenticate(get_container(request), token)


ContainerDep = Annotated[Container, Depends(get_container)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
