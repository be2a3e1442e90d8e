"""A real encrypted push, end to end: a browser-like subscription is registered through the API, a
stalled case raises an alert, and pywebpush delivers to a local push service that decrypts the
message with the subscription's keys (RFC 8291) and verifies the VAPID signature (RFC 8292)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.alerts.runner import make_sender, vapid_subject
from server.app import create_app
from server.models import PushSubscription
from server.push import queue, vapid
from server.settings import Settings
from tests.alert_support import NO_QUIET, jst, run
from tests.factories import Factory, login
from tests.push_receiver import Receiver, verify_vapid

NOW = jst(2025, 5, 1, 10, 0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def push_settings(settings: Settings, receiver: Receiver) -> Settings:
    vapid._cache.clear()
    return dataclasses.replace(
        settings,
        push_allowed_origins=(receiver.origin,),
        alert_interval_minutes=0,
        vapid_subject="mailto:ops@example.jp",
    )


@pytest.fixture
def push_client(push_settings: Settings, db_factory: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(push_settings)) as c:
        yield c


def stalled(factory: Factory) -> None:
    worker = factory.user("worker1")
    case = factory.case(workers=(worker,), identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 4, 1))
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=jst(2025, 4, 1))


def test_a_real_push_is_encrypted_signed_and_decryptable(
    factory: Factory, push_client: TestClient, push_settings: Settings, receiver: Receiver,
    db_factory: sessionmaker[Session],
) -> None:
    factory.user("coord", role="coordinator", language="ja")
    login(push_client, "coord")
    key = push_client.get("/api/push/key").json()["public_key"]
    r = push_client.post("/api/push/subscriptions", json=receiver.subscription())
    assert r.status_code == 201, r.text
    stalled(factory)
    run(db_factory, NOW, NO_QUIET)

    report = queue.flush(db_factory, make_sender(push_settings), push_settings.push_allowed_origins, lambda: NOW)
    assert report.sent == 1, report
    (message,) = receiver.received
    assert message.path == "/push/sub-1"
    # RFC 8030 headers: a TTL above 0, an urgency, a topic that collapses repeated alerts.
    assert int(message.headers["ttl"]) > 0
    assert message.headers["urgency"] == "normal" and message.headers["topic"] == "alerts"
    # RFC 8291: only the subscription's private key and auth secret open it.
    payload = receiver.decrypt(message)
    assert payload["kind"] == "alerts" and payload["count"] == 1
    assert payload["url"].startswith("/alerts/") and payload["tag"] == "alerts"
    assert payload["title"] == "寄り添い" and payload["body"] == "確認が必要なケースがあります（1件）"
    # RFC 8292: signed by the server's VAPID key, for this push service, expiring within a day.
    claims = verify_vapid(message.headers["authorization"], key)
    assert claims["aud"] == receiver.origin and claims["sub"] == "mailto:ops@example.jp"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    with db_factory() as s:
        assert s.scalars(select(PushSubscription.last_success_at)).one() == NOW


def test_a_gone_subscription_is_removed_through_the_real_sender(
    factory: Factory, push_client: TestClient, push_settings: Settings, receiver: Receiver,
    db_factory: sessionmaker[Session],
) -> None:
    factory.user("coord", role="coordinator")
    login(push_client, "coord")
    assert push_client.post("/api/push/subscriptions", json=receiver.subscription()).status_code == 201
    stalled(factory)
    run(db_factory, NOW, NO_QUIET)
    receiver.status = 410
    report = queue.flush(db_factory, make_sender(push_settings), push_settings.push_allowed_origins, lambda: NOW)
    assert report.removed == 1
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(PushSubscription)) == 0


def test_the_sender_does_not_follow_redirects(
    factory: Factory, push_client: TestClient, push_settings: Settings, receiver: Receiver,
    db_factory: sessionmaker[Session],
) -> None:
    elsewhere = Receiver()
    try:
        factory.user("coord", role="coordinator")
        login(push_client, "coord")
        assert push_client.post("/api/push/subscriptions", json=receiver.subscription()).status_code == 201
        stalled(factory)
        run(db_factory, NOW, NO_QUIET)
        receiver.status = 307
        receiver.extra_headers = {"Location": f"{elsewhere.origin}/internal"}
        report = queue.flush(db_factory, make_sender(push_settings), push_settings.push_allowed_origins, lambda: NOW)
        assert report.failed == 1 and report.statuses == [307]
        assert elsewhere.received == []
    finally:
        elsewhere.close()


def test_unreachable_push_services_are_retried(
    factory: Factory, push_client: TestClient, push_settings: Settings, receiver: Receiver,
    db_factory: sessionmaker[Session],
) -> None:
    factory.user("coord", role="coordinator")
    login(push_client, "coord")
    assert push_client.post("/api/push/subscriptions", json=receiver.subscription()).status_code == 201
    stalled(factory)
    run(db_factory, NOW, NO_QUIET)
    receiver.close()  # the push service is down
    report = queue.flush(db_factory, make_sender(push_settings), push_settings.push_allowed_origins, lambda: NOW)
    assert report.retried == 1 and report.statuses == [0]


# --- VAPID keys ----------------------------------------------------------------------------------


def test_vapid_keys_are_created_once_and_readable_by_the_service_user_only(tmp_path: Path) -> None:
    vapid._cache.clear()
    data = tmp_path / "data"
    first = vapid.load_or_create(data)
    path = data / vapid.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    vapid._cache.clear()
    assert vapid.load_or_create(data).application_server_key == first.application_server_key
    os.chmod(path, 0o644)
    vapid._cache.clear()
    vapid.load_or_create(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # repaired


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    code = (
        "import sys; from pathlib import Path; from server.push.vapid import load_or_create; "
        "print(load_or_create(Path(sys.argv[1])).application_server_key)"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(shared)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1
    assert [p.name for p in shared.iterdir()] == [vapid.KEY_FILE]  # no temporary file left behind


def test_vapid_subject_defaults(settings: Settings) -> None:
    assert vapid_subject(settings) == "mailto:yorisoi@localhost"
    assert vapid_subject(dataclasses.replace(settings, base_url="https://yorisoi.example.lg.jp")) == (
        "https://yorisoi.example.lg.jp"
    )
