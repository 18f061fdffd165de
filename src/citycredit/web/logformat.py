"""Log line times: ISO 8601 in UTC with its offset, never going back within a process (G39).

A log line starts with the time its record was made, e.g. ``2026-11-27T02:00:00.123+00:00``:
UTC whatever the server's time zone, with the offset written out. The times of one process
never go back: when the wall clock steps back (an NTP correction, an operator's ``date -s``) a
line keeps the last time written and ends with ``[clock_step_back_ms=N]``, so the log's order
stays the order of writing and the step is in the log (`LogClock`).

`uvicorn_log_config` is the server's logging configuration (every worker of ``citycredit
serve`` and the single-process server): uvicorn's own handlers and formats with the time in
front, and a handler on the root logger for the platform's own loggers (WARNING and above, the
lines Python's last-resort handler printed without any time before). `install` gives the
last-resort handler the same format, for commands that configure no logging (the CLI).
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

STEP_BACK_ATTR = "clock_step_back_ms"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogClock:
    """The last record time written by this process (seconds since the epoch).

    A record made before an earlier-written one (threads interleave between making a record and
    writing it) keeps the later time, unmarked; a clock that stepped back is behind the last time
    written when read now, which interleaving threads can never make it: its lines are marked
    with how far behind it is until it has caught up.
    """

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.lock = threading.Lock()
        self.last: float | None = None
        self.now = now

    def stamp(self, created: float) -> tuple[float, int | None]:
        with self.lock:
            if self.last is None or created >= self.last:
                self.last = created
                return created, None
            behind = self.last - self.now()
            return self.last, (max(1, round(behind * 1000)) if behind > 0 else None)


_CLOCK = LogClock()


def utc_iso(seconds: float) -> str:
    """A POSIX time as ISO 8601 in UTC with its offset, to the millisecond."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


class UtcTimeMixin(logging.Formatter):
    """``%(asctime)s`` as ISO 8601 UTC with offset, monotonic per process; a step back of the
    clock is noted at the end of the line."""

    log_clock = _CLOCK  # one per process

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        at, step = self.log_clock.stamp(record.created)
        if step is not None:
            setattr(record, STEP_BACK_ATTR, step)
        return utc_iso(at)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        step = record.__dict__.pop(STEP_BACK_ATTR, None)
        return f"{text} [{STEP_BACK_ATTR}={step}]" if step is not None else text


class UtcFormatter(UtcTimeMixin):
    """The platform's log format: UTC time, level, logger, message."""

    def __init__(self, fmt: str | None = FORMAT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)


@functools.cache
def _utc(base: type[logging.Formatter]) -> type[logging.Formatter]:
    return type(f"Utc{base.__name__}", (UtcTimeMixin, base), {})


def uvicorn_formatter(**kwargs: Any) -> logging.Formatter:
    """uvicorn's default format with the UTC time (uvicorn imported only by the server)."""
    from uvicorn.logging import DefaultFormatter

    return _utc(DefaultFormatter)(**kwargs)


def uvicorn_access_formatter(**kwargs: Any) -> logging.Formatter:
    """uvicorn's access-log format with the UTC time."""
    from uvicorn.logging import AccessFormatter

    return _utc(AccessFormatter)(**kwargs)


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with UTC times on every line, and the root logger's
    WARNING lines (the platform's loggers) on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    formatters = config["formatters"]
    formatters["default"]["()"] = f"{__name__}.uvicorn_formatter"
    formatters["access"]["()"] = f"{__name__}.uvicorn_access_formatter"
    for name in ("default", "access"):
        formatters[name]["fmt"] = "%(asctime)s " + formatters[name]["fmt"]
    formatters["root"] = {"()": f"{__name__}.UtcFormatter"}
    config["handlers"]["root"] = {
        "formatter": "root",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["root"] = {"handlers": ["root"], "level": "WARNING"}
    return config


def stream_handler() -> logging.Handler:
    """A stderr handler with the platform's format (the server's parent process)."""
    handler = logging.StreamHandler()
    handler.setFormatter(UtcFormatter())
    return handler


def install() -> None:
    """Lines printed by Python's last-resort handler (no logging configured) carry UTC times."""
    if logging.lastResort is not None:
        logging.lastResort.setFormatter(UtcFormatter())
