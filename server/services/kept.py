"""A derived table kept up to date from a watermark: the one mechanism behind the stall rules'
per-case facts (server/alerts/case_facts.py) and the dashboard's summary of contacts
(services/report_summary.py). A derived cache, never a total: each can be rebuilt from its records.

Why: both answer, per case, from a pass over every record of a kind (2 million contacts at 40,000
cases), although between two reads only the cases that received a record change.

How it stays exact: every source row (a contact, a milestone event) carries its transaction's
commit-ordered `sync_seq` (server/models/sync_stamp.py), and every transaction numbered up to the
counter's committed value has committed, so the rows numbered in (watermark, counter] are exactly
those that arrived or were corrected since. A table's `derived_watermark` row holds the number up to
which it is complete. A refresh recomputes, from their whole histories, the cases those rows name
(`Kept.changed`), and moves the watermark to the counter. Recomputing is idempotent: a row committed
meanwhile may be read too, and its case is recomputed again the next time. Source rows are never
deleted. More changed cases than `rebuild_above` (an import, a long pause): one pass over every
record costs less than looking each case up, so the table is rebuilt.

Concurrency: two refreshes at once would both recompute and both move the watermark. A refresh that
finds the table complete reads it without taking any lock. Otherwise it makes sure the watermark row
exists (`INSERT … ON CONFLICT DO NOTHING`: two first refreshes create it once, on both engines),
locks it (`SELECT … FOR UPDATE` on PostgreSQL, held until the caller's transaction ends; SQLite's
transactions already take the write lock at BEGIN) and re-reads it under the lock: a refresh that
waited for another finds the work done.

Rebuildable: a missing watermark row (a new installation, after the migration, a restore of an older
backup, after `forget`) is created at -1, "never built": the refresh rebuilds from every record.
`yorisoi migrate` and the alert runner's periodic pass refresh every kept table (server/migrate.py
`refresh_kept`), so a request normally finds them current.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.models import DerivedWatermark, SyncCounter

CHUNK = 1000  # cases recomputed per statement
REBUILT = -1  # what `refresh` returns when it rebuilt the table from every record
NEVER_BUILT = -1  # the watermark of a table not built yet

WATERMARKS: Table = DerivedWatermark.__table__  # type: ignore[assignment]

# The cases whose source rows are numbered in (mark, upto].
Changed = Callable[[Session, int, int], set[uuid.UUID]]


@dataclass(frozen=True)
class Kept:
    """A derived table of per-case rows, kept up to date from its watermark row."""

    name: str  # its row in derived_watermark
    table: Table
    # Its rows, computed from the records (of these cases, or of every case); the select's column
    # names are the table's.
    rows: Callable[[Collection[uuid.UUID] | None], Select[*tuple[Any, ...]]]
    changed: Changed
    rebuild_above: int  # more changed cases than this: rebuild


def numbered_cases(source: Any) -> Changed:
    """The cases of the rows of `source` (a model with `case_id` and `sync_seq`) numbered in (mark, upto]."""

    def changed(session: Session, mark: int, upto: int) -> set[uuid.UUID]:
        numbered = select(source.case_id).where(source.sync_seq > mark, source.sync_seq <= upto)
        return set(session.scalars(numbered))

    return changed


def counter(session: Session) -> int:
    """The counter's committed value: every transaction numbered up to it has committed
    (sync/cursor.py `committed_seq`, read here directly: services do not import sync/)."""
    return int(session.scalars(select(SyncCounter.seq).where(SyncCounter.id == 1)).one())


def watermark(session: Session, kept: Kept) -> int | None:
    """The number up to which the table is complete (None: no watermark row), read without a lock."""
    return session.scalar(select(WATERMARKS.c.seq).where(WATERMARKS.c.name == kept.name))


def refresh(session: Session, kept: Kept, upto: int | None = None) -> int:
    """Bring the table up to date with the records numbered up to `upto` (a committed counter value;
    read now when None), in the session's transaction. Returns how many cases were recomputed, or
    REBUILT."""
    if upto is None:
        upto = counter(session)
    mark = watermark(session, kept)
    if mark is not None and mark >= upto:
        return 0  # complete: read without a lock
    dialect = session.get_bind().dialect.name
    if mark is None:  # a row to lock, which two first refreshes create once
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(WATERMARKS)
        session.execute(ins.values(name=kept.name, seq=NEVER_BUILT).on_conflict_do_nothing(index_elements=["name"]))
    locked = select(WATERMARKS.c.seq).where(WATERMARKS.c.name == kept.name).with_for_update()
    mark = int(session.scalars(locked).one())
    if mark >= upto:
        return 0  # another refresh brought it up to date while this one waited
    if dialect == "postgresql":
        # Large statements, and PostgreSQL's JIT compiler spent longer compiling them than running
        # them (reports._contact_figures, lifecycle.evaluate). Off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    recomputed = REBUILT
    if mark != NEVER_BUILT:
        cases = kept.changed(session, mark, upto)
        if len(cases) <= kept.rebuild_above:
            ordered = sorted(cases)
            t = kept.table
            for i in range(0, len(ordered), CHUNK):
                chunk = ordered[i : i + CHUNK]
                session.execute(delete(t).where(t.c.case_id.in_(chunk)))
                _write(session, kept, chunk)
            recomputed = len(ordered)
    if recomputed == REBUILT:
        session.execute(delete(kept.table))
        _write(session, kept, None)
        if dialect == "postgresql":
            # Statistics now, not when autovacuum comes by: without them the planner guessed 393
            # rows for the summary's 24,000 and sorted them for each grouping, and the rules'
            # statement over fresh facts ran for minutes.
            session.execute(text(f"ANALYZE {kept.table.name}"))
    session.execute(update(WATERMARKS).where(WATERMARKS.c.name == kept.name).values(seq=upto))
    return recomputed


def _write(session: Session, kept: Kept, cases: Collection[uuid.UUID] | None) -> None:
    rows = kept.rows(cases)
    session.execute(insert(kept.table).from_select([c.name for c in rows.selected_columns], rows))


def forget(session: Session, kept: Kept) -> None:
    """Drop the watermark: the next refresh rebuilds the table from every record."""
    session.execute(delete(WATERMARKS).where(WATERMARKS.c.name == kept.name))
