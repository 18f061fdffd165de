"""G14: credentials are scrubbed from log records, and the suite-wide log scan (tests/log_scan.py)
fails a run whose logs carry an ID number, a mobile number, a password or a secret."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pyotp
import pytest

from citycredit.shared.idgen import new_id
from citycredit.web.logfilter import PLACEHOLDER, find_secrets, scrub_record, scrub_text
from log_scan import register_secret, scan_text

pytest_plugins = ["pytester"]

ID = "11010519491231002X"  # checksum-valid
BAD_ID = "110105194912310021"  # the same with a wrong check character
PHONE = "13912345678"
TESTS_DIR = Path(__file__).resolve().parents[1]


def api_token() -> str:
    return "cc_" + secrets.token_urlsafe(32)  # accounts/service.py


def session_cookie() -> str:
    return f"{new_id('ws')}.{secrets.token_urlsafe(32)}.{secrets.token_hex(16)}"  # accounts/auth.py


# -- the scrubber -------------------------------------------------------------------------------


def test_credentials_are_scrubbed_by_their_formats() -> None:
    token, cookie, totp = api_token(), session_cookie(), pyotp.random_base32(32)
    cases = {
        f"issued {token} to SAMR": f"issued {PLACEHOLDER} to SAMR",
        f"session {cookie} ended": f"session {PLACEHOLDER} ended",
        f"Cookie: cc_session={cookie}; lang=zh": f"Cookie: {PLACEHOLDER}; lang=zh",
        f"enrol {totp}": f"enrol {PLACEHOLDER}",
        f"otpauth://totp/a?secret={totp}&issuer=Y": f"otpauth://totp/a?secret={PLACEHOLDER}&issuer=Y",
        f"Authorization: Bearer {token}": f"Authorization: {PLACEHOLDER}",
        "{'authorization': 'Bearer abc.def', 'n': 1}": f"{{'authorization': '{PLACEHOLDER}', 'n': 1}}",
        'body {"password": "hunter2 x", "user": "a"}': f'body {{"password": "{PLACEHOLDER}", "user": "a"}}',
        "POST /login?new_password=s3cret&u=a": f"POST /login?new_password={PLACEHOLDER}&u=a",
        "Login(username='a', password='pw 1')": f"Login(username='a', password='{PLACEHOLDER}')",
        f"token {token} for {ID}": f"token {PLACEHOLDER} for {PLACEHOLDER}",
    }
    for raw, scrubbed in cases.items():
        assert scrub_text(raw) == scrubbed, raw
        assert scrub_text(scrubbed) == scrubbed  # idempotent: a hidden value stays hidden
        assert list(find_secrets(scrubbed)) == []


def test_ordinary_log_text_is_left_alone() -> None:
    for line in (
        '127.0.0.1:5000 - "GET /api/v1/subjects?page=2&q=%E6%A6%86 HTTP/1.1" 200',
        "password: 口令长度不足 12 位",  # a field error names the field, not a value
        "token_issued=True prefix=cc_a1B2c3D",
        "settings secret_key=SecretStr('**********')",
        "CONSTANT_NAMES_WITH_UNDERSCORES_ARE_NOT_BASE32_SECRETS",
        "session wsabcdefghij234567abcd ended (idle)",  # a session id alone opens nothing
    ):
        assert scrub_text(line) == line
        assert list(find_secrets(line)) == []


def test_a_credential_in_an_argument_is_scrubbed_from_the_record() -> None:
    token = api_token()
    for msg, args in (
        ("login of %s password=%s", ("a", "hunter2")),  # the name in the template
        ("payload %s", ({"password": "hunter2", "n": 1},)),  # a dict as the arguments
        ("payload %s %s", ({"password": "hunter2"}, 2)),  # a dict among arguments
        ("failed: %s", (ValueError(f"bad token {token}"),)),  # an exception's text
        ("headers %s", ([("authorization", f"Bearer {token}")],)),
    ):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)
        scrub_record(record)
        text = record.getMessage()
        assert "hunter2" not in text and token not in text, text
        assert PLACEHOLDER in text


# -- the scan's detector ------------------------------------------------------------------------


def test_scan_checks_id_checksums_and_finds_each_kind() -> None:
    assert [k for k, _ in scan_text(f"lookup {ID}")] == ["resident ID number"]
    assert scan_text(f"lookup {BAD_ID}") == []  # not a valid ID number
    assert scan_text(f"sms to {PHONE}") == [("mobile number", PHONE)]
    assert scan_text("order 139123456789 x") == []  # twelve digits: not a mobile number
    assert [k for k, _ in scan_text(f"token={api_token()}")] == ["named credential"]
    assert [k for k, _ in scan_text(f"t {api_token()}")] == ["bearer token"]
    assert [k for k, _ in scan_text(f"c {session_cookie()}")] == ["session cookie"]
    assert [k for k, _ in scan_text(f"s {pyotp.random_base32(32)}")] == ["TOTP secret"]
    assert [k for k, _ in scan_text("login with 榆林信用-correct-horse")] == [
        "test password or registered secret"
    ]
    made = register_secret(f"pw-{secrets.token_hex(4)}")
    assert scan_text(f"x {made} y") == [("test password or registered secret", made)]
    assert scan_text(f"user {PLACEHOLDER} password={PLACEHOLDER}") == []


# -- the plugin, in a pytest run of its own -----------------------------------------------------

INNER = f'''
import logging
import secrets

import pytest

ID = "{ID}"


def raw(logger, msg):
    """A record made by hand and handed to the logger: the scrubbing factory never sees it."""
    logging.getLogger(logger).handle(
        logging.LogRecord(logger, logging.WARNING, __file__, 1, msg, None, None)
    )


def test_logs_an_id_number_unscrubbed():
    raw("inner.ids", "lookup of " + ID)


def test_logs_a_token_unscrubbed():
    raw("inner.tokens", "issued cc_" + secrets.token_urlsafe(32))


def test_logs_through_the_scrubber():
    logging.getLogger("inner.clean").warning("lookup of %s by %s", ID, "13912345678")


@pytest.mark.logs_secrets
def test_logs_secrets_on_purpose():
    raw("inner.exempt", "exempt " + ID)
'''


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    monkeypatch.delenv("CITYCREDIT_LOG_SCAN", raising=False)
    pytester.makepyfile(test_inner=INNER)
    return pytester


def run(p: pytest.Pytester, *args: str) -> pytest.RunResult:
    return p.runpytest_subprocess(
        "-p", "log_scan", "-p", "no:randomly", "-p", "no:cacheprovider", *args
    )


def test_a_secret_in_a_log_record_fails_the_run_naming_g14(inner: pytest.Pytester) -> None:
    result = run(inner)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    result.assert_outcomes(passed=4)  # every test passed: the scan alone fails the run
    assert "G14" in out and "2 log record finding(s)" in out, out
    assert "test_inner.py::test_logs_an_id_number_unscrubbed | logger inner.ids" in out
    assert "resident ID number | 110…(18 characters)" in out
    assert "test_inner.py::test_logs_a_token_unscrubbed | logger inner.tokens | bearer token" in out
    assert ID not in out  # the report never shows the value in full
    assert "inner.clean" not in out and "inner.exempt" not in out


def test_the_scan_fails_an_xdist_run_from_a_worker(inner: pytest.Pytester) -> None:
    result = run(inner, "-n", "2")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, out
    assert "G14" in out and "test_logs_an_id_number_unscrubbed | logger inner.ids" in out, out


def test_the_scan_can_be_turned_off(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYCREDIT_LOG_SCAN", "0")
    result = run(inner)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert "G14" not in result.stdout.str()
