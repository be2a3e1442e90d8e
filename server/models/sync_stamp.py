"""Commit-ordered change numbers (`sync_seq`) on every row the field app pulls.

Threat: a pull that skips a change. Phones ask "what changed after cursor C?"; if the numbers that
answer it are handed out when a row is *written* (an auto-increment id, a timestamp), transaction A
can take 5, B take 6 and commit, a pull read "everything up to 6" and move on, and then A commit
its 5 — below the cursor, never sent. Nothing would ever repair that phone.

How: each transaction that changed synced rows takes ONE number from the single `sync_counter` row
with `UPDATE sync_counter SET seq = seq + 1 … RETURNING seq`, as the last thing before COMMIT, and
stamps every row it changed with it. That UPDATE holds the counter row's lock until COMMIT, so the
next transaction gets its number only after this one has committed: numbers are handed out in
commit order. A pull reads the counter's committed value C and then rows numbered ≤ C; every
transaction holding a number ≤ C has committed (the one that took C could not take it before they
committed), and a transaction that commits later gets a number > C and is sent next time.
(SQLite runs one writer at a time anyway; the same code is correct there.)

Automatic: the listeners below note every synced row inserted or changed through the ORM (and the
cases whose pulled form depends on a changed row: a new contact moves the case's last-reached time,
an assignment changes its workers, a person's name is shown in the case). At the root transaction's
before_commit they lock those rows, take the number and stamp them. Code elsewhere needs to do
nothing; a bulk UPDATE statement that bypasses the unit of work must call `touch_cases` / `touch`.

Deadlocks: rows are locked first (sorted), the counter last, and after taking the counter a
transaction only writes rows it already holds — so no transaction waits for a row while holding
the counter. Never call `take_seq` inside a SAVEPOINT: the number must belong to the whole
transaction.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, event, inspect, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from server.models.alert import Alert
from server.models.case import Case, CaseAssignment, CaseConflict
from server.models.contact import Contact
from server.models.milestone import Consent, MilestoneEvent
from server.models.org import Organisation, Team
from server.models.person import CareRelation, Household, HouseholdMember, Person
from server.models.sync import SyncCounter
from server.models.user import User

# Rows with a `sync_seq` column, in the order their locks are taken.
SYNCED: tuple[type[Any], ...] = (Case, Contact, MilestoneEvent, Consent, Alert, Household, CaseConflict)
# Rows whose change alters the pulled form of their case (derived stage, last reached, workers).
_CASE_CHILDREN: tuple[type[Any], ...] = (Contact, MilestoneEvent, CaseAssignment)
# Rows that no phone stores but whose change alters what a pull answers: who is in a scope and the
# reference data (members' names and roles, the city's ladder). A transaction changing one takes a
# number too (stamping nothing), so "the counter has not moved since this cursor" means nothing a
# pull shows has changed — and an up-to-date pull can answer without looking (sync/pull.py).
_REFERENCED: dict[type[Any], tuple[str, ...] | None] = {
    User: ("display_name", "role", "team_id", "is_active"),  # not a password, TOTP or language change
    Team: ("municipality_id",),
    Organisation: None,  # any column: `settings` holds the city's ladder
}
_INFO_KEY = "yorisoi.sync_stamp"
_CHUNK = 500
_AS_INT = operator.attrgetter("int")


@dataclass
class _Pending:
    rows: dict[type[Any], set[uuid.UUID]] = field(default_factory=dict)
    held: dict[type[Any], set[uuid.UUID]] = field(default_factory=dict)  # inserted or already locked
    persons: set[uuid.UUID] = field(default_factory=set)
    households: set[uuid.UUID] = field(default_factory=set)
    referenced: bool = False  # a `_REFERENCED` row changed: take a number even with nothing to stamp
    seq: int | None = None

    def empty(self) -> bool:
        return not any(self.rows.values()) and not self.persons and not self.households and not self.referenced


def _pending(session: Session) -> _Pending:
    state: _Pending | None = session.info.get(_INFO_KEY)
    if state is None:
        state = session.info[_INFO_KEY] = _Pending()
    return state


def touch(session: Session, model: type[Any], ids: Iterable[uuid.UUID], *, held: bool = False) -> None:
    """Mark rows of a synced model as changed in this transaction (for bulk statements). `held`:
    this transaction inserted them (or holds their lock already), so numbering needs no lock."""
    if model not in SYNCED:
        raise ValueError(f"{model.__name__} has no sync_seq")
    ids = set(ids)
    _pending(session).rows.setdefault(model, set()).update(ids)
    if held:
        hold(session, model, ids)


def hold(session: Session, model: type[Any], ids: Iterable[uuid.UUID]) -> None:
    """Rows this transaction has locked `FOR NO KEY UPDATE` (or inserted) already: numbering them
    at commit takes no lock again. Only for locks that cannot be rolled back before the commit —
    taken outside any SAVEPOINT (a rolled-back savepoint releases the locks taken inside it)."""
    _pending(session).held.setdefault(model, set()).update(ids)


def only_held(session: Session) -> bool:
    """Whether every row this transaction has changed so far is one it holds already (so taking
    the number now, before the commit, keeps the lock order: no row lock is taken after it)."""
    state = _pending(session)
    if state.persons or state.households:
        return False  # the cases showing them are found, and locked, at commit
    return all(ids <= state.held.get(model, set()) for model, ids in state.rows.items())


def among(session: Session, column: Any, ids: Collection[uuid.UUID]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `column = ANY(:ids)`, one array parameter instead of one per
    id (for 500 ids the driver's handling of 500 placeholders cost more than the query)."""
    return among_param(column, None, postgres=session.get_bind().dialect.name == "postgresql", value=list(ids))


def among_param(column: Any, name: str | None, *, postgres: bool, value: Any = None) -> ColumnElement[bool]:
    """`among`'s condition with a named parameter, for a statement built once and executed with
    the ids as `name` (one array parameter on PostgreSQL, an expanding list elsewhere)."""
    found: ColumnElement[bool]
    if postgres:
        found = column == any_(bindparam(name, value, type_=postgresql.ARRAY(column.type)))
    else:
        found = column.in_(bindparam(name, value, expanding=True))
    return found


def contact_shows(reached: str, amends_id: uuid.UUID | None) -> bool:
    """Whether a new contact changes its case's pulled form, and so its case must be numbered again.
    A contact shows on its case only through the last-reached time (sync/serialize.py: the case's
    other fields are its own columns, whose change numbers it anyway). An attempt that reached
    nobody and corrects no other cannot move that time (`derived.last_reached` counts reached,
    uncorrected attempts): its case keeps its number, and a pull sends the contact alone rather
    than the whole case (person, household, relations, workers) again. A correction may move any
    attempt's reach, and a reach may be the newest."""
    return reached != "none" or amends_id is not None


def touch_cases(session: Session, case_ids: Iterable[uuid.UUID]) -> None:
    """Mark cases as changed: their pulled form (or something shown in it) changed."""
    touch(session, Case, case_ids)


def take_seq(session: Session) -> int:
    """This transaction's change number: taken once, on first use, and the counter row stays locked
    until the transaction ends. Callers that need it early (a pull recording scope changes) may
    take it themselves; the commit-time stamping then uses the same number."""
    state = _pending(session)
    if state.seq is None:
        counter: Table = SyncCounter.__table__  # type: ignore[assignment]
        state.seq = int(
            session.execute(
                update(counter).where(counter.c.id == 1).values(seq=counter.c.seq + 1).returning(counter.c.seq)
            ).scalar_one()
        )
    return state.seq


def seq_taken(session: Session) -> int | None:
    """The number this transaction already took, if any."""
    state = session.info.get(_INFO_KEY)
    return state.seq if state is not None else None


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _flush_context: Any) -> None:
    state = _pending(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        deleted = obj in session.deleted
        if obj in session.dirty and not deleted and not session.is_modified(obj, include_collections=False):
            continue
        if isinstance(obj, SYNCED) and not deleted:
            state.rows.setdefault(type(obj), set()).add(obj.id)
        elif type(obj) in _REFERENCED and not state.referenced:
            columns = _REFERENCED[type(obj)]
            state.referenced = obj in session.new or deleted or columns is None or _changed(obj, columns)
        if isinstance(obj, _CASE_CHILDREN):
            if not (isinstance(obj, Contact) and obj in session.new and not contact_shows(obj.reached, obj.amends_id)):
                state.rows.setdefault(Case, set()).add(obj.case_id)
        elif isinstance(obj, Person) and obj not in session.new:
            state.persons.add(obj.id)
        elif isinstance(obj, Household) and obj not in session.new:
            state.households.add(obj.id)
        elif isinstance(obj, HouseholdMember):
            state.households.add(obj.household_id)
            state.persons.add(obj.person_id)
        elif isinstance(obj, CareRelation):
            state.persons.update((obj.carer_id, obj.cared_id))


def _changed(obj: Any, columns: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def _cases_showing(session: Session, persons: set[uuid.UUID], households: set[uuid.UUID]) -> set[uuid.UUID]:
    """Cases whose pulled form shows one of these persons (as the case's person, a household member
    or a side of a care relation) or one of these households."""
    found: set[uuid.UUID] = set()
    if persons:
        hh_of_persons = select(HouseholdMember.household_id).where(HouseholdMember.person_id.in_(persons))
        related = select(CareRelation.carer_id).where(CareRelation.cared_id.in_(persons)).union(
            select(CareRelation.cared_id).where(CareRelation.carer_id.in_(persons))
        )
        found.update(
            session.scalars(
                select(Case.id).where(
                    or_(
                        Case.person_id.in_(persons),
                        Case.household_id.in_(hh_of_persons),
                        Case.person_id.in_(related),
                    )
                )
            )
        )
    if households:
        found.update(session.scalars(select(Case.id).where(Case.household_id.in_(households))))
    return found


def id_chunks(ids: Iterable[uuid.UUID]) -> Iterable[list[uuid.UUID]]:
    """The ids in order (the order rows are locked in, PROTOCOL §6), `_CHUNK` at a time. Sorted by
    their integer: the same order as comparing the UUIDs, without a Python `UUID.__lt__` call per
    comparison (≈ 4,500 of them to sort a push's 500 contact ids; issue #9)."""
    ordered = sorted(ids, key=_AS_INT)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


@event.listens_for(Session, "before_commit")
def stamp(session: Session) -> None:
    """Number and stamp this transaction's synced changes. Runs at before_commit; the audit log's
    append (server/services/audit.py) calls it first so that the counter is always locked before
    the audit head. Calling it twice is harmless: the second call finds nothing pending."""
    if session.in_nested_transaction():
        return  # a SAVEPOINT being released; the root transaction stamps
    session.flush()  # the commit would flush anyway; the changes must be noted before numbering
    state: _Pending | None = session.info.get(_INFO_KEY)
    if state is None or state.empty():
        return
    extra = _cases_showing(session, state.persons, state.households)
    if extra:
        state.rows.setdefault(Case, set()).update(extra)
    state.persons.clear()
    state.households.clear()
    targets = [(model, state.rows[model]) for model in SYNCED if state.rows.get(model)]
    if not targets:
        if state.referenced:
            take_seq(session)
            state.referenced = False
        return
    if session.get_bind().dialect.name != "sqlite":
        for model, ids in targets:  # lock every row first (but those already held); the counter comes last
            for chunk in id_chunks(ids - state.held.get(model, set())):
                locked = select(model.id).where(among(session, model.id, chunk)).order_by(model.id)
                session.execute(locked.with_for_update(key_share=True))
    seq = take_seq(session)
    for model, ids in targets:
        table: Table = model.__table__
        # Keep `updated_at`-style columns as they are: a new number is not an edit of the record.
        keep = {c.name: c for c in table.columns if c.onupdate is not None}
        for chunk in id_chunks(ids):
            session.execute(update(table).where(among(session, table.c.id, chunk)).values(sync_seq=seq, **keep))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, SYNCED) and obj.id in state.rows.get(type(obj), ()):
            set_committed_value(obj, "sync_seq", seq)
    state.rows.clear()
    state.held.clear()


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_INFO_KEY, None)
