"""The ordered stream of changes a user's client has not seen, one page at a time.

Every change has a key `(seq, case_id, rank, entity_id)` and the stream is sorted by it (ranks:
0 a case leaving scope, 1 the case, 2 contact, 3 milestone, 4 consent, 5 alert, 6 conflict). A
cursor is the key of the last change a client received; the next page is the changes with a larger
key and `seq` ≤ H, the counter's committed value (sync.cursor: everything numbered ≤ H is
committed). The stream holds, for one user (`v` = the number of the case's last scope flip):

1. each scope flip numbered in range (sync.scope):
   - leaving: `remove` of the case at (v, case, 0, case); the app drops the case and every entity
     with its `case_id`;
   - entering: the whole case at v — the case (when its own seq ≤ v) and each of its entities
     numbered ≤ v, live ones as `put`. So when a case enters a scope, all of it arrives.
2. each entity of a case in scope numbered above that case's flip, at its own number: `put`, or
   `remove` once it is no longer live (an alert resolved, a conflict settled).

Every entity row is in 1. when its seq ≤ v and in 2. when its seq > v, so a pull from a given
cursor carries each entity at most once, and paging with `limit` cuts this one sorted list into
consecutive pieces: every change exactly once, whatever the page size. Changes committed between
two pages get numbers above the first page's H and come later; a row changed in between is sent
again, newer (a put is idempotent). Nothing is skipped: every number in (cursor, H] is covered.

Removal floor: a case that left and re-entered a user's scope between two pulls of one client
(another phone of the user pulled in between) arrives as an entering case, but the client may
still hold entities of it that are no longer live. So an entering case also carries `remove` for
its non-live entities numbered above the floor: the position the client stood at when this chain
of pages began (it holds nothing newer). On a reset chain the floor is the first page's H (the
client started empty). A case's scope flips in one transaction, so every case is sorted in one
place: a page never holds two changes for the same entity.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Uuid,
    and_,
    bindparam,
    case,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from server.models import Alert, Case, CaseConflict, Consent, Contact, MilestoneEvent
from server.models.sync import SyncVisibility
from server.vocab import AlertState
from sync import serialize
from sync.cursor import Key, end_of

LEAVE_RANK = 0
FLIP_BATCH = 10  # entering cases expanded per query round, at least
ROWS_PER_CASE = 50  # about what a case holds after a year of visits: a round of `limit // 50` cases fills a page


@dataclass(frozen=True)
class Kind:
    name: str
    rank: int
    model: Any
    case_col: Any
    liveness: tuple[str, Callable[[Any], bool]] | None = None  # (column, is the value live?)

    @property
    def names(self) -> tuple[str, ...]:
        """What the stream reads of a row: what its `put` carries (serialize.READS, first, in that
        order), then the key and liveness. Plain Core rows, not ORM objects: a pull reads thousands
        of rows only to serialize them."""
        extra = ("id", "sync_seq", self.case_col.key, *(self.liveness[:1] if self.liveness else ()))
        return tuple(dict.fromkeys((*serialize.READS[self.name], *extra)))

    @property
    def columns(self) -> list[Any]:
        """`names` as read: ids, times and dates that only go to the serializer as their wire text
        (sync/wire.py), the case id too (`_expand` maps it to the flip's UUID); the entity id, the
        number and liveness typed. A case's are all typed: its serializer looks up its person,
        household and stage by them."""
        keep = {"id", "sync_seq", *(self.liveness[:1] if self.liveness else ())}
        table = self.model.__table__
        return [serialize.read_as(table.c[n], sent_only=self.name != "case" and n not in keep) for n in self.names]

    def reader(self) -> Callable[[Any], tuple[int, uuid.UUID | str, uuid.UUID, bool]]:
        """A row's (seq, case id, id, live), read by position (see serialize._plain); the case id
        is its wire text but for a case (`columns`)."""
        at = self.names.index
        seq_i, case_i, id_i = at("sync_seq"), at(self.case_col.key), at("id")
        if self.liveness is None:
            return lambda r: (r[seq_i], r[case_i], r[id_i], True)
        live_i, is_live = at(self.liveness[0]), self.liveness[1]
        return lambda r: (r[seq_i], r[case_i], r[id_i], is_live(r[live_i]))


KINDS = (
    Kind("case", 1, Case, Case.id),
    Kind("contact", 2, Contact, Contact.case_id),
    Kind("milestone", 3, MilestoneEvent, MilestoneEvent.case_id),
    Kind("consent", 4, Consent, Consent.case_id),
    Kind("alert", 5, Alert, Alert.case_id, ("state", lambda state: state != AlertState.RESOLVED)),
    Kind("conflict", 6, CaseConflict, CaseConflict.case_id, ("resolved_at", lambda at: at is None)),
)
COLUMNS = {kind.rank: kind.columns for kind in KINDS}
READERS = {kind.rank: kind.reader() for kind in KINDS}


class Item(NamedTuple):
    """A change of the stream. A named tuple, not a dataclass: a chain makes ≈ 15,000 of them."""

    key: Key
    entity: str
    op: str  # put | remove
    row: Any  # the row (a Core Row with `Kind.columns`) for a put; None for a case leaving scope

    @property
    def entity_id(self) -> uuid.UUID:
        return self.key[3]

    @property
    def case_id(self) -> uuid.UUID:
        return self.key[1]


def _after(kind: Kind, pos: Key) -> ColumnElement[bool]:
    """Rows of this kind whose key is after `pos`."""
    seq, case_id, rank, entity_id = pos
    m = kind.model
    if kind.rank > rank:
        same_seq = kind.case_col >= case_id
    elif kind.rank < rank:
        same_seq = kind.case_col > case_id
    else:
        same_seq = or_(kind.case_col > case_id, and_(kind.case_col == case_id, m.id > entity_id))
    return or_(m.sync_seq > seq, and_(m.sync_seq == seq, same_seq))


def _changed_keys_statement(lateral: bool) -> Select[Any]:
    """All kinds in one query, built once: the keys after a position (bound parameters p_seq,
    p_case, p_rank, p_id), numbered above their case's flip and at most `high`, first `n`.

    Keyset shape: each kind takes its own first `n` (its order is the stream's order restricted to
    one rank), so no kind hands the outer sort more than `n` keys; and one lower bound on `sync_seq`
    (the cursor's number, or just above the flip if that is higher) lets both engines range-scan
    each case of the scope in the `(case_id, sync_seq, id)` index from the cursor on (index only),
    instead of reading every row of the user's cases and sorting all that remains on every page
    (quadratic in a chain numbered after the flips).

    `lateral` (PostgreSQL): each visible case's rows are a LATERAL subquery, its own first `n` in
    `(sync_seq, id)` order — a kind's first `n` overall are among them. Given the plain join,
    PostgreSQL's planner cannot know the flips' numbers and on a chain's first page (cursor 0)
    walked the whole `sync_seq` index of `contact`, or scanned the table, for keys that were not
    there: 100–500 ms, growing with the municipality. LATERAL makes it the per-case range scans
    that SQLite already chooses. SQLite has no LATERAL."""
    vis = SyncVisibility
    p_seq, p_rank = bindparam("p_seq", type_=BigInteger), bindparam("p_rank", type_=Integer)
    p_case, p_id = bindparam("p_case", type_=Uuid()), bindparam("p_id", type_=Uuid())
    user_id = bindparam("user_id", type_=Uuid())
    high, n = bindparam("high", type_=BigInteger), bindparam("n", type_=Integer)
    visible = select(vis.case_id, vis.sync_seq).where(vis.user_id == user_id, vis.visible.is_(True)).subquery("v")
    parts = []
    for kind in KINDS:
        m = kind.model
        rank: ColumnElement[int] = literal_column(str(kind.rank), Integer())
        same_seq = or_(
            and_(p_rank < rank, kind.case_col >= p_case),
            and_(p_rank > rank, kind.case_col > p_case),
            and_(p_rank == rank, or_(kind.case_col > p_case, and_(kind.case_col == p_case, m.id > p_id))),
        )
        flip = visible.c.sync_seq if lateral else vis.sync_seq
        keys = (
            select(m.sync_seq.label("seq"), kind.case_col.label("case_id"), rank.label("rank"), m.id.label("id"))
            # above the flip and from the cursor on, as ONE lower bound: given two, an engine may
            # range-scan from the flip and filter the rest (re-reading the whole case every page)
            .where(m.sync_seq >= case((flip < p_seq, p_seq), else_=flip + 1))
            .where(m.sync_seq <= high)
            .where(or_(m.sync_seq > p_seq, and_(m.sync_seq == p_seq, same_seq)))
        )
        if lateral:
            per_case = keys.where(kind.case_col == visible.c.case_id).order_by(m.sync_seq, m.id).limit(n)
            one = per_case.lateral(f"l{kind.rank}")
            part = select(one).select_from(visible).join(one, true()).order_by(one.c.seq, one.c.case_id, one.c.id)
        else:
            part = keys.join(vis, and_(vis.case_id == kind.case_col, vis.user_id == user_id, vis.visible.is_(True)))
            part = part.order_by(m.sync_seq, kind.case_col, m.id)
        parts.append(part.limit(n).subquery(f"k{kind.rank}"))
    keys_all = union_all(*(select(part) for part in parts)).subquery()
    return (
        select(keys_all.c.seq, keys_all.c.case_id, keys_all.c.rank, keys_all.c.id)
        .order_by(keys_all.c.seq, keys_all.c.case_id, keys_all.c.rank, keys_all.c.id)
        .limit(n)
    )


_CHANGED_KEYS = {False: _changed_keys_statement(lateral=False), True: _changed_keys_statement(lateral=True)}


def _changed(session: Session, user_id: uuid.UUID, pos: Key, high: int, n: int) -> list[Key]:
    """Part 2: entities of cases in scope, numbered above their case's flip — the first `n` keys
    in one query over all kinds. Their rows are read by `_with_rows`, only for the keys that make
    the page: on a chain's pages inside part 1 (the flips), part 2's first `n` keys all come after
    the page's end, and reading their rows on every page was most of such a chain's reads."""
    params = {"user_id": user_id, "high": high, "n": n, "p_seq": pos[0], "p_case": pos[1], "p_rank": pos[2],
              "p_id": pos[3]}  # fmt: skip
    lateral = session.get_bind().dialect.name == "postgresql"
    found = session.execute(_CHANGED_KEYS[lateral], params).all()
    return [(int(seq), case_id, rank, entity_id) for seq, case_id, rank, entity_id in found]


def _with_rows(session: Session, page: list[Item | Key]) -> list[Item]:
    """The page with the rows of its part-2 keys read (by id, a query per kind), in order."""
    wanted: dict[int, list[uuid.UUID]] = defaultdict(list)
    for change in page:
        if not isinstance(change, Item):
            wanted[change[2]].append(change[3])
    if not wanted:
        return cast(list[Item], page)
    rows: dict[tuple[int, uuid.UUID], Any] = {}
    for kind in KINDS:
        if wanted.get(kind.rank):
            read = READERS[kind.rank]
            for row in session.execute(select(*COLUMNS[kind.rank]).where(kind.model.id.in_(wanted[kind.rank]))).all():
                rows[(kind.rank, read(row)[2])] = row
    out = []
    for change in page:
        if isinstance(change, Item):
            out.append(change)
            continue
        rank = change[2]
        kind, r = KINDS[rank - 1], rows.get((rank, change[3]))
        if r is None:
            continue  # gone since the keys were read (synced rows are not deleted; defensive)
        # the key as read by `_changed`: a row changed in between is sent next time, newer
        live = READERS[rank](r)[3]
        out.append(Item(change, kind.name, "put" if live else "remove", r))
    return out


def _flips(
    session: Session, user_id: uuid.UUID, pos: Key, high: int, size: int
) -> Iterator[list[tuple[uuid.UUID, bool, int]]]:
    """Part 1: the user's scope flips from `pos` on, in key order, `size` at a time."""
    vis = SyncVisibility
    seq, case_id, inclusive = pos[0], pos[1], True
    while True:
        same = vis.case_id >= case_id if inclusive else vis.case_id > case_id
        batch = [
            (c, bool(v), int(s))
            for c, v, s in session.execute(
                select(vis.case_id, vis.visible, vis.sync_seq)
                .where(vis.user_id == user_id, vis.sync_seq <= high)
                .where(or_(vis.sync_seq > seq, and_(vis.sync_seq == seq, same)))
                .order_by(vis.sync_seq, vis.case_id)
                .limit(size)
            )
        ]  # fmt: skip
        if not batch:
            return
        yield batch
        case_id, seq, inclusive = batch[-1][0], batch[-1][2], False


def _expand(session: Session, batch: list[tuple[uuid.UUID, bool, int]], floor: int) -> list[Item]:
    """The changes of a batch of flips, sorted by key."""
    items: list[Item] = []
    flip_of: dict[uuid.UUID, int] = {}
    entering: dict[int, list[uuid.UUID]] = defaultdict(list)
    for case_id, visible, seq in batch:
        if visible:
            flip_of[case_id] = seq
            entering[seq].append(case_id)
        else:
            items.append(Item((seq, case_id, LEAVE_RANK, case_id), "case", "remove", None))
    if entering:
        # the UUID of each entering case, by its id as read: a UUID (a case row) or the wire text
        # (its entities' `case_id`: sync/wire.py; no UUID built per row)
        case_of: dict[uuid.UUID | str, uuid.UUID] = {**{c: c for c in flip_of}, **{str(c): c for c in flip_of}}
        for kind in KINDS:
            m, read = kind.model, READERS[kind.rank]
            cond = or_(*(and_(kind.case_col.in_(ids), m.sync_seq <= seq) for seq, ids in entering.items()))
            # .all(): the driver's fetchall, not a fetchone per row (≈ 10 µs each, ≈ 20,000 a chain)
            for r in session.execute(select(*COLUMNS[kind.rank]).where(cond)).all():
                row_seq, read_case, entity_id, live = read(r)
                if not live and row_seq <= floor:
                    continue  # the client cannot hold it: nothing to remove
                case_id = case_of[read_case]
                key = (flip_of[case_id], case_id, kind.rank, entity_id)
                items.append(Item(key, kind.name, "put" if live else "remove", r))
    # By the key, with the ids' integers: UUID objects compare in Python (`__eq__`, `__lt__`), and
    # on a page of 1,000 changes of a few cases sharing one flip number most comparisons reach them.
    items.sort(key=lambda i: (i.key[0], i.key[1].int, i.key[2], i.key[3].int))
    return items


def page(
    session: Session, user_id: uuid.UUID, pos: Key, high: int, floor: int, limit: int
) -> tuple[list[Item], bool]:
    """Up to `limit` changes after `pos` (numbered ≤ `high`), and whether more follow."""
    budget = limit + 1
    if pos >= end_of(high):
        return [], False  # nothing was committed since this cursor
    changed = _changed(session, user_id, pos, high, budget)
    out: list[Item | Key] = []  # part 1's changes, part 2's keys (their rows read at the end)
    nxt = 0
    # Cases expanded per round: about a page's worth (a round costs a query per kind; the last
    # round of a page is read again by the next page, from the case the page ended in).
    size = max(FLIP_BATCH, limit // ROWS_PER_CASE)
    for batch in _flips(session, user_id, pos, high, size):
        for item in _expand(session, batch, floor):
            if item.key <= pos:
                continue  # already sent: the page before ended inside this case
            while nxt < len(changed) and changed[nxt] < item.key:
                out.append(changed[nxt])
                nxt += 1
            out.append(item)
            if len(out) >= budget:
                return _with_rows(session, out[:limit]), True
    out.extend(changed[nxt:])
    return _with_rows(session, out[:limit]), len(out) > limit
