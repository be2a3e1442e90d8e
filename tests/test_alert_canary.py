"""A canary person's name and phone number must never leave through an alert: not in a push payload
(decrypted at the receiver), not in the alert API, not in the CLI's output, not in the queue or the
audit log, and not in any log line — at DEBUG level, including the libraries'."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.alerts.runner import make_sender
from server.app import create_app
from server.cli import main
from server.models import AuditEvent, PushDelivery
from server.push import queue, vapid
from server.services import alerts as alert_service
from server.settings import Settings
from tests.alert_support import NO_QUIET, jst, run
from tests.factories import Factory, login
from tests.push_receiver import Receiver

CANARY = ("鳥籠", "カナリア", "トリカゴ", "090-1234-5678", "09012345678")
NOW = jst(2025, 5, 1, 10)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def assert_clean(text: str, where: str) -> None:
    for canary in CANARY:
        assert canary not in text, f"canary {canary!r} found in {where}"


def test_the_canary_never_leaves(
    factory: Factory, settings: Settings, receiver: Receiver, db_factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    database_url: str, tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    vapid._cache.clear()
    push_settings = dataclasses.replace(settings, push_allowed_origins=(receiver.origin,), alert_interval_minutes=0)
    worker = factory.user("w1")
    factory.user("coord", role="coordinator")
    factory.user("super", role="supervisor")
    case = factory.case(
        workers=(worker,), family_name="鳥籠", given_name="カナリア", kana=("トリカゴ", "カナリア"),
        phone="090-1234-5678", identified_on=dt.date(2025, 1, 1), created_at=jst(2025, 1, 1),
        plan_review_due=dt.date(2025, 4, 1),
    )
    factory.contact(case, worker, "MET_FAMILY_ONLY", occurred_at=jst(2025, 3, 1), notes="鳥籠カナリアさんの母と面談")
    urgent = factory.contact(
        case, worker, "EMERGENCY_RESPONSE", occurred_at=jst(2025, 5, 1, 9),
        notes="鳥籠カナリアさん 救急搬送 090-1234-5678",
    )

    with TestClient(create_app(push_settings)) as coord, TestClient(create_app(push_settings)) as sup:
        login(coord, "coord")
        login(sup, "super")
        assert coord.post("/api/push/subscriptions", json=receiver.subscription("c")).status_code == 201
        assert sup.post("/api/push/subscriptions", json=receiver.subscription("s")).status_code == 201

        with db_factory() as s, s.begin():
            assert alert_service.raise_urgent(s, case, urgent, now=NOW) is not None
        report = run(db_factory, NOW, NO_QUIET)
        assert {e.rule for e in report.events} >= {"S2", "S6", "S7"}
        flushed = queue.flush(db_factory, make_sender(push_settings), push_settings.push_allowed_origins, lambda: NOW)
        assert flushed.sent >= 2

        api = coord.get("/api/alerts")
        assert api.status_code == 200 and len(api.json()["alerts"]) >= 3
        assert_clean(api.text, "GET /api/alerts")
        assert_clean(coord.get("/api/push/key").text, "GET /api/push/key")

    assert len(receiver.received) >= 2
    for message in receiver.received:
        payload = receiver.decrypt(message)
        assert set(payload) == {"v", "kind", "count", "url", "tag", "title", "body"}
        assert_clean(str(payload), "a push payload")
        assert_clean(str(message.headers), "push request headers")

    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "cli"))
    assert main(["check-stalled", "--now", "2025-06-01T09:00+09:00", "--no-push"]) == 0
    assert_clean(capsys.readouterr().out, "check-stalled output")

    with db_factory() as s:
        for row in s.scalars(select(AuditEvent)):
            assert_clean(f"{row.action} {row.entity} {row.entity_id} {row.fields} {row.detail}", "the audit log")
        for d in s.scalars(select(PushDelivery)):
            assert_clean(str(vars(d)), "the push queue")

    assert caplog.records, "nothing was logged at all?"
    for record in caplog.records:
        assert_clean(record.getMessage(), f"a log line of {record.name}")
        assert_clean(str(record.args), f"log arguments of {record.name}")
        assert_clean(record.exc_text or "", f"a logged exception of {record.name}")
