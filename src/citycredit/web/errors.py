"""Domain errors → HTTP answers that name the field and value."""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

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
        {"title": title, "message": message, "status": status},
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
        """An unknown path or method: the portal's page, or the API's error shape."""
        if exc.status_code in (404, 405):
            if is_page(request):
                message = "没有这个页面" if exc.status_code == 404 else "不支持这种访问方式"
                return error_page(request, exc.status_code, message)
            where = f"{request.method} {request.url.path}"
            body = (
                {"error": "route_not_found", "message": f"没有这个接口：{where}"}
                if exc.status_code == 404
                else {
                    "error": "method_not_allowed",
                    "message": f"该接口不支持这种请求方法：{where}",
                }
            )
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
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


# Request fields whose value is never sent back, neither in `value` nor in `detail`.
SECRET_FIELDS = frozenset(
    {"password", "current_password", "new_password", "id_token", "secret", "totp_secret"}
)

# Pydantic's error types in Chinese; ``{…}`` is filled from the error's ``ctx``.
_DATE = "须为 ISO 8601 日期，如 2026-11-25"
_DATETIME = "须为 ISO 8601 日期时间，如 2026-11-25T10:00:00+08:00"
VALIDATION_MESSAGES = {
    "missing": "必须填写",
    "string_type": "须为字符串",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "float_type": "须为数字",
    "float_parsing": "须为数字",
    "decimal_parsing": "须为数字",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "string_pattern_mismatch": "格式不符（须匹配 {pattern}）",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "须不小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "须不大于 {le}",
    "multiple_of": "须为 {multiple_of} 的倍数",
    "literal_error": "须为以下之一：{expected}",
    "enum": "须为以下之一：{expected}",
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
    "datetime_type": _DATETIME,
    "datetime_parsing": _DATETIME,
    "datetime_from_date_parsing": _DATETIME,
    "json_invalid": "不是有效的 JSON",
    "json_type": "不是有效的 JSON",
    "model_type": "须为 JSON 对象",
    "model_attributes_type": "须为 JSON 对象",
    "dict_type": "须为 JSON 对象",
    "list_type": "须为数组",
    "extra_forbidden": "不是可接受的字段",
    "uuid_parsing": "须为 UUID",
    "url_parsing": "须为网址",
}


def _expected(text: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" as 「a」、「b」、「c」."""
    values = re.split(r", | or ", text)
    return "、".join(f"「{v.strip().strip(chr(39))}」" for v in values if v.strip())


def validation_message(error: dict[str, Any]) -> str:
    """One validation error in Chinese (our own validators' text as they wrote it)."""
    kind = str(error.get("type", ""))
    if kind in ("value_error", "assertion_error"):  # raised by our validators, already Chinese
        text = str(error.get("msg", ""))
        return text.split(", ", 1)[1] if text.startswith(("Value error, ", "Assertion")) else text
    template = VALIDATION_MESSAGES.get(kind)
    if template is None:
        return "取值无效"
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    if "expected" in ctx:
        ctx["expected"] = _expected(ctx["expected"])
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template.split("（")[0].split("：")[0]


def _shown(error: dict[str, Any]) -> Any:
    """The refused value as it may be sent back: a scalar, not a secret, not the whole body
    (a missing field's ``input`` is the object it is missing from)."""
    loc = error.get("loc") or ()
    value = error.get("input")
    if error.get("type") == "missing" or not isinstance(value, str | int | float | bool):
        return None
    if loc and str(loc[-1]) in SECRET_FIELDS:
        return "***"
    return value


def _invalid_json(exc: RequestValidationError) -> JSONResponse:
    """The API's validation errors in the shape of every other error — ``error``, ``field``,
    ``value``, ``message`` (Chinese) — beside FastAPI's ``detail`` list (kept for existing
    clients, with the same Chinese ``msg`` and without any value that must not come back)."""
    errors = list(exc.errors())
    detail = []
    for e in errors:
        item = {
            "type": e.get("type"),
            "loc": list(e.get("loc") or ()),
            "msg": validation_message(e),
        }
        shown = _shown(e)
        if shown is not None:
            item["input"] = shown
        detail.append(item)
    first = errors[0] if errors else {}
    loc = [str(x) for x in (first.get("loc") or ())]
    name = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "")
    message = validation_message(first) if first else "取值无效"
    body = {
        "error": "invalid",
        "field": name,
        "value": _shown(first) if first else None,
        "message": f"{name}：{message}",
        "detail": jsonable_encoder(detail),
    }
    return JSONResponse(body, status_code=422)
