"""异议处理中 is shown where the public reads the record: the archive page, the 双公示 page and
the printed credit report (rules.md §6.3) — not only in the JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_objections as _obj
from fastapi.testclient import TestClient

from citycredit.accounts.model import ANONYMOUS
from citycredit.bootstrap import Container
from citycredit.reports.service import issue_report
from citycredit.web.app import create_app

pytestmark = pytest.mark.db


def test_an_open_objection_is_marked_on_every_public_page(
    container: Container, tmp_path: Path
) -> None:
    c = container
    sid, rid = _obj.setup_record(c, tmp_path)
    with TestClient(create_app(c, scheduler=False)) as client:
        before = client.get(f"/subjects/{sid}").text
        assert "异议处理中" not in before
        _obj.file(c, _obj.office(c), rid)
        assert "异议处理中" in client.get(f"/subjects/{sid}").text
        publicity = client.get("/publicity/penalty").text
        assert publicity.count("异议处理中") == 1  # the disputed decision only, not the other
        report = issue_report(c, ANONYMOUS, sid)
        page = client.get(f"/reports/{report['report_no']}")
        assert page.status_code == 200 and "异议处理中" in page.text
