"""The `evaluation` outbox consumer: re-evaluate a subject after anything that can move its grade.

Every record event (accepted, corrected, withdrawn, publication ended, repaired, repair
revoked, withheld and released — 不予公示, ingest.withhold: a `published_only` indicator stops
counting a withheld record), registration changes (subject.updated), list memberships (local
steps and external ones mirrored by the `lists` consumer) and credit commitments (recorded,
fulfilled, breached, false) name a subject. A delivery batch is coalesced per subject —
one evaluation per subject however many of its events the batch holds — and evaluated on the
delivering session's connection, so the results commit with the consumer's cursor (at-least-
once: a redelivered batch evaluates again and stores nothing new, see store_results).

Consumers are fed in name order, so `evaluation` sees a judgment_defaulter record before
`lists` has mirrored it as a membership; the membership's own event re-evaluates the subject
in the next delivery.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.kernel.outbox import Consumer, Event

EVENT_TYPES = frozenset({"subject.updated"})  # registration date or type changed
# record.accepted / corrected / withdrawn / publication_ended / repaired / repair_revoked /
# withheld / released …
EVENT_PREFIXES = ("record.", "membership.", "commitment.")
TRIGGER_WIDTH = 60


def triggers(event: Event) -> bool:
    """Whether an event can change its subject's evaluation."""
    if event.subject_id is None:
        return False
    return event.event_type in EVENT_TYPES or event.event_type.startswith(EVENT_PREFIXES)


def coalesce(events: Sequence[Event]) -> dict[str, str]:
    """Subject id → the event types that triggered it (in first-seen order, comma-joined)."""
    found: dict[str, list[str]] = {}
    for e in events:
        if not triggers(e):
            continue
        assert e.subject_id is not None
        kinds = found.setdefault(e.subject_id, [])
        if e.event_type not in kinds:
            kinds.append(e.event_type)
    return {sid: ",".join(kinds)[:TRIGGER_WIDTH] for sid, kinds in found.items()}


def make_consumer(c: Container) -> Consumer:
    """The consumer registered as `evaluation` in the container."""

    def consume(s: Session, events: Sequence[Event]) -> None:
        from citycredit.evaluation.service import reevaluate

        todo = coalesce(events)
        if todo:
            reevaluate(c, s, list(todo), trigger=todo)

    return consume
