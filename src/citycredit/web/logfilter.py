"""Keep ID and phone numbers out of log lines (a visitor may type one into a search box).

Scrubbing happens where every record is made, not on chosen loggers: `install` wraps the
process's log-record factory, so a record of any logger — ``citycredit.*`` children, uvicorn's,
a library's — has its message, its arguments, its traceback text and its stack text scrubbed by
`shared.ids.scrub_personal` before any handler or formatter sees it (a filter attached to a
logger runs only for records made on that very logger, not for those its children propagate,
and never looks at the traceback). Handlers added later (uvicorn's logging configuration, a
test's capture) therefore get scrubbed records too.

A record's traceback is formatted once, here, scrubbed, and left in ``record.exc_text``, which
`logging.Formatter` uses instead of formatting ``exc_info`` again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from citycredit.shared.ids import scrub_personal

# Arguments formatted as they are: they cannot carry a personal number worth a str() call.
_PLAIN = (bool, float, type(None))
_lock = threading.Lock()
_MARK = "_citycredit_scrubs_personal_numbers"


def _carries_number(value: object) -> bool:
    """Whether a non-string argument's text holds an ID or phone number."""
    if isinstance(value, _PLAIN):
        return False
    try:
        text = str(value)
    except Exception:  # a broken __str__ fails later, where logging reports it
        return False
    return scrub_personal(text) != text


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub ID and phone numbers from a record's message, arguments, traceback and stack."""
    msg = record.msg
    if isinstance(msg, str):
        record.msg = scrub_personal(msg)
    elif _carries_number(msg):  # e.g. log.error(exc)
        record.msg = scrub_personal(str(msg))
    collapse = False
    args = record.args
    if isinstance(args, tuple):
        scrubbed: list[object] = []
        for a in args:
            if isinstance(a, str):
                scrubbed.append(scrub_personal(a))
            else:
                collapse = collapse or _carries_number(a)
                scrubbed.append(a)
        record.args = tuple(scrubbed)
    elif isinstance(args, dict):
        mapping: dict[str, Any] = {}
        for k, v in args.items():
            if isinstance(v, str):
                mapping[k] = scrub_personal(v)
            else:
                collapse = collapse or _carries_number(v)
                mapping[k] = v
        record.args = mapping
    if collapse:
        # An argument's text (an exception, a path, a number) holds a personal number: format
        # the message now and keep only its scrubbed text.
        with contextlib.suppress(Exception):  # one that does not format: logging reports it
            record.msg = scrub_personal(record.getMessage())
            record.args = None
    if record.exc_info and not record.exc_text:
        with contextlib.suppress(Exception):  # a traceback that cannot be formatted
            record.exc_text = scrub_personal(_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub_personal(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_personal(record.stack_info)


_FORMATTER = logging.Formatter()


class PersonalNumberFilter(logging.Filter):
    """Scrub a record (for a handler fed by records made elsewhere, e.g. `makeLogRecord`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def installed() -> bool:
    """Whether the process's log-record factory scrubs personal numbers."""
    return bool(getattr(logging.getLogRecordFactory(), _MARK, False))


def install() -> None:
    """Make every log record of this process scrubbed at its creation (idempotent).

    Called where logging is set up: the app's start (after uvicorn configured its loggers),
    `citycredit` (cli.main) and `web.serve` (the server's parent and each worker).
    """
    with _lock:
        previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
        if getattr(previous, _MARK, False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            scrub_record(record)
            return record

        setattr(factory, _MARK, True)
        logging.setLogRecordFactory(factory)
