"""What every `citycredit` sub-command shares: the consoles and the one way an error ends a
command (the message, the field and value it names, exit code 2)."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from citycredit.db.storage import (
    STORAGE_FULL_MESSAGE,
    is_storage_full,
    operation_succeeded,
    record_storage_full,
)
from citycredit.shared.errors import CityCreditError

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(exc: Exception) -> NoReturn:
    """Print an error (naming its field and value when it has them) and exit with code 2."""
    message = getattr(exc, "message", str(exc))
    field = getattr(exc, "field", None)
    value = getattr(exc, "value", None)
    detail = f"（字段 {field}，值 {value!r}）" if field else ""
    err.print(f"[red]错误：{message}{detail}[/red]")
    raise typer.Exit(2)


def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `fn`; a platform error or an unreadable file ends the command through `fail`, a
    full disk (G25) with what to do about it. When `fn` works, a storage-full alarm that an
    earlier run of it raised (this process or another: each command is a process) ends, in the
    database of the container or engine it was given."""
    from citycredit.ingest.readers import ReadError

    where = getattr(fn, "__name__", "command")
    try:
        out = fn(*args, **kwargs)
    except (CityCreditError, ReadError) as exc:
        fail(exc)
    except (SQLAlchemyError, OSError) as exc:
        storage_full_exit(where, exc)
    engine = _engine_in(args)
    if engine is not None:
        operation_succeeded(where, engine=engine, stored_too=True)
    return out


def _engine_in(args: tuple[Any, ...]) -> Engine | None:
    """The database a command's function worked on: its container's engine, or an engine."""
    for arg in args:
        engine = arg if isinstance(arg, Engine) else getattr(arg, "engine", None)
        if isinstance(engine, Engine):
            return engine
    return None


def storage_full_exit(where: str, exc: BaseException, *, engine: Engine | None = None) -> NoReturn:
    """A write refused for lack of space (G25) ends the command: the alarm (stored in
    ``engine``'s database when it takes it), what to do about it, exit code 2. Any other error
    is raised again."""
    if not is_storage_full(exc):
        raise exc
    record_storage_full(where, exc, engine=engine)
    err.print(f"[red]错误：{STORAGE_FULL_MESSAGE}[/red]")
    raise typer.Exit(2) from None
