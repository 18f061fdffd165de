"""Two-owner fixtures and helpers for tests/e2e/test_object_access.py (security.md G8).

The role matrix's world (`test_role_matrix.build_world`) gives each object to one owner: the
submission, records, membership, check, commitment and subscription to ``dept_a`` (市场监管局);
the objection, repair, authorisation, disclosure and bindings to ``agent_a`` (subject A).
`add_second_owner` adds the same kinds of objects for the other owner, made with the same
services: ``dept_b`` (税务局) gets a submission and its record, a membership of the tax list, a
check, a commitment and a subscription; ``agent_b`` (bound to subject B) files an objection and
a repair, grants an authorisation, publishes a disclosure and asks for a letter binding. The
stop-use receipt of the world belongs to ``dept_b`` already (it read C's archive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import test_role_matrix as rm
from sqlalchemy import select

from citycredit.accounts import auth, bindings
from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.service import authenticate, department_principal
from citycredit.bootstrap import Container
from citycredit.checks import service as checks
from citycredit.commitments import service as commitments
from citycredit.db.models import metadata
from citycredit.evaluation import runs
from citycredit.exports import downloads
from citycredit.exports import service as exports
from citycredit.ingest import service as ingest
from citycredit.ingest.db import RecordRow
from citycredit.ledger.db import LedgerAlarmRow
from citycredit.reports import service as reports
from citycredit.rights import authorisations, disclosures, objections, registration, repairs
from citycredit.sharing import service as sharing
from support import PENALTY_COLUMNS_WITH_ID, id_number, penalty_row, uscc, write_csv

TAX_CODE = uscc("11", "610800", "MA0TAX01")
CHECK_MATTER = "public_bidding_check"  # matters.yaml: any department may check it
# Personal values whose appearance the field rules decide (full, in clear)
PHONE = "13912345678"
ADDRESS = "榆阳区新建南路12号3单元501室"
LEGAL_REP_ID = id_number("610802", "19750101", "234")
REJECTED_ID = id_number("610802", "19900202", "345")


def _agent(w: rm.World, who: str) -> Principal:
    """The principal behind an identity of the world (web session or token)."""
    headers, cookies = w.creds[who]
    if cookies:
        return auth.authenticate_session(w.c, cookies[rm.SESSION_COOKIE])
    return authenticate(w.c, headers["Authorization"].removeprefix("Bearer "))


def add_second_owner(w: rm.World, tmp: Path) -> None:
    """Objects of ``dept_b`` and ``agent_b``, beside the world's objects of A (ids in w.ids)."""
    c: Container = w.c
    tax = department_principal(c, rm.TAX)
    samr = department_principal(c, rm.SAMR)
    ids = w.ids

    # dept_b's submission: a tax penalty of subject B; a repairable SAMR penalty of B
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="榆林B公司",
        CF_XDR_SHXYM=rm.CO["B"],
        CF_WSH="榆税稽罚〔2026〕1号",
        CF_CFJG=rm.TAX,
        CF_CFJGDM=TAX_CODE,
        CF_SJLY=rm.TAX,
        CF_SJLYDM=TAX_CODE,
    )
    # a quarantined row (no name) carrying a person's ID number: in clear to dept_b only
    bad = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=REJECTED_ID,
        CF_WSH="榆税稽罚〔2026〕2号",
        CF_CFJG=rm.TAX,
        CF_CFJGDM=TAX_CODE,
        CF_SJLY=rm.TAX,
        CF_SJLYDM=TAX_CODE,
    )
    path = write_csv(tmp / "tax.csv", PENALTY_COLUMNS_WITH_ID, [row, bad])
    receipt = ingest.ingest_submission(
        c, tax, path=path, item_code="penalty", department=None, filename="tax.csv"
    )
    ids["submission_b"] = receipt.submission_id
    repairable = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="榆林B公司",
        CF_XDR_SHXYM=rm.CO["B"],
        CF_WSH="榆市监罚〔2026〕40号",
        CF_JDRQ="2026-07-04",
    )
    path = write_csv(tmp / "samr-b.csv", PENALTY_COLUMNS_WITH_ID, [repairable])
    ingest.ingest_submission(
        c, samr, path=path, item_code="penalty", department=None, filename="samr-b.csv"
    )
    # personal values the field rules govern: P's address and a phone in free text, and the ID
    # number of A's legal representative
    columns = [*PENALTY_COLUMNS_WITH_ID, "CF_XDR_DZ", "CF_FR_ZJHM"]
    person = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="王小明",
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=rm.PERSON_ID,
        CF_WSH="榆市监罚〔2026〕50号",
        CF_SY=f"当事人（联系电话{PHONE}）无证经营",
        CF_JDRQ="2026-11-03",
    )
    company = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC="榆林A公司",
        CF_XDR_SHXYM=rm.CO["A"],
        CF_WSH="榆市监罚〔2026〕51号",
        CF_JDRQ="2026-11-03",
    )
    path = write_csv(
        tmp / "personal.csv", columns, [[*person, ADDRESS, ""], [*company, "", LEGAL_REP_ID]]
    )
    ingest.ingest_submission(
        c, samr, path=path, item_code="penalty", department=None, filename="personal.csv"
    )
    with c.uow() as uow:
        s = uow.session
        tax_record = s.scalar(
            select(RecordRow.id).where(RecordRow.department_id == tax.department_id)
        )
        assert tax_record is not None
        ids["record_tax"] = tax_record
        rb = s.scalar(select(RecordRow.id).where(RecordRow.decision_date == date(2026, 7, 4)))
        assert rb is not None
        ids["record_rb"] = rb
        rp = s.scalar(
            select(RecordRow.id).where(
                RecordRow.subject_id == ids["subject_p"],
                RecordRow.decision_date == date(2026, 11, 3),
            )
        )
        assert rp is not None
        ids["record_p_address"] = rp

    ids["check_b"] = checks.run_check(c, tax, subject_id=ids["subject_b"], matter=CHECK_MATTER)[
        "check_id"
    ]
    ids["commitment_b"] = commitments.create_commitment(
        c,
        tax,
        subject_id=ids["subject_b"],
        kind="voluntary",
        text="承诺依法纳税",
        made_on=date(2026, 11, 1),
    )["commitment_id"]
    ids["subscription_b"] = sharing.subscribe(
        c, tax, sharing.NewSubscription(name="税务处罚订阅", items=["penalty"])
    )["id"]

    # agent_b's cases about subject B
    pb = _agent(w, rm.AGENT_B)
    ids["objection_b"] = objections.file_objection(
        c, pb, target_type="record", target_id=ids["record_b"], ground="wrong", reasons="金额有误"
    )["id"]
    ids["repair_b"] = repairs.file_repair(
        c,
        pb,
        target_type="record",
        target_id=ids["record_rb"],
        reasons="已缴纳罚款并完成整改",
        commitment_text="本单位承诺今后依法经营，如有违反愿承担责任",
        materials=[
            {"code": "performance_proof", "name": "缴款凭证.pdf", "sha256": "2" * 64},
            {"code": "commitment", "name": "承诺书.pdf", "sha256": "3" * 64},
        ],
    )["id"]
    ids["authorisation_b"] = authorisations.grant(
        c,
        pb,
        subject_id=ids["subject_b"],
        grantee=rm.CO["K"],
        purpose="贷款审批",
        valid_until=date(2027, 5, 1),
    )["id"]
    idp = w.c.identity_providers["fake"]
    registration.register(
        c,
        pb,
        provider="fake",
        id_token=idp.issue(  # type: ignore[attr-defined]
            nonce=bindings.idp_nonce(c, pb)["nonce"], now=c.clock.now(), uscc=rm.CO["B"]
        ),
    )
    ids["disclosure_b"] = disclosures.publish(
        c,
        pb,
        subject_id=ids["subject_b"],
        kind="honour",
        title="榆林市纳税信用A级纳税人",
        obtained_on=date(2026, 5, 1),
    )["id"]
    ids["binding_b"] = bindings.request_letter_binding(
        c, pb, subject=rm.CO["C"], content=rm.PDF, filename="b.pdf"
    )["id"]


def add_role_objects(w: rm.World) -> None:
    """Objects of the routes only a role may use (they have no owner): an evaluation run, a
    双公示 export, a ledger alarm and a credit report (public). Ids in w.ids."""
    c = w.c
    run = runs.run_evaluation(c, SYSTEM, engine="db", as_of=date(2026, 11, 25))
    w.ids["run"] = run["run_id"]
    office = Principal(role=Role.credit_office_admin, label="信用办", user_id=None)
    made = exports.export_dual_publicity(c, office, trigger="api")
    w.ids["export"] = made["id"]
    w.ids["export_file"] = made["files"][0]["name"]
    asked = downloads.request_download(
        c, _agent(w, rm.OFFICE), w.ids["export"], purpose="报送核对（G8 测试）"
    )
    w.ids["download"] = asked["id"]
    with c.uow() as uow:
        alarm = LedgerAlarmRow(raised_at=c.clock.now(), kind="tamper", detail={"test": "G8"})
        uow.session.add(alarm)
        uow.session.flush()
        w.ids["alarm"] = str(alarm.id)
        uow.commit()
    w.ids["report"] = reports.issue_report(c, ANONYMOUS, w.ids["subject_a"])["report_no"]


# -- comparing answers -------------------------------------------------------------------------


def fill(path: str, values: Mapping[str, str]) -> str:
    """The URL of a route with its path parameters replaced."""
    url = path
    for name, value in values.items():
        url = url.replace("{" + name + "}", value)
    assert "{" not in url, url
    return url


def missing_like(value: str) -> str:
    """A well-formed id of the same kind that names nothing."""
    if value.isdigit():
        return "987654321"
    if value.isupper() or (value[:4].isupper() and value[4:].isalnum()):
        return value[:-6] + "ZZZZZZ"
    return value[:-6] + "zzzzzz"


def answer(r: Any, ids: Iterable[str]) -> tuple[Any, ...]:
    """What a caller learns from a refusal: status, error code, body keys and the message with
    the ids it names replaced (a missing id is named like an existing one)."""
    try:
        body = r.json()
    except ValueError:
        return (r.status_code, r.headers.get("content-type"), r.text)
    if not isinstance(body, dict):
        return (r.status_code, type(body).__name__)
    message = str(body.get("message", ""))
    for value in sorted(ids, key=len, reverse=True):  # "987654321" before "1"
        message = message.replace(value, "<id>")
    return (r.status_code, body.get("error"), tuple(sorted(body)), message)


# Tables a refused request may write to: the operator audit trail (refusals are recorded, G10),
# session activity and the request counters of the rate limiter.
NOISE_TABLES = frozenset({"audit_events", "user_sessions", "rate_windows"})


def snapshot(c: Container) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table except `NOISE_TABLES`, as sorted text (a small database)."""
    out: dict[str, list[tuple[str, ...]]] = {}
    with c.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in NOISE_TABLES:
                continue
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return out


def changed_tables(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return sorted(t for t in before if before[t] != after.get(t))


# -- JSON key paths ------------------------------------------------------------------------------


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value: ``a.b``, list items as ``[]``; the entries of a
    ``fields`` list (the archive's ``{"code", "label", "value"}``) as ``fields[CODE]`` so the
    catalog fields a role sees are part of its keys."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            out.add(path)
            out |= key_paths(v, path)
    elif isinstance(value, list):
        for v in value:
            if prefix.endswith("fields") and isinstance(v, dict) and "code" in v:
                path = f"{prefix}[{v['code']}]"
                out.add(path)
                out |= {p for p in key_paths(v, path) if not p.endswith((".code", ".label"))}
            else:
                out |= key_paths(v, prefix + "[]")
    return out


PERSONAL_KEY = re.compile(r"(id_number|zjhm|phone|mobile|address|住所|电话)", re.IGNORECASE)


def personal_codes(c: Container) -> frozenset[str]:
    """Catalog fields the field rules treat as personal: sealed ones (`personal`) and the ID
    number, phone and address roles (a natural person's address is never public)."""
    return frozenset(
        spec.code
        for item in c.catalog.items.values()
        for spec in item.fields
        if spec.personal or spec.role in ("id_number", "phone", "address")
    )


def personal_paths(paths: Iterable[str], codes: frozenset[str]) -> set[str]:
    """The key paths that name a personal value: a personal catalog field (``fields[CODE]``, a
    raw row's ``CODE`` key) or a key such as ``id_number_masked``, ``phone``, ``address``."""
    out = set()
    for path in paths:
        last = re.split(r"[.\\[]", path.rstrip("]"))[-1]
        if last in codes or PERSONAL_KEY.search(last):
            out.add(path)
    return out


# -- someone else's object answers like a missing one (G8; tests/e2e/test_hidden_denials_*.py) --


@dataclass(frozen=True)
class Hidden:
    """One route, one identity for which the world's object A is someone else's."""

    method: str
    path: str  # a route of the role matrix's POLICY, with one path parameter
    other: str  # the identity for which A's object is someone else's
    refused: str  # the refusal's code, kept in the audit trail (`detail.refused`)
    key: str | None = None  # the world's id of A's object (default: the POLICY rule's)
    not_found: str | None = None  # the missing id's error code (default: any `*_not_found`)
    body: Mapping[str, Any] | None = None  # JSON body (default: the POLICY rule's request)
    owner: str | None = None  # who still reads it (GET: 200)
    outsider: str | None = None  # a role that never uses the route: the same 403 for any id


def _param(path: str) -> str:
    (name,) = re.findall(r"{(\w+)}", path)
    return name


def _hidden_call(w: rm.World, who: str, case: Hidden, object_id: str) -> Any:
    rule = rm.POLICY[(case.method, case.path)]
    if case.body is not None:
        kwargs: dict[str, Any] = {"json": dict(case.body)}
    else:
        kwargs = rule.request(w) if rule.request else {}
    return w.call(who, case.method, fill(case.path, {_param(case.path): object_id}), **kwargs)


def _outcomes(w: rm.World, case: Hidden, object_id: str, since: int) -> list[Any]:
    """The trail's outcome events (not `started`) of this route and id after event ``since``."""
    from citycredit.accounts.db import AuditEventRow

    with w.c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow).where(
                    AuditEventRow.id > since,
                    AuditEventRow.action == f"http.{case.method} {case.path}",
                    AuditEventRow.object_id == object_id,
                    AuditEventRow.result != "started",
                )
            )
        )


def check_hidden(w: rm.World, cases: Iterable[Hidden]) -> None:
    """A's object answers `case.other` byte for byte as an id that names nothing (the id named in
    the message aside); the trail records exactly one denial, with its reason, for the existing
    object and none for the missing id; a refused write changes no row; an outsider gets the
    same 403 for both ids; the owner still gets its object."""
    from sqlalchemy import func

    from citycredit.accounts.db import AuditEventRow

    for case in cases:
        where = f"{case.other} {case.method} {case.path}"
        rule = rm.POLICY[(case.method, case.path)]
        name = _param(case.path)
        a_id = w.ids[case.key or rule.path.get(name) or rm.DEFAULT_PATH[name]]
        gone = missing_like(a_id)
        before = snapshot(w.c) if case.method != "GET" else None
        with w.c.uow() as uow:
            since = uow.session.scalar(select(func.max(AuditEventRow.id))) or 0
        theirs = _hidden_call(w, case.other, case, a_id)
        nothing = _hidden_call(w, case.other, case, gone)
        assert theirs.status_code == nothing.status_code == 404, (where, theirs.text, nothing.text)
        assert theirs.content.replace(a_id.encode(), b"<id>") == nothing.content.replace(
            gone.encode(), b"<id>"
        ), (where, theirs.text, nothing.text)
        assert theirs.headers["content-type"] == nothing.headers["content-type"], where
        error = nothing.json()["error"]
        assert error == case.not_found if case.not_found else error.endswith("_not_found"), where
        assert gone in nothing.json()["message"], where
        if before is not None:
            assert changed_tables(before, snapshot(w.c)) == [], where
        denied = _outcomes(w, case, a_id, since)
        assert [(e.result, e.status_code, e.detail.get("refused")) for e in denied] == [
            ("denied", 404, case.refused)
        ], (where, denied)
        assert denied[0].actor_label, where
        assert all(e.result != "denied" for e in _outcomes(w, case, gone, since)), where
        if case.outsider is not None:
            a = _hidden_call(w, case.outsider, case, a_id)
            b = _hidden_call(w, case.outsider, case, gone)
            assert a.status_code == b.status_code == 403, (where, a.text, b.text)
            assert a.content == b.content, (where, a.text, b.text)
        if case.owner is not None:
            own = _hidden_call(w, case.owner, case, a_id)
            assert own.status_code == 200, (where, own.status_code, own.text)
