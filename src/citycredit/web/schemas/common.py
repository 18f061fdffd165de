"""What every typed answer shares: the error body, instants and dates as the API writes them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema


def _instant(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"date-time without its UTC offset: {value!r}")
    return value


def _day(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date (YYYY-MM-DD): {value!r}") from None
    if len(value) != 10:
        raise ValueError(f"not an ISO 8601 date (YYYY-MM-DD): {value!r}")
    return value


# The services write instants as ISO 8601 text with their offset (exports in Beijing time,
# +08:00; feeds and receipts as stored, +00:00): kept as the text they wrote, checked here.
Instant = Annotated[
    str, AfterValidator(_instant), WithJsonSchema({"type": "string", "format": "date-time"})
]
Day = Annotated[str, AfterValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


class Answer(BaseModel):
    """A response model: every key documented, none added silently."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Answer):
    """The platform's error answer (web/errors.py): a code, a Chinese message and, for bad
    input, the field and the value that were refused."""

    error: str = Field(
        description="Machine-readable code, e.g. `subscription_not_found`, `invalid`, "
        "`already_withdrawn`, `authentication_required`."
    )
    message: str = Field(description="What went wrong, in Chinese, for the person at the screen.")
    field: str | None = Field(
        default=None,
        description="422 only: the refused field or parameter (`after`, `items`, "
        "`fields.penalty`, `body.purpose` …).",
    )
    value: Any = Field(default=None, description="422 only: the refused value, as sent.")
    row: int | None = Field(
        default=None, description="An unreadable upload (`unreadable_file`): the file's row."
    )
    detail: list[dict[str, Any]] | None = Field(
        default=None,
        description="Validation errors of the request (FastAPI's list: `type`, `loc`, `msg`, "
        "`input`), kept beside `field`/`value` for existing clients.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": "subscription_not_found", "message": "订阅 sub123 不存在"},
                {
                    "error": "invalid",
                    "field": "after",
                    "value": "-1",
                    "message": "after：Input should be greater than or equal to 0",
                },
            ]
        }
    )


ERROR_TEXT = {
    401: "A call without credentials that the public may not make (the refusal's own code: "
    "`forbidden`, `authentication_required`, `report_not_public` …), or forged, expired or "
    "revoked credentials (`invalid_token`); with a `WWW-Authenticate: Bearer` challenge.",
    403: "The identified caller's role or department may not do this.",
    404: "No such object — or one of another department, answered alike (G8).",
    409: "The object's state does not allow it (e.g. already withdrawn, suspended).",
    410: "Gone: the copy expired and was (or is being) deleted.",
    422: "Bad input: `field` and `value` name what was refused.",
    429: "Too many attempts from this client (`rate_limited`); retry after the `Retry-After` "
    "header's seconds.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: the error body for each status it can answer.

    A route that can refuse (403) refuses a call without credentials with 401 (web/errors.py),
    so 403 brings 401 with it."""
    if 403 in codes and 401 not in codes:
        codes = (401, *codes)
    return {code: {"model": ErrorBody, "description": ERROR_TEXT[code]} for code in sorted(codes)}


def binary(text: str) -> dict[str, Any]:
    """The schema of a downloaded file's bytes."""
    return {"schema": {"type": "string", "format": "binary", "description": text}}


def file_response(
    description: str, content: dict[str, Any], model: type[BaseModel] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The 200 of a file download: each media type it answers with and the body's schema
    (``model``: the schema of its ``application/json`` answers)."""
    answer: dict[str, Any] = {"description": description, "content": content}
    if model is not None:
        answer["model"] = model
    return {200: answer}
