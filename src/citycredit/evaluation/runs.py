"""Evaluation runs (评价批次): a whole-city batch with one engine, stored with all its results.

`db` reads the platform database; `duckdb` and `spark` read the de-identified Parquet export
(analytics/export.py), written to a temporary directory first unless a directory is named.
Each run is a row of evaluation_runs (engine, as_of, models, counts per grade, status) and every
result it produced is a row of evaluation_results with its run id (service.store_results).

as_of is today or earlier (service.check_as_of). A run evaluates a snapshot: the export (its
manifest's `exported_at`, else when its files were written; a run's own export: when it
started) or the database as the run found it (its start). The run's source records it as
`snapshot_at`, and a current result computed after that time stays current: the batch result
goes to the history (and the run) only. A completed run also removes the current result of
every subject that no model in force on its as_of evaluates (service.clear_current).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from citycredit.accounts.model import Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.evaluation import engines
from citycredit.evaluation.db import EvaluationCurrentRow, EvaluationRunRow
from citycredit.evaluation.model import GRADE_LABELS
from citycredit.evaluation.service import (
    Stored,
    check_as_of,
    clear_current,
    model_summary,
    models_for,
    store_results,
)
from citycredit.shared.errors import FieldError, NotFound
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow

if TYPE_CHECKING:
    from citycredit.evaluation.model import ModelSet
    from citycredit.evaluation.result import SubjectResult

__all__ = ["ENGINES", "Progress", "get_run", "list_runs", "run_evaluation"]

ENGINES = ("db", "duckdb", "spark")
STORE_CHUNK = 2000  # results stored per transaction
Progress = Callable[[int, int | None], None]  # (results handled so far, total if known)


def _chunks(it: Iterable[SubjectResult], n: int) -> Iterator[list[SubjectResult]]:
    iterator = iter(it)
    while chunk := list(islice(iterator, n)):
        yield chunk


def _engine(engine: str) -> str:
    value = (engine or "").strip().lower()
    if value not in ENGINES:
        raise FieldError("engine", engine, "unknown_engine", "评价引擎只能是 db、duckdb 或 spark")
    return value


def _start_run(
    c: Container, actor: Principal, engine: str, as_of: date, models: ModelSet
) -> EvaluationRunRow:
    with c.uow() as uow:
        run = EvaluationRunRow(
            id=new_id("evr"),
            engine=engine,
            as_of=as_of,
            status="running",
            models=model_summary(models, as_of),
            counts=dict.fromkeys(GRADE_LABELS, 0),
            evaluated=0,
            skipped=0,
            source={},
            error=None,
            started_by=actor.label,
            started_at=c.clock.now(),
            finished_at=None,
        )
        uow.session.add(run)
        uow.commit()
        return run


def _finish_run(
    c: Container,
    run_id: str,
    *,
    status: str,
    totals: Stored,
    source: dict[str, Any],
    error: str | None = None,
) -> dict[str, Any]:
    with c.uow() as uow:
        run = uow.session.get(EvaluationRunRow, run_id)
        if run is None:  # pragma: no cover - the row was committed by _start_run
            raise NotFound(f"评价批次 {run_id} 不存在", code="run_not_found")
        run.status = status
        run.counts = dict(totals.counts)
        run.evaluated = totals.stored
        run.skipped = totals.skipped
        run.source = source
        run.error = error
        run.finished_at = c.clock.now()
        uow.commit()
        return _run_view(run)


def _subject_count(c: Container, models: ModelSet, as_of: date) -> int:
    with c.uow() as uow:
        n = uow.session.scalar(
            select(func.count())
            .select_from(SubjectRow)
            .where(SubjectRow.subject_type.in_(list(models.subject_types(as_of))))
        )
        return int(n or 0)


def _manifest_total(manifest: dict[str, Any]) -> int | None:
    """Subjects in a Parquet export, from its manifest (the progress bar's total)."""
    files = manifest.get("files")
    entry = files.get("fact_subjects") if isinstance(files, dict) else None
    rows = entry.get("rows") if isinstance(entry, dict) else None
    return rows if isinstance(rows, int) else None


def _export_time(directory: Path, manifest: dict[str, Any]) -> datetime | None:
    """When a given export was taken: its manifest's `exported_at` (ISO 8601; a naive value is
    UTC), else when its files were last written (the newest modification time)."""
    value = manifest.get("exported_at")
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            stamp = None
        if stamp is not None:
            return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    files = ("manifest.json", *engines.PARQUET_FILES.values())
    times = [(directory / f).stat().st_mtime for f in files if (directory / f).exists()]
    return datetime.fromtimestamp(max(times), UTC) if times else None


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parquet_source(
    c: Container, models: ModelSet, as_of: date, parquet_dir: Path | None, stack: ExitStack
) -> tuple[Path, dict[str, Any], int | None]:
    """The export directory (exported now into a temporary one unless given) and its summary."""
    from citycredit.analytics.export import export_parquet

    if parquet_dir is None:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cc-eval-")))
        snapshot = c.clock.now()  # before the export reads anything
        manifest = export_parquet(
            c, directory, subject_types=list(models.subject_types(as_of)), as_of=as_of
        )
        source: dict[str, Any] = {"parquet": None, "exported": True}
    else:
        directory = Path(parquet_dir)
        if not directory.is_dir():
            raise FieldError("parquet", str(parquet_dir), "not_found", "Parquet 导出目录不存在")
        manifest = _read_manifest(directory)
        found = _export_time(directory, manifest)
        # Unknown: older than every stored result (the run's results go to the history only).
        snapshot = found or datetime(1970, 1, 1, tzinfo=UTC)
        source = {"parquet": str(directory), "exported": False}
    source["snapshot_at"] = snapshot.isoformat()
    source["format"] = manifest.get("format")
    source["rows"] = {
        name: entry.get("rows")
        for name, entry in (manifest.get("files") or {}).items()
        if isinstance(entry, dict)
    }
    return directory, source, _manifest_total(manifest)


def _results(
    c: Container,
    engine: str,
    as_of: date,
    models: ModelSet,
    parquet_dir: Path | None,
    spark_master: str,
    stack: ExitStack,
) -> tuple[Iterator[SubjectResult], int | None, dict[str, Any]]:
    """The engine's result stream, the total to expect (if known) and where it read from."""
    if engine == "db":
        # Its own connection: reading in batches while each chunk of results commits apart.
        # The snapshot is the run's start: each batch reads the database as it is then, later.
        snapshot = c.clock.now()
        conn = stack.enter_context(c.engine.connect())
        count = _subject_count(c, models, as_of)
        source = {"database": True, "snapshot_at": snapshot.isoformat()}
        return engines.evaluate_all_db(conn, models, as_of), count, source
    directory, source, total = _parquet_source(c, models, as_of, parquet_dir, stack)
    if engine == "duckdb":
        return engines.evaluate_duckdb(directory, models, as_of), total, source
    source["spark_master"] = spark_master
    stream = engines.evaluate_spark(directory, models, as_of, master=spark_master)
    return stream, total, source


def run_evaluation(
    c: Container,
    actor: Principal,
    *,
    engine: str,
    as_of: date,
    parquet_dir: Path | None = None,
    spark_master: str = "local[2]",
    progress: Progress | None = None,
    chunk: int = STORE_CHUNK,
) -> dict[str, Any]:
    """A whole-city batch with one engine, stored as an evaluation run with all its results.

    Results are stored in chunks of `chunk`, one transaction each; a failure marks the run
    failed (with the error) and re-raises. Returns the run as list_runs shows it.
    """
    require(actor, Permission.run_jobs)
    engine = _engine(engine)
    as_of = check_as_of(c, as_of)  # a date, not later than today (Asia/Shanghai)
    models = models_for(c)
    run = _start_run(c, actor, engine, as_of, models)
    totals = Stored()
    source: dict[str, Any] = {}
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            results, total, source = _results(
                c, engine, as_of, models, parquet_dir, spark_master, stack
            )
            snapshot = datetime.fromisoformat(source["snapshot_at"])
            if progress is not None:
                progress(0, total)
            for part in _chunks(results, chunk):
                with c.uow() as uow:
                    done = store_results(
                        uow.session,
                        part,
                        engine=engine,
                        trigger="run",
                        at=c.clock.now(),
                        run_id=run.id,
                        snapshot=snapshot,
                    )
                    uow.commit()
                totals.add(done)
                if progress is not None:
                    progress(totals.stored + totals.skipped, total)
            source["current_kept"] = totals.kept
            source["cleared"] = _clear_unmodelled(c, models, as_of, run.id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        _finish_run(c, run.id, status="failed", totals=totals, source=source, error=error)
        raise
    view = _finish_run(c, run.id, status="completed", totals=totals, source=source)
    view["seconds"] = round(time.monotonic() - started, 3)
    return view


def _clear_unmodelled(c: Container, models: ModelSet, as_of: date, run_id: str) -> int:
    """No current result for subjects that no model in force on as_of evaluates (a type
    without a model, a model retired without a successor); their history stays."""
    types = list(models.subject_types(as_of))
    cleared = 0
    with c.uow() as uow:
        s = uow.session
        ids = list(
            s.scalars(
                select(EvaluationCurrentRow.subject_id)
                .join(SubjectRow, SubjectRow.subject_id == EvaluationCurrentRow.subject_id)
                .where(SubjectRow.subject_type.not_in(types))
            )
        )
        for i in range(0, len(ids), STORE_CHUNK):
            part = ids[i : i + STORE_CHUNK]
            cleared += clear_current(s, part, as_of=as_of, at=c.clock.now(), run_id=run_id)
        uow.commit()
    return cleared


def _run_view(run: EvaluationRunRow) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "engine": run.engine,
        "as_of": run.as_of.isoformat(),
        "status": run.status,
        "models": run.models,
        "counts": run.counts,
        "evaluated": run.evaluated,
        "skipped": run.skipped,
        "source": run.source,
        "error": run.error,
        "started_by": run.started_by,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def list_runs(c: Container, actor: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
    """Evaluation runs, newest first (credit office)."""
    require(actor, Permission.run_jobs)
    limit = max(1, min(limit, 500))
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(EvaluationRunRow)
            .order_by(EvaluationRunRow.started_at.desc(), EvaluationRunRow.id.desc())
            .limit(limit)
        )
        return [_run_view(r) for r in rows]


def get_run(c: Container, actor: Principal, run_id: str) -> dict[str, Any]:
    """One evaluation run (credit office)."""
    require(actor, Permission.run_jobs)
    with c.uow() as uow:
        run = uow.session.get(EvaluationRunRow, run_id)
        if run is None:
            raise NotFound(f"评价批次 {run_id} 不存在", code="run_not_found")
        return _run_view(run)
