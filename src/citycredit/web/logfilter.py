"""Keep ID and phone numbers out of log lines (a visitor may type one into a search box)."""

from __future__ import annotations

import logging

from citycredit.shared.ids import scrub_personal


class PersonalNumberFilter(logging.Filter):
    """Scrub ID and phone numbers from a record's message and string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub_personal(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub_personal(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: scrub_personal(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install(*names: str) -> None:
    """Attach the filter to the named loggers (idempotent)."""
    for name in names or ("uvicorn.access", "uvicorn.error", "citycredit"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, PersonalNumberFilter) for f in logger.filters):
            logger.addFilter(PersonalNumberFilter())
