"""Keep ID and phone numbers and credentials out of log lines (security goal G14).

A visitor may type an ID or phone number into a search box; a request, a dict or an exception
may carry a password, a bearer token, a session cookie or a TOTP secret. `scrub_text` removes
both: credentials by their exact formats (`SECRET_PATTERN`), then personal numbers
(`shared.ids.scrub_personal`).

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
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from citycredit.shared.ids import scrub_personal

PLACEHOLDER = "[已隐去]"  # the same mark as `scrub_personal`'s

# Credentials, recognised by their exact formats rather than by broad patterns that would
# mangle ordinary log text. Whole-value formats are replaced entirely; a named value
# (``password=…``, ``"token": "…"``, ``Authorization: Bearer …``) keeps its name.
_URLSAFE = "A-Za-z0-9_-"
_KEY_NAMES = (
    r"[a-z_]*pass(?:word|wd)|(?:totp_|otp_)?secret(?:_key)?"
    r"|(?:api_|access_|bearer_|csrf_|refresh_|session_)?token|cc_session"
)
_HEADER_NAMES = r"(?:proxy-)?authorization|cookie|set-cookie|x-csrf-token"
_KEY = re.compile(rf"(?i:{_KEY_NAMES}|{_HEADER_NAMES})")
_HIDDEN = r"(?!\[已隐去\])"  # a value already hidden stays as it is
SECRET_PATTERN = re.compile(
    # A bearer (API) token: "cc_" + secrets.token_urlsafe(32), 43 characters (accounts/service.py).
    rf"(?P<api_token>(?<![{_URLSAFE}])cc_[{_URLSAFE}]{{43}}(?![{_URLSAFE}]))"
    # A web session cookie (accounts/auth.py): "ws" + 20 base32, token_urlsafe(32), 32 hex.
    rf"|(?P<session_cookie>(?<![{_URLSAFE}])ws[a-z2-7]{{20}}\.[{_URLSAFE}]{{43}}\.[0-9a-f]{{32}}"
    r"(?![0-9a-f]))"
    # A TOTP secret: 32 base32 characters (pyotp.random_base32(32), accounts/totp.py).
    r"|(?P<totp_secret>(?<![A-Za-z0-9])[A-Z2-7]{32}(?![A-Za-z0-9]))"
    # An Authorization / Cookie / X-CSRF-Token header, as a line or a dict entry.
    rf"|(?P<hkey>(?<![\w-])(?P<hq>['\"]?)(?i:{_HEADER_NAMES})(?P=hq)\s*[:=]\s*['\"]?)"
    rf"(?P<hval>{_HIDDEN}(?:(?i:bearer|basic|token|digest)\s+)?[^\s'\",;]+)"
    # password=…, token='…' (a query string, keyword arguments, a repr).
    rf"|(?P<ekey>(?<![\w-])(?i:{_KEY_NAMES})\s*=\s*)"
    # An unquoted value runs to a separator; "secret_key=SecretStr('***')" is a repr, not a value.
    rf"(?P<evalue>{_HIDDEN}(?:'[^']*'|\"[^\"]*\"|[^\s&,;()'\"\]}}>]+(?![(\w])))"
    # "password": "…" (JSON, a dict's repr): the name and the value both quoted.
    rf"|(?P<qkey>(?P<q>['\"])(?i:{_KEY_NAMES})(?P=q)\s*:\s*)"
    rf"(?P<qvalue>{_HIDDEN}(?:'[^']*'|\"[^\"]*\"))"
)
# Cheap tests first (the filter runs on every record): a text none of these finds holds no
# credential SECRET_PATTERN knows, and most log lines stop here at about 2 µs.
_WORDS = ("cc_", "pass", "secret", "token", "authorization", "cookie", "csrf")
_COOKIE_START = re.compile(r"ws[a-z2-7]{20}\.")
_BASE32_RUN = re.compile(r"[A-Z2-7]{32}")
SECRET_KINDS = {
    "api_token": "bearer token",
    "session_cookie": "session cookie",
    "totp_secret": "TOTP secret",
    "hval": "credential header",
    "evalue": "named credential",
    "qvalue": "named credential",
}


def _quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""


def _replace(m: re.Match[str]) -> str:
    kind = m.lastgroup
    if kind in ("hval", "evalue", "qvalue"):
        key = m.group("hkey") or m.group("ekey") or m.group("qkey")
        value = m.group(kind)
        return key + (value[0] + PLACEHOLDER + value[0] if _quoted(value) else PLACEHOLDER)
    return PLACEHOLDER


def _names_credential(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in _WORDS)


def _may_hold_secret(text: str) -> bool:
    return (
        _names_credential(text)
        or _BASE32_RUN.search(text) is not None
        or _COOKIE_START.search(text) is not None
    )


def scrub_secrets(text: str) -> str:
    """Replace bearer tokens, session cookies, TOTP secrets and named credentials."""
    return SECRET_PATTERN.sub(_replace, text) if _may_hold_secret(text) else text


def find_secrets(text: str) -> Iterator[tuple[str, str]]:
    """(kind, value) of each credential still in a text; values already hidden are skipped."""
    if not _may_hold_secret(text):
        return
    for m in SECRET_PATTERN.finditer(text):
        kind = m.lastgroup or ""
        value = m.group(kind)
        bare = value[1:-1] if _quoted(value) else value
        if bare and PLACEHOLDER not in bare and set(bare) != {"*"} and bare != "None":
            yield SECRET_KINDS.get(kind, kind), bare


def scrub_text(text: str) -> str:
    """The one scrubber of log text: credentials first (a token may hold a digit run that
    looks like a phone number), then ID and phone numbers."""
    return scrub_personal(scrub_secrets(text))


# Arguments formatted as they are: they cannot carry a personal number or a secret.
_PLAIN = (bool, float, type(None))
_lock = threading.Lock()
_MARK = "_citycredit_scrubs_personal_numbers"


def _carries_number(value: object) -> bool:
    """Whether a non-string argument's text holds an ID or phone number or a credential."""
    if isinstance(value, _PLAIN):
        return False
    try:
        text = str(value)
    except Exception:  # a broken __str__ fails later, where logging reports it
        return False
    return scrub_text(text) != text


def scrub_record(record: logging.LogRecord) -> None:
    """Scrub ID and phone numbers and credentials from a record's message, arguments,
    traceback and stack."""
    msg, args = record.msg, record.args
    if args and isinstance(msg, str) and _names_credential(msg):
        # "password=%s" % pw: the argument alone is not recognisable, the formatted text is
        # (and scrubbing the template first would leave its "%s" to no argument).
        with contextlib.suppress(Exception):  # one that does not format: scrubbed as below
            record.msg, record.args = scrub_text(record.getMessage()), None
            msg, args = record.msg, None
    if isinstance(msg, str):
        record.msg = scrub_text(msg)
    elif _carries_number(msg):  # e.g. log.error(exc)
        record.msg = scrub_text(str(msg))
    collapse = False
    if isinstance(args, tuple):
        scrubbed: list[object] = []
        for a in args:
            if isinstance(a, str):
                scrubbed.append(scrub_text(a))
            else:
                collapse = collapse or _carries_number(a)
                scrubbed.append(a)
        record.args = tuple(scrubbed)
    elif isinstance(args, dict):
        mapping: dict[str, Any] = {}
        for k, v in args.items():
            if isinstance(k, str) and _KEY.fullmatch(k) and v is not None:  # {"password": pw}
                mapping[k] = PLACEHOLDER
            elif isinstance(v, str):
                mapping[k] = scrub_text(v)
            else:
                collapse = collapse or _carries_number(v)
                mapping[k] = v
        record.args = mapping
    if collapse:
        # An argument's text (an exception, a path, a dict) holds a personal number or a
        # credential: format the message now and keep only its scrubbed text.
        with contextlib.suppress(Exception):  # one that does not format: logging reports it
            record.msg = scrub_text(record.getMessage())
            record.args = None
    if record.exc_info and not record.exc_text:
        with contextlib.suppress(Exception):  # a traceback that cannot be formatted
            record.exc_text = scrub_text(_FORMATTER.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub_text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)


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
