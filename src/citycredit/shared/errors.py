"""Domain errors: every error raised by citycredit code derives from `CityCreditError`.

Each error carries a machine-readable ``code`` (ASCII, stable, for APIs and tests) and a
human-readable ``message`` in Chinese (for users and operators).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CityCreditError",
    "Conflict",
    "FieldError",
    "HiddenDenial",
    "InvalidTransition",
    "NotFound",
    "PermissionDenied",
]

# Longest raw value shown in str(FieldError); the full value stays in `.value`.
_MAX_SHOWN_VALUE = 80


class CityCreditError(Exception):
    """Base of every domain error; has ``code`` (machine) and ``message`` (Chinese, human)."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message: str = message
        self.code: str = code if code is not None else self.default_code

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only `code` would otherwise be lost when pickling (e.g. across processes).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[CityCreditError], state: dict[str, Any]) -> CityCreditError:
    """Recreate a pickled error without calling a subclass-specific constructor."""
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class FieldError(CityCreditError):
    """A single value failed validation; ``str(e)`` names the field and the raw value."""

    default_code = "invalid"

    def __init__(self, field: str, value: str | None, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.field: str = field
        self.value: str | None = value
        # Exception.args[0] is the full sentence, so logs and str(e) are self-explanatory.
        self.args = (self._full_text(),)

    def _full_text(self) -> str:
        shown = "" if self.value is None else self.value
        if len(shown) > _MAX_SHOWN_VALUE:
            shown = shown[:_MAX_SHOWN_VALUE] + "…"
        return f"字段 {self.field} 的值 '{shown}' 无效：{self.message}"

    def __str__(self) -> str:
        return self._full_text()


class NotFound(CityCreditError):
    """The requested object does not exist (or is not visible to the caller)."""

    default_code = "not_found"


class PermissionDenied(CityCreditError):
    """The caller is not allowed to perform the operation."""

    default_code = "permission_denied"


class HiddenDenial(NotFound):
    """A refusal answered exactly as the missing object would be (security goal G8).

    Someone else's object must look like one that does not exist: same status, code and
    message as ``missing``. The refusal itself (``reason``) is kept for the audit trail, which
    records the request as denied (web/audit.py), never for the caller.
    """

    def __init__(self, missing: NotFound, reason: PermissionDenied) -> None:
        super().__init__(missing.message, code=missing.code)
        self.reason: PermissionDenied = reason


class Conflict(CityCreditError):
    """The operation conflicts with the current state (duplicate, concurrent change)."""

    default_code = "conflict"


class InvalidTransition(CityCreditError):
    """A workflow state change that the state machine does not allow."""

    default_code = "invalid_transition"
