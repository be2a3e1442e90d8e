"""Stage derivation from milestone events."""

from __future__ import annotations

import datetime as dt

from server.services.progress import stage_of

T = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def ev(m: str, day: int) -> tuple[str, dt.date, dt.datetime]:
    return (m, dt.date(2025, 1, day), T)


def test_no_events_no_stage() -> None:
    assert stage_of([]) is None


def test_highest_rung_wins_regardless_of_order() -> None:
    assert stage_of([ev("FIRST_FACE_TO_FACE", 5), ev("IDENTIFIED", 1), ev("FAMILY_FIRST_CONTACT", 9)]) == (
        "FIRST_FACE_TO_FACE"
    )


def test_setback_then_climb_again_from_lower_rung() -> None:
    events = [ev("IDENTIFIED", 1), ev("FIRST_FACE_TO_FACE", 3), ev("SETBACK", 5)]
    assert stage_of(events) == "SETBACK"
    assert stage_of([*events, ev("PERSON_AWARE", 8)]) == "PERSON_AWARE"


def test_last_reached_follows_the_correction(factory, db_factory) -> None:  # type: ignore[no-untyped-def]
    import uuid

    from server.services.progress import last_reached

    w = factory.user("w1")
    case = factory.case(workers=(w,))
    first = factory.contact(case, w, "MET_FAMILY_ONLY", occurred_at=dt.datetime(2025, 5, 1, 1, tzinfo=dt.UTC))
    wrong = factory.contact(case, w, "NO_ANSWER", occurred_at=dt.datetime(2025, 6, 1, 1, tzinfo=dt.UTC))
    with db_factory() as s:
        assert last_reached(s, [case.id]) == {case.id: first.occurred_at}
    # The June visit is corrected: the person did answer through the door.
    factory.contact(
        case, w, "SPOKE_THROUGH_DOOR", id=uuid.uuid4(), amends_id=wrong.id, occurred_at=wrong.occurred_at
    )
    with db_factory() as s:
        assert last_reached(s, [case.id]) == {case.id: wrong.occurred_at}
