"""Test support: departments, valid codes and small department files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from citycredit.accounts.model import SYSTEM, Principal
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container
from citycredit.lists.db import MembershipRow
from citycredit.settings import Settings
from citycredit.shared.ids import id_check_char, org_code_check_char, uscc_check_char

TEST_SECRET = "test-secret-key-0123456789abcdef"


def settings_for(db_url: str, tmp_path: Path) -> Settings:
    """The settings every test container uses: a test environment on `db_url`, no scheduler,
    no synthetic city (import from here, not from conftest: several conftest modules exist)."""
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key=SecretStr(TEST_SECRET),
        job_interval_seconds=0,
        seed_synthetic_city=False,
    )


SAMR = "榆林市市场监督管理局"

# 行政处罚 columns (national CF_* codes) used by the tests' department files.
PENALTY_COLUMNS = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_SHXYM",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
]
PENALTY_COLUMNS_WITH_ID = [*PENALTY_COLUMNS[:3], "CF_XDR_ZJHM", *PENALTY_COLUMNS[3:]]
SAMR_CODE_BODY = "11610800"  # 机关, registered in 榆林市


def uscc(prefix: str, division: str, body8: str) -> str:
    """A valid USCC: prefix (2) + division (6) + body (8) + org check + mod-31 check."""
    first17 = prefix + division + body8 + org_code_check_char(body8)
    return first17 + uscc_check_char(first17)


def id_number(division: str, birth: str, seq: str = "123") -> str:
    """A valid synthetic resident ID number."""
    first17 = division + birth + seq
    return first17 + id_check_char(first17)


def department(c: Container, name: str = SAMR, body8: str = "MA0CAMR1") -> Principal:
    """Register a department and return its principal."""
    add_department(c, SYSTEM, name=name, code=uscc("11", "610800", body8))
    return department_principal(c, name)


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], *, encoding: str = "utf-8"
) -> Path:
    """Write a department CSV in the given encoding."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def penalty_row(columns: Sequence[str] = PENALTY_COLUMNS, **values: object) -> list[object]:
    """One 行政处罚 row in the given column order: a valid 2万元 fine by 榆林市市场监督管理局.

    Pass CF_* codes to change fields (CF_XDR_MC, CF_XDR_SHXYM and CF_WSH are usually given).
    """
    auth = uscc("11", "610800", "MA0CAMR1")
    row: dict[str, object] = {
        "CF_XDR_MC": "榆阳区某商贸有限公司",
        "CF_XDR_LB": "法人及非法人组织",
        "CF_XDR_SHXYM": "",
        "CF_XDR_ZJHM": "",
        "CF_WSH": "榆市监罚〔2026〕1号",
        "CF_WFXW": "x",
        "CF_SY": "x",
        "CF_YJ": "x",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款2万元",
        "CF_NR_FK": "2",
        "CF_JDRQ": "2026-11-02",
        "CF_CFJG": SAMR,
        "CF_CFJGDM": auth,
        "CF_SJLY": SAMR,
        "CF_SJLYDM": auth,
    }
    unknown = set(values) - set(row)
    if unknown:
        raise KeyError(f"not a penalty column: {sorted(unknown)}")
    row.update(values)
    return [row[c] for c in columns]


def numbered_penalties(
    numbers: Iterable[int], tag: str = "MA6L", columns: Sequence[str] = PENALTY_COLUMNS
) -> list[list[object]]:
    """Penalty rows of companies numbered `numbers`: 榆阳区第i商贸有限公司, USCC body `tag` + i,
    document 榆市监罚〔2026〕i号."""
    return [
        penalty_row(
            columns,
            CF_XDR_MC=f"榆阳区第{i}商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", f"{tag}{i:04d}"),
            CF_WSH=f"榆市监罚〔2026〕{i}号",
        )
        for i in numbers
    ]


def submit_penalties(c: Container, tmp: Path, n: int, start: int = 0, tag: str = "MA6L") -> None:
    """n numbered penalties (`numbered_penalties`) from `start`, submitted by the market
    regulator (created with the first ones) in one file."""
    from citycredit.ingest.service import ingest_submission

    rows = numbered_penalties(range(start, start + n), tag)
    path = write_csv(tmp / f"{tag}-{start}.csv", PENALTY_COLUMNS, rows)
    actor = department(c) if start == 0 else department_principal(c, SAMR)
    ingest_submission(c, actor, path=path, item_code="penalty")


def membership_row(
    sid: str,
    mid: str,
    status: str,
    minute: int,
    expires: date | None = None,
    *,
    decision_no: str = "榆市监严列〔2026〕9号",
    objection_pending: bool = False,
) -> MembershipRow:
    """A local 市场监管领域严重违法失信名单 membership in `status`, created at 2026-11-01 10:MM
    (Shanghai); decided and published dates follow the status."""
    at = datetime(2026, 11, 1, 2, minute, tzinfo=UTC)
    decided = status != "proposed"
    return MembershipRow(
        id=mid,
        list_type="market_supervision_serious",
        subject_id=sid,
        origin="local",
        status=status,
        reasons="销售不合格食品，情节严重",
        document_no="榆市监罚〔2026〕9号",
        decision_no=decision_no if decided else None,
        proposed_on=date(2026, 10, 1),
        decided_on=date(2026, 10, 20) if decided else None,
        published_on=date(2026, 10, 21) if status in ("published", "expired") else None,
        expires_on=expires,
        notice={},
        objection_pending=objection_pending,
        created_at=at,
        updated_at=at,
    )


def sealed_kinds_rows(
    n: int, *, tag: str, company: str, bad: str, decided: str
) -> list[list[object]]:
    """Round n of a backup or recovery drill (PENALTY_COLUMNS_WITH_ID): a company, a natural
    person (sealed ID number), a row whose subject cannot be found (sealed in `unresolved`) and
    a bad row (an impossible date; sealed in `rejects`). `tag` keeps names and decision
    numbers apart between drills; `company` and `bad` are the one letter after MA7 in the two
    USCCs."""
    return [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"榆阳区第{n}{tag}商贸有限公司",
            CF_XDR_SHXYM=uscc("91", "610802", f"MA7{company}{n:04d}"),
            CF_WSH=f"榆市监罚〔2026〕{tag}{n}号",
            CF_JDRQ=decided,
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"自然人{tag}{n}",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=id_number("610802", "19800101", f"{n % 1000:03d}"),
            CF_WSH=f"榆市监罚〔2026〕{tag}人{n}号",
            CF_JDRQ=decided,
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"无码{tag}商行{n}",
            CF_WSH=f"榆市监罚〔2026〕{tag}无{n}号",
            CF_JDRQ=decided,
        ),
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"坏行{tag}{n}",
            CF_XDR_SHXYM=uscc("91", "610802", f"MA7{bad}{n:04d}"),
            CF_XDR_ZJHM="",
            CF_JDRQ="2026-02-30",
            CF_WSH=f"榆市监罚〔2026〕{tag}坏{n}号",
        ),
    ]


def cli_env(container: Container, monkeypatch: Any) -> None:
    """`citycredit` commands run on the test's database: its URL, data directory and secret
    key in the environment the command builds its container from."""
    s = container.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())


def run_cli(cli: Any, *args: str, code: int = 0) -> str:
    """Invoke `citycredit ARGS` with a Typer CliRunner; assert its exit code; its output."""
    from citycredit.cli.main import app

    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (args, result.output)
    return str(result.output)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"Authorization": f"Bearer {token}"}


def office_and_a_persons_penalty(
    c: Container, *, name: str, id_no: str, case_no: str
) -> Iterator[dict[str, Any]]:
    """The exports' HTTP world: the market regulator (token ``dept``), a credit-office admin
    (``office``), one penalty on a natural person ingested, and a TestClient of the app
    (``client``, lifespan run). A fixture ``yield from``s it."""
    from fastapi.testclient import TestClient

    from citycredit.accounts.model import Role
    from citycredit.accounts.service import add_user
    from citycredit.ingest.service import ingest_submission
    from citycredit.web.app import create_app

    dept = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC=name,
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=id_no,
        CF_WSH=case_no,
    )
    path = write_csv(c.settings.data_dir / "p.csv", PENALTY_COLUMNS_WITH_ID, [row])
    ingest_submission(c, department_principal(c, SAMR), path=path, item_code="penalty")
    with TestClient(create_app(c, scheduler=False)) as client:
        yield {"client": client, "office": office, "dept": dept}
