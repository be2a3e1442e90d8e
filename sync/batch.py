"""What a push reads once for a whole batch instead of once per mutation: the cases its mutations
name (locked, with whether each is in the actor's scope), which of the record ids they bring
already exist, and which `visitor_ids` are users.

Used only while a batch is applied optimistically, without a SAVEPOINT per mutation (sync.push):
any mutation that fails sends the whole batch back to the careful path, one SAVEPOINT and fresh
queries per mutation. So the answers here may assume every mutation before the current one of the
batch succeeded — an id checked here is one the batch has now created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Case, Consent, Contact, MilestoneEvent, User, sync_stamp
from server.models.sync_stamp import among, id_chunks
from server.permissions import Actor, case_scope
from sync.envelope import MutationIn

# mutation name -> (the argument naming its case, the model of the record it creates, if any)
_CASE_ARG: dict[str, tuple[str, Any]] = {
    "contact.create": ("case_id", Contact),
    "contact.amend": ("case_id", Contact),
    "milestone.record": ("case_id", MilestoneEvent),
    "consent.record": ("case_id", Consent),
    "case.update": ("id", None),
}


def _uid(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass
class Prefetched:
    cases: dict[uuid.UUID, tuple[Case, bool]] = field(default_factory=dict)  # id -> (case, in scope now)
    asked: dict[Any, set[uuid.UUID]] = field(default_factory=dict)  # model -> ids looked up
    taken: dict[Any, set[uuid.UUID]] = field(default_factory=dict)  # … those that exist or the batch made
    users: set[uuid.UUID] = field(default_factory=set)  # existing users among the visitor ids asked
    asked_users: set[uuid.UUID] = field(default_factory=set)
    # The batch's new contacts, as `contact` rows to insert together when the batch ends (one
    # statement, not a unit-of-work object each), and what later mutations of the batch ask of them.
    contacts: list[dict[str, Any]] = field(default_factory=list)
    contact_case: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # contact id -> case id
    plans: dict[uuid.UUID, list[Any]] = field(default_factory=dict)  # case id -> occurred_at of planning contacts

    def case(self, case_id: uuid.UUID) -> tuple[Case, bool] | None:
        return self.cases.get(case_id)

    def claim_id(self, model: Any, entity_id: uuid.UUID) -> bool | None:
        """Whether the id is free (and now taken by this batch); None when it was not looked up."""
        if entity_id not in self.asked.get(model, ()):
            return None
        taken = self.taken.setdefault(model, set())
        if entity_id in taken:
            return False
        taken.add(entity_id)
        return True

    def add_contact(self, row: dict[str, Any]) -> None:
        self.contacts.append(row)
        self.contact_case[row["id"]] = row["case_id"]
        if row["next_action"] or row["next_action_due"] is not None:
            self.plans.setdefault(row["case_id"], []).append(row["occurred_at"])

    def planned_after(self, case_id: uuid.UUID, occurred_at: Any) -> bool:
        """Whether a contact of this batch that happened later already planned the case's next action."""
        return any(t > occurred_at for t in self.plans.get(case_id, ()))

    def known_users(self, ids: set[uuid.UUID]) -> bool | None:
        """Whether all these users exist; None when some were not looked up."""
        if not ids <= self.asked_users:
            return None
        return ids <= self.users


def prefetch(session: Session, actor: Actor, batch: list[MutationIn]) -> Prefetched:
    found = Prefetched()
    case_ids: set[uuid.UUID] = set()
    for m in batch:
        spec = _CASE_ARG.get(m.name)
        if spec is None:
            continue
        case_arg, model = spec
        case_id = _uid(m.args.get(case_arg))
        if case_id is not None:
            case_ids.add(case_id)
        entity_id = _uid(m.args.get("id"))
        if model is not None and entity_id is not None:
            found.asked.setdefault(model, set()).add(entity_id)
        visitors = m.args.get("visitor_ids")
        if isinstance(visitors, list):
            found.asked_users.update(v for v in map(_uid, visitors) if v is not None)
    for chunk in id_chunks(case_ids):
        # Locked as each mutation's own read locks it (sync.mutations.writable_case), in id order;
        # whether each is in the actor's scope comes with it (one query, not two).
        locked = (
            select(Case, case_scope(actor).label("in_scope"))
            .where(among(session, Case.id, chunk))
            .order_by(Case.id)
            .with_for_update(key_share=True, of=Case)
        )
        rows = session.execute(locked).all()
        sync_stamp.hold(session, Case, (case.id for case, _ in rows))  # numbering them at commit needs no lock again
        found.cases.update((case.id, (case, bool(in_scope))) for case, in_scope in rows)
    for model, ids in found.asked.items():
        for chunk in id_chunks(ids):
            taken = session.scalars(select(model.id).where(among(session, model.id, chunk)))
            found.taken.setdefault(model, set()).update(taken)
    for chunk in id_chunks(found.asked_users):
        found.users.update(session.scalars(select(User.id).where(among(session, User.id, chunk))))
    return found
