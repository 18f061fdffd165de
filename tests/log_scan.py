"""Security goal G14, suite-wide: no log record of the test run carries personal data or a secret.

A pytest plugin (registered by tests/conftest.py). From the start of the session every record
that a logger hands to its handlers — any logger, propagating or not (uvicorn's own loggers do
not propagate), whether or not a handler would print it — is formatted as the application's
handler would (``web/serve.py``: ``%(levelname)s: %(message)s``, with its traceback and stack)
and scanned for:

- a valid 18-digit resident ID number (checksum and date checked by `shared.ids`);
- an 11-digit mainland mobile number (``1[3-9]`` and nine digits, not inside a longer number);
- a bearer token, a session cookie, a TOTP secret, an Authorization/Cookie header or a named
  credential (``password=…``) — `web.logfilter.find_secrets`, the formats the scrubber knows;
- a password the tests use (`KNOWN_PASSWORDS`) or a value registered with `register_secret`.

As in production (every entry point calls `web.logfilter.install`), records are scrubbed where
they are made, and the root logger passes INFO, the level `web.serve` runs at: the scan sees
what the application would write (the test client's ``httpx`` request lines stay at WARNING). At the end of the session a finding fails the run (exit
status 1) with a report naming G14, the test, the logger and the kind — never the value in full.

Under pytest-xdist each worker scans its own records and sends its findings back with its
``workeroutput``; the controller reports them and fails its session (xdist does not carry a
worker's exit status over).

- ``@pytest.mark.logs_secrets``: a test that deliberately writes an unscrubbed secret (through a
  raw handler or a hand-made record) is exempt; records made while it runs are not scanned.
- ``CITYCREDIT_LOG_SCAN=0``: turns the scan off (for debugging); it is on by default.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator
from typing import Any

import pytest

from citycredit.shared.ids import ID_NUMBER_PATTERN, is_valid_id_number
from citycredit.shared.text import to_halfwidth
from citycredit.web import logfilter

ENV = "CITYCREDIT_LOG_SCAN"
MARKER = "logs_secrets"
GOAL = "G14"
# The passwords the tests log in with (tests/**: PASSWORD constants and literals).
KNOWN_PASSWORDS = (
    "榆林信用-correct-horse",
    "榆林信用-horse-battery",
    "app-role-password-1",
    "initial-password-xyz",
    "not-the-password",
    "not the password!",
    "wrong password!",
)
MOBILE_PATTERN = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_FORMATTER = logging.Formatter("%(levelname)s: %(message)s")
_MAX_FINDINGS = 50
_WORKER_KEY = "citycredit_log_scan"

_registered: set[str] = set()


def register_secret(value: str) -> str:
    """Make the scan look for a secret a test made (a password, a token); returns it."""
    if len(value) >= 6:  # shorter values would match ordinary text
        _registered.add(value)
    return value


def _masked(value: str) -> str:
    return f"{value[:3]}…({len(value)} characters)"


def scan_text(text: str) -> list[tuple[str, str]]:
    """(kind, value) of each piece of personal data or secret in a formatted log line."""
    found: list[tuple[str, str]] = []
    probe = to_halfwidth(text)
    for m in ID_NUMBER_PATTERN.finditer(probe):
        raw = m.group().replace(" ", "").replace("-", "")
        if len(raw) == 18 and is_valid_id_number(raw):
            found.append(("resident ID number", raw))
    found.extend(("mobile number", m.group()) for m in MOBILE_PATTERN.finditer(probe))
    found.extend(logfilter.find_secrets(text))
    for value in (*KNOWN_PASSWORDS, *_registered):
        if value in text:
            found.append(("test password or registered secret", value))
    return found


class LogScan:
    """The session's scanner: wraps `logging.Logger.callHandlers` while the session runs."""

    def __init__(self) -> None:
        self.findings: list[dict[str, str]] = []
        self.total = 0
        self.test = "(outside any test)"
        self.exempt = False
        self._original: Any = None
        self._root_level: int | None = None
        self._client_quieted = False

    def start(self) -> None:
        logfilter.install()
        root = logging.getLogger()
        if root.level > logging.INFO or root.level == logging.NOTSET:
            self._root_level = root.level
            root.setLevel(logging.INFO)
        # The test client's own request lines are not the application's log (and would crowd
        # every failing test's captured log).
        client = logging.getLogger("httpx")
        if client.level == logging.NOTSET:
            client.setLevel(logging.WARNING)
            self._client_quieted = True
        original = logging.Logger.callHandlers
        scan = self

        def call_handlers(logger: logging.Logger, record: logging.LogRecord) -> None:
            scan.record(logger, record)
            original(logger, record)

        self._original = original
        logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        if self._original is not None:
            logging.Logger.callHandlers = self._original  # type: ignore[method-assign]
            self._original = None
        if self._client_quieted:
            logging.getLogger("httpx").setLevel(logging.NOTSET)
            self._client_quieted = False
        if self._root_level is not None:
            logging.getLogger().setLevel(self._root_level)
            self._root_level = None

    def record(self, logger: logging.Logger, record: logging.LogRecord) -> None:
        if self.exempt:
            return
        try:
            text = _FORMATTER.format(record)
        except Exception:  # a record that does not format: logging reports it itself
            return
        for kind, value in scan_text(text):
            self.add(
                {"test": self.test, "logger": record.name, "kind": kind, "value": _masked(value)}
            )

    def add(self, finding: dict[str, str]) -> None:
        self.total += 1
        if len(self.findings) < _MAX_FINDINGS:
            self.findings.append(finding)

    def report(self) -> list[str]:
        lines = [
            f"{GOAL}: {self.total} log record finding(s) of personal data or secrets "
            "(security goal G14: no valid ID number, mobile number, password, TOTP secret or "
            "session token in logs)"
        ]
        lines += [
            f"  {f['test']} | logger {f['logger']} | {f['kind']} | {f['value']}"
            for f in self.findings
        ]
        if self.total > len(self.findings):
            lines.append(f"  … and {self.total - len(self.findings)} more")
        lines.append(
            f"  Fix the source, or mark a test that logs secrets on purpose with "
            f"@pytest.mark.{MARKER}; {ENV}=0 turns the scan off."
        )
        return lines


_KEY = pytest.StashKey[LogScan]()


def _scan(config: pytest.Config) -> LogScan | None:
    return config.stash.get(_KEY, None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: writes an unscrubbed secret on purpose; exempt from the G14 log scan",
    )
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return
    scan = LogScan()
    config.stash[_KEY] = scan
    scan.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    scan = _scan(config)
    if scan is not None:
        scan.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    scan = _scan(item.config)
    if scan is None:
        yield
        return
    scan.test, scan.exempt = item.nodeid, item.get_closest_marker(MARKER) is not None
    try:
        yield
    finally:
        scan.test, scan.exempt = "(between tests)", False


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: take over a worker's findings."""
    scan = _scan(node.config)
    output = getattr(node, "workeroutput", None) or {}
    if scan is None or _WORKER_KEY not in output:
        return
    total, findings = output[_WORKER_KEY]
    for finding in findings:
        scan.add(finding)
    scan.total += int(total) - len(findings)


def pytest_sessionfinish(session: pytest.Session) -> None:
    scan = _scan(session.config)
    if scan is None:
        return
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller reports
        workeroutput[_WORKER_KEY] = (scan.total, scan.findings)
    if scan.total and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    scan = _scan(config)
    if scan is None or not scan.total:
        return
    lines = scan.report()
    terminalreporter.section(f"{GOAL} log scan", sep="=", red=True, bold=True)
    for line in lines:
        terminalreporter.line(line, red=True)
