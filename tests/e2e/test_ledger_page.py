"""数据链核验 page: the in-browser verifier agrees with verify_bundle and fetches nothing.

Chromium (Debian's /usr/bin/chromium, driven by Playwright) loads the page from a live server,
verifies bundles the Python ledger produced under both suites, rejects tampered ones with the
same message as `citycredit.ledger.bundle.verify_bundle`, and makes no request but for its own
page and static files — none at all while verifying. A copy saved to disk works from file://,
and Ed25519 falls back to the vendored tweetnacl where WebCrypto lacks it.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from citycredit.accounts.model import ANONYMOUS, SYSTEM
from citycredit.bootstrap import Container
from citycredit.exports.service import export_dual_publicity, export_proof
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.ledger import service as ledger
from citycredit.ledger.bundle import BundleError, BundleReport, verify_bundle
from citycredit.ledger.note import sign_note
from citycredit.ledger.signers import generate_signer, verifier_from_vkey, verifier_to_vkey
from citycredit.ledger.suites import Suite
from citycredit.reports import service as reports
from citycredit.web.app import STATIC, create_app
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
AUTH = uscc("11", "610800", "MA0CAMR1")
N_RECORDS = 6
WSH = "榆市监罚〔2026〕{}号"


# ---- browser and server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/test.sh installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def serving(c: Container) -> Iterator[str]:
    """The app on a free 127.0.0.1 port in a background thread; yields the origin."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(c, scheduler=False), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# ---- ledger data -------------------------------------------------------------------------------


def _rows() -> list[list[Any]]:
    return [
        penalty_row(
            CF_XDR_MC=f"榆阳区第{i}商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", f"MA6P{i:04d}"),
            CF_WSH=WSH.format(i),
        )
        for i in range(N_RECORDS)
    ]


def _record_id(c: Container, wsh: str) -> str:
    with c.uow() as uow:
        for rid, payload in uow.session.execute(
            select(RecordRow.id, RecordVersionRow.payload).join(
                RecordVersionRow, RecordVersionRow.record_id == RecordRow.id
            )
        ):
            if payload.get("CF_WSH") == wsh:
                return str(rid)
    raise AssertionError(wsh)


@dataclass
class World:
    c: Container
    origin: str
    suite: str
    vkey: str
    bundles: list[dict[str, Any]]
    reports: list[dict[str, Any]]  # two credit reports' bundles
    exports: list[dict[str, Any]]  # two 双公示 exports' bundles (ledger proofs of manifests)


def _seed(
    c: Container, tmp: Path, suite: str
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    c.settings.ledger_suite = suite
    path = write_csv(tmp / "penalties.csv", PENALTY_COLUMNS, _rows())
    ingest_submission(c, department(c), path=path, item_code="penalty")
    with c.uow() as uow:
        firms = [
            uow.session.scalar(select(RecordRow.subject_id).where(RecordRow.id == rid))
            for rid in (_record_id(c, WSH.format(i)) for i in (2, 3))
        ]
    issued = [reports.issue_report(c, ANONYMOUS, str(sid))["report_no"] for sid in firms]
    exported = [
        export_dual_publicity(c, SYSTEM, out_dir=tmp / "full")["id"],
        export_dual_publicity(c, SYSTEM, since="2026-01-01", out_dir=tmp / "period")["id"],
    ]
    assert ledger.integrate_now(c) > 0
    vkey = ledger.checkpoint(c)["vkey"]
    bundles = [ledger.bundle(c, ANONYMOUS, _record_id(c, WSH.format(i))) for i in (1, 4)]
    report_bundles = [reports.report_bundle(c, ANONYMOUS, no) for no in issued]
    export_bundles = [export_proof(c, SYSTEM, export_id) for export_id in exported]
    # what the page is given is exactly what the HTTP API sends
    return (
        vkey,
        json.loads(json.dumps(bundles, ensure_ascii=False)),
        json.loads(json.dumps(report_bundles, ensure_ascii=False)),
        json.loads(json.dumps(export_bundles, ensure_ascii=False)),
    )


@pytest.fixture(params=["sha256-ed25519", "sm3-sm2"])
def world(request: pytest.FixtureRequest, container: Container, tmp_path: Path) -> Iterator[World]:
    vkey, bundles, report_bundles, export_bundles = _seed(container, tmp_path, request.param)
    with serving(container) as origin:
        yield World(container, origin, request.param, vkey, bundles, report_bundles, export_bundles)


# ---- driving the page --------------------------------------------------------------------------


class VerifyPage:
    """The verify page in a fresh browser context, recording every request it makes."""

    def __init__(self, browser: Any, url: str, *, init_script: str | None = None) -> None:
        self.context = browser.new_context()
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url, wait_until="load")  # classic scripts: attached once loaded

    def verify(self, bundle: dict[str, Any] | str, trusted: str = "") -> dict[str, Any]:
        text = bundle if isinstance(bundle, str) else json.dumps(bundle, ensure_ascii=False)
        self.page.fill("#bundle-text", text)
        self.page.fill("#trusted-vkey", trusted)
        self.forget_outcome()
        self.page.click("#verify-btn")
        return self.outcome()

    def choose_file(self, path: Path) -> dict[str, Any]:
        self.forget_outcome()
        self.page.set_input_files("#bundle-file", str(path))
        return self.outcome()

    def forget_outcome(self) -> None:
        """Clear the last result's status, so `outcome` waits for the next verification: a file
        is read asynchronously, and until then the page still shows the previous result (a
        slow SM2 run under load returned that stale result)."""
        self.page.evaluate(
            "() => { document.getElementById('verify-result').dataset.status = ''; }"
        )

    def outcome(self) -> dict[str, Any]:
        self.page.wait_for_function(
            "() => { const s = document.getElementById('verify-result').dataset.status;"
            " return s && s !== 'running'; }"
        )
        result: dict[str, Any] = self.page.evaluate(
            """() => {
              const r = document.getElementById('verify-result');
              const text = (sel) => Array.from(r.querySelectorAll(sel), (e) => e.textContent);
              const fact = (id) => { const e = document.getElementById(id); return e && e.textContent; };
              return {
                status: r.dataset.status,
                ok: text('li.check.ok'),
                fail: text('li.check.fail'),
                disclosed: Object.fromEntries(Array.from(
                  r.querySelectorAll('#verify-disclosed tr[data-code]'),
                  (tr) => [tr.dataset.code, tr.querySelector('td.value').textContent])),
                origin: fact('fact-origin'), size: fact('fact-size'), root: fact('fact-root'),
                index: fact('fact-index'), ref: fact('fact-ref'), vkey: fact('fact-vkey'),
                engine: fact('fact-engine'), unpinned: !!document.getElementById('verify-unpinned'),
              };
            }"""
        )
        return result

    def close(self) -> None:
        self.context.close()


def _python_report(bundle: dict[str, Any], trusted: str | None) -> BundleReport:
    return verify_bundle(copy.deepcopy(bundle), trusted_vkey=trusted)


def _python_error(bundle: dict[str, Any], trusted: str | None) -> str:
    with pytest.raises(BundleError) as err:
        verify_bundle(copy.deepcopy(bundle), trusted_vkey=trusted)
    return str(err.value)


def _assert_verified(got: dict[str, Any], bundle: dict[str, Any], trusted: str | None) -> None:
    report = _python_report(bundle, trusted)
    assert got["status"] == "ok", got
    assert got["fail"] == []
    assert got["ok"] == [f"✓ {c}" for c in report.checks]
    assert got["origin"] == report.origin
    assert got["size"] == str(report.size)
    assert got["root"] == report.root_hex
    assert got["index"] == str(report.index)
    assert got["ref"] == report.ref
    assert got["disclosed"] == {k: _shown(v) for k, v in report.disclosed.items()}
    assert got["unpinned"] is (trusted is None)


def _shown(value: Any) -> str:
    """How the page shows a disclosed value: text as it is, an object or list as canonical
    JSON (an export's counts)."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(value)


def _same_origin(requests: list[str], origin: str) -> None:
    assert requests, "the page was not loaded"
    foreign = [u for u in requests if not (u == origin or u.startswith(origin + "/"))]
    assert foreign == [], foreign


# ---- tests -------------------------------------------------------------------------------------


def _flip_b64(text: str, at: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _tampered(world: World) -> list[tuple[str, dict[str, Any], str | None, str]]:
    """(what, bundle, pinned key, the start of the expected message)."""
    b = world.bundles[0]
    size = b["proof"]["size"]
    cases: list[tuple[str, dict[str, Any], str | None, str]] = []

    t = copy.deepcopy(b)
    t["disclosed"]["CF_WSH"]["value"] = WSH.format(99)
    cases.append(("changed disclosed value", t, world.vkey, "字段 CF_WSH 的公开值与数据链叶子"))

    t = copy.deepcopy(b)
    t["leaf"]["index"] = (b["leaf"]["index"] + 1) % size
    cases.append(("changed leaf index", t, world.vkey, "包含证明"))

    t = copy.deepcopy(b)
    assert t["proof"]["hashes"], "the test tree is big enough for a non-empty proof"
    t["proof"]["hashes"][0] = _flip_b64(t["proof"]["hashes"][0], 7)
    cases.append(("flipped proof byte", t, world.vkey, "包含证明与根不符"))

    t = copy.deepcopy(b)
    text, _, sigs = t["checkpoint"].rpartition("\n\n")
    line = sigs.rstrip("\n").split("\n")[0]
    name, blob = line.removeprefix("— ").split(" ")
    t["checkpoint"] = f"{text}\n\n— {name} {_flip_b64(blob, 20)}\n"
    cases.append(("checkpoint signature altered", t, None, "签名无效 / invalid signature"))

    name = verifier_from_vkey(world.vkey).name
    other = verifier_to_vkey(generate_signer(name, Suite(world.suite)).verifier())
    cases.append(("pinned key differs", b, other, "凭证中的公钥与您信任的数据链公钥不一致"))

    t = copy.deepcopy(b)
    leaf = json.loads(base64.b64decode(t["leaf"]["data"]))
    leaf["item"] = "licence"
    t["leaf"]["data"] = base64.b64encode(json.dumps(leaf).encode()).decode()
    cases.append(("changed leaf data", t, world.vkey, "叶子数据与叶子哈希不一致"))

    t = copy.deepcopy(b)
    t["checkpoint"] = t["checkpoint"].replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    cases.append(("checkpoint text altered", t, world.vkey, "签名无效 / invalid signature"))

    t = copy.deepcopy(b)
    t["format"] = "something-else/1"
    cases.append(("not a bundle", t, None, "不是数据链凭证"))

    t = copy.deepcopy(b)
    t["suite"] = "sm3-sm2" if world.suite == "sha256-ed25519" else "sha256-ed25519"
    cases.append(("suite relabelled", t, None, "检查点的算法套件"))

    # G18: the checkpoint's origin is the log key's name and it names its suite, even when the
    # log's own key signed it (another log sharing the key, or an operator)
    staging = "staging.citycredit/ledger"
    t = {**copy.deepcopy(b), "origin": staging, "checkpoint": _resigned(world, b, staging, True)}
    cases.append(("another log's checkpoint", t, world.vkey, f"检查点来源 {staging} 与数据链公钥"))
    t = {**copy.deepcopy(b), "checkpoint": _resigned(world, b, b["origin"], False)}
    cases.append(("no suite line", t, world.vkey, "检查点没有算法套件行"))
    return cases


def _resigned(world: World, b: dict[str, Any], origin: str, suite_line: bool) -> str:
    """The bundle's checkpoint with another origin, or without its suite line, signed again with
    the log's own key."""
    text = b["checkpoint"].rpartition("\n\n")[0] + "\n"
    _origin, size, root, *_ext = text.rstrip("\n").split("\n")
    lines = [origin, size, root] + ([f"suite {world.suite}"] if suite_line else [])
    return sign_note("".join(line + "\n" for line in lines), [world.c.ledger_signer])


def test_the_page_verifies_and_rejects_bundles_like_verify_bundle(
    world: World, browser: Any, tmp_path: Path
) -> None:
    vp = VerifyPage(browser, world.origin + "/ledger/verify")
    try:
        _same_origin(vp.requests, world.origin)
        assert vp.page.text_content("#platform-vkey") == world.vkey
        loaded = len(vp.requests)

        # pasted, pinned to the published key: every check ✓, the disclosed values shown
        first, second = world.bundles
        got = vp.verify(first, trusted=world.vkey)
        _assert_verified(got, first, world.vkey)
        assert got["disclosed"]["CF_WSH"] == WSH.format(1)
        assert got["vkey"] == world.vkey

        # chosen with the file picker, no key pinned: verified, with the warning to compare keys
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(second, ensure_ascii=False, indent=2), encoding="utf-8")
        vp.page.fill("#trusted-vkey", "")
        got = vp.choose_file(path)
        _assert_verified(got, second, None)
        assert got["disclosed"]["CF_WSH"] == WSH.format(4)

        # tampered: rejected with verify_bundle's own message
        for what, bundle, pinned, expected in _tampered(world):
            message = _python_error(bundle, pinned)
            assert message.startswith(expected), (what, message)
            got = vp.verify(bundle, trusted=pinned or "")
            assert got["status"] == "fail", (what, got)
            assert got["fail"] == [f"✗ {message}"], what
            assert got["disclosed"] == {}, what

        # a credit report's bundle: the report itself checked against the leaf, as the CLI does
        report, other = world.reports
        got = vp.verify(report, trusted=world.vkey)
        _assert_verified(got, report, world.vkey)
        assert got["ok"][-1].endswith("的内容与数据链中登记的摘要一致（未被改动）")
        edited = copy.deepcopy(report)
        edited["report"]["subject"]["name"] = "别的公司"
        swapped = {**copy.deepcopy(report), "report": copy.deepcopy(other["report"])}
        hidden = copy.deepcopy(report)
        del hidden["disclosed"]["content_hash"]
        bare = {k: v for k, v in copy.deepcopy(report).items() if k != "report"}
        for what, bad, expected in (
            ("edited report", edited, "报告内容与数据链中登记的摘要不一致"),
            ("another report", swapped, "报告编号"),
            ("digest not disclosed", hidden, "凭证没有公开报告内容摘要"),
            ("no report in the bundle", bare, "凭证缺少信用报告内容（report）"),
        ):
            message = _python_error(bad, world.vkey)
            assert message.startswith(expected), (what, message)
            got = vp.verify(bad, trusted=world.vkey)
            assert got["status"] == "fail" and got["fail"] == [f"✗ {message}"], (what, got)

        # a 双公示 export's bundle: its manifest checked against the leaf, as the CLI does
        export, other_export = world.exports
        got = vp.verify(export, trusted=world.vkey)
        _assert_verified(got, export, world.vkey)
        assert got["ok"][-1].endswith("的清单与数据链中登记的摘要一致（未被改动）")
        counted = copy.deepcopy(export)
        counted["manifest"]["counts"]["total"] += 1
        swapped = {**copy.deepcopy(export), "manifest": copy.deepcopy(other_export["manifest"])}
        hidden = copy.deepcopy(export)
        del hidden["disclosed"]["manifest_hash"]
        listed = copy.deepcopy(export)
        listed["manifest"]["files"][0]["sha256"] = "0" * 64
        no_manifest = {k: v for k, v in copy.deepcopy(export).items() if k != "manifest"}
        for what, bad, expected in (
            ("no manifest in the bundle", no_manifest, "凭证缺少导出清单（manifest）"),
            ("a count changed", counted, "导出批次"),
            ("a file's checksum changed", listed, "导出批次"),
            ("another export's manifest", swapped, "清单所属的导出批次"),
            ("digest not disclosed", hidden, "凭证没有公开清单摘要"),
        ):
            message = _python_error(bad, world.vkey)
            assert message.startswith(expected), (what, message)
            got = vp.verify(bad, trusted=world.vkey)
            assert got["status"] == "fail" and got["fail"] == [f"✗ {message}"], (what, got)

        # a float cannot be canonicalised exactly as Python does: the page refuses to judge
        t = copy.deepcopy(first)
        t["disclosed"]["CF_WSH"]["value"] = 2.5
        got = vp.verify(t, trusted=world.vkey)
        assert got["status"] == "unsupported"
        assert "浮点数" in got["fail"][0] and "verify-bundle" in got["fail"][0]

        # not JSON at all
        got = vp.verify('{"format": ', trusted="")
        assert got["status"] == "fail" and got["fail"][0].startswith("✗ 凭证格式错误：")

        assert vp.requests[loaded:] == [], "the verifier made a request while verifying"
    finally:
        vp.close()


# Chromium before 137 (and many browsers built on it) has no Ed25519 in WebCrypto.
NO_WEBCRYPTO_ED25519 = """
(() => {
  const importKey = SubtleCrypto.prototype.importKey;
  SubtleCrypto.prototype.importKey = function (format, key, alg, ...rest) {
    const name = typeof alg === "string" ? alg : alg && alg.name;
    if (String(name).toLowerCase() === "ed25519") {
      return Promise.reject(new DOMException("Algorithm: Unrecognized name", "NotSupportedError"));
    }
    return importKey.call(this, format, key, alg, ...rest);
  };
})();
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the database plays no part here
def test_a_saved_copy_works_from_disk_and_ed25519_falls_back_to_tweetnacl(
    container: Container, browser: Any, tmp_path: Path
) -> None:
    vkey, bundles, _reports, _exports = _seed(container, tmp_path, "sha256-ed25519")
    bundle = bundles[0]
    with serving(container) as origin:
        with urllib.request.urlopen(origin + "/ledger/verify") as resp:
            html = resp.read().decode("utf-8")

        native = VerifyPage(browser, origin + "/ledger/verify")
        fallback = VerifyPage(browser, origin + "/ledger/verify", init_script=NO_WEBCRYPTO_ED25519)
        try:
            got = native.verify(bundle, trusted=vkey)
            _assert_verified(got, bundle, vkey)
            assert got["engine"] == "浏览器内置 WebCrypto"

            got = fallback.verify(bundle, trusted=vkey)
            _assert_verified(got, bundle, vkey)
            assert got["engine"] == "tweetnacl（本页附带）"

            forged = copy.deepcopy(bundle)
            text, _, sigs = forged["checkpoint"].rpartition("\n\n")
            name, blob = sigs.rstrip("\n").removeprefix("— ").split(" ")
            forged["checkpoint"] = f"{text}\n\n— {name} {_flip_b64(blob, 40)}\n"
            got = fallback.verify(forged, trusted=vkey)
            assert got["fail"] == [f"✗ {_python_error(forged, vkey)}"]
        finally:
            native.close()
            fallback.close()

    # as a browser's "save page" does: the page and its static files side by side, no server
    saved = tmp_path / "saved"
    shutil.copytree(STATIC, saved / "static")
    page_file = saved / "数据链核验.html"
    page_file.write_text(re.sub(r'(src|href)="/static/', r'\1="static/', html), encoding="utf-8")
    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    offline = VerifyPage(browser, page_file.as_uri())
    try:
        offline.page.fill("#trusted-vkey", vkey)
        _assert_verified(offline.choose_file(bundle_file), bundle, vkey)
        assert all(u.startswith("file://") for u in offline.requests), offline.requests
    finally:
        offline.close()
