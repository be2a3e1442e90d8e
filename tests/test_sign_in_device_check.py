"""A sign-in looks up the revocation of the device it names once (server/views/session.py, issue
#9): the device named by the `X-Yorisoi-Device` header was checked with the session, so a body
naming the same device is not looked up again; a body naming another device still is, and a
revoked one is still refused."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.db import utcnow
from server.models import Device
from tests.factories import PASSWORD, Factory

REVOCATION = "revoked_at IS NOT NULL"


def _revocation_lookups(client: TestClient, body_device: uuid.UUID, header_device: uuid.UUID) -> tuple[int, int]:
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", note)
    try:
        r = client.post(
            "/api/session",
            json={"username": "w1", "password": PASSWORD, "device_id": str(body_device)},
            headers={"X-Yorisoi-Device": str(header_device)},
        )
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return r.status_code, sum(REVOCATION in s for s in seen)


def test_the_device_named_in_header_and_body_is_looked_up_once(client: TestClient, factory: Factory) -> None:
    factory.user("w1")
    phone = uuid.uuid4()
    assert _revocation_lookups(client, phone, phone) == (200, 1)


def test_a_body_naming_another_device_is_looked_up_and_a_revoked_one_refused(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    w = factory.user("w1")
    header, body = uuid.uuid4(), uuid.uuid4()
    assert _revocation_lookups(client, body, header) == (200, 2)
    with db_factory() as s, s.begin():
        s.add(Device(id=body, user_id=w.id, label="", last_mid=0, outbox_depth=0, created_at=utcnow()))
        s.flush()
        s.execute(update(Device).where(Device.id == body).values(revoked_at=utcnow()))
    client.cookies.clear()
    status, lookups = _revocation_lookups(client, body, header)
    assert (status, lookups) == (401, 2)
