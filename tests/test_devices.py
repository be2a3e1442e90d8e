"""Devices (issue 7): `yorisoi devices`, `yorisoi revoke-device` and what revocation does — sessions
and push subscriptions end, the wrapping key is deleted, every later request naming the device is
answered 401 `device_revoked` with `Clear-Site-Data` — and the admin page that does the same."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent, Device, PushSubscription, UserSession
from tests.device_support import DeviceClient, run_cli
from tests.factories import PASSWORD, Factory, login
from tests.sync_support import contact_args

CLEAR = '"cache", "storage"'


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], tmp_path) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path / "data"))
    return database_url


@pytest.fixture
def phones(app: Any) -> Iterator[Any]:
    made: list[DeviceClient] = []

    def make(username: str | None = None, device_id: uuid.UUID | None = None) -> DeviceClient:
        phone = DeviceClient(app, device_id)
        made.append(phone)
        if username:
            assert phone.sign_in(username).status_code == 200
        return phone

    yield make
    for p in made:
        p.close()
    app.state.engine.dispose()


def count(db_factory: sessionmaker[Session], model: Any, *where: Any) -> int:
    with db_factory() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _subscribe(db_factory: sessionmaker[Session], user_id: uuid.UUID, device_id: uuid.UUID | None, n: int) -> None:
    with db_factory() as s, s.begin():
        s.add(
            PushSubscription(
                user_id=user_id, device_id=device_id, endpoint=f"https://fcm.googleapis.com/fcm/send/x{n}",
                p256dh="p", auth="a",
            )
        )  # fmt: skip


def test_devices_lists_a_users_devices_with_last_sync_and_outbox_depth(
    env: str, factory: Factory, phones: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    w = factory.user("w1")
    factory.case(workers=(w,))
    phone = phones("w1")
    assert phone.pull(outbox_depth=3).status_code == 200
    factory.user("w2")

    assert run_cli(monkeypatch, ["devices", "--user", "w1"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if str(phone.device_id) in x)
    assert " 3 " in line and "active" in line and line.split()[1] != "-"
    assert run_cli(monkeypatch, ["devices", "--user", "w2"]) == 0
    assert "w2 has no devices" in capsys.readouterr().out
    assert run_cli(monkeypatch, ["devices", "--user", "nobody"]) == 1
    assert "user_not_found" in capsys.readouterr().err


def test_revoking_ends_sessions_push_and_key_and_the_next_contact_is_told_to_wipe(
    env: str,
    factory: Factory,
    phones: Any,
    db_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w = factory.user("w1")
    case = factory.case(workers=(w,))
    lost, kept = phones("w1"), phones("w1")
    assert lost.http.post("/api/device/key").status_code == 200
    assert kept.http.post("/api/device/key").status_code == 200
    assert lost.pull().status_code == 200 and kept.pull().status_code == 200
    _subscribe(db_factory, w.id, lost.device_id, 1)
    _subscribe(db_factory, w.id, kept.device_id, 2)

    assert run_cli(monkeypatch, ["revoke-device", str(lost.device_id)]) == 0
    assert "1 session(s) and 1 push subscription(s) ended" in capsys.readouterr().out

    with db_factory() as s:
        device = s.get(Device, lost.device_id)
        assert device is not None and device.revoked_at is not None and device.wrapping_key is None
        other = s.get(Device, kept.device_id)
        assert other is not None and other.revoked_at is None and other.wrapping_key is not None
    assert count(db_factory, UserSession, UserSession.device_id == lost.device_id) == 0
    assert count(db_factory, UserSession, UserSession.device_id == kept.device_id) == 1
    assert count(db_factory, PushSubscription, PushSubscription.device_id == lost.device_id) == 0
    assert count(db_factory, PushSubscription, PushSubscription.device_id == kept.device_id) == 1
    revoked = (AuditEvent.action == "device.revoke", AuditEvent.device_id == lost.device_id)
    assert count(db_factory, AuditEvent, *revoked) == 1

    # Its next contact, whatever it is: no session any more, yet it is told to wipe.
    for r in (
        lost.pull(),
        lost.push([{"mid": 1, "name": "contact.create", "args": contact_args(case.id), "client_time": "2025-05-01"}]),
        lost.http.get("/api/session"),
        lost.http.get("/api/device/key"),
        lost.sign_in("w1"),
    ):
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "device_revoked"
        assert r.headers["clear-site-data"] == CLEAR
    # Signing in again with the revoked id in the body alone is refused the same way.
    bare = TestClient(lost.http.app)
    r = bare.post("/api/session", json={"username": "w1", "password": PASSWORD, "device_id": str(lost.device_id)})
    assert r.status_code == 401 and r.headers["clear-site-data"] == CLEAR
    bare.close()
    assert count(db_factory, AuditEvent, AuditEvent.action == "device.wipe_signalled") == 6
    assert count(db_factory, UserSession, UserSession.device_id == lost.device_id) == 0
    # The other phone goes on; a wiped phone signs in again as a new installation.
    assert kept.pull().status_code == 200
    fresh = phones("w1")
    assert fresh.pull().status_code == 200

    assert run_cli(monkeypatch, ["revoke-device", str(lost.device_id)]) == 1
    assert "device_already_revoked" in capsys.readouterr().err
    assert run_cli(monkeypatch, ["revoke-device", "not-a-uuid"]) == 1
    assert run_cli(monkeypatch, ["revoke-device", str(uuid.uuid4())]) == 1
    assert "device_not_found" in capsys.readouterr().err


def test_the_wrapping_key_goes_only_to_a_session_of_its_own_device(
    factory: Factory, phones: Any, app: Any, db_factory: sessionmaker[Session]
) -> None:
    factory.user("w1")
    factory.user("w2")
    phone = phones("w1")
    r = phone.http.post("/api/device/key")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    key = r.json()["key"]
    assert len(base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))) == 32
    assert r.json()["policy"] == {
        "idle_lock_seconds": 300, "background_lock_seconds": 60, "offline_days": 7, "max_pin_failures": 5,
    }  # fmt: skip
    # Made once, never replaced while it exists.
    assert phone.http.post("/api/device/key").json()["key"] == key
    assert phone.http.get("/api/device/key").json()["key"] == key

    # Another device id in the header, no header, a session without a device, another user: no key.
    phone.http.headers["X-Yorisoi-Device"] = str(uuid.uuid4())
    assert phone.http.get("/api/device/key").json()["error"]["code"] == "device_mismatch"
    del phone.http.headers["X-Yorisoi-Device"]
    assert phone.http.get("/api/device/key").status_code == 403
    phone.http.headers["X-Yorisoi-Device"] = str(phone.device_id)
    office = TestClient(app)
    login(office, "w1")
    office.headers["X-Yorisoi-Device"] = str(phone.device_id)
    assert office.get("/api/device/key").status_code == 403
    thief = phones("w2")
    thief.http.headers["X-Yorisoi-Device"] = str(phone.device_id)
    assert thief.http.get("/api/device/key").status_code == 403
    anonymous = TestClient(app)
    anonymous.headers["X-Yorisoi-Device"] = str(phone.device_id)
    assert anonymous.get("/api/device/key").status_code == 401
    office.close()
    anonymous.close()

    # A wipe at sign-out retires the key; a later request finds none, and a new one can be made.
    assert phone.http.delete("/api/device/key").status_code == 204
    r = phone.http.get("/api/device/key")
    assert r.status_code == 404 and r.json()["error"]["code"] == "device_key_missing"
    assert phone.http.post("/api/device/key").json()["key"] != key
    with db_factory() as s:
        actions = set(s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "device")))
    assert {"device.key_issued", "device.key_read", "device.key_deleted", "device.register"} <= actions


def test_admin_page_lists_devices_and_revokes_only_for_admins(
    factory: Factory, phones: Any, app: Any, db_factory: sessionmaker[Session]
) -> None:
    factory.user("w1", display_name="支援員 一郎")
    factory.user("a1", role="admin")
    factory.user("c1", role="coordinator")
    factory.user("a9", role="admin", team="遠方班", municipality="別の市")
    phone = phones("w1")
    assert phone.pull(outbox_depth=2).status_code == 200

    with TestClient(app) as admin, TestClient(app) as coord, TestClient(app) as other, TestClient(app) as anon:
        login(admin, "a1")
        login(coord, "c1")
        login(other, "a9")
        page = admin.get("/admin/devices")
        assert page.status_code == 200
        assert str(phone.device_id) in page.text and "支援員 一郎" in page.text and "2件" in page.text
        assert "<script" not in page.text
        assert 'href="/admin/devices"' in admin.get("/").text

        assert coord.get("/admin/devices").status_code == 403
        assert coord.post(f"/admin/devices/{phone.device_id}/revoke").status_code == 403
        assert phone.sign_in("w1").status_code == 200  # a worker's own session
        assert phone.http.get("/admin/devices").status_code == 403
        assert anon.get("/admin/devices", follow_redirects=False).status_code == 303
        # An admin of another municipality neither sees nor revokes it.
        assert str(phone.device_id) not in other.get("/admin/devices").text
        assert other.post(f"/admin/devices/{phone.device_id}/revoke").status_code == 404

        r = admin.post(f"/admin/devices/{phone.device_id}/revoke", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/devices?done=device_revoked"
        page = admin.get("/admin/devices?done=device_revoked")
        assert "端末を無効化しました" in page.text and "無効化済み" in page.text
        assert admin.post(f"/admin/devices/{phone.device_id}/revoke").status_code == 409

    with db_factory() as s:
        device = s.get(Device, phone.device_id)
        assert device is not None and device.revoked_at is not None and device.revoked_by is not None
    assert phone.pull().json()["error"]["code"] == "device_revoked"


def test_a_signed_in_request_naming_a_revoked_device_is_told_to_wipe(
    env: str, factory: Factory, phones: Any, db_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session and the named device's revocation are read in one query (server/services/auth.py
    `identify`): a live session does not hide a revoked device, and an unknown or malformed device id
    in the header is no revoked one."""
    factory.user("w1")
    lost, kept = phones("w1"), phones("w1")
    assert lost.pull().status_code == 200 and kept.pull().status_code == 200
    assert run_cli(monkeypatch, ["revoke-device", str(lost.device_id)]) == 0
    for header in (str(uuid.uuid4()), "not-a-uuid"):
        kept.http.headers["X-Yorisoi-Device"] = header
        assert kept.http.get("/api/session").status_code == 200
    kept.http.headers["X-Yorisoi-Device"] = str(lost.device_id)  # still signed in, as the kept phone
    r = kept.http.get("/api/session")
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"
    assert r.headers["clear-site-data"] == CLEAR
    signalled = (AuditEvent.action == "device.wipe_signalled", AuditEvent.device_id == lost.device_id)
    assert count(db_factory, AuditEvent, *signalled) == 1
    kept.http.headers["X-Yorisoi-Device"] = str(kept.device_id)
    assert kept.pull().status_code == 200
