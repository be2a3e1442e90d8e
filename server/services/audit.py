"""Writing and verifying the audit log. Callers pass field *names* and ids, never values.

Threats: an unaudited change (audit rows are written in the same transaction as the change: if the
audit write fails, the request fails), and an insider — or an attacker with database access —
quietly editing or deleting audit rows to hide a read of a person's record. Rows are hash-chained:
each row's hash covers its content and the previous row's hash, and sequence numbers are gap-free.
`yorisoi audit-verify` recomputes the chain; any changed, deleted or reordered row breaks it.

Chaining needs the previous hash, so appends are serialised on the single `audit_head` row. To keep
that lock short, `record()` only queues events on the session; a `before_commit` hook flushes the
transaction's other work first, then locks the head, chains the queued events and inserts them.
The lock is held only from there to COMMIT.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Table, event, select
from sqlalchemy.orm import Session, SessionTransaction

from server.bulk import insert_rows
from server.db import utcnow
from server.models import AuditEvent, sync_stamp
from server.models.audit import GENESIS, AuditHead
from server.permissions import Actor

_PENDING = "yorisoi.audit.pending"


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    entity: str | None = None,
    entity_id: uuid.UUID | str | None = None,
    case_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
    outcome: str = "ok",
    detail: str = "",
    device_id: uuid.UUID | None = None,
) -> None:
    """Queue an audit event; it is chained and written when the session's transaction commits.
    An event queued inside a SAVEPOINT that is rolled back is dropped with it; events queued before
    that savepoint stay."""
    # Queued as the row's values, not an `AuditEvent`: a push of 500 mutations audits 500, and an
    # ORM object each (built, then read back column by column) was a tenth of the push's time.
    session.info.setdefault(_PENDING, []).append(
        (
            session.get_nested_transaction() or session.get_transaction(),
            {
                "at": utcnow(),
                "actor_id": actor.user_id if actor else None,
                "actor_role": actor.role if actor else None,
                "device_id": device_id or (actor.device_id if actor else None),
                "action": action,
                "entity": entity,
                "entity_id": str(entity_id) if entity_id is not None else None,
                "case_id": case_id,
                "fields": sorted(fields),
                "outcome": outcome,
                "detail": detail[:200],
            },
        )
    )


_TABLE: Table = AuditEvent.__table__  # type: ignore[assignment]


_HASHED = ("seq", "at", "actor_id", "actor_role", "device_id", "action", "entity", "entity_id", "case_id",
           "fields", "outcome", "detail")  # fmt: skip


def _canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash covers: its values as sorted, compact JSON with non-ASCII text as
    UTF-8 — exactly `json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))`
    (the chain's first rows were hashed that way), written by orjson: a push of 500 contacts chains
    500 events inside the audit head's lock (tests/test_audit_chain.py checks the two agree)."""
    content: dict[str, Any] = {
        "seq": row["seq"],
        "at": row["at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": str(row["actor_id"]) if row["actor_id"] else None,
        "actor_role": row["actor_role"],
        "device_id": str(row["device_id"]) if row["device_id"] else None,
        "action": row["action"],
        "entity": row["entity"],
        "entity_id": row["entity_id"],
        "case_id": str(row["case_id"]) if row["case_id"] else None,
        "fields": list(row["fields"] or []),
        "outcome": row["outcome"],
        "detail": row["detail"],
    }
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def _chain(prev: str, values: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev.encode() + b"\n" + _canonical(values)).hexdigest()


def chain_hash(prev: str, row: AuditEvent) -> str:
    return _chain(prev, {name: getattr(row, name) for name in _HASHED})


@event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released; the root transaction appends
    pending: list[dict[str, Any]] = [values for _tx, values in session.info.pop(_PENDING, [])]
    if not pending:
        return
    # Lock order, to rule out deadlocks: the transaction's own rows, then the sync counter
    # (sync_stamp), then the audit head — whichever of the two listeners SQLAlchemy calls first.
    sync_stamp.stamp(session)
    head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    prev, seq = head.hash, head.seq
    for values in pending:
        seq += 1
        values["seq"], values["prev_hash"] = seq, prev
        values["hash"] = prev = _chain(prev, values)
    # One bulk INSERT, not a unit-of-work object per event: a push of 500 mutations audits 500.
    insert_rows(session, _TABLE, pending)  # by COPY on PostgreSQL for many rows (server.bulk)
    head.seq, head.hash = seq, prev
    session.flush()


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Drop the events queued in the rolled-back transaction or in savepoints inside it."""
    queued: list[tuple[SessionTransaction | None, dict[str, Any]]] = session.info.get(_PENDING, [])

    def inside(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous_transaction:
                return True
            tx = tx.parent
        return False

    kept = [(tx, row) for tx, row in queued if not inside(tx)]
    if kept:
        session.info[_PENDING] = kept
    else:
        session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str  # "changed" | "missing" | "head_mismatch"


def verify(session: Session, batch: int = 5000) -> Iterator[Break]:
    """Recompute the chain from the start; yield every place where it breaks."""
    prev, expected = GENESIS, 1
    last = 0
    offset = 0
    while True:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq).offset(offset).limit(batch)).all()
        if not rows:
            break
        offset += len(rows)
        for row in rows:
            if row.seq != expected:
                yield Break(expected, "missing")
                prev = row.prev_hash or GENESIS
            if row.prev_hash != prev or chain_hash(prev, row) != row.hash:
                yield Break(row.seq, "changed")
            prev, expected, last = row.hash or "", row.seq + 1, row.seq
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != last or (last and head.hash != prev)):
        yield Break(head.seq, "head_mismatch")
