"""What a case's history says about where it stands: the current stage on the milestone ladder
(derived from milestone events, never typed in) and when the person or the family was last reached.

Stage rule: the highest rung reached since the most recent SETBACK; if the most recent event is a
SETBACK, the stage is SETBACK until a rung is reached again. Moving back down is normal (DOMAIN.md
§1), so a later, lower rung after a setback is the new stage.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from server.models import MilestoneEvent
from server.services import derived
from server.vocab import MILESTONE_RANK, SETBACK


def stage_of(events: Iterable[tuple[str, dt.date, dt.datetime]]) -> str | None:
    """`events` are (milestone, reached_on, received_at); order does not matter."""
    stage: str | None = None
    for milestone, _on, _at in sorted(events, key=lambda e: (e[1], e[2])):
        if milestone == SETBACK:
            stage = SETBACK
        elif stage is None or stage == SETBACK or MILESTONE_RANK.get(milestone, -1) > MILESTONE_RANK.get(stage, -1):
            stage = milestone
    return stage


# Built once, the cases as one expanding parameter: every pull page asks both for its cases, and
# building the statements (the last reach's correlated EXISTS most) cost more than running them.
_IDS: Any = bindparam("case_ids", expanding=True)
_EVENTS = select(
    MilestoneEvent.case_id, MilestoneEvent.milestone, MilestoneEvent.reached_on, MilestoneEvent.received_at
).where(MilestoneEvent.case_id.in_(_IDS))
_REACHED = derived.last_reached(_IDS)
_LAST_REACHED = select(_REACHED.c.case_id, _REACHED.c.last_reached)


def stages(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The current stage of each case, in one query."""
    result: dict[uuid.UUID, list[tuple[str, dt.date, dt.datetime]]] = {cid: [] for cid in case_ids}
    if not case_ids:
        return {}
    rows = session.execute(_EVENTS, {"case_ids": list(case_ids)})
    for case_id, milestone, on, at in rows:
        result[case_id].append((milestone, on, at))
    return {cid: stage_of(evts) for cid, evts in result.items()}


def last_reached(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dt.datetime]:
    """When each case's person or family was last reached (declines count: someone answered), by
    the corrected values of each attempt (`derived.last_reached`, the one SQL definition shared with
    the office pages and reports). Cases never reached are absent."""
    if not case_ids:
        return {}
    rows = session.execute(_LAST_REACHED, {"case_ids": list(case_ids)})
    out: dict[uuid.UUID, dt.datetime] = {}
    for case_id, at in rows:
        if at is not None:
            out[case_id] = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return out
