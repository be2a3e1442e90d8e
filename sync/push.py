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
A batch is first tried in one SAVEPOINT for all its mutations, reading what they need once
(`_optimistic`, sync.batch); only when one of them fails is it rolled back and applied one
SAVEPOINT per mutation as above. The answers and effects are the same either way.
A temporary database failure (busy, deadlock, connection lost) propagates: the whole request rolls
back and answers 503, nothing advanced; the client retries the same batch.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import i18n
from server.bulk import insert_rows
from server.db import utcnow
from server.errors import ApiError
from server.models import CaseConflict, Contact, Device, SyncMutation, sync_stamp
from server.permissions import Actor
from server.security.admission import RETRY_AFTER_SECONDS
from server.services import audit
from sync import clients
from sync.batch import prefetch
from sync.cursor import current_epoch
from sync.envelope import MutationIn, PushRequest
from sync.fields import Rejected
from sync.mutations import Handler, MutationCtx, Outcome, registry

log = logging.getLogger("yorisoi.sync")

DENIALS = frozenset({"out_of_scope", "forbidden"})
_MUTATIONS: Table = SyncMutation.__table__  # type: ignore[assignment]
_CONTACTS: Table = Contact.__table__  # type: ignore[assignment]


def _error(code: str, field: str | None, lang: str) -> dict[str, str]:
    message = i18n.t(lang, f"error.{code}")
    body = {"code": code, "message": message if message != f"error.{code}" else code.replace("_", " ")}
    if field is not None:
        body["field"] = field
    return body


def _conflicts_of(session: Session, device_id: uuid.UUID, mid: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(CaseConflict).where(CaseConflict.device_id == device_id, CaseConflict.mid == mid))
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
    fresh: list[MutationIn] = []  # the mutations to apply: last_mid + 1, + 2, … up to a gap
    for m in request.mutations:
        if m.mid <= device.last_mid:
            results.append(_duplicate(session, device, m, lang))
            continue
        if m.mid != device.last_mid + len(fresh) + 1:
            break  # a gap: the client re-sends from last_mid + 1
        fresh.append(m)
    tried = _optimistic(session, actor, device, fresh, handlers, now)
    outcomes: list[Outcome | Rejected] = (
        list(tried)
        if tried is not None  # otherwise one SAVEPOINT per mutation: a failed one leaves nothing behind
        else [_apply(_ctx(session, actor, device, m, now), handlers.get(m.name), m) for m in fresh]
    )
    records = []
    for m, outcome in zip(fresh, outcomes, strict=True):
        result, record = _record(device, m, outcome, lang, now)
        results.append(result)
        records.append(record)
        device.last_mid = m.mid
    # Before the inserts below flush the device's `last_mid`: its row is then written once (issue #9).
    clients.note_push(device, request.outbox_depth, now)
    for keys in {tuple(r) for r in records}:  # one bulk insert per shape (rejected ones keep `args`)
        insert_rows(session, _MUTATIONS, [r for r in records if tuple(r) == keys])
    # Audit rows are queued only now, after the last SAVEPOINT: a rolled-back savepoint must not
    # take the audit of the mutations before it along.
    if created:
        clients.audit_registration(session, actor, device)
    for m, outcome in zip(fresh, outcomes, strict=True):
        _audit(session, actor, device, m, outcome)
    return {"last_mid": device.last_mid, "epoch": str(current_epoch(session)), "results": results}


def _ctx(session: Session, actor: Actor, device: Device, m: MutationIn, now: dt.datetime) -> MutationCtx:
    return MutationCtx(session, actor, device.id, m.mid, m.client_time, now)


# From this many contacts a batch takes its change number before inserting them, so that they are
# inserted numbered (no UPDATE of every row at commit). The number locks the city's one change
# counter until COMMIT, and every other write waits for it: a small batch (the morning's 3
# contacts) inserts first and is numbered at commit, keeping the counter for the commit's last
# statements only (issue #9: pushes waited on each other's counter lock for 39 % of the burst's
# request-thread time).
NUMBER_FIRST_FROM = 50


def _optimistic(
    session: Session, actor: Actor, device: Device, batch: list[MutationIn], handlers: dict[str, Handler],
    now: dt.datetime,
) -> list[Outcome] | None:  # fmt: skip
    """Apply the whole batch in ONE savepoint, on the bet that every mutation succeeds — as nearly
    all do: what they read is read once for the batch (sync.batch) and their rows are written
    together at the end. The outcomes, or None after rolling everything back when any mutation
    was rejected or failed (the careful path then applies them one savepoint each, attributing
    each failure to its own mutation). Same effects as the careful path when all succeed: the same
    handlers in the same order on the same session."""
    if len(batch) < 2 or any(m.name not in handlers for m in batch):
        return None
    found = prefetch(session, actor, batch)
    outcomes: list[Outcome] = []
    numbered = False
    try:
        with session.begin_nested():
            for m in batch:
                ctx = MutationCtx(session, actor, device.id, m.mid, m.client_time, now, batch=found)
                outcomes.append(handlers[m.name](ctx, m.args))
            session.flush()  # an integrity error shows here, still inside the savepoint
            # The contacts come after the flush: one may be on a case the batch created.
            numbered = len(found.contacts) >= NUMBER_FIRST_FROM and sync_stamp.only_held(session)
            if found.contacts and not numbered:
                insert_rows(session, _CONTACTS, found.contacts)
    except OperationalError:
        raise  # temporary: the whole request fails with 503 and nothing advances
    except Exception:  # Rejected, IntegrityError or a bug: the careful path tells them apart
        return None
    # The contacts' cases are locked (`prefetch`): numbered at commit without a new lock — those
    # whose pulled form a contact changes (`sync_stamp.contact_shows`).
    sync_stamp.touch_cases(
        session, {c["case_id"] for c in found.contacts if sync_stamp.contact_shows(c["reached"], c["amends_id"])}
    )
    if numbered:
        _insert_numbered(session, found.contacts)
    elif found.contacts:
        sync_stamp.touch(session, Contact, found.contact_case, held=True)  # new rows: no lock to take
    return outcomes


def _insert_numbered(session: Session, contacts: list[dict[str, Any]]) -> None:
    """Insert the batch's contacts with this transaction's change number already in them, instead
    of inserting and then numbering them with an UPDATE of every row (on PostgreSQL a second write
    of each row and of its eight indexes: about as much again as the insert). Every row the
    transaction changed so far is one it holds, so it may take the number now (sync_stamp): the
    inserts only add new rows, whose foreign-key checks need key-share locks on cases it holds.
    Their ids were checked free (`prefetch`); on PostgreSQL another transaction may still insert
    one of them meanwhile. Then nothing is kept and the client is asked to retry the same batch
    (503 `server_busy`, PROTOCOL §2): the retry finds the id taken and rejects that mutation alone."""
    seq = sync_stamp.take_seq(session)
    try:
        insert_rows(session, _CONTACTS, [{**row, "sync_seq": seq} for row in contacts])
    except IntegrityError as exc:
        raise ApiError(503, "server_busy", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from exc


def _record(
    device: Device, m: MutationIn, outcome: Outcome | Rejected, lang: str, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer for one mutation, and its review record (a `SyncMutation` row's values)."""
    row: dict[str, Any] = {
        "device_id": device.id, "mid": m.mid, "name": m.name,
        "client_time": m.client_time, "received_at": now,
    }  # fmt: skip
    if isinstance(outcome, Rejected):
        # The arguments are kept for review (`args` is left out otherwise: SQL NULL, not JSON null).
        row.update(status="rejected", error_code=outcome.code, args=m.args, case_id=_case_hint(m))
        return {"mid": m.mid, "status": "rejected", "error": _error(outcome.code, outcome.field, lang)}, row
    row.update(status=outcome.status, error_code=None, case_id=outcome.case_id)
    result: dict[str, Any] = {"mid": m.mid, "status": outcome.status}
    if outcome.conflicts:
        result["conflicts"] = outcome.conflicts
    return result, row


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
