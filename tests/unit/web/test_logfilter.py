"""Access-log lines never carry ID or phone numbers."""

from __future__ import annotations

import logging

from citycredit.web.logfilter import PersonalNumberFilter, install


def test_access_log_arguments_are_scrubbed() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/api/v1/subjects?q=11010519491231002X&tel=13912345678",
            "1.1",
            200,
        ),
        None,
    )
    assert PersonalNumberFilter().filter(record)
    line = record.getMessage()
    assert "11010519491231002X" not in line and "13912345678" not in line
    assert "/api/v1/subjects?q=" in line and "200" in line


def test_install_is_idempotent() -> None:
    install("citycredit.test")
    install("citycredit.test")
    filters = logging.getLogger("citycredit.test").filters
    assert sum(isinstance(f, PersonalNumberFilter) for f in filters) == 1
