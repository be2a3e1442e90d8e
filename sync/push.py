"""Push: apply a batch of a client's mutations exactly once.

Threat: a visit recorded offline that is lost or counted twice — lost answers, retries, two tabs
pushing at once, a server killed mid-request. The server keeps each client's last applied mutation
id (`Device.last_mid`) and a `SyncMutation` row per mid, written in the same transaction as the
mutation's effects: either the effect and the new `last_mid` are both committed, or neither is.
The device row is locked for the whole request (sync.clients), so identical pushes racing on
PostgreSQL apply one after the other; the second finds the mids applied and answers `duplicate`.

Per mutation, in order:
- `mid <= last_mid` → `duplicate`: nothing changes; the original outcome is repeated so a phone
  whose first answer was lost still learns it (`original`).
- `mid > last_mid + 1` → a gap: the batch stops there; the client re-sends from `last_mid + 1`.
- otherwise applied in a SAVEPOINT: `applied`, `conflict` (some case fields held back, see
  sync.case_mutations) or `rejected` (can never succeed: bad argument, out of scope, unknown
  case). A rejected mutation still advances `last_mid`, so the phone's queue never jams, and its
  arguments are kept in `SyncMutation.args` for review — never silently dropped.
A temporary database failure (busy, deadlock, connection lost) propagates: the whole request rolls
back and answers 503, nothing advanced; the client retries the same batch.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import i18n
from server.db import utcnow
from server.models import CaseConflict, Device, SyncMutation
from server.permissions import Actor
from server.services import audit
from sync import clients
from sync.cursor import current_epoch
from sync.envelope import MutationIn, PushRequest
from sync.fields import Rejected
from sync.mutations import Handler, MutationCtx, Outcome, registry

log = logging.getLogger("yorisoi.sync")

DENIALS = frozenset({"out_of_scope", "forbidden"})


def _error(code: str, field: str | None, lang: str) -> dict[str, str]:
    message = i18n.t(lang, f"error.{code}")
    body = {"code": code, "message": message if message != f"error.{code}" else code.replace("_", " ")}
    if field is not None:
        body["field"] = field
    return body


def _conflicts_of(session: Session, device_id: uuid.UUID, mid: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CaseConflict).where(CaseConflict.device_id == device_id, CaseConflict.mid == mid)
    )
    return [
        {
            "id": str(c.id), "field": c.field, "base_version": c.base_version,
            "server_value": (c.server_value or {}).get("value"), "client_value": (c.client_value or {}).get("value"),
        }
        for c in rows
    ]  # fmt: skip


def _duplicate(session: Session, device: Device, m: MutationIn, lang: str) -> dict[str, Any]:
    result: dict[str, Any] = {"mid": m.mid, "status": "duplicate"}
    original = session.get(SyncMutation, (device.id, m.mid))
    if original is not None:
        first: dict[str, Any] = {"status": original.status}
        if original.error_code:
            first["error"] = _error(original.error_code, None, lang)
        if original.status == "conflict":
            first["conflicts"] = _conflicts_of(session, device.id, m.mid)
        result["original"] = first
    return result


def _apply(ctx: MutationCtx, handler: Handler | None, m: MutationIn) -> Outcome | Rejected:
    if handler is None:
        return Rejected("unknown_mutation", "name")
    try:
        # One SAVEPOINT per mutation: a rejected one leaves nothing behind (audit events included).
        with ctx.session.begin_nested():
            return handler(ctx, m.args)
    except Rejected as exc:
        return exc
    except OperationalError:
        raise  # temporary: the whole request fails with 503 and nothing advances
    except IntegrityError:
        # e.g. two phones racing to create the same id; the savepoint is rolled back.
        return Rejected("integrity_error")
    except Exception as exc:
        # A bug must not jam the phone's queue: keep the mutation for review and go on. The log
        # line names the exception type only — its message may quote personal data.
        log.error("sync mutation %s (mid %d) failed: %s", m.name, m.mid, type(exc).__name__)
        return Rejected("internal_error")


def push(session: Session, actor: Actor, request: PushRequest, lang: str = "ja") -> dict[str, Any]:
    device, created = clients.claim(session, actor, request.client_id)
    handlers = registry()
    now = utcnow()
    results: list[dict[str, Any]] = []
    applied: list[tuple[MutationIn, Outcome | Rejected]] = []
    for m in request.mutations:
        if m.mid <= device.last_mid:
            results.append(_duplicate(session, device, m, lang))
            continue
        if m.mid != device.last_mid + 1:
            break  # a gap: the client re-sends from last_mid + 1
        ctx = MutationCtx(session, actor, device.id, m.mid, m.client_time, now)
        outcome = _apply(ctx, handlers.get(m.name), m)
        results.append(_record(session, actor, device, m, outcome, lang))
        applied.append((m, outcome))
        device.last_mid = m.mid
    clients.note_push(device, request.outbox_depth, now)
    # Audit rows are queued only now, after the last SAVEPOINT: a rolled-back savepoint must not
    # take the audit of the mutations before it along.
    if created:
        clients.audit_registration(session, actor, device)
    for m, outcome in applied:
        _audit(session, actor, device, m, outcome)
    return {"last_mid": device.last_mid, "epoch": str(current_epoch(session)), "results": results}


def _record(
    session: Session, actor: Actor, device: Device, m: MutationIn, outcome: Outcome | Rejected, lang: str
) -> dict[str, Any]:
    """The review record and the answer for one mutation."""
    if isinstance(outcome, Rejected):
        session.add(
            SyncMutation(
                device_id=device.id, mid=m.mid, user_id=actor.user_id, name=m.name, status="rejected",
                error_code=outcome.code, args=m.args, case_id=_case_hint(m),
                client_time=m.client_time,
            )
        )  # fmt: skip
        return {"mid": m.mid, "status": "rejected", "error": _error(outcome.code, outcome.field, lang)}
    session.add(
        SyncMutation(
            device_id=device.id, mid=m.mid, user_id=actor.user_id, name=m.name, status=outcome.status,
            case_id=outcome.case_id, client_time=m.client_time,
        )
    )  # fmt: skip
    result: dict[str, Any] = {"mid": m.mid, "status": outcome.status}
    if outcome.conflicts:
        result["conflicts"] = outcome.conflicts
    return result


def _audited_name(m: MutationIn) -> str:
    """A mutation's name, if it is one of ours: an unknown name is whatever the client sent."""
    return m.name if m.name in registry() else "(unknown)"


def _audit(session: Session, actor: Actor, device: Device, m: MutationIn, outcome: Outcome | Rejected) -> None:
    """Who did what to which record from which device — field names only, never values."""
    if isinstance(outcome, Rejected):
        audit.record(
            session, actor, "sync.reject", entity="mutation", entity_id=f"{device.id}:{m.mid}",
            case_id=_case_hint(m), outcome="denied" if outcome.code in DENIALS else "failed",
            detail=f"{_audited_name(m)} {outcome.code}", device_id=device.id,
        )  # fmt: skip
        return
    if outcome.audited:
        return
    audit.record(
        session, actor, m.name, entity=outcome.entity, entity_id=outcome.entity_id, case_id=outcome.case_id,
        fields=outcome.fields, detail="conflict" if outcome.conflicts else "", device_id=device.id,
    )  # fmt: skip


def _case_hint(m: MutationIn) -> uuid.UUID | None:
    """The case a mutation was about, for the review list (when its arguments say so)."""
    for key in ("case_id", "id") if m.name.startswith("case.") else ("case_id",):
        value = m.args.get(key)
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                continue
    return None
