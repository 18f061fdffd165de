"""Self-service on both databases: sign-up, voluntary registration (自愿注册) and self-disclosure
of positive information (自主公示), end to end over HTTP and through the services."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citycredit.accounts import auth, bindings
from citycredit.accounts.auth import CSRF_COOKIE, CSRF_HEADER
from citycredit.accounts.db import UserRow
from citycredit.accounts.idp import FakeIdentityProvider
from citycredit.accounts.model import ANONYMOUS, SYSTEM, Principal, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.principals import approved_subjects
from citycredit.accounts.service import add_department, sign_up
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission, record_history
from citycredit.kernel.db import OutboxEventRow
from citycredit.rights import disclosures, registration
from citycredit.rights.db import NoticeRow, SelfDisclosureRow
from citycredit.rights.notices import CREDIT_OFFICE, SUBJECT, inbox
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.subjects.archive import public_archive
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
NEW_CO = uscc("91", "610802", "MA6YXC01")
OTHER_CO = uscc("91", "610802", "MA6YXC02")
PERSON = id_number("610802", "19800304", "123")
OFFICE = Principal(role=Role.credit_office_admin, label="信用办（office）")
FAST = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture
def c(container: Container) -> Container:
    container.settings = container.settings.model_copy(update={"security": SecurityPolicy(**FAST)})
    container.identity_providers["fake"] = FakeIdentityProvider()
    add_department(
        container,
        SYSTEM,
        name="榆林市发展和改革委员会",
        code=uscc("11", "610800", "MA0CRED1"),
        kind="credit_office",
    )
    return container


def idp(c: Container) -> FakeIdentityProvider:
    found = c.identity_providers["fake"]
    assert isinstance(found, FakeIdentityProvider)
    return found


def account(c: Container, username: str, role: Role = Role.enterprise_agent) -> Principal:
    sign_up(c, username=username, password=PASSWORD, display_name=username, role=role)
    return auth.authenticate_session(c, auth.login(c, username=username, password=PASSWORD).cookie)


def token_for(c: Container, actor: Principal, **claims: Any) -> str:
    nonce = bindings.idp_nonce(c, actor)["nonce"]
    return idp(c).issue(nonce=nonce, now=c.clock.now(), **claims)


def fresh(c: Container, actor: Principal) -> Principal:
    """The principal as the next request sees it (bindings are loaded per request)."""
    with c.uow() as uow:
        user = uow.session.get(UserRow, actor.user_id)
        assert user is not None
        return Principal(
            role=actor.role,
            label=actor.label,
            user_id=actor.user_id,
            subject_ids=approved_subjects(uow.session, user.id),
        )


def registered(c: Container, username: str = "agent", code: str = NEW_CO) -> tuple[Principal, str]:
    me = account(c, username)
    out = registration.register(
        c,
        me,
        provider="fake",
        id_token=token_for(c, me, uscc=code, name="榆林自愿注册商贸有限公司"),
        profile={
            "introduction": "主营煤炭运输，联系人刘芳芳，电话 13912345678",
            "website": "https://vol.example",
        },
    )
    return fresh(c, me), out["subject_id"]


# -- sign-up ----------------------------------------------------------------------------------


def test_sign_up_opens_an_unbound_account_with_a_chosen_password(c: Container) -> None:
    out = sign_up(
        c, username="wang", password=PASSWORD, display_name="王经理", role=Role.enterprise_agent
    )
    assert out == {"username": "wang", "role": "enterprise_agent", "display_name": "王经理"}
    issued = auth.login(c, username="wang", password=PASSWORD)
    assert issued.status == "active"  # a password of one's own: no forced change
    me = auth.authenticate_session(c, issued.cookie)
    assert me.role is Role.enterprise_agent and me.subject_ids == frozenset()
    with pytest.raises(Conflict):
        sign_up(c, username="wang", password=PASSWORD, display_name="", role=Role.natural_person)
    with pytest.raises(FieldError) as weak:
        sign_up(c, username="li", password="12345678", display_name="", role=Role.natural_person)
    assert weak.value.field == "password"
    for role in (Role.financial_institution, Role.credit_office_admin, Role.system_admin):
        with pytest.raises(FieldError) as bad:
            sign_up(c, username="zhao", password=PASSWORD, display_name="", role=role)
        assert bad.value.field == "role"
    c.settings = c.settings.model_copy(
        update={"security": SecurityPolicy(**FAST, self_signup=False)}
    )
    with pytest.raises(PermissionDenied):
        sign_up(c, username="qian", password=PASSWORD, display_name="", role=Role.natural_person)
    with c.uow() as uow:
        names = set(uow.session.scalars(select(UserRow.username)))
    assert names == {"wang"}


# -- voluntary registration -------------------------------------------------------------------


def test_voluntary_registration_creates_the_organisation_and_binds_the_account(
    c: Container, tmp_path: Path
) -> None:
    me, sid = registered(c)
    with c.uow() as uow:
        subject = uow.session.get(SubjectRow, sid)
        assert subject is not None
        assert (subject.uscc, subject.origin, subject.subject_type) == (
            NEW_CO,
            "voluntary",
            "enterprise",
        )
        events = set(
            uow.session.scalars(
                select(OutboxEventRow.event_type).where(OutboxEventRow.subject_id == sid)
            )
        )
    assert {"subject.created", "subject.registered_voluntarily"} <= events
    assert sid in me.subject_ids  # bound at once: the identity provider vouched
    public = public_archive(c, ANONYMOUS, sid)["voluntary_registration"]
    assert public is not None and public["note"] == registration.SELF_DECLARED_NOTE
    assert public["profile"]["website"] == "https://vol.example"
    assert "13912345678" not in str(public)  # a phone number in free text is scrubbed
    assert "联系人刘**" in public["profile"]["introduction"]  # a person's name is masked (G30)
    assert "刘芳芳" not in str(public)
    # a department's later record about the same USCC lands in this archive, not a new one
    samr = department(c)
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="榆林自愿注册商贸有限公司", CF_XDR_SHXYM=NEW_CO
    )
    ingest_submission(
        c,
        samr,
        path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [row]),
        item_code="penalty",
    )
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SubjectRow)) == 1
        assert uow.session.scalar(select(RecordRow.subject_id)) == sid
    # once only; the profile can change; withdrawal takes it off the archive
    with pytest.raises(Conflict):
        registration.register(
            c, me, provider="fake", id_token=token_for(c, me, uscc=NEW_CO, name="x")
        )
    changed = registration.update_profile(c, me, sid, {"business_scope": "道路货物运输"})
    assert changed["profile"] == {"business_scope": "道路货物运输"}
    registration.withdraw(c, me, sid)
    assert public_archive(c, ANONYMOUS, sid)["voluntary_registration"] is None
    with pytest.raises(Conflict):
        registration.withdraw(c, me, sid)
    again = registration.register(
        c, me, provider="fake", id_token=token_for(c, me, uscc=NEW_CO, name="x"), profile={}
    )
    assert again["status"] == "active" and again["created_subject"] is True


def test_registration_refuses_bad_profiles_assertions_and_other_subjects(c: Container) -> None:
    me = account(c, "agent")
    good = {"uscc": NEW_CO, "name": "榆林自愿注册商贸有限公司"}
    for profile, field in (
        ({"owner_id_number": PERSON}, "profile.owner_id_number"),
        ({"website": "ftp://x"}, "profile.website"),
        ({"service_phone": "call me"}, "profile.service_phone"),
        ({"introduction": "长" * 501}, "profile.introduction"),
    ):
        with pytest.raises(FieldError) as exc:
            registration.register(
                c, me, provider="fake", id_token=token_for(c, me, **good), profile=profile
            )
        assert exc.value.field == field
    with pytest.raises(FieldError) as low:
        registration.register(
            c, me, provider="fake", id_token=token_for(c, me, **good, assurance=1)
        )
    assert low.value.field == "id_token"
    with pytest.raises(PermissionDenied):  # an institution's or anonymous caller cannot
        registration.register(c, ANONYMOUS, provider="fake", id_token="x")
    with c.uow() as uow:  # nothing was created by the refused attempts
        assert uow.session.scalar(select(func.count()).select_from(SubjectRow)) == 0
    _, sid = registered(c, "agent2")
    with pytest.raises(PermissionDenied):  # another account cannot read or change it
        registration.get_registration(c, me, sid)
    with pytest.raises(PermissionDenied):
        registration.withdraw(c, me, sid)


def test_a_person_registers_only_an_existing_archive_and_the_profile_stays_private(
    c: Container, tmp_path: Path
) -> None:
    me = account(c, "wang", Role.natural_person)
    with pytest.raises(NotFound):
        registration.register(
            c, me, provider="fake", id_token=token_for(c, me, id_number=PERSON, name="王小明")
        )
    samr = department(c)
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="王小明", CF_XDR_LB="自然人", CF_XDR_ZJHM=PERSON
    )
    ingest_submission(
        c,
        samr,
        path=write_csv(tmp_path / "p.csv", PENALTY_COLUMNS_WITH_ID, [row]),
        item_code="penalty",
    )
    with pytest.raises(FieldError) as contact:  # a person's phone is not kept in clear
        registration.register(
            c,
            me,
            provider="fake",
            id_token=token_for(c, me, id_number=PERSON, name="王小明"),
            profile={"introduction": "持证电工", "service_phone": "13912345678"},
        )
    assert (contact.value.field, contact.value.value) == ("profile.service_phone", "***")
    out = registration.register(
        c,
        me,
        provider="fake",
        id_token=token_for(c, me, id_number=PERSON, name="王小明"),
        profile={"introduction": "持证电工"},
    )
    assert out["created_subject"] is False and out["profile_public"] is False
    me = fresh(c, me)
    assert registration.get_registration(c, me, out["subject_id"])["profile"] == {
        "introduction": "持证电工"
    }
    assert public_archive(c, ANONYMOUS, out["subject_id"])["voluntary_registration"] is None


# -- self-disclosure --------------------------------------------------------------------------


def _disclose(c: Container, actor: Principal, sid: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "subject_id": sid,
        "kind": "honour",
        "title": "榆林市守合同重信用企业",
        "obtained_on": date(2026, 5, 1),
        "issuer": "榆林市市场监督管理局",
        "evidence": "榆市监〔2026〕12号",
    }
    return disclosures.publish(c, actor, **{**args, **kw})


def _public_entries(c: Container, sid: str) -> list[dict[str, Any]]:
    groups = public_archive(c, ANONYMOUS, sid)["groups"]
    return [e for g in groups if g["item"] == disclosures.ITEM for e in g["records"]]


def test_self_disclosure_lifecycle(c: Container) -> None:
    me, sid = registered(c)
    out = _disclose(c, me, sid)
    assert out["status"] == "unverified" and out["status_label"] == "未核实"
    shown = _public_entries(c, sid)
    assert len(shown) == 1 and "未核实" in str(shown[0]) and "守合同重信用" in str(shown[0])
    with c.uow() as uow:
        office_inbox = inbox(uow.session, CREDIT_OFFICE, "credit_office")
        record = uow.session.get(RecordRow, out["record_id"])
        assert record is not None and record.item_code == "self_disclosure"
        creator = uow.session.scalar(
            select(RecordVersionRow.created_by).where(RecordVersionRow.record_id == record.id)
        )
    assert any(n["ref"] == {"type": "self_disclosure", "id": out["id"]} for n in office_inbox)
    assert creator == me.label  # the subject's account, not a department, supplied it
    # the credit office checks the evidence: a new version says 已核实; the subject is told
    checked = disclosures.verify(c, OFFICE, out["id"], "证书核验一致")
    assert checked["status"] == "verified"
    assert "已核实" in str(_public_entries(c, sid)[0])
    history = record_history(c, OFFICE, out["record_id"])
    assert [h["version"] for h in history] == [1, 2]
    with c.uow() as uow:
        notes = inbox(uow.session, SUBJECT, sid)
    assert any("已经信用办核实" in n["body"] for n in notes)
    with pytest.raises(InvalidTransition):
        disclosures.verify(c, OFFICE, out["id"])
    # the subject takes it down at any time: off the public archive, tombstone in history
    gone = disclosures.withdraw(c, me, out["id"])
    assert gone["status"] == "withdrawn" and _public_entries(c, sid) == []
    for step in (
        lambda: disclosures.withdraw(c, me, out["id"]),
        lambda: disclosures.verify(c, OFFICE, out["id"]),
        lambda: disclosures.reject(c, OFFICE, out["id"], "不实"),
    ):
        with pytest.raises(InvalidTransition):
            step()
    assert disclosures.list_disclosures(c, me, subject_id=sid)[0]["status"] == "withdrawn"


def test_a_false_disclosure_is_taken_down_with_its_reason(c: Container) -> None:
    me, sid = registered(c)
    out = _disclose(c, me, sid, kind="certification", title="ISO 9001 质量管理体系认证")
    with pytest.raises(PermissionDenied):  # only the credit office decides
        disclosures.reject(c, me, out["id"], "自己撤")
    with pytest.raises(FieldError) as empty:
        disclosures.reject(c, OFFICE, out["id"], "")
    assert empty.value.field == "reason"
    done = disclosures.reject(c, OFFICE, out["id"], "认证机构查无此证书")
    assert done["status"] == "rejected" and done["decision_note"] == "认证机构查无此证书"
    assert _public_entries(c, sid) == []
    with c.uow() as uow:
        record = uow.session.get(RecordRow, out["record_id"])
        assert record is not None and record.status == "withdrawn"
        reason = uow.session.scalar(
            select(RecordVersionRow.reason).where(
                RecordVersionRow.record_id == record.id, RecordVersionRow.version == 2
            )
        )
        notes = inbox(uow.session, SUBJECT, sid)
    assert reason == "自主公示经核实不实：认证机构查无此证书"
    assert any("与事实不符" in n["body"] for n in notes)
    queue = disclosures.list_disclosures(c, OFFICE, status="rejected")
    assert [d["id"] for d in queue] == [out["id"]]


def test_self_disclosure_refuses_bad_input_and_other_subjects(c: Container) -> None:
    me, sid = registered(c)
    _, other = registered(c, "agent2", OTHER_CO)
    for kw, field in (
        ({"kind": "bribe"}, "kind"),
        ({"title": " "}, "title"),
        ({"obtained_on": None}, "obtained_on"),
        ({"obtained_on": "2026-13-01"}, "obtained_on"),
        ({"valid_until": date(2026, 1, 1)}, "valid_until"),  # before obtained
        ({"obtained_on": date(2025, 1, 1), "valid_until": date(2026, 11, 24)}, "valid_until"),
    ):
        with pytest.raises(FieldError) as exc:
            _disclose(c, me, sid, **kw)
        assert exc.value.field == field
    with pytest.raises(FieldError) as future:  # the catalog's own rule: not in the future
        _disclose(c, me, sid, obtained_on=date(2027, 1, 1))
    assert future.value.field == "ZZ_RQ"
    with pytest.raises(PermissionDenied):
        _disclose(c, me, other)
    with pytest.raises(PermissionDenied):
        _disclose(c, ANONYMOUS, sid)
    theirs = _disclose(c, OFFICE, other)  # the service-hall window, on the subject's request
    with pytest.raises(NotFound):  # another subject's disclosure: like a missing one (G8)
        disclosures.withdraw(c, me, theirs["id"])
    with pytest.raises(NotFound):
        disclosures.get_disclosure(c, me, theirs["id"])
    with pytest.raises(PermissionDenied):
        disclosures.list_disclosures(c, me, subject_id=other)
    with c.uow() as uow:  # refused attempts left nothing behind
        assert uow.session.scalar(select(func.count()).select_from(SelfDisclosureRow)) == 1
        assert (
            uow.session.scalar(
                select(func.count()).select_from(RecordRow).where(RecordRow.subject_id == sid)
            )
            == 0
        )


def test_a_disclosure_is_published_only_until_its_validity_ends(c: Container) -> None:
    me, sid = registered(c)
    _disclose(c, me, sid, valid_until=date(2026, 11, 25))  # today is its last valid day
    assert len(_public_entries(c, sid)) == 1
    c.clock.advance(days=1)  # type: ignore[attr-defined]
    assert _public_entries(c, sid) == []


def test_self_declared_information_does_not_move_the_grade(c: Container) -> None:
    from citycredit.evaluation.service import reevaluate_subjects

    me, sid = registered(c)
    before = reevaluate_subjects(c, OFFICE, [sid])
    assert len(before) == 1 and before[0]["subject_id"] == sid
    out = _disclose(c, me, sid)
    disclosures.verify(c, OFFICE, out["id"])
    after = reevaluate_subjects(c, OFFICE, [sid])
    assert after[0]["score"] == before[0]["score"] and after[0]["grade"] == before[0]["grade"]
    assert after[0]["indicators"] == before[0]["indicators"]


def test_self_service_over_http(c: Container) -> None:
    client = TestClient(create_app(c, scheduler=False))
    r = client.post(
        "/api/v1/accounts/sign-up",
        json={
            "username": "boss",
            "password": PASSWORD,
            "display_name": "张总",
            "role": "enterprise_agent",
        },
    )
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/auth/login", json={"username": "boss", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["status"] == "active"
    csrf = {CSRF_HEADER: client.cookies[CSRF_COOKIE]}
    nonce = client.get("/api/v1/bindings/nonce").json()["nonce"]
    token = idp(c).issue(nonce=nonce, now=c.clock.now(), uscc=NEW_CO, name="榆林张氏建材有限公司")
    r = client.post(
        "/api/v1/me/registration",
        json={"provider": "fake", "id_token": token, "profile": {"service_phone": "0912-3456789"}},
        headers=csrf,
    )
    assert r.status_code == 201, r.text
    sid = r.json()["subject_id"]
    r = client.post(
        "/api/v1/disclosures",
        json={"kind": "public_interest", "title": "2026年助学捐赠", "obtained_on": "2026-09-01"},
        headers=csrf,
    )
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/disclosures").json()["count"] == 1
    mine = client.get("/api/v1/me/archive").json()  # the credit account shows both
    assert mine["voluntary_registration"]["profile"] == {"service_phone": "0912-3456789"}
    assert [d["title"] for d in mine["self_disclosures"]] == ["2026年助学捐赠"]
    page = client.get(f"/subjects/{sid}")
    assert page.status_code == 200
    assert (
        "自愿注册信息" in page.text
        and "0912-3456789" in page.text
        and "2026年助学捐赠" in page.text
    )
    bad = client.post(
        "/api/v1/disclosures",
        json={"kind": "honour", "title": "x", "obtained_on": "not-a-date"},
        headers=csrf,
    )
    assert bad.status_code == 422 and "obtained_on" in bad.text
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(NoticeRow)) >= 1
