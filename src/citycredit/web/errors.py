"""Domain errors → HTTP answers that name the field and value."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from citycredit.ingest.readers import ReadError
from citycredit.shared.errors import (
    CityCreditError,
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)

STATUS = {
    NotFound: 404,
    PermissionDenied: 403,
    Conflict: 409,
    InvalidTransition: 409,
    FieldError: 422,
}


def install_error_handlers(app: FastAPI) -> None:
    """Map domain exceptions to JSON error bodies."""

    @app.exception_handler(CityCreditError)
    async def _domain(_request: Request, exc: CityCreditError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        body: dict[str, object] = {"error": exc.code, "message": exc.message}
        if isinstance(exc, FieldError):
            body.update(field=exc.field, value=exc.value)
        if isinstance(exc, PermissionDenied) and exc.code == "invalid_token":
            status = 401
        return JSONResponse(body, status_code=status)

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
