"""Log lines never carry ID or phone numbers: any logger, any handler, tracebacks included."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from citycredit.web import logfilter
from citycredit.web.logfilter import PersonalNumberFilter, install, scrub_record

ID = "11010519491231002X"
PHONE = "13912345678"


# uvicorn's logging config (applied by any earlier test that started a server in this process)
# stops its loggers' records at "uvicorn"; these tests read them at the root.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def uvicorn_records_reach_the_root() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.level = True, logging.NOTSET
    try:
        yield
    finally:
        for lg, (propagate, level) in zip(loggers, saved, strict=True):
            lg.propagate, lg.level = propagate, level


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the root logger's handlers would print, with the usual formatter."""
    install()
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)  # a plain handler: no filter of its own
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buf
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


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
            f"/api/v1/subjects?q={ID}&tel={PHONE}",
            "1.1",
            200,
        ),
        None,
    )
    assert PersonalNumberFilter().filter(record)
    line = record.getMessage()
    assert ID not in line and PHONE not in line
    assert "/api/v1/subjects?q=" in line and "200" in line
    assert isinstance(record.args, tuple) and record.args[4] == 200  # uvicorn unpacks them


def test_child_loggers_and_tracebacks_are_scrubbed(captured: io.StringIO) -> None:
    """Security audit D7: a logger-level filter on "citycredit" never saw its children's records,
    and nothing scrubbed traceback text."""
    logging.getLogger("citycredit.web.ratelimit").warning("rate limited: GET %s", f"/s/{ID}")
    logging.getLogger("citycredit.some.deep.child").info(f"lookup of {PHONE} failed")
    try:
        raise ValueError(f"bad value {ID} / {PHONE}")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    try:
        raise KeyError(ID)
    except KeyError as exc:
        logging.getLogger("a.library").error("failed: %s", exc)  # an exception as the argument
        logging.getLogger("a.library").error(exc)  # an exception as the message
    logging.getLogger("citycredit.jobs").info("numbers %(id)s %(n)d", {"id": ID, "n": 3})
    logging.getLogger("citycredit.jobs").warning("phone as a number: %s", int(PHONE))
    logging.getLogger("citycredit.jobs").warning("where: %s", ID, stack_info=True)
    text = captured.getvalue()
    assert ID not in text and PHONE not in text, text
    assert "citycredit.web.ratelimit WARNING rate limited: GET /s/[已隐去]" in text
    assert "Traceback (most recent call last)" in text and "ValueError: bad value [已隐去]" in text
    assert "numbers [已隐去] 3" in text and "Stack (most recent call last)" in text


def test_handlers_added_later_get_scrubbed_records(caplog: pytest.LogCaptureFixture) -> None:
    """pytest's own capture handler is added after install: it sees scrubbed records too."""
    install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "10.0.0.1:1", "GET", f"/?q={ID}", "1.1", 200
        )
    assert ID not in caplog.text and "/?q=[已隐去]" in caplog.text


def test_scrub_record_leaves_ordinary_records_alone() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "%s took %d ms (%s)", ("GET", 5, None), None
    )
    scrub_record(record)
    assert record.args == ("GET", 5, None) and record.getMessage() == "GET took 5 ms (None)"


def test_install_is_idempotent() -> None:
    install()
    factory = logging.getLogRecordFactory()
    install()
    assert logging.getLogRecordFactory() is factory and logfilter.installed()
