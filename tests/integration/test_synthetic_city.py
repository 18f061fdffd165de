"""The generated city goes through the real intake exactly as its manifest says."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.shared.calendar import SHANGHAI
from citycredit.shared.clock import FixedClock
from citycredit.subjects.db import SubjectRow
from citycredit.synth.city import DEFAULT_AS_OF, generate_city
from citycredit.synth.load import load_city

pytestmark = pytest.mark.db


def test_generated_city_loads_as_the_manifest_says(
    container: Container, clock: FixedClock, tmp_path: Path
) -> None:
    # Judge "future dates" on the generator's own as_of, as the manifest does.
    clock.current = datetime.combine(DEFAULT_AS_OF, time(10), SHANGHAI).astimezone(UTC)
    manifest = generate_city(tmp_path / "city", subjects=400, seed=11)
    result = load_city(container, tmp_path / "city")
    by_file = {r.filename: r for r in result.receipts}
    assert len(by_file) == len(manifest.files)
    for f in manifest.files:
        r = by_file[f.path].counts
        e = f.expected
        assert r.balanced and r.received == f.rows, f.path
        assert r.rejected - r.unresolved == e["bad"], (f.path, r, e)
        assert r.unresolved == e["codeless_unmatchable"], (f.path, r, e)
        if f.kind == "correction":
            assert r.corrected == e["corrections"] + e["withdrawals"], (f.path, r, e)
    assert result.withdrawn == len(manifest.withdrawals) > 0
    with container.uow() as uow:
        s = uow.session
        types = dict(
            s.execute(
                select(SubjectRow.subject_type, func.count()).group_by(SubjectRow.subject_type)
            ).all()
        )
        withdrawn = s.scalar(
            select(func.count()).select_from(RecordRow).where(RecordRow.status == "withdrawn")
        )
    assert set(types) >= {
        "government_body",
        "public_institution",
        "enterprise",
        "individual_business",
        "social_group",
        "private_non_enterprise",
        "farmer_cooperative",
        "farm_household",
        "natural_person",
    }
    assert withdrawn == len(manifest.withdrawals)
