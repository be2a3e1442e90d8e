"""Overload degrades to 503 `server_busy` with Retry-After, never to a 500: the admission gates
(server/security/admission.py), the connection pool sized from the settings, a pool timeout, and a
client that goes away before its request was read. On the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.app import POOL_RESERVE, create_app
from server.security.admission import Gate
from server.settings import Settings
from tests.factories import PASSWORD, Factory

# --- the gate ------------------------------------------------------------------------------------


def test_gate_serves_waiters_in_arrival_order_and_hands_places_over() -> None:
    async def scenario() -> list[str]:
        gate = Gate(1)
        order: list[str] = []
        assert await gate.enter(0)

        async def waiter(name: str) -> None:
            assert await gate.enter(5)
            order.append(name)
            gate.leave()

        tasks = [asyncio.create_task(waiter(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0.01)
        assert gate.waiting == 3 and gate.held == 1
        gate.leave()
        await asyncio.gather(*tasks)
        assert gate.held == 0 and gate.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_gate_wait_runs_out_and_leaves_no_trace() -> None:
    async def scenario() -> None:
        gate = Gate(1)
        assert await gate.enter(0)
        assert not await gate.enter(0.05)
        assert not await gate.enter(0)
        assert gate.waiting == 0 and gate.held == 1
        gate.leave()
        # The timed-out waiters took nothing: the place is free at once.
        assert await gate.enter(0) and gate.held == 1

    asyncio.run(scenario())


def test_gate_cancelled_waiter_does_not_keep_a_place() -> None:
    async def scenario() -> None:
        gate = Gate(1)
        assert await gate.enter(0)
        task = asyncio.create_task(gate.enter(5))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.leave()
        assert gate.held == 0 and gate.waiting == 0

    asyncio.run(scenario())


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def tight(settings: Settings, db_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    """One request place, one sign-in place, a short wait."""
    app = create_app(
        dataclasses.replace(settings, max_concurrent_requests=1, max_concurrent_sign_ins=1, request_queue_seconds=0.2)
    )
    with TestClient(app) as c:
        yield c


def _hold(client: TestClient, gate: str) -> None:
    """Take a place in one of the app's gates, in the app's own event loop (as a running request does)."""
    g: Gate = getattr(client.app.state.admission, gate)  # type: ignore[attr-defined]
    assert client.portal is not None
    assert client.portal.call(g.enter, 0)


def _release(client: TestClient, gate: str) -> None:
    g: Gate = getattr(client.app.state.admission, gate)  # type: ignore[attr-defined]
    assert client.portal is not None
    client.portal.call(g.leave)


def _assert_busy(r: Any) -> None:
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert r.json()["error"]["code"] == "server_busy"


def test_request_beyond_the_limit_waits_then_gets_503_server_busy(
    tight: TestClient, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    factory.user("kato")
    _hold(tight, "requests")
    with caplog.at_level(logging.INFO):
        _assert_busy(tight.get("/api/session"))
        _assert_busy(tight.post("/api/sync/push", json={}))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    # Sign-ins have their own lane: a full request lane does not stop them.
    assert tight.post("/api/session", json={"username": "kato", "password": PASSWORD}).status_code == 200
    _release(tight, "requests")
    # The place is back: the same requests are served.
    assert tight.get("/api/session").status_code == 200


def test_sign_ins_beyond_their_lane_get_503_and_hold_up_nothing_else(tight: TestClient, factory: Factory) -> None:
    factory.user("kato")
    _hold(tight, "sign_ins")
    _assert_busy(tight.post("/api/session", json={"username": "kato", "password": PASSWORD}))
    # The browser's sign-in form answers with the form again, saying so.
    page = tight.post("/login", data={"username": "kato", "password": PASSWORD})
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert "混み合っています" in page.text
    # Everything else still runs: no request place is taken by the waiting sign-ins.
    assert tight.get("/api/session").status_code == 401
    assert tight.get("/login").status_code == 200
    _release(tight, "sign_ins")
    assert tight.post("/api/session", json={"username": "kato", "password": PASSWORD}).status_code == 200


# --- the connection pool -------------------------------------------------------------------------


def test_pool_is_sized_from_the_settings(settings: Settings, db_factory: sessionmaker[Session]) -> None:
    app = create_app(dataclasses.replace(settings, db_pool_size=3, db_max_overflow=2, db_pool_timeout_seconds=4))
    pool: Any = app.state.engine.pool
    assert (pool.size(), pool._max_overflow, pool.timeout()) == (3, 2, 4)
    app.state.engine.dispose()


def test_default_pool_holds_every_admitted_request() -> None:
    d = Settings()
    assert d.db_pool_size + d.db_max_overflow >= d.max_concurrent_requests + d.max_concurrent_sign_ins + POOL_RESERVE
    env = {
        "YORISOI_MAX_CONCURRENT_REQUESTS": "30",
        "YORISOI_MAX_CONCURRENT_SIGN_INS": "3",
        "YORISOI_REQUEST_QUEUE_SECONDS": "2.5",
        "YORISOI_DB_POOL_SIZE": "25",
        "YORISOI_DB_MAX_OVERFLOW": "8",
        "YORISOI_DB_POOL_TIMEOUT_SECONDS": "7",
    }
    s = Settings.from_env(env)
    assert (s.max_concurrent_requests, s.max_concurrent_sign_ins, s.request_queue_seconds) == (30, 3, 2.5)
    assert (s.db_pool_size, s.db_max_overflow, s.db_pool_timeout_seconds) == (25, 8, 7)


def test_pool_timeout_is_a_503_without_a_traceback(
    settings: Settings, factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    factory.user("kato")
    small = dataclasses.replace(settings, db_pool_size=1, db_max_overflow=0, db_pool_timeout_seconds=0.2)
    with caplog.at_level(logging.INFO):
        app = create_app(small)
    assert any("should be at least" in r.getMessage() for r in caplog.records)  # told at start
    caplog.clear()
    sign_in = {"username": "kato", "password": PASSWORD}
    with TestClient(app) as c, app.state.engine.connect():  # the pool's only connection is taken
        with caplog.at_level(logging.INFO):
            _assert_busy(c.post("/api/session", json=sign_in))
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
        assert any("pool timeout" in r.getMessage() for r in caplog.records)
    with TestClient(app) as c:
        assert c.post("/api/session", json=sign_in).status_code == 200  # the connection is back
    app.state.engine.dispose()


# --- a client that goes away ---------------------------------------------------------------------


def test_client_gone_before_its_body_was_read_is_no_error(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/session", "raw_path": b"/api/session", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"60")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "app": app,
    }  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.DEBUG):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert any("client went away" in r.getMessage() for r in caplog.records)
