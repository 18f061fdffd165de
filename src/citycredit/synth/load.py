"""Load a generated synthetic city into the platform through the real intake."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container
from citycredit.ingest.service import (
    Receipt,
    ingest_submission,
    locate_record,
    withdraw_record,
)
from citycredit.shared.errors import PermissionDenied


@dataclass
class LoadResult:
    """Departments created, their tokens, one receipt per file, and what entered the ledger."""

    tokens: dict[str, str] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    withdrawn: int = 0
    leaves: int = 0
    tokens_file: Path | None = None


def load_city(
    c: Container, out_dir: Path, *, on_file: Callable[[str], None] | None = None
) -> LoadResult:
    """Create the manifest's departments and an admin, then ingest every file as its department."""
    manifest: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    result = LoadResult()
    for dept in manifest["departments"]:
        issued = add_department(
            c, SYSTEM, name=dept["name"], code=dept["code"], kind=dept.get("kind", "government")
        )
        result.tokens[dept["name"]] = issued.token
    admin = add_user(
        c, SYSTEM, username="admin", display_name="信用办管理员", role=Role.credit_office_admin
    )
    result.tokens["信用办管理员"] = admin.token
    for f in manifest["files"]:
        if on_file:
            on_file(f["path"])
        actor = department_principal(c, f["department"])
        result.receipts.append(
            ingest_submission(c, actor, path=out_dir / f["path"], item_code=f["item"])
        )
    for w in manifest.get("withdrawals", []):
        # A department withdraws by the fields it knows: the subject's code and the item's key.
        actor = department_principal(c, w["department"])
        row = {k: v for k, v in {**w["subject"], **w["key"]}.items() if v}
        record_id = locate_record(c, actor, w["item"], row)
        withdraw_record(c, actor, record_id, w["reason"])
        result.withdrawn += 1
    return result


def seed_city(
    c: Container, out_dir: Path, *, on_file: Callable[[str], None] | None = None
) -> LoadResult:
    """Load a generated city, integrate it into the ledger, write the dev tokens file.

    Never in production: the city comes with a credit-office account whose token is written to
    a file (`citycredit seed` there is refused; `first_start` does not seed).
    """
    from citycredit.ledger.service import integrate_now

    if c.settings.environment == "production":
        raise PermissionDenied(
            "生产环境不能载入合成城市（它会创建信用办账号并把令牌写入 dev-tokens.json）",
            code="synthetic_city_in_production",
        )
    result = load_city(c, out_dir, on_file=on_file)
    result.leaves = integrate_now(c)  # proof bundles work from the first page view
    tokens = c.settings.data_dir / "dev-tokens.json"
    tokens.write_text(json.dumps(result.tokens, ensure_ascii=False, indent=2), encoding="utf-8")
    tokens.chmod(0o600)
    result.tokens_file = tokens
    return result


def first_start(
    c: Container, *, on_start: Callable[[int], None] | None = None
) -> LoadResult | None:
    """On an empty database, when configured (development by default, never production),
    generate and load a synthetic Yulin city."""
    from sqlalchemy import func, select

    from citycredit.subjects.db import SubjectRow
    from citycredit.synth.city import generate_city

    if not c.settings.seed_synthetic_city or c.settings.environment == "production":
        return None  # production never seeds (settings refuse it; this guards a changed copy)
    with c.uow() as uow:
        if uow.session.scalar(select(func.count()).select_from(SubjectRow)):
            return None
    if on_start:
        on_start(c.settings.synthetic_subjects)
    out = c.settings.data_dir / "synthetic"
    generate_city(out, subjects=c.settings.synthetic_subjects, seed=c.settings.synthetic_seed)
    return seed_city(c, out)
