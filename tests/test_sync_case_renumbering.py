"""A contact numbers its case again only when it changes the case's pulled form (issue #9,
server/models/sync_stamp.py `contact_shows`): its last-reached time. An attempt that reached nobody
and corrects nothing leaves the case as it was, so a pull sends the contact alone; a reach or a
correction sends the case again with its new last-reached time. Each on every push path: one
mutation (the careful path, through the ORM), a batch (applied together), and a batch of 50 or more
contacts (numbered before they are inserted)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from server.models import Case
from tests.factories import Factory
from tests.sync_support import Clients, Phone, contact_args

BATCHES = [1, 3, 50]  # the careful path, the batch applied together, contacts numbered first
UNREACHED = ("NO_ANSWER", "LEFT_LETTER", "PHONE_NO_ANSWER")  # outcomes that reach nobody (server.vocab)


def _seq(db_factory: sessionmaker[Session], case: Case) -> int:
    with db_factory() as s:
        return s.get_one(Case, case.id).sync_seq


def _push(phone: Phone, case: Case, outcomes: list[str]) -> list[dict[str, Any]]:
    args = [contact_args(case.id, outcome=o) for o in outcomes]
    answer = phone.push(*(phone.mutation("contact.create", a) for a in args))
    assert [r["status"] for r in answer["results"]] == ["applied"] * len(args)
    return args


def _synced(factory: Factory, clients: Clients) -> tuple[Case, Case, Phone]:
    w = factory.user("w1")
    cases = factory.case(workers=(w,)), factory.case(workers=(w,), family_name="鈴木")
    phone = clients.phone("w1")
    phone.sync()
    return cases[0], cases[1], phone


def _fresh(clients: Clients, case: Case) -> dict[str, Any]:
    """The case as an installation starting from nothing receives it."""
    other = clients.phone("w1")
    other.sync()
    return other.case(case)


@pytest.mark.parametrize("n", BATCHES)
def test_attempts_that_reached_nobody_are_pulled_without_their_case(
    n: int, factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    case, _other, phone = _synced(factory, clients)
    before = _seq(db_factory, case)
    sent = _push(phone, case, [UNREACHED[i % len(UNREACHED)] for i in range(n)])
    assert _seq(db_factory, case) == before
    changes = phone.sync()
    assert sorted((c["entity"], c["id"]) for c in changes) == sorted(("contact", a["id"]) for a in sent)
    assert phone.case(case) == _fresh(clients, case)  # nothing the phone shows of the case is stale


@pytest.mark.parametrize("n", BATCHES)
def test_a_reach_sends_its_case_again_and_only_that_case(
    n: int, factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    case, other, phone = _synced(factory, clients)
    assert phone.case(case)["last_reached_at"] is None
    seqs = _seq(db_factory, case), _seq(db_factory, other)
    # In one batch: attempts that reached nobody on one case, and one that met the person on the other.
    quiet = [phone.mutation("contact.create", contact_args(other.id)) for _ in range(n - 1)]
    met = phone.mutation("contact.create", contact_args(case.id, outcome="MET_PERSON"))
    answer = phone.push(*quiet, met)
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert _seq(db_factory, case) > seqs[0]
    assert _seq(db_factory, other) == seqs[1]
    changes = phone.sync()
    assert {c["id"] for c in changes if c["entity"] == "case"} == {str(case.id)}
    assert phone.case(case)["last_reached_at"] is not None
    assert phone.case(case) == _fresh(clients, case)
    assert phone.case(other) == _fresh(clients, other)


@pytest.mark.parametrize("n", BATCHES)
def test_a_correction_sends_its_case_again_whichever_way_it_moves_the_reach(
    n: int, factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    case, _other, phone = _synced(factory, clients)
    originals = _push(phone, case, ["NO_ANSWER"] * n)
    phone.sync()
    # Each attempt was in fact a talk through the door: the case was reached after all.
    before = _seq(db_factory, case)
    fixes = [contact_args(case.id, outcome="SPOKE_THROUGH_DOOR", amends_id=o["id"]) for o in originals]
    answer = phone.push(*(phone.mutation("contact.amend", f) for f in fixes))
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert _seq(db_factory, case) > before
    changes = phone.sync()
    assert str(case.id) in {c["id"] for c in changes if c["entity"] == "case"}
    assert phone.case(case)["last_reached_at"] is not None
    # And back: corrected again to nobody reached, the case's last reach is gone again.
    before = _seq(db_factory, case)
    back = [contact_args(case.id, outcome="NO_ANSWER", amends_id=o["id"]) for o in originals]
    answer = phone.push(*(phone.mutation("contact.amend", b) for b in back))
    assert {r["status"] for r in answer["results"]} == {"applied"}
    assert _seq(db_factory, case) > before
    phone.sync()
    assert phone.case(case)["last_reached_at"] is None
    assert phone.case(case) == _fresh(clients, case)


def test_an_attempt_that_plans_the_next_step_sends_its_case_again(
    factory: Factory, clients: Clients, db_factory: sessionmaker[Session]
) -> None:
    """Reaching nobody but planning the next visit moves the case's next action (its own columns)."""
    case, _other, phone = _synced(factory, clients)
    before = _seq(db_factory, case)
    plan = contact_args(case.id, next_action="来週の午後にもう一度訪問します", next_action_due="2025-05-08")
    assert phone.do("contact.create", plan)["status"] == "applied"
    assert _seq(db_factory, case) > before
    phone.sync()
    assert phone.case(case)["next_action_due"] == "2025-05-08"
    assert phone.case(case) == _fresh(clients, case)

