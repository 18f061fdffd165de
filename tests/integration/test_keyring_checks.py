"""The keyring must be this database's ring: a wrong or regenerated ring is refused, never used.

A wrong ring used to go unnoticed: a regenerated dev ring turned a re-sent file into
"corrections" sealed under the new key, a lookup of a stored ID number found nothing, and
`crypto status` showed the real key ids only as "to rotate". Also here: lookups leave the
searched number's blind-index digest in the disclosure log (查询登记), found or not.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event, func, select, update
from typer.testing import CliRunner

from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.cli.main import app
from citycredit.ingest.db import RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.db import DisclosureRow
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.keycheck import check_keyring
from citycredit.privacy.keys import keyring_path
from citycredit.privacy.service import find_by_personal, lookups_of
from citycredit.settings import Settings
from citycredit.shared.errors import PermissionDenied
from citycredit.shared.personal import (
    Keyring,
    PersonalDataError,
    PersonalKey,
    generate_keyring,
)
from support import PENALTY_COLUMNS_WITH_ID, department, id_number, penalty_row, write_csv

pytestmark = pytest.mark.db

TAX = "国家税务总局榆林市税务局"
PERSON_ID = id_number("610881", "19790921", "538")
OTHER_ID = id_number("610802", "19850314", "271")
NEVER_STORED = id_number("610824", "19921111", "626")


def person_file(path: Path) -> Path:
    """Two natural persons' penalties (sealed, indexed) and one quarantined row (sealed raw)."""
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=name,
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=pid,
            CF_WSH=f"榆市监罚〔2026〕{n}号",
            CF_JDRQ=day,
        )
        for name, pid, n, day in (
            ("李四", PERSON_ID, 501, "2026-11-02"),
            ("王五", OTHER_ID, 502, "2026-11-03"),
            ("赵六", NEVER_STORED, 503, "2026-02-30"),  # impossible date: quarantined
        )
    ]
    return write_csv(path, PENALTY_COLUMNS_WITH_ID, rows)


@pytest.fixture
def loaded(container: Container, tmp_path: Path) -> Container:
    c = container
    actor = department(c)
    department(c, TAX, "MA0TAXX1")
    r = ingest_submission(c, actor, path=person_file(tmp_path / "p.csv"), item_code="penalty")
    assert (r.counts.new, r.counts.rejected) == (2, 1)
    return c


def cli_env(c: Container, **extra: str) -> dict[str, str]:
    return {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
        **extra,
    }


def versions(c: Container) -> int:
    with c.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(RecordVersionRow)) or 0)


def test_a_deleted_dev_ring_is_not_regenerated_over_sealed_data(
    loaded: Container, tmp_path: Path
) -> None:
    c = loaded
    path = keyring_path(c.settings)
    assert path is not None and path.is_file()
    saved = path.read_bytes()
    path.unlink()
    c.dispose()
    before = versions(loaded)

    c2 = build_container(c.settings, clock=c.clock)
    with pytest.raises(PersonalDataError) as e:
        c2.personal_codec  # noqa: B018 - the property refuses
    assert e.value.code == "personal_key_missing" and str(path) in e.value.message
    assert not path.exists()  # no new ring was written next to data it cannot open
    samr = department_principal(c2, "榆林市市场监督管理局")
    with pytest.raises(PersonalDataError):  # a re-sent file is refused, not "corrected"
        ingest_submission(c2, samr, path=person_file(tmp_path / "again.csv"), item_code="penalty")
    with pytest.raises(PersonalDataError):  # a lookup is refused, not "nothing found"
        find_by_personal(c2, SYSTEM, kind="id_number", value=PERSON_ID, purpose="核查")
    assert versions(c2) == before
    c2.dispose()

    path.write_bytes(saved)  # the ring restored from its backup: everything works again
    c3 = build_container(c.settings, clock=c.clock)
    hits = find_by_personal(c3, SYSTEM, kind="id_number", value=PERSON_ID, purpose="核查")
    assert [h["field"] for h in hits] == ["CF_XDR_ZJHM"]
    r = ingest_submission(
        c3,
        department_principal(c3, "榆林市市场监督管理局"),
        path=person_file(tmp_path / "again.csv"),
        item_code="penalty",
    )
    assert (r.counts.new, r.counts.corrected, r.counts.duplicate) == (0, 0, 2)
    c3.dispose()


def test_another_deployments_ring_is_refused_by_the_app_and_the_commands(
    loaded: Container, tmp_path: Path
) -> None:
    c = loaded
    ours = c.personal_codec.keyring
    other_path = tmp_path / "other.keys"
    generate_keyring("aes-256-gcm", now=c.clock.now()).save(other_path)  # as `crypto init`
    other_bytes = other_path.read_bytes()
    c.dispose()
    settings = c.settings.model_copy(update={"personal_keys": SecretStr(str(other_path))})

    c2 = build_container(settings, clock=c.clock)
    with pytest.raises(PersonalDataError) as e:
        find_by_personal(c2, SYSTEM, kind="id_number", value=PERSON_ID, purpose="核查")
    assert e.value.code == "personal_key_mismatch"
    assert ours.current.kid in e.value.message and ours.index_kid in e.value.message
    c2.dispose()
    # The server refuses to start with it (before any request is served).
    from fastapi.testclient import TestClient

    from citycredit.web.app import create_app

    c3 = build_container(settings, clock=c.clock)
    with pytest.raises(PersonalDataError) as at_start, TestClient(create_app(c3, scheduler=False)):
        pass
    assert at_start.value.code == "personal_key_mismatch"
    c3.dispose()

    runner = CliRunner()
    env = cli_env(c, CITYCREDIT_PERSONAL_KEYS=str(other_path))
    status = runner.invoke(app, ["crypto", "status", "--json"], env=env)
    assert status.exit_code == 1, status.output
    data = json.loads(status.stdout)
    assert not data["ok"] and data["missing_keys"] == [ours.current.kid]
    assert data["index_key_mismatch"] == [ours.index_kid] and len(data["problems"]) == 2
    text = runner.invoke(app, ["crypto", "status"], env=env)
    assert text.exit_code == 1 and "不在密钥环中" in text.output
    for command in (["rotate"], ["new-key"], ["retire", ours.current.kid], ["reindex"]):
        refused = runner.invoke(app, ["crypto", *command], env=env)
        assert refused.exit_code == 2, (command, refused.output)
        assert "不是这个数据库所用的密钥环" in refused.output, command
    assert other_path.read_bytes() == other_bytes  # nothing was added to the wrong ring

    env = cli_env(c)  # the right ring: status is clean and exits 0
    good = runner.invoke(app, ["crypto", "status", "--json"], env=env)
    assert good.exit_code == 0 and json.loads(good.stdout)["ok"], good.output


def test_a_ring_with_the_same_key_ids_but_other_keys_is_refused(loaded: Container) -> None:
    c = loaded
    ours = c.personal_codec.keyring
    other_data_keys = Keyring(
        keys=tuple(
            PersonalKey(k.kid, k.alg, secrets.token_bytes(len(k.key)), k.created) for k in ours.keys
        ),
        index_kid=ours.index_kid,
        index_alg=ours.index_alg,
        index_key=ours.index_key,
    )
    check = check_keyring(c.engine, other_data_keys)
    assert check.wrong == {ours.current.kid} and not check.missing and not check.ok
    other_index_key = Keyring(
        keys=ours.keys,
        index_kid=ours.index_kid,
        index_alg=ours.index_alg,
        index_key=secrets.token_bytes(32),
    )
    check = check_keyring(c.engine, other_index_key)
    assert check.index_wrong and not check.wrong and not check.index_kids and not check.ok
    assert check_keyring(c.engine, ours).ok


def test_a_lookup_raises_rather_than_answers_nothing_under_another_index_key(
    loaded: Container,
) -> None:
    c = loaded
    hits = find_by_personal(c, SYSTEM, kind="id_number", value=PERSON_ID, purpose="核查")
    assert len(hits) == 1
    with c.uow() as uow:  # the index rewritten under another key after this process started
        uow.session.execute(update(PersonalIndexRow).values(index_kid="i-0th3r", digest="0" * 64))
        uow.commit()
    with pytest.raises(PersonalDataError) as e:
        find_by_personal(c, SYSTEM, kind="id_number", value=PERSON_ID, purpose="核查")
    assert e.value.code == "personal_index_key_mismatch" and "i-0th3r" in e.value.message


def test_checking_an_empty_database_is_one_query(settings: Settings, clock: Any) -> None:
    c = build_container(settings, clock=clock)
    statements: list[str] = []
    event.listen(c.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert check_keyring(c.engine, generate_keyring("sm4-gcm", now=clock.now())).ok
    assert len(statements) == 1, statements
    c.personal_codec  # noqa: B018 - a fresh database: the first ring is generated and fits
    assert len(statements) <= 3, statements
    c.dispose()


def test_every_lookup_logs_the_digest_of_the_number_never_the_number(loaded: Container) -> None:
    c = loaded
    samr, tax = department_principal(c, "榆林市市场监督管理局"), department_principal(c, TAX)
    assert find_by_personal(c, tax, kind="id_number", value=PERSON_ID, purpose="税务核查") == []
    assert find_by_personal(c, samr, kind="id_number", value=NEVER_STORED, purpose="核查") == []
    assert len(find_by_personal(c, samr, kind="id_number", value=PERSON_ID, purpose="送达")) == 1
    codec = c.personal_codec
    with c.uow() as uow:
        logged = list(uow.session.scalars(select(DisclosureRow).order_by(DisclosureRow.id)))
    assert [d.detail["digest"] for d in logged] == [
        codec.blind_index("id_number", PERSON_ID),
        codec.blind_index("id_number", NEVER_STORED),
        codec.blind_index("id_number", PERSON_ID),
    ]
    assert all(d.detail["index_kid"] == codec.keyring.index_kid for d in logged)
    assert [d.subject_id == "" for d in logged] == [True, True, False]
    blob = json.dumps([d.detail for d in logged])
    assert PERSON_ID not in blob and NEVER_STORED not in blob

    auditor = Principal(role=Role.audit_admin, label="审计管理员")
    # who looked for 李四's number, including the department that was shown nothing
    who = lookups_of(c, auditor, kind="id_number", value=PERSON_ID.lower())
    assert [(w["actor"], w["purpose"], w["matches"]) for w in who] == [
        (samr.label, "送达", 1),
        (tax.label, "税务核查", 0),
    ]
    assert [w["purpose"] for w in lookups_of(c, auditor, kind="id_number", value=NEVER_STORED)] == [
        "核查"
    ]
    with pytest.raises(PermissionDenied) as denied:
        lookups_of(c, samr, kind="id_number", value=PERSON_ID)
    assert denied.value.code == "forbidden"
