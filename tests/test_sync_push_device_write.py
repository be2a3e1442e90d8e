"""A push writes its device's row once (sync/push.py, issue #9): the new `last_mid` and the push's
bookkeeping (last push and sync times, the outbox depth it reports) in one UPDATE, not one flushed
by the mutation log's insert and another at commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from server.models import Device
from tests.factories import Factory
from tests.sync_support import Clients, contact_args


def test_a_push_updates_its_device_row_once(
    factory: Factory, clients: Clients, app: Any, db_factory: sessionmaker[Session]
) -> None:
    w1 = factory.user("w1")
    case = factory.case(workers=(w1,))
    phone = clients.phone("w1")
    phone.push(phone.mutation("contact.create", contact_args(case.id)))  # registers the device
    seen: list[str] = []
    event.listen(app.state.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    answer = phone.push(*(phone.mutation("contact.create", contact_args(case.id)) for _ in range(3)), outbox_depth=0)
    assert [r["status"] for r in answer["results"]] == ["applied"] * 3
    assert sum(s.startswith("UPDATE device ") for s in seen) == 1
    with db_factory() as s:
        device = s.scalars(select(Device).where(Device.id == phone.client_id)).one()
        assert device.last_mid == answer["last_mid"] == 4
        assert device.outbox_depth == 0 and device.last_push_at is not None
        assert device.last_sync_at == device.last_push_at
