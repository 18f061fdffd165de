"""One 双公示 export being produced: which records, which operation, the files, the manifest.

The period (since, until] chooses the records (a version, a publication end, a 信用修复 or any
other change of the record in it); each is written once, in its **current** state (as of the
run, not as of ``until``), as 新增 / 更新 / 删除 relative to what earlier completed exports
sent (``export_records``, the last one to complete wins). So whatever file the province loads
last, it ends on the record's current state — a re-send of an old period never sends content
that has since been corrected or withdrawn. Records that may not be public (轻微 under NDRC
Order No. 36, a minor's penalty, not 公开) are never sent; one the province holds that stops
being public (withdrawn, no longer published, publication over, repaired) is sent as 删除,
carrying only what identifies it. Everything happens in one transaction; files are renamed
into place before it commits, and removed again if it fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from citycredit.accounts.model import Principal
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.catalog.publication import publication_for
from citycredit.db import storage
from citycredit.exports.db import ExportRecordRow, ExportRow
from citycredit.exports.files import (
    CsvFile,
    ExportFile,
    JsonFile,
    prepare_directory,
    write_json_atomically,
)
from citycredit.exports.model import (
    DELETE,
    ITEMS,
    KIND,
    OPERATIONS,
    PERSON_ROLES,
    PERSON_SUBJECT_TYPES,
    PLATFORM_COLUMNS,
    UPDATE,
    Columns,
    Sent,
    Visibility,
    cell_text,
    columns_for,
    decide,
    delete_codes,
    exported_codes,
    json_cell,
    non_public_codes,
    typed_values,
)
from citycredit.exports.verify import MANIFEST
from citycredit.ingest.db import RecordRow, RecordVersionRow, RecordWithholdingRow
from citycredit.ingest.intake import roles_of
from citycredit.ingest.withhold import WITHHELD_REASONS
from citycredit.kernel import outbox
from citycredit.kernel.disclosure import record_disclosure
from citycredit.ledger.bundle import EXPORT_ENTRY, export_ref, manifest_digest, manifest_facts
from citycredit.ledger.entries import workflow_entry
from citycredit.rights.db import RepairRow
from citycredit.shared.calendar import SHANGHAI, day_start, local_date
from citycredit.shared.errors import Conflict, FieldError
from citycredit.shared.idgen import new_id
from citycredit.subjects.db import SubjectRow
from citycredit.subjects.model import SubjectType
from citycredit.subjects.service import check_category, facts_from_roles

CITY_DIVISION = "610800"  # 榆林市: in the file names the province sorts uploads by
PLATFORM_NAME = "榆林市公共信用信息共享平台"
MANIFEST_FORMAT = "citycredit/dual-publicity-export/1"
# Versions are stamped when their submission starts and become visible when it commits; an
# incremental export re-reads this much before `since` so a long submission that committed
# after the previous export is not lost (what was already sent is skipped).
LATE_WINDOW = timedelta(days=1)
BATCH = 500
PURPOSE = "双公示数据报送省级平台（行政许可、行政处罚）"


def iso(dt: datetime | None) -> str | None:
    """Beijing time, ISO 8601 with its offset (what the files and the API show)."""
    return dt.astimezone(SHANGHAI).isoformat(timespec="seconds") if dt else None


def last_until(s: Session) -> datetime | None:
    """The end of the latest successful full or incremental export: where the next incremental
    export (the daily job) starts. Explicit re-sends (``--since``) do not move it: a re-send of
    a later period must not make the daily job skip the changes before that period."""
    return s.scalar(
        select(func.max(ExportRow.period_until)).where(
            ExportRow.kind == KIND,
            ExportRow.status == "completed",
            ExportRow.mode != "explicit",
        )
    )


def export_summary(row: ExportRow) -> dict[str, Any]:
    """An export as the CLI and the API show it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "mode": row.mode,
        "since": iso(row.period_since),
        "until": iso(row.period_until),
        "status": row.status,
        "trigger": row.trigger,
        "counts": row.counts,
        "files": row.files,
        "directory": row.directory,
        "catalog_version": row.catalog_version,
        "error": row.error,
        "created_by": row.created_by,
        "started_at": iso(row.started_at),
        "completed_at": iso(row.completed_at),
        # The files were deleted after the retention (export_files_purge); the row keeps the
        # counts and checksums. None: still on disk.
        "files_purged_at": iso(row.files_purged_at),
    }


class ExportRun:
    """One export being produced (files open, counts, disclosures) inside one transaction."""

    def __init__(
        self,
        c: Container,
        actor: Principal,
        *,
        mode: str,
        since: datetime | None,
        until: datetime,
        formats: tuple[str, ...],
        out_dir: Path | None,
    ) -> None:
        self.c, self.actor, self.mode = c, actor, mode
        self.since, self.until, self.formats = since, until, formats
        self.started_at = c.clock.now()
        # Records are chosen by the period, but written in their state as of the run: the
        # province applies this file after every earlier one, so it must end on the current
        # state (an old state would stay there: nothing later would correct it).
        self.today = local_date(self.started_at)
        self.period_day = local_date(until)
        self.out_given = out_dir is not None
        self.export_id = new_id("x")
        self.stamp = f"{until.astimezone(SHANGHAI):%Y%m%dT%H%M%S}"
        self.directory = out_dir or (
            c.settings.data_dir / "exports" / KIND / f"{self.stamp}_{self.export_id}"
        )
        self.items: dict[str, CatalogItem] = {code: c.catalog.item(code) for code in ITEMS}
        self.cols: dict[str, Columns] = {code: columns_for(i) for code, i in self.items.items()}
        self.hidden = {code: non_public_codes(i) for code, i in self.items.items()}
        self.roles = {code: roles_of(i) for code, i in self.items.items()}
        # The fields that name or identify a natural person, per item (G35: personal_rows).
        self.person_codes = {
            code: frozenset(c for role, c in roles.items() if role in PERSON_ROLES)
            for code, roles in self.roles.items()
        }
        self.person_rows = dict.fromkeys(ITEMS, 0)
        self.files: list[ExportFile] = []
        self.by_item: dict[str, list[ExportFile]] = defaultdict(list)
        self.counts = {code: dict.fromkeys(OPERATIONS, 0) for code in ITEMS}
        self.disclosed: dict[str, tuple[set[str], set[str]]] = {}
        self.personal_rows = 0
        self.enriched = 0
        self.started = False
        self.created_dir = False

    # -- the run ------------------------------------------------------------------------------
    def execute(self, trigger: str) -> dict[str, Any]:
        self._open_files()
        self.started = True
        with self.c.uow() as uow:
            s = uow.session
            s.add(self._row(trigger))
            s.flush()
            ids = self._candidates(s)
            for i in range(0, len(ids), BATCH):
                self._batch(s, ids[i : i + BATCH])
                s.flush()
                s.expunge_all()  # flat memory on a full export
            # Each data file says how many of its rows carry natural persons' data: a download
            # of such a file needs an approved request (exports/downloads.py, G35).
            entries = [f.finish() | {"personal_rows": self.person_rows[f.item]} for f in self.files]
            manifest = self._manifest(entries)
            entries.append(
                {"item": None, "format": "manifest", "rows": None}
                | write_json_atomically(self.directory / MANIFEST, manifest)
            )
            self._log_disclosures(s)
            if self.mode != "explicit" and last_until(s) != self.since:
                # Another incremental export finished meanwhile (job and command at once):
                # committing both would send the same changes twice.
                raise Conflict(
                    "另一导出批次已在此期间完成，本次导出已取消，请重新导出",
                    code="export_overlap",
                )
            row = s.get(ExportRow, self.export_id)
            assert row is not None
            row.status = "completed"
            row.counts = manifest["counts"]
            row.files = entries
            row.completed_at = self.c.clock.now()
            row.manifest_hash = self._commit_to_ledger(s, manifest, row.completed_at)
            summary = export_summary(row)
            uow.commit()
        return summary

    def _commit_to_ledger(self, s: Session, manifest: dict[str, Any], at: datetime) -> str:
        """The ``export.completed`` leaf, in the export's own transaction (a failed or
        discarded run adds none): the export id, kind, period and counts, and the digest of
        the manifest as written (`ledger.bundle.manifest_digest`), each a salted digest like
        every leaf field. The manifest names files and their checksums and counts rows: no
        personal data enters the log. The event keeps the manifest too, so the export's proof
        (`exports.service.export_proof`) is still there after the files are purged.

        Returns the digest, which the row keeps (``exports.manifest_hash``): `ledger verify`
        compares the row with the leaf, and expects a leaf for every row that has one."""
        suite = self.c.settings.ledger_suite
        digest = manifest_digest(suite, manifest)
        entry = workflow_entry(
            suite,
            entry_type=EXPORT_ENTRY,
            ref=export_ref(self.export_id),
            subject_id=None,
            fields={**manifest_facts(manifest), "manifest_hash": digest},
            at=at,
        )
        outbox.emit(
            s,
            event_type=EXPORT_ENTRY,
            aggregate_type="export",
            aggregate_id=self.export_id,
            at=at,
            payload={"ledger": entry.as_payload(), "manifest": manifest},
        )
        return digest

    def discard(self) -> None:
        """Remove what a failed run wrote: no half export is left for an upload script."""
        for f in self.files:
            f.discard()
        if self.started:  # a manifest already there made the run refuse before starting
            (self.directory / MANIFEST).unlink(missing_ok=True)
        if self.created_dir and self.directory.exists() and not any(self.directory.iterdir()):
            self.directory.rmdir()

    def _row(self, trigger: str) -> ExportRow:
        return ExportRow(
            id=self.export_id,
            kind=KIND,
            mode=self.mode,
            period_since=self.since,
            period_until=self.until,
            status="running",
            trigger=trigger,
            counts={},
            files=[],
            directory=str(self.directory),
            catalog_version=self.c.catalog.version,
            created_by=self.actor.label,
            user_id=self.actor.user_id,
            started_at=self.started_at,
        )

    def _open_files(self) -> None:
        names = [
            self.directory / f"{self.cols[code].layout.code}_{CITY_DIVISION}_{self.stamp}.{fmt}"
            for code in ITEMS
            for fmt in self.formats
        ]
        for path in [*names, self.directory / MANIFEST]:
            if path.exists():
                raise Conflict(
                    f"输出目录中已有文件 {path.name}，请指定一个新的目录（--out）",
                    code="export_file_exists",
                )
        try:
            self.created_dir = prepare_directory(self.directory)
            for path in names:
                code = next(c for c in ITEMS if path.name.startswith(self.cols[c].layout.code))
                columns = self.cols[code].all
                f: ExportFile
                if path.suffix == ".csv":
                    f = CsvFile(path, item=code, columns=columns)
                else:
                    f = JsonFile(path, item=code, columns=columns, header=self._json_header(code))
                self.files.append(f)
                self.by_item[code].append(f)
        except OSError as exc:
            if storage.is_storage_full(exc):
                raise  # no space (or no inode) left: storage full (507, exit 2), not a bad --out
            why = (
                "不是目录"
                if isinstance(exc, NotADirectoryError | FileExistsError)
                else exc.strerror or type(exc).__name__
            )
            where = "" if self.out_given else "（默认导出目录；可用 --out 指定其他目录）"
            raise FieldError(
                "out",
                str(self.directory),
                "invalid_directory",
                f"输出目录 {self.directory} 无法创建或写入：{why}{where}",
            ) from exc

    def _json_header(self, code: str) -> dict[str, Any]:
        item, cols = self.items[code], self.cols[code]
        return {
            "layout": cols.layout.code,
            "item": code,
            "name": item.name,
            "export_id": self.export_id,
            "period": self._period(),
            "catalog_version": self.c.catalog.version,
            "fields": [
                {"code": f, "label": item.field(f).label, "national": f in cols.national}
                for f in cols.fields
            ]
            + [{"code": f, "label": label, "national": False} for f, label in PLATFORM_COLUMNS],
        }

    def _period(self) -> dict[str, Any]:
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "bounds": "(since, until]",
            "mode": self.mode,
        }

    # -- which records ------------------------------------------------------------------------
    def _candidates(self, s: Session) -> list[str]:
        """Records with a version in the period, records whose publication ended in it (its
        period ran out, or a 信用修复 was approved), records whose 信用修复 was revoked in
        it (published again), and records withheld or released in it (不予公示 / 恢复公示)."""
        low = self.since
        if low is not None and self.mode == "incremental":
            low = low - LATE_WINDOW
        q = (
            select(RecordVersionRow.record_id)
            .join(RecordRow, RecordRow.id == RecordVersionRow.record_id)
            .where(RecordRow.item_code.in_(ITEMS), RecordVersionRow.created_at <= self.until)
        )
        if low is not None:
            q = q.where(RecordVersionRow.created_at > low)
        ids = set(s.scalars(q.distinct()))
        if low is not None:
            ids |= set(
                s.scalars(
                    select(RecordRow.id).where(
                        RecordRow.item_code.in_(ITEMS),
                        RecordRow.publication_end > local_date(low),
                        RecordRow.publication_end <= self.period_day,
                    )
                )
            )
            # A 信用修复 revoked for fraud (rights.repairs.revoke_for_fraud) publishes the
            # record again: found through the (small) repairs table, not by scanning records.
            ids |= set(
                s.scalars(
                    select(RecordRow.id)
                    .join(RepairRow, RepairRow.target_id == RecordRow.id)
                    .where(
                        RepairRow.target_type == "record",
                        RepairRow.status == "revoked",
                        RepairRow.updated_at > low,
                        RepairRow.updated_at <= self.until,
                        RecordRow.item_code.in_(ITEMS),
                    )
                )
            )
            # 不予公示 / 恢复公示 (ingest/withhold.py) with no new version: its steps say when.
            ids |= set(
                s.scalars(
                    select(RecordWithholdingRow.record_id)
                    .join(RecordRow, RecordRow.id == RecordWithholdingRow.record_id)
                    .where(
                        RecordWithholdingRow.at > low,
                        RecordWithholdingRow.at <= self.until,
                        RecordRow.item_code.in_(ITEMS),
                    )
                )
            )
            repaired = getattr(RecordRow, "repaired_at", None)
            if repaired is not None:  # 信用修复 (rights area): publication stops that day
                ids |= set(
                    s.scalars(
                        select(RecordRow.id).where(
                            RecordRow.item_code.in_(ITEMS),
                            repaired > low,
                            repaired <= self.until,
                        )
                    )
                )
        return sorted(ids)

    def _sent(self, s: Session, ids: Sequence[str]) -> dict[str, Sent]:
        """What the province last received for each record: the row of the export that
        completed last (the province loads files in the order they are produced; a re-send of
        an old period completed later than what it re-sends, and is what the province holds).
        """
        q = (
            select(ExportRecordRow.record_id, ExportRecordRow.operation, ExportRecordRow.version)
            .join(ExportRow, ExportRow.id == ExportRecordRow.export_id)
            .where(
                ExportRecordRow.record_id.in_(ids),
                ExportRow.kind == KIND,
                ExportRow.status == "completed",
            )
            .order_by(ExportRow.completed_at, ExportRecordRow.id)
        )
        if self.mode == "explicit" and self.since is not None:
            # A re-send of an older period: relative to what was sent by the exports that began
            # before that period (one whose period contains `since` counts: the province has
            # what it sent before `since`, e.g. `--since` pasted from a manifest's `until`).
            q = q.where(or_(ExportRow.period_since.is_(None), ExportRow.period_since < self.since))
        return {rid: Sent(op, version) for rid, op, version in s.execute(q)}

    def _batch(self, s: Session, ids: Sequence[str]) -> None:
        records = {r.id: r for r in s.scalars(select(RecordRow).where(RecordRow.id.in_(ids)))}
        versions: dict[str, list[RecordVersionRow]] = defaultdict(list)
        for v in s.scalars(  # every version: the record is written in its current state
            select(RecordVersionRow)
            .where(RecordVersionRow.record_id.in_(ids))
            .order_by(RecordVersionRow.record_id, RecordVersionRow.version)
        ):
            versions[v.record_id].append(v)
        sids = {r.subject_id for r in records.values()}
        subjects = {
            r.subject_id: r
            for r in s.scalars(select(SubjectRow).where(SubjectRow.subject_id.in_(sids)))
        }
        sent = self._sent(s, ids)
        for rid in ids:
            record, history = records[rid], versions.get(rid)
            if history:
                self._record(s, record, history, subjects[record.subject_id], sent.get(rid))

    # -- one record ---------------------------------------------------------------------------
    def _record(
        self,
        s: Session,
        record: RecordRow,
        history: list[RecordVersionRow],
        subject: SubjectRow,
        sent: Sent | None,
    ) -> None:
        latest = history[-1]
        content = next((v for v in reversed(history) if v.kind != "withdrawal"), None)
        if content is None:
            return
        withdrawn = latest.kind == "withdrawal"
        vis = self._visibility(record, latest, content, subject)
        op = decide(
            withdrawn=withdrawn,
            visible=vis.publishable(self.today),
            version=latest.version,
            sent=sent,
            # Not for a re-send (explicit); a full or incremental export skips what the province
            # already holds (sent by an earlier export, e.g. a re-send of a later period).
            dedupe=self.mode != "explicit",
        )
        if op is None:
            return
        item = self.items[record.item_code]
        stored = {**(content.payload or {}), **self._personal(content)}
        cols = self.cols[item.code]
        codes = exported_codes(item, cols, typed_values(cols, stored))
        if op == DELETE:
            # A record coming down carries only what identifies it (a minor's: no personal
            # data at all — RECORD_ID and the decision number identify it).
            minor = vis.unpublished_reason == "minor"
            codes = delete_codes(item, codes, self.hidden[item.code], minor=minor)
        values = {code: stored.get(code) for code in codes}
        filled = self._enrich(item, values, subject)
        # The last day published (PUBLICATION_END and CF_GSJZQ): publication_end is exclusive.
        last_day = vis.publication_end - timedelta(days=1) if vis.publication_end else None
        declared_code = self.roles[item.code].get("declared_publication_end")
        declared = None
        if declared_code and declared_code in values:
            # 公示截止期 is what the province publishes by: the end this platform applies
            # (Order No. 36), not the department's declared one (kept in its own column).
            declared = values[declared_code]
            values[declared_code] = last_day.isoformat() if last_day else None
        carried = sorted(code for code in self.hidden[item.code] if values.get(code))
        changed = latest.created_at
        if op == DELETE and not withdrawn and vis.repaired:
            changed = max(changed, _repaired_at(record) or changed)
        elif op == DELETE and not withdrawn and vis.unpublished_reason in WITHHELD_REASONS:
            changed = max(changed, record.updated_at)  # 不予公示: when it was withheld
        elif op == DELETE and not withdrawn and vis.published and vis.publication_end:
            changed = max(changed, day_start(vis.publication_end).astimezone(UTC))
        elif op != DELETE and sent is not None and not sent.holds:
            # Public again after a 删除 without a new version (a 信用修复 revoked for fraud).
            changed = max(changed, record.updated_at)
        platform: dict[str, Any] = {
            "OPERATION": op,
            "RECORD_ID": record.id,
            "RECORD_VERSION": latest.version,
            "CHANGED_AT": iso(changed),
            "CHANGE_REASON": self._reason(op, latest, vis, sent),
            "PUBLICATION_END": last_day.isoformat() if last_day else None,
            "DECLARED_PUBLICATION_END": declared,
            "USCC_FILLED": "是" if filled else None,
        }
        text_row = {code: cell_text(cols, code, v) for code, v in values.items()}
        json_row = {code: json_cell(cols, code, v) for code, v in values.items()}
        for f in self.by_item[item.code]:
            if f.format == "csv":
                f.write({**text_row, **platform})
            else:
                f.write({**json_row, **platform})
        self.counts[item.code][op] += 1
        if carried or (
            subject.subject_type in PERSON_SUBJECT_TYPES
            and any(values.get(code) for code in self.person_codes[item.code])
        ):
            self.person_rows[item.code] += 1
        if carried:
            self.personal_rows += 1
            items, fields = self.disclosed.setdefault(subject.subject_id, (set(), set()))
            items.add(item.code)
            fields.update(carried)
        s.add(
            ExportRecordRow(
                export_id=self.export_id,
                record_id=record.id,
                item_code=item.code,
                version=latest.version,
                operation=op,
                personal=bool(carried),
            )
        )

    def _reason(
        self, op: str, latest: RecordVersionRow, vis: Visibility, sent: Sent | None
    ) -> str | None:
        if op == DELETE:
            if latest.kind == "withdrawal":
                return f"撤销：{latest.reason or ''}".rstrip("：")
            return vis.hidden_reason(self.today)
        if op == UPDATE:
            return "更正" if latest.kind == "correction" else "重新报送"
        if sent is not None and not sent.holds:
            return "重新公示"  # the province took it down earlier (e.g. a revoked 信用修复)
        return None

    def _visibility(
        self,
        record: RecordRow,
        latest: RecordVersionRow,
        content: RecordVersionRow,
        subject: SubjectRow,
    ) -> Visibility:
        """The record's current publication state (recomputed from the version's content when
        the record row has moved on since the versions were read)."""
        repaired = _repaired_at(record) is not None
        current = Visibility(
            record.published,
            record.unpublished_reason,
            record.openness,
            record.publication_end,
            repaired,
        )
        if latest.version == record.current_version or (
            record.unpublished_reason in WITHHELD_REASONS  # 不予公示 outlives a correction
        ):
            return current  # the record row describes this very version
        item = self.items[record.item_code]
        values = typed_values(self.cols[item.code], content.payload or {})
        code = item.decision_date_field
        decision = values.get(code) if code else None
        decided = decision if isinstance(decision, date) else None
        try:
            pub = publication_for(item, values, decided)
        except FieldError:
            return current
        published, reason = pub.published, None if pub.published else "severity"
        if published and item.is_adverse(values) and _minor_at(subject, decided):
            published, reason = False, "minor"
        openness = item.openness_for(values).value
        return Visibility(published, reason, openness, pub.publication_end, repaired)

    def _personal(self, version: RecordVersionRow) -> dict[str, Any]:
        """The clear personal fields of a version (sealed at rest: opened for this disclosure)."""
        if not version.personal:
            return {}
        from citycredit.privacy.access import Purpose, open_personal
        from citycredit.privacy.records import version_aad

        return open_personal(
            self.c,
            self.actor,
            version.personal,
            aad=version_aad(version.record_id, version.version),
            purpose=Purpose.disclose,
        )

    def _enrich(self, item: CatalogItem, values: dict[str, Any], subject: SubjectRow) -> bool:
        """Fill an empty 统一社会信用代码 with the code of the subject the row was matched to;
        True when filled (the row says so in USCC_FILLED).

        The province keys records by USCC; a row the department sent with only a 注册号 or a
        name was matched here, so the platform sends the code it matched (when the category
        still agrees with the code, as the intake would check).
        """
        roles = self.roles[item.code]
        code = roles.get("uscc")
        if code is None or code not in values or values.get(code) or not subject.uscc:
            return False
        trial = {**values, code: subject.uscc}
        category = roles.get("subject_category")
        facts = facts_from_roles(typed_values(self.cols[item.code], trial), roles)
        if category and check_category(facts, category_field=category):
            return False
        values[code] = subject.uscc
        self.enriched += 1
        return True

    # -- closing ------------------------------------------------------------------------------
    def _log_disclosures(self, s: Session) -> None:
        """查询登记: one entry per subject whose ID numbers this export hands to the province."""
        now = self.c.clock.now()
        for subject_id in sorted(self.disclosed):
            items, fields = self.disclosed[subject_id]
            record_disclosure(
                s,
                actor=self.actor,
                subject_id=subject_id,
                items=sorted(items),
                purpose=PURPOSE,
                channel="export",
                at=now,
                detail={"export_id": self.export_id, "fields": sorted(fields)},
            )

    def _manifest(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        counts: dict[str, Any] = {
            code: {**ops, "total": sum(ops.values())} for code, ops in self.counts.items()
        }
        counts["total"] = sum(v["total"] for v in counts.values())
        return {
            "format": MANIFEST_FORMAT,
            "export_id": self.export_id,
            "kind": KIND,
            "platform": {"name": PLATFORM_NAME, "division_code": CITY_DIVISION},
            "period": self._period(),
            "generated_at": iso(self.c.clock.now()),
            "generated_by": self.actor.label,
            "catalog_version": self.c.catalog.version,
            "items": {
                code: {
                    "name": self.items[code].name,
                    "layout": cols.layout.code,
                    "item_version": self.items[code].version,
                    "national_fields": list(cols.national),
                    "local_fields": list(cols.local),
                    "platform_columns": [c for c, _ in PLATFORM_COLUMNS],
                }
                for code, cols in self.cols.items()
            },
            "platform_columns": dict(PLATFORM_COLUMNS),
            "counts": counts,
            "enriched_uscc": self.enriched,
            "personal_data": {
                "rows": self.personal_rows,
                "subjects": len(self.disclosed),
                "note": "含证件号码等非公开字段，仅供报送省级平台；已逐主体记入查询登记",
            },
            # copies: the caller appends the manifest's own entry to `entries` after writing it
            "files": [dict(e) for e in entries],
        }


def _repaired_at(record: RecordRow) -> datetime | None:
    """When an approved 信用修复 stopped the record's publication (the rights area's column)."""
    value = getattr(record, "repaired_at", None)
    return value if isinstance(value, datetime) else None


def _minor_at(subject: SubjectRow, decision: date | None) -> bool:
    """The intake's rule: a natural person under 18 on the decision date (never published)."""
    if subject.subject_type != SubjectType.natural_person.value:
        return False
    if subject.birth_date is None or decision is None:
        return False
    b = subject.birth_date
    return decision.year - b.year - ((decision.month, decision.day) < (b.month, b.day)) < 18
