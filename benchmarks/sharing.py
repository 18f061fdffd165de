"""共享调度 at intake's pace: does the fan-out keep up with what departments submit?

On a PostgreSQL database of its own (created and dropped), untimed setup: the intake
benchmark's department and registered subjects, then four subscriptions of two other
departments (issue #3 item 5), made before anything is submitted:

- 税务局 "全部处罚" — every penalty, the public view (`access=public`, no personal data);
- 税务局 "处罚（脱敏）" — every penalty, authorised access with masked personal fields;
- 人社局 "重点企业" — 200 subjects' records (a by-subject subscription);
- 人社局 "许可" — licences only: no penalty matches it.

Then ROWS penalty rows (the intake benchmark's file: 5 % bad rows, a person in every tenth) are
submitted through `ingest_submission` — timed, as the pace the fan-out has to keep — and the
fan-out (`sharing.fanout.fan_out`, the `sharing` consumer the deliveries sweep runs every 30 s)
drains every record event into the feeds — timed:

    intake_rows_per_s   accepted rows ÷ the submission's seconds
    fanout_events_per_s record events ÷ the fan-out's seconds
    entries_per_s       feed entries written ÷ the fan-out's seconds
    keeps_up            fanout_events_per_s ÷ intake_rows_per_s (≥ 1: the feeds keep pace
                        with intake on one core; our target, no issue sets one)

Each penalty subscription must end with exactly one entry per accepted record, the by-subject
one with one per record of its 200 subjects, and the licence one with none; the run fails
otherwise.

    .venv/bin/python benchmarks/sharing.py [--rows 100000] [--profile fanout.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bulk import own_database, say
from intake import DEPT, container, setup, write_file

TAX = "国家税务总局榆林市税务局"
HRSS = "榆林市人力资源和社会保障局"
BASIS = "《榆林市公共信用信息管理办法》"


def subscribe_all(c: Any) -> dict[str, str]:
    from intake import _uscc
    from sqlalchemy import select

    from citycredit.accounts.model import SYSTEM
    from citycredit.accounts.service import add_department
    from citycredit.ingest.db import RecordRow
    from citycredit.sharing.service import NewSubscription, subscribe
    from citycredit.subjects.db import SubjectRow

    add_department(c, SYSTEM, name=TAX, code=_uscc("610800", 999001))
    add_department(c, SYSTEM, name=HRSS, code=_uscc("610800", 999002))
    with c.uow() as uow:
        assert uow.session.scalar(select(RecordRow.id).limit(1)) is None
        subjects = list(
            uow.session.scalars(
                select(SubjectRow.subject_id)
                .where(SubjectRow.subject_type == "enterprise")
                .order_by(SubjectRow.subject_id)
                .limit(200)
            )
        )

    def new(name: str, department: str, **kw: Any) -> dict[str, Any]:
        cmd = NewSubscription(
            name=name, purpose="联合奖惩", legal_basis=BASIS, department=department, **kw
        )
        return subscribe(c, SYSTEM, cmd)

    made = {
        "all": new("全部处罚", TAX, items=["penalty"]),
        "masked": new("处罚（脱敏）", TAX, items=["penalty"], personal="masked"),
        "subjects": new("重点企业", HRSS, subjects=subjects),
        "licence": new("许可", HRSS, items=["licence"]),
    }
    return {k: str(v["id"]) for k, v in made.items()}


def run(
    url: str, data_dir: Path, rows: int, tmp: Path, profile: Path | None = None
) -> dict[str, float]:
    from sqlalchemy import func, select

    from citycredit.accounts.service import department_principal
    from citycredit.ingest.db import RecordRow
    from citycredit.ingest.service import ingest_submission
    from citycredit.sharing.db import FeedEntryRow, SubscriptionSubjectRow
    from citycredit.sharing.fanout import fan_out

    c = container(url, data_dir)
    try:
        setup(c, rows)
        subs = subscribe_all(c)
        fan_out(c, grace=0)  # nothing yet: the subscriptions' initial loads are empty
        path = tmp / "penalties.csv"
        bad = write_file(path, rows)
        say(f"setup rows={rows} bad={bad} subscriptions={len(subs)} (untimed)")

        t0 = time.perf_counter()
        result = ingest_submission(c, department_principal(c, DEPT), path=path, item_code="penalty")
        intake_s = time.perf_counter() - t0
        accepted = result.counts.new
        say(
            f"intake new={accepted} rejected={result.counts.rejected} seconds={intake_s:.1f} "
            f"rows_per_s={accepted / intake_s:.0f}"
        )

        profiler = cProfile.Profile() if profile else None
        t0 = time.perf_counter()
        events = 0
        if profiler:
            profiler.enable()
        while True:
            n = fan_out(c, grace=0)
            if not n:
                break
            events += n
        fanout_s = time.perf_counter() - t0
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
            say(f"fan-out profile written to {profile} (python -m pstats)")

        with c.uow() as uow:
            s = uow.session
            per_sub = dict(
                s.execute(
                    select(FeedEntryRow.subscription_id, func.count()).group_by(
                        FeedEntryRow.subscription_id
                    )
                ).all()
            )
            theirs = s.scalar(
                select(func.count())
                .select_from(RecordRow)
                .join(
                    SubscriptionSubjectRow,
                    SubscriptionSubjectRow.subject_id == RecordRow.subject_id,
                )
                .where(SubscriptionSubjectRow.subscription_id == subs["subjects"])
            )
        entries = sum(per_sub.values())
        want = {"all": accepted, "masked": accepted, "subjects": theirs, "licence": 0}
        got = {k: per_sub.get(v, 0) for k, v in subs.items()}
        if got != want:
            raise SystemExit(f"feeds incomplete: got {got}, want {want}")
        say(
            f"fanout events={events} entries={entries} per_subscription={got} "
            f"seconds={fanout_s:.1f}"
        )
        return {
            "intake_rows_per_s": accepted / intake_s,
            "fanout_events_per_s": events / fanout_s,
            "entries_per_s": entries / fanout_s,
        }
    finally:
        c.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument(
        "--profile", type=Path, help="write a cProfile of the fan-out phase here (slower)"
    )
    args = ap.parse_args()
    with own_database("sharing") as url, tempfile.TemporaryDirectory(prefix="cc-bench-") as t:
        tmp = Path(t)
        f = run(url, tmp / "data", args.rows, tmp, args.profile)
    keeps_up = f["fanout_events_per_s"] / f["intake_rows_per_s"]
    print(f"ratio keeps_up={keeps_up:.3f} (>=1: the feeds keep pace with intake)")
    print(
        f"intake_rows_per_s={f['intake_rows_per_s']:.0f} "
        f"fanout_events_per_s={f['fanout_events_per_s']:.0f} "
        f"entries_per_s={f['entries_per_s']:.0f} keeps_up={keeps_up:.3f}"
    )


if __name__ == "__main__":
    main()
