"""Pull: one page of the changes a client has not seen (sync.stream), with a cursor for the next.

A missing, malformed or stale cursor — another server epoch (a restore), or a position beyond the
counter — answers `reset: true`: the page starts the whole scope afresh and the app replaces what
it held (its outbox stays: unsent mutations are the phone's, not the server's). An up-to-date
cursor answers no changes. Every page also records the client's bookkeeping (last pull time, the
outbox depth it reports) and audits which cases' records went to which device.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from server.db import utcnow
from server.models import Device
from server.permissions import Actor
from server.services import audit
from sync import clients, reference, scope, serialize, stream
from sync.cursor import Cursor, committed_seq, end_of, epoch_and_seq
from sync.envelope import PullRequest

_SERIALIZERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "contact": serialize.contact,
    "milestone": serialize.milestone,
    "consent": serialize.consent,
    "alert": serialize.alert,
    "conflict": serialize.conflict,
}


def _render(session: Session, items: list[stream.Item]) -> list[dict[str, Any]]:
    cases = serialize.cases(session, [i.row for i in items if i.entity == "case" and i.op == "put"])
    out: list[dict[str, Any]] = []
    for key, entity, op, row in items:  # the key's fields by position: ≈ 15,000 changes a chain
        # the ids as UUIDs: the answer's encoder writes them (server/views/base.py FastJSONResponse)
        change: dict[str, Any] = {"entity": entity, "id": key[3], "op": op}
        if op == "put":
            change["data"] = cases[key[3]] if entity == "case" else _SERIALIZERS[entity](row)
        elif entity != "case":
            change["case_id"] = key[1]
        out.append(change)
    return out


def _up_to_date(cursor: Cursor | None, epoch: uuid.UUID, high: int) -> bool:
    """Nothing a pull shows can have changed since this cursor was answered: every such change — a
    synced row, a scope flip, a user, team or city setting behind the scope or the reference data —
    takes a change number (server/models/sync_stamp.py), and the counter has not moved."""
    return (
        cursor is not None
        and cursor.epoch == epoch
        and cursor.position == end_of(high)
        and reference.static_current(cursor.ref)
    )


def pull(session: Session, actor: Actor, request: PullRequest) -> dict[str, Any]:
    cursor = Cursor.decode(request.cursor)
    device: Device | None = None
    created = False
    if request.client_id is None:
        epoch, high = epoch_and_seq(session)
    else:
        # The commonest pull of all (every minute per open app) is up to date: it reads the device
        # with the counter in one statement, unlocked, and may write nothing at all. Any other pull
        # locks the device first (the lock order: sync/clients.py) and reads the counter again
        # after the lock, so that a push of this device committed while it waited is within `high`
        # as well as within the `last_mid` it answers.
        seen = clients.peek(session, actor, request.client_id)
        if seen is not None:
            device, epoch, high = seen
        if seen is None or not _up_to_date(cursor, epoch, high):
            device, created = clients.claim(session, actor, request.client_id, new=seen is None)
            epoch, high = epoch_and_seq(session)
    # `high` is read before the scope is compared: every change numbered up to `high` is then
    # reflected in the comparison, so a cursor at `high` stands for a scope already reconciled.
    reset = cursor is None or cursor.epoch != epoch or cursor.position[0] > high
    if cursor is not None and _up_to_date(cursor, epoch, high):
        # Up to date: no scope comparison, stream or reference build; the answer is the same
        # cursor and nothing. Its only writes are bookkeeping (the device's last pull time, when
        # due; the session's last-seen time, once a minute).
        items: list[stream.Item] = []
        changes: list[dict[str, Any]] = []
        next_cursor = cursor
        has_more = False
        now = utcnow()
        if device is not None and (created or clients.pull_note_due(device, request.outbox_depth, now)):
            clients.note_pull(device, request.outbox_depth, now)
            if created:
                clients.audit_registration(session, actor, device)
        if not created and session.dirty:
            clients.bookkeeping_only(session)
    else:
        if scope.reconcile(session, actor):
            high = committed_seq(session)  # this transaction's own number: the flips it recorded
        if cursor is None or reset:
            position, floor, known_ref = end_of(0), high, ""
        else:
            position, floor, known_ref = cursor.position, cursor.floor, cursor.ref
        items, has_more = stream.page(session, actor.user_id, position, high, floor, request.limit)
        changes = _render(session, items)
        ref_data, ref = reference.current(session, actor, epoch, high)
        if ref != known_ref:
            changes.insert(0, {"entity": reference.ENTITY, "id": reference.ENTITY, "op": "put", "data": ref_data})
        next_cursor = Cursor(
            epoch=epoch,
            position=items[-1].key if has_more else end_of(high),
            floor=floor if has_more else high,
            ref=ref,
        )
        if device is not None:
            clients.note_pull(device, request.outbox_depth, utcnow())
            if created:
                clients.audit_registration(session, actor, device)
    _audit(session, actor, device, items)
    return {
        "changes": changes,
        "cursor": next_cursor.encode(),
        "has_more": has_more,
        "reset": reset,
        "last_mid": device.last_mid if device is not None else None,
        "epoch": str(epoch),
    }


def _audit(session: Session, actor: Actor, device: Device | None, items: list[stream.Item]) -> None:
    """One row per case whose records this page carried to the device: the read log, and the
    answer to "which persons' records did this phone hold?"."""
    sent: dict[uuid.UUID, set[str]] = {}
    for key, entity, op, _row in items:
        if op == "put":
            entities = sent.get(key[1])
            if entities is None:
                sent[key[1]] = entities = set()
            entities.add(entity)
    for case_id, entities in sent.items():
        audit.record(
            session, actor, "sync.pull", entity="case", entity_id=case_id, case_id=case_id,
            fields=sorted(entities), device_id=device.id if device is not None else None,
        )  # fmt: skip
