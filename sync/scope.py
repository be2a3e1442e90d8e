"""Which cases a user's field app holds: entering and leaving scope as changes in the stream.

Scope itself has ONE definition, `server.permissions.sync_case_scope` (a worker's assigned active
cases, a coordinator's team, a supervisor's municipality). What the sync engine adds is *when* a
case entered or left a user's scope, as a point in the commit-ordered change stream, so a phone
that pulls from an older cursor learns about it exactly like about an edit: the `sync_visibility`
table holds, per (user, case), whether the case is visible and the change number of the last flip.

Why per user and reconciled at pull time (rather than hooks on every assignment, team, status and
role change, or a per-client "held set"):
- Nothing elsewhere has to remember to call sync code: an office page ending an assignment, an
  admin moving a user to another team, a case being closed — the next pull compares the scope with
  the table and records the flips, numbered in commit order like any other change.
- A pull whose answer never arrived leaves nothing wrong: the flip is a row with a change number,
  and the phone that retries from its old cursor reads it again. A per-client held set updated when
  a pull is answered would have recorded "sent" for data the phone never received.
- Several phones of one user share the rows; each follows them from its own cursor.
The flips are recorded under the change counter's lock (taken before the rows are re-read), so two
pulls of the same user cannot record the same flip twice.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, and_, exists, literal, select, union_all
from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import Case
from server.models.sync import SyncVisibility
from server.permissions import Actor, sync_case_scope
from sync.cursor import take_seq


def _diff(session: Session, actor: Actor) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """(entering, leaving): the cases in scope not shown, and those shown but out of scope. Compared
    in the database, which answers only the differences — usually none — instead of both lists
    (a supervisor's scope is the whole municipality, and every pull asks). One statement, the
    scope read once (a CTE: materialised by both engines, referred to twice), both differences in
    one round trip; each is an anti-join probing an index (the visibility's primary key, the
    materialised scope)."""
    vis = SyncVisibility
    in_scope = select(Case.id.label("id")).where(sync_case_scope(actor)).cte("in_scope")
    shown = and_(vis.user_id == actor.user_id, vis.visible.is_(True))
    entering = select(in_scope.c.id, literal(True, Boolean())).where(
        ~exists().where(shown, vis.case_id == in_scope.c.id)
    )
    leaving = select(vis.case_id, literal(False, Boolean())).where(shown, ~exists().where(in_scope.c.id == vis.case_id))
    enter: set[uuid.UUID] = set()
    leave: set[uuid.UUID] = set()
    for case_id, is_entering in session.execute(union_all(entering, leaving)):
        (enter if is_entering else leave).add(case_id)
    return enter, leave


def reconcile(session: Session, actor: Actor) -> int:
    """Record the user's scope changes since the last pull; the number of flips recorded."""
    enter, leave = _diff(session, actor)
    if not enter and not leave:
        return 0
    seq = take_seq(session)  # the counter lock: flips are recorded one pull at a time
    enter, leave = _diff(session, actor)  # re-read under the lock
    now = utcnow()
    changed = enter | leave
    existing = {
        row.case_id: row
        for row in session.scalars(select(SyncVisibility).where(SyncVisibility.user_id == actor.user_id))
        if row.case_id in changed
    }
    for case_id in changed:
        row = existing.get(case_id)
        if row is None:
            row = SyncVisibility(user_id=actor.user_id, case_id=case_id, visible=True, sync_seq=seq, changed_at=now)
            session.add(row)
        else:
            row.visible, row.sync_seq, row.changed_at = case_id in enter, seq, now
    session.flush()
    return len(changed)
