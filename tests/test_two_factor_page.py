"""Browser enrolment of two-factor sign-in: QR code, confirmation by a first code, recovery codes."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import AuditEvent, User
from tests.factories import PASSWORD, Factory, login


def test_worker_opts_in_with_qr_code_and_first_code(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    factory.user("w1")
    login(client, "w1")
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "二段階認証はまだ設定されていません" in page.text
    started = client.post("/account/two-factor/start")
    assert started.status_code == 200
    assert 'src="data:image/svg+xml' in started.text  # the QR code, no script needed
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", started.text)
    assert secret is not None
    wrong = client.post("/account/two-factor/confirm", data={"code": "000000"})
    assert wrong.status_code == 422
    with db_factory() as s:
        assert s.scalars(select(User.totp_secret).where(User.username == "w1")).one() is None
    done = client.post("/account/two-factor/confirm", data={"code": pyotp.TOTP(secret.group(1)).now()})
    assert done.status_code == 200 and "回復コード" in done.text
    assert len(re.findall(r"<code>[0-9a-f]{5}-[0-9a-f]{5}</code>", done.text)) == 10
    # From now on the worker's sign-in asks for the code.
    client.delete("/api/session")
    r = client.post("/api/session", json={"username": "w1", "password": PASSWORD})
    assert r.json()["error"]["code"] == "totp_required"
    with db_factory() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"user.totp_enrol_start", "user.totp_enrol"} <= actions


def test_signed_out_visitor_is_sent_to_sign_in(client: TestClient) -> None:
    r = client.get("/account/two-factor", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
