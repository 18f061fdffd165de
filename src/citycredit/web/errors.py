"""Domain errors → HTTP answers that name the field and value."""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from citycredit.accounts.model import ANONYMOUS
from citycredit.db.storage import STORAGE_FULL_MESSAGE, is_storage_full, record_storage_full
from citycredit.ingest.readers import ReadError
from citycredit.shared.errors import (
    CityCreditError,
    Conflict,
    FieldError,
    HiddenDenial,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.shared.ids import scrub_personal
from citycredit.shared.personal import PersonalDataError
from citycredit.web.templating import templates

log = logging.getLogger(__name__)

STATUS = {
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    InvalidTransition: 409,
    FieldError: 422,
}


# privacy.keycheck: the key ring does not match the database (an operator must fix it).
KEY_RING_REFUSALS = frozenset(
    {"personal_key_mismatch", "personal_key_missing", "personal_index_key_mismatch"}
)

TITLES = {
    400: "请求有误",
    401: "需要登录",
    403: "无权访问",
    404: "未找到",
    409: "状态冲突",
    422: "输入有误",
    507: "存储空间不足",
    503: "服务暂不可用",
}


def is_page(request: Request) -> bool:
    """A portal page (answered in HTML), not the API."""
    return not request.url.path.startswith("/api/")


def error_page(
    request: Request, status: int, message: str, *, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """The portal's page for an error: the same Chinese message the API gives, in the layout."""
    title = TITLES.get(status, "出错了")
    return templates().TemplateResponse(
        request,
        "error.html",
        {"title": title, "message": message},
        status_code=status,
        headers=headers,
    )


# Refusals that are about the credential itself: answered 401 whoever asks.
UNAUTHENTICATED = frozenset({"invalid_token", "authentication_required"})
ANONYMOUS_REFUSAL = "此操作需要登录或令牌（Authorization: Bearer …）"


def challenge(error: str) -> dict[str, str]:
    """The WWW-Authenticate header every 401 carries (RFC 9110 §11.6.1; RFC 6750 §3 for the
    bearer scheme's ``error``): a missing credential gets the bare challenge, a bad bearer token
    (``error`` = "invalid_token") names it."""
    value = 'Bearer realm="citycredit"'
    if error == "invalid_token":
        value += ', error="invalid_token"'
    return {"WWW-Authenticate": value}


def _anonymous(request: Request) -> bool:
    """True when the request carried no credential at all (web.deps set the anonymous
    principal): its refusal asks for one (401) instead of saying the role may not (403)."""
    return getattr(request.state, "principal", None) is ANONYMOUS


# G26: the database cannot be reached or the connection broke (server down or restarting, the
# network, a connection the server dropped, every pooled connection busy): 503 with Retry-After,
# not 500 — the request may be sent again. Errors of the statement itself (IntegrityError,
# ProgrammingError, DataError) are not here: retrying would not help.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
DATABASE_RETRY_AFTER = 5  # seconds
DATABASE_UNAVAILABLE = "数据库暂时无法访问，请稍后再试"


def _database_reason(exc: Exception) -> str:
    """The log's account of an outage: the error classes and the driver's first line — never
    the SQL statement or its parameters (they may hold a value someone searched for)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    first = str(orig if orig is not None else exc.args[0] if exc.args else "").strip()
    first = first.splitlines()[0][:200] if first else ""
    kind = type(exc).__name__ + (f"/{type(orig).__name__}" if orig is not None else "")
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    return f"{kind}{' (connection invalidated)' if invalidated else ''}: {scrub_personal(first)}"


def database_unavailable(request: Request, exc: Exception) -> Response:
    """503 + Retry-After for a database outage: the API's JSON error, or the portal's page."""
    log.error(
        "database unavailable: %s %s: %s",
        request.method,
        scrub_personal(request.url.path),
        _database_reason(exc),
    )
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
    if is_page(request):
        page = error_page(request, 503, DATABASE_UNAVAILABLE)
        page.headers.update(headers)
        return page
    return JSONResponse(
        {"error": "database_unavailable", "message": DATABASE_UNAVAILABLE},
        status_code=503,
        headers=headers,
    )


def storage_where(method: str, path: str) -> str:
    """How an HTTP operation is named in the storage alarm (and matched when it works again)."""
    return f"{method} {scrub_personal(path)}"


def storage_full(request: Request, exc: BaseException) -> Response:
    """G25: 507 Insufficient Storage — nothing was saved; the operator must free space (no
    Retry-After: retrying before that fails the same way). Raises the storage alert."""
    container = getattr(request.app.state, "container", None)
    record_storage_full(
        storage_where(request.method, request.url.path),
        exc,
        engine=getattr(container, "engine", None),  # the stored alarm goes to its database
    )
    if is_page(request):
        return error_page(request, 507, STORAGE_FULL_MESSAGE)
    return JSONResponse({"error": "storage_full", "message": STORAGE_FULL_MESSAGE}, status_code=507)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain exceptions to JSON error bodies."""

    async def _database(request: Request, exc: Exception) -> Response:
        if is_storage_full(exc):
            return storage_full(request, exc)
        return database_unavailable(request, exc)

    for outage in (*DATABASE_OUTAGES, sqlite3.OperationalError):
        app.add_exception_handler(outage, _database)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> Response:
        if is_storage_full(exc):  # a file being written (exports, feeds, reports) hit ENOSPC
            return storage_full(request, exc)
        log.exception("unhandled OS error: %s %s", request.method, scrub_personal(request.url.path))
        return JSONResponse(
            {"error": "internal_error", "message": "服务器内部错误"}, status_code=500
        )

    @app.exception_handler(CityCreditError)
    async def _domain(request: Request, exc: CityCreditError) -> JSONResponse | HTMLResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        if isinstance(exc, HiddenDenial):
            # answered as the missing object (G8); the audit trail records the refusal
            request.state.hidden_denial = exc.reason.code
        if isinstance(exc, PersonalDataError) and exc.code in KEY_RING_REFUSALS:
            status = 503  # the deployment's key ring is not this database's: not the caller's fault
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
        if isinstance(exc, FieldError):
            body.update(field=exc.field, value=exc.value)
        headers: dict[str, str] | None = None
        if isinstance(exc, PermissionDenied) and (
            exc.code in UNAUTHENTICATED or _anonymous(request)
        ):
            # RFC 9110 §15.5.2: no credentials, or bad ones, is 401 with a challenge; 403 is
            # kept for an identified caller whose role does not allow the operation. The
            # refusal keeps its own code (`report_not_public` …: the client still learns why);
            # the generic role refusal says what would help.
            status = 401
            if exc.code == "forbidden":
                body["message"] = ANONYMOUS_REFUSAL
            headers = challenge(exc.code)
        if is_page(request):
            return error_page(request, status, str(body["message"]), headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ReadError)
    async def _read(_request: Request, exc: ReadError) -> JSONResponse:
        return JSONResponse(
            {
                "error": "unreadable_file",
                "message": exc.message,
                "field": exc.field,
                "value": None if exc.value is None else str(exc.value),
                "row": exc.row,
            },
            status_code=422,
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        """An unknown page or method: the portal's page; the API keeps FastAPI's JSON."""
        if is_page(request) and exc.status_code in (404, 405):
            message = "没有这个页面" if exc.status_code == 404 else "不支持这种访问方式"
            return error_page(request, exc.status_code, message)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        """A malformed query parameter of a page names the parameter and the value."""
        if is_page(request):
            first = exc.errors()[0] if exc.errors() else {}
            name = str((first.get("loc") or ("", "?"))[-1])
            value = first.get("input")
            return error_page(request, 422, f"参数 {name} 的值「{value}」无效")
        return _invalid_json(exc)


def _invalid_json(exc: RequestValidationError) -> JSONResponse:
    """The API's validation errors in the shape of every other error — ``error``, ``field``,
    ``value``, ``message`` — beside FastAPI's ``detail`` list (kept for existing clients)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    loc = [str(x) for x in (first.get("loc") or ())]
    name = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "")
    value = first.get("input")
    body = {
        "error": "invalid",
        "field": name,
        "value": value if value is None or isinstance(value, str | int | float) else str(value),
        "message": f"{name}：{first.get('msg', '取值无效')}",
        "detail": jsonable_encoder(errors),
    }
    return JSONResponse(body, status_code=422)
