"""Writing the audit log. Callers pass field *names* and ids, never values.

Audit rows are written in the same transaction as the change they describe: if the audit write
fails, the whole request fails (no unaudited change).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session

from server.models import AuditEvent
from server.permissions import Actor


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    entity: str | None = None,
    entity_id: uuid.UUID | str | None = None,
    case_id: uuid.UUID | None = None,
    fields: Iterable[str] = (),
    outcome: str = "ok",
    detail: str = "",
    device_id: uuid.UUID | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor.user_id if actor else None,
            actor_role=actor.role if actor else None,
            device_id=device_id or (actor.device_id if actor else None),
            action=action,
            entity=entity,
            entity_id=str(entity_id) if entity_id is not None else None,
            case_id=case_id,
            fields=sorted(fields),
            outcome=outcome,
            detail=detail[:200],
        )
    )
