"""The stream's part 2 (sync/stream.py `_changed`: entities numbered after their case's flip) against
a plain Python reading of its definition, from every position of a walk through it, with limits
small enough that a kind's, a case's and the union's first `n` all cut. On PostgreSQL `_changed`
reads the keys through per-case LATERAL subqueries, on SQLite through the plain join: both must
give the keys this reference gives, and the two statements the same keys on PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Alert, User
from server.models.sync import SyncVisibility
from sync import stream
from sync.cursor import Key, committed_seq, end_of
from tests.factories import Factory
from tests.sync_support import Clients, Statements, contact_args, milestone_args


def _reference(session: Session, user_id: uuid.UUID, pos: Key, high: int, n: int) -> list[Key]:
    vis = SyncVisibility
    shown = select(vis.case_id, vis.sync_seq).where(vis.user_id == user_id, vis.visible.is_(True))
    flips: dict[uuid.UUID, int] = dict(session.execute(shown).all())
    keys: list[Key] = []
    for kind in stream.KINDS:
        m = kind.model
        for seq, case_id, entity_id in session.execute(select(m.sync_seq, kind.case_col, m.id)):
            key = (int(seq), case_id, kind.rank, entity_id)
            if case_id in flips and flips[case_id] < seq <= high and key > pos:
                keys.append(key)
    return sorted(keys)[:n]


def test_part_two_keys_are_its_definition_from_every_position(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    cases = [factory.case(workers=(w,)) for _ in range(4)]
    for c in cases[:2]:
        factory.contact(c, w, id=uuid.uuid4())  # numbered before the flip: part 1's
    phone = clients.phone("w1")
    phone.sync()  # records the flips
    for i, c in enumerate(cases):  # numbered after the flips, several per transaction and case
        phone.push(*[phone.mutation("contact.create", contact_args(c.id, outcome="MET_PERSON")) for _ in range(i + 2)])
    phone.do("milestone.record", milestone_args(cases[1].id))
    with db_factory() as s, s.begin():
        s.add(Alert(case_id=cases[2].id, team_id=cases[2].team_id, rule="S2", level="caution"))
    phone.do("contact.create", contact_args(cases[0].id, outcome="MET_PERSON"))
    with db_factory() as s:
        user_id = s.scalars(select(User.id).where(User.username == "w1")).one()
        high = committed_seq(s)
        everything = _reference(s, user_id, end_of(0), high, 10_000)
        assert len(everything) == 4 + (2 + 3 + 4 + 5 + 1) + 1 + 1  # the cases (renumbered), contacts, milestone, alert
        lateral = s.get_bind().dialect.name == "postgresql"
        for n in (1, 2, 3, 5, 1000):
            pos, walked = end_of(0), []
            while True:
                found = stream._changed(s, user_id, pos, high, n)
                assert found == _reference(s, user_id, pos, high, n)
                if lateral:  # the other form of the statement answers the same
                    params = {"user_id": user_id, "high": high, "n": n, "p_seq": pos[0], "p_case": pos[1],
                              "p_rank": pos[2], "p_id": pos[3]}  # fmt: skip
                    plain = [tuple(r) for r in s.execute(stream._CHANGED_KEYS[False], params)]
                    assert [(int(k[0]), k[1], k[2], k[3]) for k in plain] == found
                if not found:
                    break
                walked += found
                pos = found[-1]
            assert walked == everything
        # a cursor above some of the rows, and one numbered below every flip
        assert stream._changed(s, user_id, everything[5], high, 1000) == everything[6:]
        assert stream._changed(s, user_id, end_of(1), high, 3) == everything[:3]


def test_a_scope_flipped_at_the_counter_reads_no_part_two_keys(
    factory: Factory, clients: Clients, app: Any, db_factory: sessionmaker[Session]
) -> None:
    """A first pull: every case of the scope flips in the pull's own transaction, so nothing can be
    numbered above a flip — the keys statement is not run (on PostgreSQL its planning alone took
    5–8 ms a page). Once something is numbered after the flips, it is, and its keys arrive."""
    w = factory.user("w1")
    cases = [factory.case(workers=(w,)) for _ in range(3)]
    for c in cases:
        factory.contact(c, w, id=uuid.uuid4())
    statements = Statements(app)
    phone = clients.phone("w1")
    first = phone.sync(limit=2)  # several pages, all inside the flips
    assert {c["entity"] for c in first} >= {"case", "contact"}
    keys_read = [s for s in statements.seen if " as rank" in s]
    assert keys_read == []
    phone.push(phone.mutation("contact.create", contact_args(cases[0].id, outcome="MET_PERSON")))  # after the flip
    statements.seen.clear()
    later = phone.sync()
    assert [c["entity"] for c in later if c["op"] == "put"] == ["case", "contact"]  # the case: its last reach
    assert [s for s in statements.seen if " as rank" in s]
    with db_factory() as s:
        user_id = s.scalars(select(User.id).where(User.username == "w1")).one()
        high = committed_seq(s)
        assert stream._changed(s, user_id, end_of(0), high, 10) == _reference(s, user_id, end_of(0), high, 10)
        assert len(_reference(s, user_id, end_of(0), high, 10)) == 2  # the case (its last reach), the contact
