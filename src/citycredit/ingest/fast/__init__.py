"""Vectorised intake (归集快速通道): the row pipeline's rules, applied a batch at a time.

Large files take this path (`ingest.service.ingest_submission` routes them by size); it gives
the same receipt, quarantine reasons, records, versions, subjects, outbox events and ledger
leaves as the row path (docs/adr/0007-vectorised-intake.md, docs/intake-fast-path.md).
"""

from __future__ import annotations

from citycredit.ingest.fast.pipeline import run_fast

__all__ = ["FAST_ITEMS_EXCLUDED", "run_fast"]

# 登记基本信息 updates existing subjects row by row (SubjectRegistry.register): row path only.
FAST_ITEMS_EXCLUDED = frozenset({"registration"})
