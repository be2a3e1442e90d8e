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

Totals beside the rows (`Totals`, optional): a second table adding the per-case rows up by some of
their own columns (the summary: per team, program item and month). A refresh adds up the recomputed
cases' rows per group before deleting them and after writing the new ones, and moves each touched
total by the difference (a total left at zero has no row); a rebuild adds every group up again. So
the totals are always the grouped per-case rows, in the same transaction, under the same lock, and a
refresh costs what the changed cases' rows cost — not what their groups hold (re-adding the touched
groups from their rows read ≈ 70,000 summary rows for 40 changed cases at default size).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, delete, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.models import DerivedWatermark, SyncCounter

CHUNK = 1000  # cases recomputed per statement
GROUP_CHUNK = 200  # totals' groups re-added per statement
REBUILT = -1  # what `refresh` returns when it rebuilt the table from every record
NEVER_BUILT = -1  # the watermark of a table not built yet

WATERMARKS: Table = DerivedWatermark.__table__  # type: ignore[assignment]

# The cases whose source rows are numbered in (mark, upto].
Changed = Callable[[Session, int, int], set[uuid.UUID]]


@dataclass(frozen=True)
class Totals:
    """A table of the kept table's rows added up by some of their columns (`keys`, named alike in
    both tables), always equal to its grouped rows. Its other columns are sums, and each per-case row
    counts something: a group whose sums are all zero has no rows, and no total."""

    table: Table
    keys: tuple[str, ...]
    # The totals of the per-case rows matching a condition (None: of every row), grouped by `keys`;
    # the select's column names are the table's.
    rows: Callable[[ColumnElement[bool] | None], Select[*tuple[Any, ...]]]


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
    totals: Totals | None = None


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
            moved: dict[tuple[Any, ...], dict[str, int]] = {}  # how far each touched total moves
            for i in range(0, len(ordered), CHUNK):
                chunk = ordered[i : i + CHUNK]
                _add_up(session, kept, chunk, moved, -1)  # what the cases' old rows added
                session.execute(delete(t).where(t.c.case_id.in_(chunk)))
                _write(session, kept, chunk)
                _add_up(session, kept, chunk, moved, 1)  # … and what the new ones add
            _move_totals(session, kept, moved)
            recomputed = len(ordered)
    if recomputed == REBUILT:
        session.execute(delete(kept.table))
        _write(session, kept, None)
        if kept.totals is not None:
            session.execute(delete(kept.totals.table))
            _insert(session, kept.totals.table, kept.totals.rows(None))
        if dialect == "postgresql":
            # Statistics now, not when autovacuum comes by: without them the planner guessed 393
            # rows for the summary's 24,000 and sorted them for each grouping, and the rules'
            # statement over fresh facts ran for minutes.
            for table in (kept.table, *((kept.totals.table,) if kept.totals is not None else ())):
                session.execute(text(f"ANALYZE {table.name}"))
    session.execute(update(WATERMARKS).where(WATERMARKS.c.name == kept.name).values(seq=upto))
    return recomputed


def _write(session: Session, kept: Kept, cases: Collection[uuid.UUID] | None) -> None:
    _insert(session, kept.table, kept.rows(cases))


def _insert(session: Session, table: Table, rows: Select[Any]) -> None:
    session.execute(insert(table).from_select([c.name for c in rows.selected_columns], rows))


def _add_up(
    session: Session, kept: Kept, cases: Collection[uuid.UUID], moved: dict[tuple[Any, ...], dict[str, int]], sign: int
) -> None:
    """Add (`sign` 1) or take away (-1) the totals of these cases' rows into `moved` (no totals: nothing)."""
    if kept.totals is None:
        return
    keys = kept.totals.keys
    for row in session.execute(kept.totals.rows(kept.table.c.case_id.in_(cases))).mappings():
        group = moved.setdefault(tuple(row[k] for k in keys), {})
        for name, value in row.items():
            if name not in keys:
                group[name] = group.get(name, 0) + sign * int(value)


def _move_totals(session: Session, kept: Kept, moved: dict[tuple[Any, ...], dict[str, int]]) -> None:
    """Move each total by its difference: read the groups' rows, delete them, write them back moved
    (a group left at zero is not written back)."""
    totals = kept.totals
    if totals is None:
        return
    t = totals.table
    key = tuple_(*(t.c[k] for k in totals.keys))
    ordered = sorted(g for g, change in moved.items() if any(change.values()))
    for i in range(0, len(ordered), GROUP_CHUNK):
        chunk = ordered[i : i + GROUP_CHUNK]
        current = {
            tuple(r[k] for k in totals.keys): r for r in session.execute(select(t).where(key.in_(chunk))).mappings()
        }
        session.execute(delete(t).where(key.in_(chunk)))
        rows = []
        for group in chunk:
            now = {name: int(current[group][name]) if group in current else 0 for name in moved[group]}
            after = {name: now[name] + change for name, change in moved[group].items()}
            if any(after.values()):
                rows.append({**dict(zip(totals.keys, group, strict=True)), **after})
        if rows:
            session.execute(insert(t), rows)


def forget(session: Session, kept: Kept) -> None:
    """Drop the watermark: the next refresh rebuilds the table from every record."""
    session.execute(delete(WATERMARKS).where(WATERMARKS.c.name == kept.name))
