"""Two-factor sign-in: required for office roles, offered to workers; a code works once."""

from __future__ import annotations

import datetime as dt
import io
import sys

import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.cli import main
from server.models import User
from server.services import totp
from tests.factories import PASSWORD, TOTP_SECRET, Factory


def post(client: TestClient, username: str, code: str | None = None) -> tuple[int, str]:
    body = {"username": username, "password": PASSWORD}
    if code is not None:
        body["totp"] = code
    r = client.post("/api/session", json=body)
    return r.status_code, (r.json().get("error", {}).get("code", "") if r.status_code != 200 else "")


@pytest.mark.parametrize("role", ["coordinator", "supervisor", "admin"])
def test_office_roles_need_a_code(client: TestClient, factory: Factory, role: str) -> None:
    factory.user("office", role=role)
    assert post(client, "office") == (401, "totp_required")
    assert post(client, "office", "000000") == (401, "totp_invalid")
    assert post(client, "office", pyotp.TOTP(TOTP_SECRET).now()) == (200, "")


def test_a_code_works_once(client: TestClient, factory: Factory) -> None:
    factory.user("coord", role="coordinator")
    code = pyotp.TOTP(TOTP_SECRET).now()
    assert post(client, "coord", code) == (200, "")
    assert post(client, "coord", code) == (401, "totp_invalid")


def test_office_role_without_enrolment_cannot_sign_in(client: TestClient, factory: Factory) -> None:
    factory.user("coord", role="coordinator", totp_secret=None)
    assert post(client, "coord") == (401, "totp_enrolment_required")


def test_workers_may_opt_in(client: TestClient, factory: Factory) -> None:
    factory.user("w1")
    assert post(client, "w1") == (200, "")
    factory.user("w2", totp_secret=TOTP_SECRET)
    assert post(client, "w2") == (401, "totp_required")


def test_recovery_codes_work_once(factory: Factory, db_factory: sessionmaker[Session], client: TestClient) -> None:
    factory.user("coord", role="coordinator")
    with db_factory() as s, s.begin():
        user = s.scalars(select(User).where(User.username == "coord")).one()
        codes = totp.issue_recovery_codes(s, user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert post(client, "coord", codes[0]) == (200, "")
    assert post(client, "coord", codes[0]) == (401, "totp_invalid")
    assert post(client, "coord", codes[1].upper()) == (200, "")


def test_drift_of_one_step_is_accepted_but_not_two(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    factory.user("coord", role="coordinator")
    now = dt.datetime(2026, 1, 1, 0, 0, 15, tzinfo=dt.UTC)
    t = pyotp.TOTP(TOTP_SECRET)
    with db_factory() as s, s.begin():
        user = s.scalars(select(User).where(User.username == "coord")).one()
        assert totp.verify(s, user, t.at(now - dt.timedelta(seconds=30)), now)
        assert not totp.verify(s, user, t.at(now - dt.timedelta(seconds=90)), now)


def test_browser_enrolment_needs_a_valid_code(factory: Factory, db_factory: sessionmaker[Session]) -> None:
    factory.user("w1")
    with db_factory() as s, s.begin():
        user = s.scalars(select(User).where(User.username == "w1")).one()
        uri = totp.start_enrolment(user)
        assert uri.startswith("otpauth://totp/Yorisoi:w1?") and user.totp_secret is None
        assert totp.confirm_enrolment(s, user, "123456" if user.totp_pending_secret else "") in (None,)
        pending = user.totp_pending_secret
        assert pending is not None
        codes = totp.confirm_enrolment(s, user, pyotp.TOTP(pending).now())
        assert codes is not None and len(codes) == 10
        assert user.totp_secret == pending and user.totp_pending_secret is None
    assert totp.qr_svg_data_uri(uri).startswith("data:image/svg+xml")


def test_create_user_prints_otpauth_uri_for_office_roles(
    monkeypatch: pytest.MonkeyPatch, database_url: str, db_factory: sessionmaker[Session], capsys, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("YORISOI_DATABASE_URL", database_url)
    monkeypatch.setenv("YORISOI_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough secret\n"))
    assert main(["create-user", "kacho", "--role", "supervisor", "--team", "本庁", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    assert "otpauth://totp/Yorisoi:kacho?secret=" in out
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough secret\n"))
    assert main(["create-user", "w9", "--role", "worker", "--team", "本庁", "--password-stdin"]) == 0
    assert "otpauth" not in capsys.readouterr().out
