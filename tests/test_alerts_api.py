"""The alert list and acknowledgement over HTTP (`/api/alerts`, `/alerts`), and the push
subscription API (`/api/push/key`, `/api/push/subscriptions`): shapes, scopes, errors."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.testclient import TestClient

from server.models import Alert, AuditEvent, PushSubscription
from tests.alert_support import NO_QUIET, Timeline, jst, run
from tests.factories import Factory, login
from tests.push_receiver import b64url

NOW = jst(2025, 5, 1, 10)


@contextlib.contextmanager
def signed_in(app: Starlette, username: str) -> Iterator[TestClient]:
    with TestClient(app) as c:
        login(c, username)
        yield c


@pytest.fixture
def world(factory: Factory, db_factory: sessionmaker[Session]) -> dict[str, Any]:
    """North team: a coordinator and two workers with one stalled case each; south team: a case
    with an overdue plan review; a supervisor of the city; a supervisor of another city; a phone
    of worker 2 that has not synced for a week."""
    w1, w2 = factory.user("w1"), factory.user("w2")
    factory.user("coord", role="coordinator")
    factory.user("coord_s", role="coordinator", team="南部班")
    factory.user("super", role="supervisor", team="南部班")
    factory.user("super_x", role="supervisor", team="隣町班", municipality="隣町")
    factory.user("admin", role="admin")
    cases = {}
    for name, w in (("一郎", w1), ("二郎", w2)):
        c = factory.case(workers=(w,), family_name="北", given_name=name, created_at=jst(2025, 4, 1))
        factory.contact(c, w, "PHONE_FAMILY", occurred_at=jst(2025, 4, 1))
        cases[name] = c
    cases["南"] = factory.case(
        team="南部班", workers=(w1,), family_name="南", given_name="三郎", created_at=jst(2025, 4, 1),
        plan_review_due=dt.date(2025, 4, 20),
    )
    factory.contact(cases["南"], w1, "PHONE_PERSON", occurred_at=jst(2025, 4, 25))
    Timeline(db_factory).device(w2, last_sync_at=NOW - dt.timedelta(days=7), outbox_depth=1)
    run(db_factory, NOW, NO_QUIET)
    with db_factory() as s:
        alerts = {(a.case_id, a.subject_user_id, a.rule): a for a in s.scalars(select(Alert))}
    return {"cases": cases, "alerts": alerts, "w2": w2}


def ids(c: TestClient, state: str = "live") -> set[tuple[str | None, str]]:
    r = c.get(f"/api/alerts?state={state}")
    assert r.status_code == 200, r.text
    return {(a["case_id"], a["rule"]) for a in r.json()["alerts"]}


def test_each_role_lists_its_own_scope(app: Starlette, world: dict[str, Any]) -> None:
    north1, south = (str(world["cases"][k].id) for k in ("一郎", "南"))
    with signed_in(app, "w1") as c:  # own cases only; nothing about other workers' phones
        assert ids(c) == {(north1, "S2"), (south, "S6")}
    with signed_in(app, "w2") as c:  # the case is held back while the phone is silent; the phone alert is theirs
        assert ids(c) == {(None, "DEVICE_UNSYNCED")}
    with signed_in(app, "coord") as c:
        assert ids(c) == {(north1, "S2"), (None, "DEVICE_UNSYNCED")}
    with signed_in(app, "super") as c:
        assert ids(c) == {(north1, "S2"), (None, "DEVICE_UNSYNCED"), (south, "S6")}
    with signed_in(app, "super_x") as c:
        assert ids(c) == set()
    with signed_in(app, "admin") as c:
        assert c.get("/api/alerts").status_code == 403
    with TestClient(app) as c:
        assert c.get("/api/alerts").status_code == 401


def test_the_api_shape_carries_no_names(app: Starlette, world: dict[str, Any]) -> None:
    with signed_in(app, "super") as c:
        body = c.get("/api/alerts").json()
    assert body["open_count"] == 3
    s6 = next(a for a in body["alerts"] if a["rule"] == "S6")
    assert s6 == {
        **s6,
        "level": "warning",
        "state": "open",
        "escalated": True,
        "label": "支援プランの見直し日を過ぎています",
        "level_label": "警告",
        "state_label": "未確認",
        "url": f"/alerts/{s6['id']}",
    }
    assert "北" not in str(body) and "南" not in str(body) and "三郎" not in str(body)


def test_filters_and_bad_input(app: Starlette, world: dict[str, Any]) -> None:
    with signed_in(app, "coord") as c:
        assert ids(c, "resolved") == set()
        assert len(ids(c, "open")) == 2
        assert c.get("/api/alerts?state=everything").json()["error"]["field"] == "state"
        assert c.get("/api/alerts?limit=x").status_code == 422
        assert c.get("/api/alerts/not-a-uuid").status_code == 404


def test_acknowledge_through_the_api(app: Starlette, world: dict[str, Any], db_factory: sessionmaker[Session]) -> None:
    s2 = world["alerts"][(world["cases"]["一郎"].id, None, "S2")]
    s6 = world["alerts"][(world["cases"]["南"].id, None, "S6")]
    url = f"/api/alerts/{s2.id}/acknowledge"
    with signed_in(app, "coord") as c:
        assert c.post(url, json={"next_date": "2025-05-20"}).json()["error"]["field"] == "note"
        assert c.post(url, json={"note": "  ", "next_date": "2025-05-20"}).json()["error"]["field"] == "note"
        assert c.post(url, json={"note": "訪問予定", "next_date": "来週"}).json()["error"]["field"] == "next_date"
        other_team = c.post(f"/api/alerts/{s6.id}/acknowledge", json={"note": "x", "next_date": "2025-05-20"})
        assert other_team.status_code == 404
        r = c.post(url, json={"note": "民生委員と夕方に訪問します", "next_date": "2025-05-20"})
        assert r.status_code == 200, r.text
        got = r.json()["alert"]
        assert (got["state"], got["ack_note"], got["ack_next_date"]) == (
            "acknowledged", "民生委員と夕方に訪問します", "2025-05-20",
        )
        assert c.get(f"/api/alerts/{s2.id}").json()["alert"]["state"] == "acknowledged"
    with db_factory() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
        assert {"alert.acknowledge", "alert.read"} <= actions


def test_workers_cannot_acknowledge_phone_alerts_and_resolved_ones_are_closed(
    app: Starlette, world: dict[str, Any], db_factory: sessionmaker[Session]
) -> None:
    device = world["alerts"][(None, world["w2"].id, "DEVICE_UNSYNCED")]
    body = {"note": "明日同期します", "next_date": "2025-05-02"}
    with signed_in(app, "w2") as c:
        assert c.post(f"/api/alerts/{device.id}/acknowledge", json=body).status_code == 403
    with db_factory() as s, s.begin():
        a = s.get_one(Alert, device.id)
        a.state = "resolved"
    with signed_in(app, "coord") as c:
        r = c.post(f"/api/alerts/{device.id}/acknowledge", json=body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "alert_resolved"


def test_the_alert_pages(app: Starlette, world: dict[str, Any]) -> None:
    s2 = world["alerts"][(world["cases"]["一郎"].id, None, "S2")]
    with signed_in(app, "coord") as c:
        page = c.get("/alerts")
        assert page.status_code == 200 and "北 一郎" in page.text and "端末が未同期" in page.text
        assert "北 二郎" not in page.text  # held back: the phone has not synced
        detail = c.get(f"/alerts/{s2.id}")
        assert detail.status_code == 200 and "振り返りが必要です" in detail.text and 'name="next_date"' in detail.text
        bad = c.post(f"/alerts/{s2.id}/acknowledge", data={"note": "", "next_date": "2025-05-20"})
        assert bad.status_code == 422 and "メモを入力してください" in bad.text
        ok = c.post(f"/alerts/{s2.id}/acknowledge", data={"note": "来週訪問", "next_date": "2025-05-20"},
                    follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == f"/alerts/{s2.id}?done=acknowledged"
        assert "確認を記録しました" in c.get(ok.headers["location"]).text
    with signed_in(app, "super_x") as c:
        assert c.get(f"/alerts/{s2.id}").status_code == 404
    with TestClient(app) as c:
        r = c.get("/alerts", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


# --- push subscriptions ---------------------------------------------------------------------------


def fcm(path: str = "abc") -> dict[str, Any]:
    """A browser's subscription to Google's push service (never contacted in these tests)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {
        "endpoint": f"https://fcm.googleapis.com/fcm/send/{path}",
        "expirationTime": None,
        "keys": {"p256dh": b64url(pub), "auth": b64url(b"0123456789abcdef")},
    }


def test_the_public_key_needs_no_sign_in(client: TestClient) -> None:
    key = client.get("/api/push/key").json()["public_key"]
    assert len(key) == 87 and key == client.get("/api/push/key").json()["public_key"]


def test_subscribe_resubscribe_and_unsubscribe(
    app: Starlette, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    factory.user("coord", role="coordinator")
    factory.user("coord2", role="coordinator")
    sub = fcm()
    with signed_in(app, "coord") as c:
        first = c.post("/api/push/subscriptions", json=sub)
        assert first.status_code == 201
        again = c.post("/api/push/subscriptions", json=sub)  # the app re-registers each time it opens
        assert again.json()["id"] == first.json()["id"]
    with signed_in(app, "coord2") as c:  # another user signs in on the same browser: the subscription moves
        assert c.post("/api/push/subscriptions", json=sub).json()["id"] == first.json()["id"]
        assert c.request("DELETE", "/api/push/subscriptions", json={"endpoint": sub["endpoint"]}).status_code == 204
    with db_factory() as s:
        assert s.scalar(select(func.count()).select_from(PushSubscription)) == 0


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"endpoint": "http://169.254.169.254/latest/meta-data"}, "push_endpoint_not_allowed", "endpoint"),
        ({"endpoint": "https://push.example.com/x"}, "push_endpoint_not_allowed", "endpoint"),
        ({"endpoint": "https://fcm.googleapis.com.attacker.example/x"}, "push_endpoint_not_allowed", "endpoint"),
        ({"endpoint": 12}, "invalid_request", "endpoint"),
        ({"keys": {"p256dh": "AAAA", "auth": "MDEyMzQ1Njc4OWFiY2RlZg"}}, "invalid_request", "keys.p256dh"),
        ({"keys": None}, "invalid_request", "keys"),
    ],
)
def test_bad_subscriptions_are_refused(
    app: Starlette, factory: Factory, change: dict[str, Any], code: str, field: str
) -> None:
    factory.user("coord", role="coordinator")
    with signed_in(app, "coord") as c:
        r = c.post("/api/push/subscriptions", json={**fcm(), **change})
        assert r.status_code == 422 and r.json()["error"]["code"] == code and r.json()["error"]["field"] == field


def test_short_auth_secret_and_roles(app: Starlette, factory: Factory) -> None:
    factory.user("coord", role="coordinator")
    factory.user("admin", role="admin")
    sub = fcm()
    sub["keys"]["auth"] = "MDEy"
    with signed_in(app, "coord") as c:
        assert c.post("/api/push/subscriptions", json=sub).json()["error"]["field"] == "keys.auth"
    with signed_in(app, "admin") as c:
        assert c.post("/api/push/subscriptions", json=fcm()).status_code == 403
    with TestClient(app) as c:
        assert c.post("/api/push/subscriptions", json=fcm()).status_code == 401


