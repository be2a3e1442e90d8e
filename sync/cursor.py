"""Cursors: where a client stands in the commit-ordered change stream, and the server epoch.

Why commit order: a pull asks "what changed after my cursor?". If the answer were keyed by numbers
handed out when rows are *written* (auto-increment ids, timestamps), a transaction that took a
small number but committed late would land below a cursor that already moved past it, and that
change would never reach the phone. So every transaction that changes synced rows takes its number
from the single `sync_counter` row at the end of the transaction, with an UPDATE … RETURNING whose
row lock is held until COMMIT (server/models/sync_stamp.py does it for every session). The lock
serialises the increments, so number order is commit order: when a pull reads the counter's
committed value H, every transaction numbered ≤ H has committed, and one that commits later gets a
number > H and is sent by the next pull. The pull reads rows numbered in (cursor, H] — never a row
of a transaction that has not committed, never skipping one that commits late.

A position in the stream is a key (seq, case_id, kind rank, entity id); see `sync.stream` for the
order. A cursor also carries the server epoch (a restore from backup changes it, and a cursor from
another epoch answers a reset), the removal floor of a paged pull (see `sync.stream`) and a short
hash of the reference data the client already has.

Format (opaque to clients): `1.<epoch hex>.<seq>[~<case hex>~<rank>~<entity hex>].<floor>.<ref>`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from server.models import ServerState, SyncCounter
from server.models.sync_stamp import take_seq

__all__ = [
    "END", "Cursor", "Key", "committed_seq", "counter_columns", "current_epoch", "end_of", "epoch_and_seq",
    "rotate_epoch", "take_seq",
]  # fmt: skip

VERSION = "1"
MAX_ID = uuid.UUID(int=(1 << 128) - 1)
END = 9  # a rank above every kind: "everything at this seq has been sent"
MAX_CURSOR = 300

Key = tuple[int, uuid.UUID, int, uuid.UUID]  # (seq, case_id, kind rank, entity id)


def end_of(seq: int) -> Key:
    """The position after everything numbered `seq`."""
    return (seq, MAX_ID, END, MAX_ID)


@dataclass(frozen=True)
class Cursor:
    epoch: uuid.UUID
    position: Key
    floor: int  # a paged pull removes non-live entities numbered above this (sync.stream)
    ref: str  # hash of the reference data the client holds; "" for none

    def encode(self) -> str:
        seq, case_id, rank, entity_id = self.position
        pos = str(seq) if self.position == end_of(seq) else f"{seq}~{case_id.hex}~{rank}~{entity_id.hex}"
        return f"{VERSION}.{self.epoch.hex}.{pos}.{self.floor}.{self.ref or '-'}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor, or None when it is not one of ours (the pull then answers a reset)."""
        if not text or len(text) > MAX_CURSOR:
            return None
        parts = text.split(".")
        if len(parts) != 5 or parts[0] != VERSION:
            return None
        try:
            epoch = uuid.UUID(hex=parts[1])
            pos = parts[2].split("~")
            seq = int(pos[0])
            if len(pos) == 1:
                position = end_of(seq)
            elif len(pos) == 4:
                position = (seq, uuid.UUID(hex=pos[1]), int(pos[2]), uuid.UUID(hex=pos[3]))
            else:
                return None
            floor = int(parts[3])
        except ValueError:
            return None
        ref = "" if parts[4] == "-" else parts[4]
        if seq < 0 or floor < 0 or not 0 <= position[2] <= END or len(ref) > 16:
            return None
        return cls(epoch=epoch, position=position, floor=floor, ref=ref)


def current_epoch(session: Session) -> uuid.UUID:
    return session.scalars(select(ServerState.epoch).where(ServerState.id == 1)).one()


def committed_seq(session: Session) -> int:
    """The highest change number every transaction up to which has committed (or this
    transaction's own number, when it took one: it holds the lock, everything below is committed)."""
    return int(session.scalars(select(SyncCounter.seq).where(SyncCounter.id == 1)).one())


def counter_columns() -> tuple[ScalarSelect[uuid.UUID], ScalarSelect[int]]:
    """The epoch and the committed change number as columns, for a statement that reads them with
    something else in one round trip (sync/clients.py `peek`)."""
    return (
        select(ServerState.epoch).where(ServerState.id == 1).scalar_subquery(),
        select(SyncCounter.seq).where(SyncCounter.id == 1).scalar_subquery(),
    )


_EPOCH_AND_SEQ = select(*counter_columns())


def epoch_and_seq(session: Session) -> tuple[uuid.UUID, int]:
    """`current_epoch` and `committed_seq` in one statement: a pull needs both."""
    epoch, seq = session.execute(_EPOCH_AND_SEQ).one()
    return epoch, int(seq)


def rotate_epoch(session: Session) -> uuid.UUID:
    """Give the server a new epoch. Call after restoring a backup: every client's cursor then
    answers a reset, and every client re-sends the mutations the restored server no longer has."""
    epoch = uuid.uuid4()
    session.execute(update(ServerState).where(ServerState.id == 1).values(epoch=epoch))
    return epoch
