"""信用账户 on the portal, end to end over HTTP on both databases: log in (with the first-login
password change), see the own archive with what can be done about it, file an objection from
the page (its anti-CSRF token in the form), log out."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_user
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.rights.db import ObjectionRow
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS, department, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
PDF = b"%PDF-1.7\n% letter of authorisation\n" + b"0" * 100
COMPANY, CODE = "榆阳区账户页商贸有限公司", uscc("91", "610802", "MA6ACP01")
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


def test_an_owner_logs_in_sees_the_archive_and_files_an_objection(
    container: Container, tmp_path: Path
) -> None:
    c = container
    c.settings = c.settings.model_copy(
        update={
            "security": SecurityPolicy(
                argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1
            )
        }
    )
    row = penalty_row(CF_XDR_MC=COMPANY, CF_XDR_SHXYM=CODE, CF_WSH="榆市监罚〔2026〕77号")
    path = write_csv(tmp_path / "p.csv", PENALTY_COLUMNS, [row])
    ingest_submission(c, department(c), path=path, item_code="penalty")
    with c.uow() as uow:
        record = uow.session.scalars(select(RecordRow)).one()
        sid, rid = record.subject_id, record.id
    add_user(
        c,
        SYSTEM,
        username="boss",
        display_name="经办人",
        role=Role.enterprise_agent,
        password="initial",
    )
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    with TestClient(create_app(c, scheduler=False)) as web:
        # the public: the account page asks to log in, the login page has the form
        first = web.get("/account")
        assert first.status_code == 401 and 'href="/login"' in first.text
        assert first.headers["www-authenticate"].startswith("Bearer")
        assert 'action="/login"' in web.get("/login").text
        wrong = web.post("/login", data={"username": "boss", "password": "nope"})
        assert wrong.status_code == 401 and "用户名或口令错误" in wrong.text
        # first login: a new password, then the account page
        step = web.post("/login", data={"username": "boss", "password": "initial"})
        assert step.status_code == 200 and 'action="/login/password"' in step.text
        done = web.post(
            "/login/password",
            data={"current_password": "initial", "new_password": PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/account"
        assert "尚未绑定信用主体" in web.get("/account").text
        assert web.get("/login", follow_redirects=False).headers["location"] == "/account"
        # bound by letter, approved by the credit office
        bound = web.post(
            "/api/v1/bindings",
            data={"method": "letter", "subject": sid},
            files={"file": ("委托书.pdf", io.BytesIO(PDF), "application/pdf")},
            headers={"X-CSRF-Token": web.cookies["cc_csrf"]},
        )
        assert bound.status_code == 201, bound.text
        approved = web.post(
            f"/api/v1/bindings/{bound.json()['id']}/approve",
            json={"note": "核验一致"},
            headers={"Authorization": f"Bearer {office.token}"},
        )
        assert approved.status_code == 200
        page = web.get("/account")
        assert page.status_code == 200 and COMPANY in page.text
        assert "榆市监罚〔2026〕77号" in page.text and "对这条信息提出异议" in page.text
        assert "<dt>信用修复</dt>" in page.text and "查询记录" in page.text
        token = CSRF_FIELD.search(page.text)
        assert token is not None
        form = {
            "target_type": "record",
            "target_id": rid,
            "ground": "wrong",
            "reasons": "罚款金额登记错误，应为2000元",
        }
        # without the session's token the form is refused and nothing is filed
        refused = web.post("/account/objections", data=form)
        assert refused.status_code == 403 and "防跨站请求令牌" in refused.text
        filed = web.post(
            "/account/objections",
            data={**form, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert filed.status_code == 303 and filed.headers["location"].startswith("/account?filed=")
        with c.uow() as uow:
            objection = uow.session.scalars(select(ObjectionRow)).one()
        assert (objection.target_id, objection.channel, objection.status) == (
            rid,
            "online",
            "submitted",
        )
        after = web.get(filed.headers["location"]).text
        assert f"异议已提交（{objection.id}）" in after and "异议处理中" in after
        assert f"<td>{objection.id}</td><td>信息错误：罚款金额登记错误，应为2000元</td>" in after
        assert after.count("对这条信息提出异议") == 0  # one open objection per record
        # another subject's record cannot be disputed from this account
        other = web.post(
            "/account/objections",
            data={**form, "target_id": "rnosuchrecord", "csrf_token": token.group(1)},
        )
        assert other.status_code == 404
        # 退出: only with the session's token (another site cannot log the user out) …
        kept = web.post("/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)
        assert kept.status_code == 403 and web.get("/account").status_code == 200
        # … then the session ends on the server
        out = web.post("/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
        assert out.status_code == 303
        assert web.get("/account").status_code == 401


def test_an_administrator_logs_in_through_the_totp_step(container: Container) -> None:
    """Password, then 动态口令, then the first new password, each a step of the same page; the
    account page itself is for subject-side accounts only."""
    from citycredit.accounts import manage, totp

    c = container
    c.settings = c.settings.model_copy(
        update={
            "security": SecurityPolicy(
                argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1
            )
        }
    )
    enrol = manage.add_admin(
        c, SYSTEM, username="sec", display_name="安全员", role=Role.security_admin
    )
    with TestClient(create_app(c, scheduler=False)) as web:
        step = web.post("/login", data={"username": "sec", "password": enrol.initial_password})
        assert step.status_code == 200 and 'action="/login/totp"' in step.text
        bad = web.post("/login/totp", data={"code": "000000"})
        assert bad.status_code == 401 and 'action="/login/totp"' in bad.text
        code = totp.code_at(enrol.totp_secret, c.clock.now())
        step = web.post("/login/totp", data={"code": code})
        assert step.status_code == 200 and 'action="/login/password"' in step.text
        done = web.post(
            "/login/password",
            data={"current_password": enrol.initial_password, "new_password": PASSWORD},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert web.get("/api/v1/auth/me").json()["role"] == "security_admin"
        assert web.get("/account").status_code == 403  # not a subject-side account
