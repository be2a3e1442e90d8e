"""Password hashing: argon2id at OWASP's parameters, and older, costlier hashes replaced at the
next sign-in (server/security/passwords.py). On the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from server.models import User
from server.security import passwords
from tests.factories import PASSWORD, Factory


def test_password_hash_meets_owasp_argon2id() -> None:
    params = dict(kv.split("=") for kv in passwords.hash_password(PASSWORD).split("$")[3].split(","))
    m, t, p = int(params["m"]), int(params["t"]), int(params["p"])
    assert passwords.hash_password(PASSWORD).startswith("$argon2id$")
    # OWASP Password Storage Cheat Sheet: 46 MiB × 1 pass, or 19 MiB × 2 passes (or more of either).
    assert (m >= 46 * 1024 and t >= 1) or (m >= 19 * 1024 and t >= 2)
    assert p == 1  # one thread per check: the sign-in gate bounds the cores sign-ins take


def test_an_older_costlier_hash_is_replaced_at_sign_in(
    client: TestClient, factory: Factory, db_factory: sessionmaker[Session]
) -> None:
    u = factory.user("kato")
    old = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4).hash(PASSWORD)
    with db_factory() as s, s.begin():
        s.get_one(User, u.id).password_hash = old
    assert client.post("/api/session", json={"username": "kato", "password": "wrong password"}).status_code == 401
    with db_factory() as s:
        assert s.scalar(select(User.password_hash).where(User.id == u.id)) == old  # unchanged
    assert client.post("/api/session", json={"username": "kato", "password": PASSWORD}).status_code == 200
    with db_factory() as s:
        new = s.scalar(select(User.password_hash).where(User.id == u.id))
    assert new != old and new is not None and not passwords.needs_rehash(new)
    assert passwords.verify_password(new, PASSWORD)
