"""HTTP end to end: health, submissions, receipts, archive views, the role matrix, disclosure log."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.kernel.db import DisclosureRow
from citycredit.web.app import create_app
from support import SAMR, uscc

pytestmark = pytest.mark.db

HEADER = "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_WSH,CF_WFXW,CF_SY,CF_YJ,CF_CFLB,CF_NR,CF_NR_FK,CF_JDRQ,CF_CFJG,CF_CFJGDM,CF_SJLY,CF_SJLYDM"
AUTH = uscc("11", "610800", "MA0CAMR1")
CO = uscc("91", "610881", "MA6HTTP1")


def csv_body(*extra_rows: str) -> bytes:
    good = f"神木市某能源有限公司,法人及非法人组织,{CO},神市监罚〔2026〕3号,x,x,x,罚款,罚款2万元,2,2026-11-01,神木市市场监督管理局,{AUTH},{SAMR},{AUTH}"
    return "\n".join([HEADER, good, *extra_rows]).encode("utf-8")


@pytest.fixture
def world(container: Container) -> Iterator[dict[str, Any]]:
    tokens = {
        "a": add_department(container, SYSTEM, name=SAMR, code=AUTH).token,
        "b": add_department(
            container, SYSTEM, name="榆林市税务局", code=uscc("11", "610800", "MA0TAX01")
        ).token,
        "admin": add_user(
            container,
            SYSTEM,
            username="admin",
            display_name="管理员",
            role=Role.credit_office_admin,
        ).token,
    }
    with TestClient(create_app(container, scheduler=False)) as client:
        yield {"client": client, "tokens": tokens}


def h(world: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {world['tokens'][who]}"} if who else {}


def submit(world: dict[str, Any], who: str | None, body: bytes, **params: Any) -> Any:
    data = {"item": "penalty", **{k: v for k, v in params.items() if k != "dry_run"}}
    url = "/api/v1/submissions" + ("?dry_run=true" if params.get("dry_run") else "")
    return world["client"].post(
        url,
        headers=h(world, who),
        data=data,
        files={"file": ("p.csv", io.BytesIO(body), "text/csv")},
    )


def test_healthz(world: dict[str, Any]) -> None:
    health = world["client"].get("/healthz").json()
    assert health["status"] == "ok" and health["storage"]["storage_full"] is False


def test_submit_receipt_rejects_and_archive(world: dict[str, Any]) -> None:
    bad = f"坏行有限公司,法人及非法人组织,{CO[:-1]}0,神市监罚〔2026〕4号,x,x,x,罚款,x,1,2026-02-30,x,{AUTH},{SAMR},{AUTH}"
    r = submit(world, "a", csv_body(bad))
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert (receipt["received"], receipt["new"], receipt["rejected"]) == (2, 1, 1)
    sid = receipt["submission_id"]
    c = world["client"]
    assert c.get(f"/api/v1/submissions/{sid}", headers=h(world, "a")).json()["new"] == 1
    rejects = c.get(f"/api/v1/submissions/{sid}/rejects", headers=h(world, "a")).json()["rejects"]
    fields = {x["field"] for x in rejects[0]["reasons"]}
    assert {"CF_XDR_SHXYM", "CF_JDRQ"} <= fields
    found = c.get("/api/v1/subjects", params={"q": "某能源"}).json()["results"]
    assert [s["uscc"] for s in found] == [CO]
    archive = c.get(f"/api/v1/subjects/{found[0]['subject_id']}/archive").json()
    (group,) = archive["groups"]
    rec = group["records"][0]
    assert (
        group["item"] == "penalty"
        and rec["adverse"]
        and rec["publication_end"]
        and rec["legal_basis"]
    )
    by_uscc = c.get("/api/v1/subjects", params={"q": CO.lower()}).json()["results"]
    assert len(by_uscc) == 1
    page = c.get(f"/subjects/{found[0]['subject_id']}")
    assert (
        page.status_code == 200 and "神木市某能源有限公司" in page.text and "行政处罚" in page.text
    )


def test_dry_run_over_http_stores_nothing(world: dict[str, Any]) -> None:
    r = submit(world, "a", csv_body(), dry_run=True).json()
    assert r["dry_run"] and r["new"] == 1
    # nothing is kept: no submission id that would answer 404, the (no) rejects inline
    assert r["submission_id"] is None and r["rejects"] == []
    assert world["client"].get("/api/v1/subjects", params={"q": "某能源"}).json()["results"] == []


def test_a_licence_file_sent_as_penalty_is_refused_naming_the_item(world: dict[str, Any]) -> None:
    header = "XK_XDR_MC,XK_XDR_LB,XK_XDR_SHXYM,XK_XKWS,XK_WSH,XK_XKLB,XK_NR,XK_JDRQ,XK_YXQZ,BZ\n"
    body = (header + "甲公司,法人及非法人组织,,决定书,1号,普通,x,2026-10-10,2026-10-10,\n").encode()
    r = submit(world, "a", body)
    assert r.status_code == 422, r.text
    answer = r.json()
    assert (answer["field"], answer["value"]) == ("item", "penalty")
    assert "看起来是 行政许可（licence）" in answer["message"]


def test_bad_file_names_the_problem(world: dict[str, Any]) -> None:
    r = submit(world, "a", b"foo,bar\n1,2\n")
    assert r.status_code == 422 and r.json()["field"] == "header"


def test_role_matrix(world: dict[str, Any]) -> None:
    c = world["client"]
    sid = submit(world, "a", csv_body()).json()["submission_id"]
    subject = c.get("/api/v1/subjects", params={"q": CO}).json()["results"][0]["subject_id"]
    history_rec = c.get(f"/api/v1/subjects/{subject}/archive").json()["groups"][0]["records"][0][
        "record_id"
    ]
    authorised = f"/api/v1/subjects/{subject}/archive?view=authorised&purpose=行政许可审查"
    cases: list[tuple[str, str, dict[str | None, int]]] = [
        ("GET", f"/api/v1/subjects?q={CO}", {None: 200, "a": 200, "b": 200, "admin": 200}),
        (
            "GET",
            f"/api/v1/subjects/{subject}/archive",
            {None: 200, "a": 200, "b": 200, "admin": 200},
        ),
        ("GET", authorised, {None: 401, "a": 200, "b": 200, "admin": 200}),
        # another department's submission or record answers like a missing one (G8): 404
        ("GET", f"/api/v1/submissions/{sid}", {None: 401, "a": 200, "b": 404, "admin": 200}),
        (
            "GET",
            f"/api/v1/submissions/{sid}/rejects",
            {None: 401, "a": 200, "b": 404, "admin": 200},
        ),
        (
            "GET",
            f"/api/v1/records/{history_rec}/history",
            {None: 401, "a": 200, "b": 404, "admin": 200},
        ),
        ("GET", "/api/v1/unresolved", {None: 401, "a": 403, "b": 403, "admin": 200}),
        ("GET", "/api/v1/quality", {None: 200, "a": 200, "b": 200, "admin": 200}),
    ]
    for method, url, expected in cases:
        for who, status in expected.items():
            got = c.request(method, url, headers=h(world, who)).status_code
            assert got == status, (method, url, who, got)
    assert submit(world, None, csv_body()).status_code == 401
    assert submit(world, "admin", csv_body()).status_code == 422  # must name the department
    assert submit(world, "admin", csv_body(), department=SAMR).status_code == 200
    assert submit(world, "b", csv_body(), department=SAMR).status_code == 403  # other department
    w = {"reason": "复议撤销"}
    assert c.post(f"/api/v1/records/{history_rec}/withdraw", json=w).status_code == 401
    assert (
        c.post(f"/api/v1/records/{history_rec}/withdraw", json=w, headers=h(world, "b")).status_code
        == 404
    )
    assert (
        c.post(f"/api/v1/records/{history_rec}/withdraw", json=w, headers=h(world, "a")).status_code
        == 200
    )
    assert (
        c.get("/api/v1/quality", headers={"Authorization": "Bearer cc_forged"}).status_code == 401
    )


def test_every_authorised_read_is_in_the_disclosure_log(
    world: dict[str, Any], container: Container
) -> None:
    c = world["client"]
    submit(world, "a", csv_body())
    subject = c.get("/api/v1/subjects", params={"q": CO}).json()["results"][0]["subject_id"]
    url = f"/api/v1/subjects/{subject}/archive"
    assert (
        c.get(url, params={"view": "authorised"}, headers=h(world, "b")).status_code == 422
    )  # no purpose
    for who, purpose in (
        ("a", "行政处罚案件核查"),
        ("b", "纳税信用评价"),
        ("admin", "信用修复审核"),
    ):
        r = c.get(url, params={"view": "authorised", "purpose": purpose}, headers=h(world, who))
        assert r.status_code == 200 and r.json()["view"] == "authorised"
    c.get(url)  # public reads are not logged
    with container.uow() as uow:
        rows = list(uow.session.scalars(select(DisclosureRow).order_by(DisclosureRow.id)))
    assert [(r.purpose, r.subject_id, r.items) for r in rows] == [
        ("行政处罚案件核查", subject, ["penalty"]),
        ("纳税信用评价", subject, ["penalty"]),
        ("信用修复审核", subject, ["penalty"]),
    ]
    assert [r.actor_role for r in rows] == [
        "department_staff",
        "department_staff",
        "credit_office_admin",
    ]
    assert rows[0].department_id != rows[1].department_id


def test_authorised_view_shows_personal_fields_masked_only(world: dict[str, Any]) -> None:
    from support import id_number

    idn = id_number("610802", "19800304", "123")
    row = f"王小明,自然人,,{idn},神市监罚〔2026〕8号,x,x,x,罚款,罚款2万元,2,2026-11-01,神木市市场监督管理局,{AUTH},{SAMR},{AUTH}"
    header = HEADER.replace("CF_XDR_SHXYM,", "CF_XDR_SHXYM,CF_XDR_ZJHM,")
    body = "\n".join([header, row]).encode("utf-8")
    assert submit(world, "a", body).json()["new"] == 1
    c = world["client"]
    # staff can find the person; the public cannot
    found = c.get("/api/v1/subjects", params={"q": "王小明"}, headers=h(world, "admin")).json()[
        "results"
    ]
    assert (
        len(found) == 1
        and c.get("/api/v1/subjects", params={"q": "王小明"}).json()["results"] == []
    )
    sid = found[0]["subject_id"]
    r = c.get(
        f"/api/v1/subjects/{sid}/archive",
        params={"view": "authorised", "purpose": "案件核查"},
        headers=h(world, "a"),
    )
    assert r.status_code == 200
    assert idn not in r.text and idn[6:14] not in r.text
    fields = {f["code"]: f for f in r.json()["groups"][0]["records"][0]["fields"]}
    assert fields["CF_XDR_ZJHM"]["masked"] and fields["CF_XDR_ZJHM"]["value"].startswith("6108")
    assert fields["CF_XDR_MC"]["value"] == "王小明"  # the authorised view shows the full name
    assert r.json()["subject"]["id_number_masked"].endswith(idn[-4:])


def test_the_container_dependency_takes_no_worker_thread(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI runs a plain ``def`` dependency in the worker-thread pool: the container (one
    attribute of the app) is an async dependency, so a request spends no thread hop on it; the
    principal (a database read) and the handler still run in worker threads."""
    import anyio.to_thread

    ran: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        inner = getattr(func, "func", func)
        ran.append(getattr(inner, "__name__", repr(inner)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    r = world["client"].get("/api/v1/lists", headers=h(world, "a"))
    assert r.status_code == 200, r.text
    assert "get_container" not in ran and "_container_dependency" not in ran
    assert "get_principal" in ran  # the check above would hold vacuously without hops


def test_no_credential_is_401_with_a_challenge_a_wrong_role_is_403(
    world: dict[str, Any],
) -> None:
    """RFC 9110 §15.5.2: a refused call without credentials is asked for them (401 and a
    WWW-Authenticate challenge); a bad bearer token is named in the challenge (RFC 6750); an
    identified caller whose role may not gets 403 and no challenge."""
    c = world["client"]
    anonymous = c.get("/api/v1/unresolved")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="citycredit"'
    assert anonymous.json() == {
        "error": "forbidden",
        "message": "此操作需要登录或令牌（Authorization: Bearer …）",
    }
    forged = c.get("/api/v1/unresolved", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
    assert forged.headers["www-authenticate"] == 'Bearer realm="citycredit", error="invalid_token"'
    department = c.get("/api/v1/unresolved", headers=h(world, "a"))
    assert department.status_code == 403 and department.json()["error"] == "forbidden"
    assert "www-authenticate" not in department.headers
    assert "角色" in department.json()["message"]  # says which role may not, not "log in"
    # a route the public may use answers the public, with no challenge
    public = c.get("/api/v1/quality")
    assert public.status_code == 200 and "www-authenticate" not in public.headers
