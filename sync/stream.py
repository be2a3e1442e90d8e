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

A reset chain (the client started empty: its first sync, a new server epoch) is ordered so that
every case comes whole, once: each case visible at the chain's floor F (its first page's H) with
its last flip at or below F is sent as if it had entered at F — at (F, case, rank, id), the case
and each of its entities numbered ≤ F — before any change numbered above F; then the stream goes on
as above from F (flips above F, and entities numbered above both F and their case's flip). Cases
that left scope at or before F are not sent at all (the client holds nothing). Without this, a
worker's cases entered their scope when assigned, long before most of their visits: the visits
would arrive in the order they were recorded, each page touching most of the cases, and the phone
would re-seal every case's history on every page. A reset chain's positions inside that first part
are below `end_of(F)`; every other chain starts at `end_of(floor)` or later (its floor is the
number the client last stood at), which is how `page` tells them apart. A chain that changes scope
between pages is covered as above: a case flipped again above F is no longer sent at F, and comes
at its new flip.

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
from itertools import chain
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
    exists,
    literal_column,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from server.models import Alert, Case, CaseConflict, Consent, Contact, MilestoneEvent
from server.models.sync import SyncVisibility
from server.models.sync_stamp import among, among_param
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
# where a row of each kind holds its (seq, case id, id), as `Kind.reader` reads them
_POSITIONS = {k.rank: (k.names.index("sync_seq"), k.names.index(k.case_col.key), k.names.index("id")) for k in KINDS}


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
    # a case flipped at `high` or later has nothing numbered above its flip yet
    shown = and_(vis.user_id == user_id, vis.visible.is_(True), vis.sync_seq < high)
    visible = select(vis.case_id, vis.sync_seq).where(shown).subquery("v")
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
            part = keys.join(vis, and_(vis.case_id == kind.case_col, shown))
            part = part.order_by(m.sync_seq, kind.case_col, m.id)
        parts.append(part.limit(n).subquery(f"k{kind.rank}"))
    keys_all = union_all(*(select(part) for part in parts)).subquery()
    return (
        select(keys_all.c.seq, keys_all.c.case_id, keys_all.c.rank, keys_all.c.id)
        .order_by(keys_all.c.seq, keys_all.c.case_id, keys_all.c.rank, keys_all.c.id)
        .limit(n)
    )


_CHANGED_KEYS = {False: _changed_keys_statement(lateral=False), True: _changed_keys_statement(lateral=True)}
# Whether part 2 can hold anything: a visible case flipped below `high`. When every case of the
# scope flipped at the counter (a user's first pull, a scope entered just now), the keys statement
# is skipped — on PostgreSQL its planning alone (six LATERAL subqueries) costs more than its
# probes of 250 cases.
_ANY_EARLIER_FLIP = select(
    exists().where(
        SyncVisibility.user_id == bindparam("user_id", type_=Uuid()),
        SyncVisibility.visible.is_(True),
        SyncVisibility.sync_seq < bindparam("high", type_=BigInteger),
    )
)


def _changed(session: Session, user_id: uuid.UUID, pos: Key, high: int, n: int) -> list[Key]:
    """Part 2: entities of cases in scope, numbered above their case's flip — the first `n` keys
    in one query over all kinds. Their rows are read by `_with_rows`, only for the keys that make
    the page: on a chain's pages inside part 1 (the flips), part 2's first `n` keys all come after
    the page's end, and reading their rows on every page was most of such a chain's reads."""
    if pos >= end_of(high):
        return []  # nothing numbered after the position (a reset chain's first pages)
    params = {"user_id": user_id, "high": high, "n": n, "p_seq": pos[0], "p_case": pos[1], "p_rank": pos[2],
              "p_id": pos[3]}  # fmt: skip
    if not session.execute(_ANY_EARLIER_FLIP, {"user_id": user_id, "high": high}).scalar():
        return []
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
            found = select(*COLUMNS[kind.rank]).where(among(session, kind.model.id, wanted[kind.rank]))
            for row in session.execute(found).all():
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


def _flips_statement(inclusive: bool) -> Select[uuid.UUID, bool, int]:
    """The user's next `size` scope flips from the key (p_seq, p_case) on, numbered ≤ `high`."""
    vis = SyncVisibility
    seq, case_id = bindparam("p_seq", type_=BigInteger), bindparam("p_case", type_=Uuid())
    same = vis.case_id >= case_id if inclusive else vis.case_id > case_id
    return (
        select(vis.case_id, vis.visible, vis.sync_seq)
        .where(vis.user_id == bindparam("user_id", type_=Uuid()), vis.sync_seq <= bindparam("high", type_=BigInteger))
        .where(or_(vis.sync_seq > seq, and_(vis.sync_seq == seq, same)))
        .order_by(vis.sync_seq, vis.case_id)
        .limit(bindparam("size", type_=Integer))
    )


# Built once (as the keys statement): a statement built per round cost its construction and its
# cache key every time, ≈ 7 statements a page.
_FLIPS = {inclusive: _flips_statement(inclusive) for inclusive in (True, False)}


def _flips(
    session: Session, user_id: uuid.UUID, pos: Key, high: int, size: int
) -> Iterator[list[tuple[uuid.UUID, bool, int]]]:
    """Part 1: the user's scope flips from `pos` on, in key order, `size` at a time."""
    seq, case_id, inclusive = pos[0], pos[1], True
    while True:
        params = {"user_id": user_id, "high": high, "p_seq": seq, "p_case": case_id, "size": size}
        batch = [(c, bool(v), int(s)) for c, v, s in session.execute(_FLIPS[inclusive], params)]
        if not batch:
            return
        yield batch
        case_id, seq, inclusive = batch[-1][0], batch[-1][2], False


def _whole_statement(inclusive: bool) -> Select[uuid.UUID]:
    """The user's next `size` cases visible at the floor (last flip ≤ `floor`), by id from `p_case`."""
    vis = SyncVisibility
    case_id = bindparam("p_case", type_=Uuid())
    return (
        select(vis.case_id)
        .where(vis.user_id == bindparam("user_id", type_=Uuid()), vis.visible.is_(True))
        .where(vis.sync_seq <= bindparam("floor", type_=BigInteger))
        .where(vis.case_id >= case_id if inclusive else vis.case_id > case_id)
        .order_by(vis.case_id)
        .limit(bindparam("size", type_=Integer))
    )


_WHOLE = {inclusive: _whole_statement(inclusive) for inclusive in (True, False)}


def _whole(
    session: Session, user_id: uuid.UUID, pos: Key, floor: int, size: int
) -> Iterator[list[tuple[uuid.UUID, bool, int]]]:
    """A reset chain's first part: the cases visible at its floor, as flips at the floor, from
    `pos` on (from the first case when `pos` is before the floor), `size` at a time."""
    # The case `pos` stopped in is read again (inclusive): it may have been sent in part.
    case_id = pos[1] if pos[0] == floor else uuid.UUID(int=0)
    inclusive = True
    while True:
        params = {"user_id": user_id, "floor": floor, "p_case": case_id, "size": size}
        batch = [(c, True, floor) for c in session.scalars(_WHOLE[inclusive], params)]
        if not batch:
            return
        yield batch
        case_id, inclusive = batch[-1][0], False


_ROUNDS: dict[tuple[bool, int, int], Select[Any]] = {}


def _round_statement(pg: bool, rank: int, groups: int) -> Select[Any]:
    """A kind's rows of the entering cases of a round, which share `groups` flip numbers: cases
    `ids{g}` (an expanding list; on PostgreSQL one array parameter) numbered ≤ `seq{g}`. Built
    once per shape and kept."""
    found = _ROUNDS.get((pg, rank, groups))
    if found is None:
        kind = KINDS[rank - 1]
        cond = []
        for g in range(groups):
            ids = among_param(kind.case_col, f"ids{g}", postgres=pg)
            cond.append(and_(ids, kind.model.sync_seq <= bindparam(f"seq{g}", type_=BigInteger)))
        found = _ROUNDS[(pg, rank, groups)] = select(*COLUMNS[rank]).where(or_(*cond))
    return found


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
        pg = session.get_bind().dialect.name == "postgresql"
        params: dict[str, Any] = {}
        for g, (seq, ids) in enumerate(entering.items()):
            params[f"ids{g}"], params[f"seq{g}"] = ids, seq
        for kind in KINDS:
            rank, name, read = kind.rank, kind.name, READERS[kind.rank]
            # .all(): the driver's fetchall, not a fetchone per row (≈ 10 µs each, ≈ 20,000 a chain)
            rows = session.execute(_round_statement(pg, rank, len(entering)), params).all()
            if kind.liveness is None:  # every row live: a `put` (the key's fields by position)
                _, case_i, id_i = _POSITIONS[rank]
                for r in rows:
                    case_id = case_of[r[case_i]]
                    items.append(Item((flip_of[case_id], case_id, rank, r[id_i]), name, "put", r))
                continue
            for r in rows:
                row_seq, read_case, entity_id, live = read(r)
                if not live and row_seq <= floor:
                    continue  # the client cannot hold it: nothing to remove
                case_id = case_of[read_case]
                key = (flip_of[case_id], case_id, rank, entity_id)
                items.append(Item(key, name, "put" if live else "remove", r))
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
    # A reset chain still in its first part (see the module's docstring): the cases visible at the
    # floor come whole at the floor, then the flips and changes numbered above it.
    whole = pos < end_of(floor)
    changed = _changed(session, user_id, max(pos, end_of(floor)), high, budget)  # pos, but in that first part
    out: list[Item | Key] = []  # part 1's changes, part 2's keys (their rows read at the end)
    nxt = 0
    # Cases expanded per round: about a page's worth (a round costs a query per kind; the last
    # round of a page is read again by the next page, from the case the page ended in).
    size = max(FLIP_BATCH, limit // ROWS_PER_CASE)
    after = False  # past `pos`: the rounds come in key order, so every later change is too
    batches = (
        chain(_whole(session, user_id, pos, floor, size), _flips(session, user_id, end_of(floor), high, size))
        if whole
        else _flips(session, user_id, pos, high, size)
    )
    for batch in batches:
        for item in _expand(session, batch, floor):
            if not after:
                if item.key <= pos:
                    continue  # already sent: the page before ended inside this case
                after = True
            while nxt < len(changed) and changed[nxt] < item.key:
                out.append(changed[nxt])
                nxt += 1
            out.append(item)
            if len(out) >= budget:
                return _with_rows(session, out[:limit]), True
    out.extend(changed[nxt:])
    return _with_rows(session, out[:limit]), len(out) > limit
