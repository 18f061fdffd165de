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


@dataclass
class LoadResult:
    """Departments created, their tokens, and one receipt per file."""

    tokens: dict[str, str] = field(default_factory=dict)
    receipts: list[Receipt] = field(default_factory=list)
    withdrawn: int = 0


def load_city(
    c: Container, out_dir: Path, *, on_file: Callable[[str], None] | None = None
) -> LoadResult:
    """Create the manifest's departments and an admin, then ingest every file as its department."""
    manifest: dict[str, Any] = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    result = LoadResult()
    for dept in manifest["departments"]:
        issued = add_department(
            c, SYSTEM, name=dept["name"], code=dept["code"], kind=dept.get("kind", "department")
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
