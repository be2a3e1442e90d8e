"""Sign-in, sessions and sign-out over HTTP, on the real database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.db import utcnow
from server.models import AuditEvent, UserSession
from server.services import users
from tests.factories import PASSWORD, Factory, login


def test_sign_in_returns_user_and_sets_http_only_cookie(client: TestClient, factory: Factory) -> None:
    u = factory.user("kato", display_name="加藤")
    r = client.post("/api/session", json={"username": "kato", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json() == {
        "user": {
            "id": str(u.id),
            "username": "kato",
            "display_name": "加藤",
            "role": "worker",
            "team_id": str(u.team_id),
            "language": "ja",
            "era_dates": True,
        }
    }
    cookie = r.headers["set-cookie"]
    assert "yorisoi_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert client.get("/api/session").json()["user"]["username"] == "kato"


def test_wrong_password_and_unknown_user_answer_the_same(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    a = client.post("/api/session", json={"username": "kato", "password": "wrong password"})
    b = client.post("/api/session", json={"username": "nobody", "password": "wrong password"})
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "invalid_credentials"
    assert client.get("/api/session").status_code == 401


def test_new_session_id_at_each_sign_in_and_sign_out_kills_it(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    login(client, "kato")
    first = client.cookies.get("yorisoi_session")
    login(client, "kato")
    second = client.cookies.get("yorisoi_session")
    assert first and second and first != second
    assert client.delete("/api/session").status_code == 204
    # The old cookie is dead on the server, not just deleted in the browser.
    client.cookies.set("yorisoi_session", second)
    assert client.get("/api/session").status_code == 401


def test_session_token_is_stored_hashed(client: TestClient, factory: Factory, db: Session) -> None:
    factory.user("kato")
    login(client, "kato")
    token = client.cookies.get("yorisoi_session")
    assert token is not None and len(token) >= 43  # 256 bits, url-safe base64
    ids = db.scalars(select(UserSession.id)).all()
    assert len(ids) == 1 and token.encode() not in ids[0]


def test_idle_and_absolute_expiry(client: TestClient, factory: Factory, db_factory: sessionmaker[Session]) -> None:
    factory.user("kato")
    login(client, "kato")
    with db_factory() as s, s.begin():
        row = s.scalars(select(UserSession)).one()
        row.last_seen_at = utcnow() - dt.timedelta(hours=9)
    assert client.get("/api/session").status_code == 401
    login(client, "kato")
    with db_factory() as s, s.begin():
        row = s.scalars(select(UserSession)).one()
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert client.get("/api/session").status_code == 401


def test_disabling_a_user_ends_their_sessions(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    u = factory.user("kato")
    login(client, "kato")
    with db_factory() as s, s.begin():
        users.set_active(s, None, s.get_one(type(u), u.id), False)
        assert s.scalar(select(func.count()).select_from(UserSession)) == 0
    assert client.get("/api/session").status_code == 401
    r = client.post("/api/session", json={"username": "kato", "password": PASSWORD})
    assert r.status_code == 401


def test_throttle_per_account_with_retry_after(client: TestClient, factory: Factory) -> None:
    factory.user("kato")
    for _ in range(5):
        assert client.post("/api/session", json={"username": "kato", "password": "bad password"}).status_code == 401
    r = client.post("/api/session", json={"username": "kato", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(r.headers["retry-after"]) <= 60  # the lock is short: a worker is not kept out long
    # Another account from the same address is not locked by this.
    factory.user("sato")
    login(client, "sato")


def test_failed_sign_ins_are_audited_without_the_username(client: TestClient, factory: Factory, db: Session) -> None:
    client.post("/api/session", json={"username": "ghost-user", "password": "bad password"})
    rows = db.scalars(select(AuditEvent).where(AuditEvent.action == "session.login_failed")).all()
    assert len(rows) == 1
    assert "ghost-user" not in f"{rows[0].detail}{rows[0].entity_id}{rows[0].fields}"


def test_malformed_json_is_400_with_code(client: TestClient) -> None:
    r = client.post("/api/session", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    r = client.post("/api/session", json=["a"])
    assert r.status_code == 400
    r = client.post("/api/session", json={"username": 3, "password": "x"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "username"


def test_unknown_path_is_json_404(client: TestClient) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
