"""The fast path of one submission: batches through validation, subjects, the record merge.

Called by `ingest.service.ingest_submission` in place of its row loop, inside the same unit of
work: the submission row, the receipt and the ``submission.completed`` event stay the
service's. Per batch, in row order:

1. `Validator` — parse, required, category and publication checks (quarantine reasons);
2. `SubjectStage` — subjects by USCC / ID digest, new subjects, codeless rows via the registry;
3. `RecordStage` — record keys, content hashes, the new / corrected / duplicate merge;
4. quarantined rows (and the clerk's queue) and the batch's outbox events, in row order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Table

from citycredit.ingest.db import RejectRow, UnresolvedRow
from citycredit.ingest.fast.digests import Hasher
from citycredit.ingest.fast.merge import RecordStage
from citycredit.ingest.fast.reader import header_column, read_batches
from citycredit.ingest.fast.rules import raw_col
from citycredit.ingest.fast.sink import make_sink
from citycredit.ingest.fast.subjects import SubjectStage, Unresolved
from citycredit.ingest.fast.validate import Validator
from citycredit.ingest.intake import MAX_NOTES, SUBJECT_UNRESOLVED, Intake
from citycredit.ingest.model import Reason
from citycredit.ingest.readers import EXTRA_KEY, FileInfo
from citycredit.kernel.db import OutboxEventRow
from citycredit.privacy.records import reject_aad, unresolved_aad

__all__ = ["run_fast"]

_REJECTS: Table = RejectRow.__table__  # type: ignore[assignment]
_UNRESOLVED: Table = UnresolvedRow.__table__  # type: ignore[assignment]
_OUTBOX: Table = OutboxEventRow.__table__  # type: ignore[assignment]


def run_fast(
    intake: Intake,
    path: Path,
    info: FileInfo,
    mapping: dict[str, str],
    progress: Callable[[int], None] | None,
    *,
    batch_rows: int | None = None,
) -> None:
    """Process every row of the file into the intake's unit of work; counts and notes on it."""
    c, s, item = intake.c, intake.s, intake.item
    assert intake.submission_id is not None
    s.flush()
    sink = make_sink(s)
    hasher = Hasher()
    validator = Validator(item, mapping, info.headers, intake.today)
    subjects = SubjectStage(
        c, s, sink, hasher, item, now=intake.now, actor_label=intake.actor.label
    )
    records = RecordStage(
        c,
        sink,
        hasher,
        item,
        department_id=intake.dept.id,
        submission_id=intake.submission_id,
        actor_label=intake.actor.label,
        now=intake.now,
        due_days=intake.due_days,
        onboarded=intake.onboarded,
        rules=validator.rules,
    )
    writer = _Writer(intake, sink, mapping, info.headers)
    done = 0
    hook = c.fault_hook
    kwargs: dict[str, Any] = {"rows": batch_rows} if batch_rows else {}
    checked_batches = (
        (batch, validator.run(batch)) for batch in read_batches(path, info, **kwargs)
    )
    current = next(checked_batches, None)
    while current is not None:
        batch, checked = current
        bad = checked.filter(pl.col("reasons").is_not_null())
        good = checked.filter(pl.col("reasons").is_null())
        resolved, unresolved, subject_events = subjects.resolve(good)
        outcome = records.merge(resolved, MAX_NOTES - len(intake.notes))
        counts = intake.counts
        counts.received += batch.height
        counts.new += outcome.new
        counts.corrected += outcome.corrected
        counts.duplicate += outcome.duplicate
        counts.rejected += bad.height + len(unresolved)
        counts.unresolved += len(unresolved)
        intake.notes.extend(outcome.notes)
        writer.rejects(bad, good, unresolved)
        # The next batch is read and checked while the database stores this batch's events.
        with writer.inserting_events(subject_events, outcome.events):
            current = next(checked_batches, None)
        s.expunge_all()  # codeless rows load ORM subjects; memory stays flat
        done += batch.height
        if progress:
            progress(done)
        if callable(hook):
            hook(done)
    if progress:
        progress(done)


class _Writer:
    """Quarantine, the clerk's queue and the outbox rows of each batch."""

    def __init__(
        self, intake: Intake, sink: Any, mapping: dict[str, str], headers: tuple[str, ...]
    ) -> None:
        self.intake = intake
        self.sink = sink
        self.headers = headers
        self.mapping = mapping
        self.codec = intake.c.personal_codec
        self.now_text = sink.timestamp(_REJECTS, "created_at", intake.now)
        self.name_code = intake.roles.get("subject_name")

    def _raw(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as sent (`dict(SourceRow.values)`): every header, then any extra cells."""
        raw = {h: row[header_column(i)] for i, h in enumerate(self.headers)}
        if row.get(EXTRA_KEY) is not None:
            raw[EXTRA_KEY] = row[EXTRA_KEY]
        return raw

    def _reject(
        self, rn: int, raw: dict[str, Any], reasons: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The stored columns of one quarantined row (`Intake.reject`)."""
        sub = self.intake.submission_id
        assert sub is not None
        sealed = self.codec.seal(
            {"raw": self.intake.catalog_cells(raw), "reasons": reasons}, aad=reject_aad(sub, rn)
        )
        return {
            "submission_id": sub,
            "row_number": rn,
            "raw": json.dumps(sealed, ensure_ascii=False),
            "reasons": json.dumps([{"field": r["field"], "code": r["code"]} for r in reasons]),
            "status": "open",
            "created_at": self.now_text,
        }

    def rejects(self, bad: pl.DataFrame, good: pl.DataFrame, unresolved: list[Unresolved]) -> None:
        rows: list[dict[str, Any]] = []
        cols = [header_column(i) for i in range(len(self.headers))]
        for row in bad.select("rn", "reasons", *cols, EXTRA_KEY).iter_rows(named=True):
            rows.append(self._reject(row["rn"], self._raw(row), json.loads(row["reasons"])))
        queued: dict[int, tuple[Unresolved, dict[str, Any]]] = {}
        if unresolved:
            wanted = [u.rn for u in unresolved]
            by_rn = {
                r["rn"]: r for r in good.filter(pl.col("rn").is_in(wanted)).iter_rows(named=True)
            }
            for u in unresolved:
                row = by_rn[u.rn]
                msg = (
                    f"无法确定主体「{u.name}」：没有统一社会信用代码或证件号码，按注册号、组织机构代码和"
                    f"名称+区划均未唯一匹配（候选 {len(u.candidates)} 个），已转入待认领队列"
                )
                reason = Reason(self.name_code or "subject", u.name, SUBJECT_UNRESOLVED, msg)
                rows.append(self._reject(u.rn, self._raw(row), [reason.as_dict()]))
                queued[u.rn] = (u, row)
        if not rows:
            return
        rows.sort(key=lambda r: r["row_number"])
        self.sink.insert(_REJECTS, pl.DataFrame(rows))
        if queued:
            self._queue(queued)

    def _queue(self, queued: dict[int, tuple[Unresolved, dict[str, Any]]]) -> None:
        """`Intake.unresolved`: the clerk's queue rows, pointing at their quarantined rows."""
        intake = self.intake
        sub = intake.submission_id
        assert sub is not None
        ids = dict(
            self.sink.select_in(
                f"SELECT row_number, id FROM rejects WHERE submission_id = '{sub}' "
                "AND row_number IN_LIST",
                "row_number",
                sorted(queued),
                {"row_number": pl.Int64, "id": pl.Int64},
            ).iter_rows()
        )
        out = []
        for rn in sorted(queued):
            u, row = queued[rn]
            mapped = {code: row[raw_col(code)] for code in self.mapping.values()}
            out.append(
                {
                    "submission_id": sub,
                    "reject_id": ids[rn],
                    "department_id": intake.dept.id,
                    "item_code": intake.item.code,
                    "row_number": rn,
                    "name": u.name,
                    "division_code": u.division,
                    "values": json.dumps(
                        self.codec.seal(mapped, aad=unresolved_aad(sub, rn)), ensure_ascii=False
                    ),
                    "candidates": json.dumps(u.candidates, ensure_ascii=False, default=str),
                    "status": "open",
                    "created_at": self.now_text,
                }
            )
        self.sink.insert(_UNRESOLVED, pl.DataFrame(out))

    @contextmanager
    def inserting_events(
        self, subject_events: pl.DataFrame, record_events: pl.DataFrame
    ) -> Iterator[None]:
        """Subject and record events of the batch, in row order (a row's subject first)."""
        parts = []
        if not subject_events.is_empty():
            parts.append(subject_events.with_columns(pl.lit(0).alias("_o")))
        if not record_events.is_empty():
            parts.append(record_events.with_columns(pl.lit(1).alias("_o")))
        if not parts:
            yield
            return
        events = pl.concat(parts, how="vertical_relaxed").sort("rn", "_o")
        with self.sink.inserting(
            _OUTBOX,
            events.select(
                "event_type",
                "aggregate_type",
                "aggregate_id",
                "subject_id",
                "payload",
                pl.lit(self.now_text).alias("created_at"),
            ),
        ):
            yield
